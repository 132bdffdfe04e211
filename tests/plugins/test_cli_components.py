"""The component commands, run as the real ``floe`` console script in subprocesses.

Every command is its own process on the default store (``.floe/floe.db`` under the
working directory), so what one command does the next one sees only through the store.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

import floe
from floe.components._components import Engine
from floe.components._snapshots import save_snapshot

FLOE = Path(sys.executable).with_name("floe")

CUSTOM_STATES = """
from floe.kernel._states import State, Transition


class Queued(State):
    transitions = (Transition("Queued", "pick", "Picked"),)


class Picked(State):
    transitions = (Transition("Picked", "ship", "Gone"),)


class Gone(State):
    pass
"""

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def floe_cli(tmp_path: Path) -> Run:
    """``floe_cli(*args, env=None)``: the command line in *tmp_path*, no FLOE_* from outside."""

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        environment = {
            key: value for key, value in os.environ.items() if not key.startswith("FLOE_")
        }
        environment["FLOE_STRICT_PLUGINS"] = "1"
        environment["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(tmp_path / "modules"), os.environ.get("PYTHONPATH")])
        )
        environment.update(env or {})
        return subprocess.run(
            [str(FLOE), *args],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    return run


@pytest.fixture
def orders(tmp_path: Path) -> Path:
    path = tmp_path / "orders.yaml"
    path.write_text("name: orders\nrules:\n  - {max_items: 3}\n")
    return path


@pytest.fixture
def invoices(tmp_path: Path) -> Path:
    path = tmp_path / "invoices.yaml"
    path.write_text("name: invoices\n")
    return path


def ok(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == floe.ExitCode.OK, result.stderr
    assert result.stderr == ""
    return result.stdout.splitlines()


def one_error_block(result: subprocess.CompletedProcess[str], first_line: str) -> list[str]:
    """The command failed with one block (what / Why / Fix / Context), no traceback."""
    assert result.returncode == floe.ExitCode.USAGE, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"Error: {first_line}", result.stderr
    assert "Traceback" not in result.stderr
    assert sum(line.startswith("Error:") for line in lines) == 1
    assert lines[1].startswith("Why: ")
    assert lines[-2].startswith("Fix: ")
    assert lines[-1].startswith("Context: ")
    return lines


def in_store(tmp_path: Path, function: Callable[[floe.Kernel], Any]) -> Any:
    """Run ``await function(kernel)`` on the command line's store, in this process."""

    async def main() -> Any:
        url = f"sqlite:///{tmp_path / '.floe' / 'floe.db'}"
        async with floe.open_kernel(root=tmp_path, store=url, log_format="off") as kernel:
            return await function(kernel)

    return anyio.run(main, backend="trio")


def history(tmp_path: Path, name: str) -> list[tuple[str, Any]]:
    async def read(kernel: floe.Kernel) -> list[tuple[str, Any]]:
        return [(event.kind, event.data) for event in await Engine(kernel).history(name)]

    result: list[tuple[str, Any]] = in_store(tmp_path, read)
    return result


# -- the walkthrough -------------------------------------------------------------------


def test_the_walkthrough_advances_one_component_across_three_processes(
    floe_cli: Run, orders: Path, tmp_path: Path
) -> None:
    assert ok(floe_cli("register", "--config", str(orders), "--start")) == [
        "Registered component 'orders' in state InitialState",
        "orders: InitialState -> AwaitingConfirmation",
    ]
    assert (tmp_path / ".floe" / "floe.db").is_file()
    assert ok(floe_cli("handle", "--config", str(orders), "confirm", "--content", "confirmed")) == [
        "orders: AwaitingConfirmation -> ProcessingRequest"
    ]
    assert ok(floe_cli("handle", "--config", str(orders), "complete")) == [
        "orders: ProcessingRequest -> InitialState"
    ]

    # the journal holds every step, in order
    kinds = [kind for kind, _ in history(tmp_path, "orders")]
    assert kinds == [
        "engine.component.registered",
        "component.message.received",
        "state.changed",
        "component.message.received",
        "state.changed",
        "component.message.received",
        "state.changed",
    ]
    changes = [
        (data["from_state"], data["to_state"])
        for kind, data in history(tmp_path, "orders")
        if kind == "state.changed"
    ]
    assert changes == [
        ("InitialState", "AwaitingConfirmation"),
        ("AwaitingConfirmation", "ProcessingRequest"),
        ("ProcessingRequest", "InitialState"),
    ]


def test_an_ignored_message_says_so_and_exits_0(floe_cli: Run, orders: Path) -> None:
    ok(floe_cli("register", "--config", str(orders)))
    assert ok(floe_cli("handle", "--config", str(orders), "complete")) == [
        "orders: ignored 'complete' (stays in InitialState)"
    ]
    ok(floe_cli("handle", "--config", str(orders), "start"))
    # confirm needs exactly the content "confirmed"
    assert ok(floe_cli("handle", "--config", str(orders), "confirm", "--content", "yes")) == [
        "orders: ignored 'confirm' (stays in AwaitingConfirmation)"
    ]


def test_fields_reach_the_journal(floe_cli: Run, orders: Path, tmp_path: Path) -> None:
    ok(floe_cli("register", "--config", str(orders)))
    ok(
        floe_cli(
            "handle",
            "--config",
            str(orders),
            "start",
            "--field",
            "priority=2",
            "--field",
            "note=rush order",
            "--field",
            "tags=[1, true]",
            "--field",
            "id=007",
        )
    )
    received = [data for kind, data in history(tmp_path, "orders") if kind.endswith("received")]
    assert received[0]["message"] == {
        "type": "start",
        "content": None,
        "priority": 2,
        "note": "rush order",
        "tags": [1, True],
        "id": "007",
    }


@pytest.mark.parametrize(
    ("field", "first_line"),
    [
        pytest.param("priority", "Invalid --field 'priority'", id="no-equals"),
        pytest.param("=2", "Invalid --field '=2'", id="no-key"),
        pytest.param(
            "content=x", "Invalid --field 'content=x': 'content' is not a free field", id="content"
        ),
        pytest.param("type=x", "Invalid --field 'type=x': 'type' is not a free field", id="type"),
    ],
)
def test_a_bad_field_is_one_error_block(
    floe_cli: Run, orders: Path, field: str, first_line: str
) -> None:
    one_error_block(
        floe_cli("handle", "--config", str(orders), "start", "--field", field), first_line
    )


# -- which config ----------------------------------------------------------------------


def test_floe_config_is_used_when_config_is_omitted_and_config_wins(
    floe_cli: Run, orders: Path, invoices: Path
) -> None:
    env = {"FLOE_CONFIG": str(orders)}
    assert ok(floe_cli("register", "--start", env=env))[-1] == (
        "orders: InitialState -> AwaitingConfirmation"
    )
    ok(floe_cli("register", "--config", str(invoices), env=env))
    # --config wins over FLOE_CONFIG
    assert ok(floe_cli("handle", "--config", str(invoices), "start", env=env)) == [
        "invoices: InitialState -> AwaitingConfirmation"
    ]
    assert ok(floe_cli("handle", "cancel", env=env)) == [
        "orders: AwaitingConfirmation -> InitialState"
    ]
    for command in (("explain",), ("visualize",)):
        assert floe_cli(*command, env=env).returncode == floe.ExitCode.OK


def test_no_config_at_all_is_one_error_block(floe_cli: Run) -> None:
    for command in (("register",), ("handle", "start"), ("explain",), ("visualize",)):
        lines = one_error_block(floe_cli(*command), "No component config given")
        assert lines[-2] == "Fix: Pass --config PATH, or set FLOE_CONFIG=PATH."


def test_flexiflow_config_alone_is_named_in_the_error(floe_cli: Run, orders: Path) -> None:
    result = floe_cli("register", "--start", env={"FLEXIFLOW_CONFIG": str(orders)})
    lines = one_error_block(result, "No component config given")
    assert lines[1].endswith("$FLEXIFLOW_CONFIG is set, but floe reads $FLOE_CONFIG.")
    assert lines[-2] == f"Fix: Set FLOE_CONFIG={orders} (or pass --config {orders})."


def test_a_config_error_names_the_file_and_the_field(floe_cli: Run, tmp_path: Path) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text("name: orders\nrules: {max: 3}\n")
    for command in (
        ("register", "--config", str(config)),
        ("handle", "--config", str(config), "x"),
    ):
        lines = one_error_block(
            floe_cli(*command), f"Field 'rules' in {config} must be a list, got a mapping"
        )
        assert lines[-1] == f"Context: source='{config}', field='rules'"

    missing = floe_cli("register", "--config", str(tmp_path / "nope.yaml"))
    one_error_block(missing, f"The component config {tmp_path / 'nope.yaml'} does not exist")

    config.write_text("name: orders\nrules: [1,\n")
    syntax = floe_cli("register", "--config", str(config))
    one_error_block(
        syntax, f"Cannot parse the component config {config}: YAML syntax error at line 3, column 1"
    )


def test_handling_before_registering_is_one_error_block(floe_cli: Run, orders: Path) -> None:
    result = floe_cli("handle", "--config", str(orders), "start")
    lines = one_error_block(
        result,
        "No component named 'orders' is registered here or stored in sqlite:///.floe/floe.db",
    )
    assert "floe register --config" in lines[-2]


def test_registering_twice_needs_replace(floe_cli: Run, orders: Path) -> None:
    ok(floe_cli("register", "--config", str(orders), "--start"))
    lines = one_error_block(
        floe_cli("register", "--config", str(orders)),
        "Component 'orders' is already registered in sqlite:///.floe/floe.db",
    )
    assert "--replace" in lines[-2]
    assert ok(floe_cli("register", "--config", str(orders), "--replace")) == [
        "Registered component 'orders' in state InitialState"
    ]
    assert ok(floe_cli("handle", "--config", str(orders), "start"))[0].endswith(
        "InitialState -> AwaitingConfirmation"
    )


def test_a_config_with_its_own_states_works_across_processes(floe_cli: Run, tmp_path: Path) -> None:
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "warehouse_states.py").write_text(CUSTOM_STATES)
    config = tmp_path / "parcel.yaml"
    config.write_text(
        textwrap.dedent(
            """
            name: parcel
            initial_state: Waiting
            states:
              Waiting: warehouse_states:Queued
              Picked: warehouse_states:Picked
              Gone: warehouse_states:Gone
            """
        )
    )
    assert ok(floe_cli("register", "--config", str(config))) == [
        "Registered component 'parcel' in state Waiting"
    ]
    # Queued declares its move to "Picked" (by name); the default handler follows it
    assert ok(floe_cli("handle", "--config", str(config), "pick")) == ["parcel: Waiting -> Picked"]
    assert ok(floe_cli("handle", "--config", str(config), "ship")) == ["parcel: Picked -> Gone"]
    assert ok(floe_cli("handle", "--config", str(config), "ship")) == [
        "parcel: ignored 'ship' (stays in Gone)"
    ]
    assert ok(floe_cli("visualize", str(config))) == [
        "stateDiagram-v2",
        "    [*] --> Waiting",
        "    Waiting --> Picked: pick",
        "    Picked --> Gone: ship",
        "    Gone",
    ]


def test_dotted_paths_find_modules_in_the_working_directory(floe_cli: Run, tmp_path: Path) -> None:
    # the states live in a package next to the config, not installed, not on PYTHONPATH
    package = tmp_path / "depot"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "states.py").write_text(CUSTOM_STATES)
    # a module named like an installed one: the installed one wins, as for 'floe run'
    (tmp_path / "floe_states.py").write_text("raise RuntimeError('the working directory won')\n")
    config = tmp_path / "depot.yaml"
    config.write_text(
        "name: depot\n"
        "initial_state: depot.states:Queued\n"
        "states: {Picked: depot.states:Picked, Gone: depot.states:Gone}\n"
        "packs: [floe_states]\n"
    )
    rules = tmp_path / "rules.yaml"
    rules.write_text("- {bay: 4}\n")

    assert ok(floe_cli("explain", str(config)))[0] == f"Component config {config}: valid"
    assert ok(floe_cli("visualize", str(config)))[1] == "    [*] --> Queued"
    assert ok(floe_cli("register", "--config", str(config))) == [
        "Registered component 'depot' in state Queued"
    ]
    assert ok(floe_cli("handle", "--config", str(config), "pick")) == ["depot: Queued -> Picked"]
    assert ok(floe_cli("update-rules", "--config", str(config), str(rules))) == [
        "depot: rules replaced (1 rule)"
    ]

    # run from elsewhere, the package is not found: the working directory is what counts
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run(
        [str(FLOE), "explain", str(config)],
        cwd=elsewhere,
        env={key: value for key, value in os.environ.items() if not key.startswith("FLOE_")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == floe.ExitCode.USAGE
    assert "Cannot import the state class 'depot.states:Queued'" in result.stdout


def test_flexiflows_state_pack_example_from_the_shell(
    floe_cli: Run, orders: Path, tmp_path: Path
) -> None:
    # FlexiFlow's README: a config naming its own InitialState, states in mypkg.states
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "states.py").write_text(
        textwrap.dedent(
            """
            from floe import State, Transition


            class InitialState(State):
                transitions = (Transition("InitialState", "start", "Processing"),)


            class ProcessingState(State):
                transitions = (Transition("Processing", "complete", "Complete"),)


            class CompleteState(State):
                pass
            """
        )
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        "name: my_component\n"
        "states:\n"
        '  InitialState: "mypkg.states:InitialState"\n'
        '  Processing: "mypkg.states:ProcessingState"\n'
        '  Complete: "mypkg.states:CompleteState"\n'
        "initial_state: InitialState\n"
        "rules: []\n"
    )
    assert ok(floe_cli("register", "--config", str(config), "--start")) == [
        "Registered component 'my_component' in state InitialState",
        "my_component: InitialState -> Processing",
    ]
    assert ok(floe_cli("handle", "--config", str(config), "complete")) == [
        "my_component: Processing -> Complete"
    ]
    # a component of the default pack, in the same store, keeps the built-in InitialState
    assert ok(floe_cli("register", "--config", str(orders), "--start"))[-1] == (
        "orders: InitialState -> AwaitingConfirmation"
    )


# -- rules -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["update-rules", "update_rules"])
def test_update_rules_replaces_the_rules(
    floe_cli: Run, orders: Path, tmp_path: Path, command: str
) -> None:
    ok(floe_cli("register", "--config", str(orders)))
    rules = tmp_path / "new_rules.yaml"
    rules.write_text("- {max_items: 10}\n- priority\n")
    assert ok(floe_cli(command, "--config", str(orders), str(rules))) == [
        "orders: rules replaced (2 rules)"
    ]
    listed = orjson.loads(floe_cli("components", "--json").stdout)
    assert listed == [{"name": "orders", "state": "InitialState", "rules": 2, "steps": 2}]
    updated = [data for kind, data in history(tmp_path, "orders") if kind.endswith("updated")]
    assert updated == [{"component": "orders", "rules": [{"max_items": 10}, "priority"]}]


def test_a_bad_rules_file_is_one_error_block(floe_cli: Run, orders: Path, tmp_path: Path) -> None:
    ok(floe_cli("register", "--config", str(orders)))
    rules = tmp_path / "rules.yaml"
    rules.write_text("max_items: 10\n")
    one_error_block(
        floe_cli("update-rules", "--config", str(orders), str(rules)),
        f"The rules file {rules} must hold a list, got a mapping",
    )
    one_error_block(
        floe_cli("update-rules", "--config", str(orders), str(tmp_path / "none.yaml")),
        f"The rules file {tmp_path / 'none.yaml'} does not exist",
    )


def test_update_rules_is_listed_once_in_help(floe_cli: Run) -> None:
    help_text = ok(floe_cli("--help"))
    commands = [line.split()[0] for line in help_text[help_text.index("Commands:") + 1 :]]
    for command in (
        "components",
        "explain",
        "handle",
        "prune",
        "register",
        "snapshots",
        "update-rules",
        "visualize",
    ):
        assert command in commands
    assert "update_rules" not in commands


# -- explain and visualize -------------------------------------------------------------


def test_explain_a_valid_config(floe_cli: Run, orders: Path, tmp_path: Path) -> None:
    lines = ok(floe_cli("explain", str(orders)))
    assert lines[0] == f"Component config {orders}: valid"
    assert "  initial state: InitialState (from plugin 'states')" in lines

    data = orjson.loads(floe_cli("explain", str(orders), "--json").stdout)
    assert data["is_valid"] is True
    assert (data["name"], data["initial_state"], data["rules_count"]) == (
        "orders",
        "InitialState",
        1,
    )
    assert data["states"]["ProcessingRequest"] == "plugin 'states'"
    # explaining opens no store
    assert not (tmp_path / ".floe").exists()


def test_explain_an_invalid_config_exits_2_with_every_error(floe_cli: Run, tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("name: 3\npacks: [nowhere_to_be_found:Pack]\n")
    result = floe_cli("explain", str(config))
    assert result.returncode == floe.ExitCode.USAGE
    assert result.stderr == ""
    assert result.stdout.splitlines()[0] == f"Component config {config}: invalid (2 errors)"
    assert "No module named 'nowhere_to_be_found'" in result.stdout

    as_json = floe_cli("explain", str(config), "--json")
    assert as_json.returncode == floe.ExitCode.USAGE
    data = orjson.loads(as_json.stdout)
    assert data["is_valid"] is False
    assert [error["context"]["field"] for error in data["errors"]] == ["name", "packs[0]"]

    missing = floe_cli("explain", str(tmp_path / "nope.yaml"), "--json")
    assert missing.returncode == floe.ExitCode.USAGE
    assert orjson.loads(missing.stdout)["errors"][0]["what"].endswith("does not exist")


BOMB = """\
name: bomb
rules:
  - &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
  - &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
  - &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
  - &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
  - &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
  - &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
  - &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
  - &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
  - &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""
"""About 400 bytes that stand for 387 million strings ("billion laughs")."""


def test_a_yaml_bomb_is_refused_by_explain_and_register_and_stores_nothing(
    floe_cli: Run, tmp_path: Path
) -> None:
    config = tmp_path / "bomb.yaml"
    config.write_text(BOMB)
    assert config.stat().st_size < 500
    refusal = f"Refusing the component config {config}: it expands to more than"

    started = time.monotonic()
    explained = floe_cli("explain", str(config), "--json")
    register = floe_cli("register", "--config", str(config), "--start")
    handle = floe_cli("handle", "--config", str(config), "start")
    assert time.monotonic() - started < 30  # three process starts; unbounded, it took minutes

    assert explained.returncode == floe.ExitCode.USAGE
    data = orjson.loads(explained.stdout)
    assert data["is_valid"] is False
    (error,) = data["errors"]
    assert error["what"].startswith(refusal)
    assert (error["context"]["bound"], error["context"]["limit"]) == ("values", 100_000)
    for result in (register, handle):
        assert result.returncode == floe.ExitCode.USAGE
        assert result.stderr.startswith(f"Error: {refusal}")
        assert "Traceback" not in result.stderr
        assert "bound='values', limit=100000" in result.stderr.splitlines()[-1]
    # refused before the store was opened: nothing was written
    assert not (tmp_path / ".floe").exists()
    assert ok(floe_cli("components")) == [
        "No components registered (floe register --config PATH registers one)."
    ]


def test_visualize_prints_mermaid(floe_cli: Run, orders: Path) -> None:
    lines = ok(floe_cli("visualize", str(orders)))
    assert lines[:3] == [
        "stateDiagram-v2",
        "    [*] --> InitialState",
        "    InitialState --> AwaitingConfirmation: start",
    ]
    assert len(lines) == 8
    one_error_block(
        floe_cli("visualize", str(orders), "--format", "dot"), "Unknown diagram format 'dot'"
    )


# -- components, snapshots, prune ------------------------------------------------------


def test_components_lists_current_states(floe_cli: Run, orders: Path, invoices: Path) -> None:
    assert ok(floe_cli("components")) == [
        "No components registered (floe register --config PATH registers one)."
    ]
    assert orjson.loads(floe_cli("components", "--json").stdout) == []
    ok(floe_cli("register", "--config", str(orders), "--start"))
    ok(floe_cli("register", "--config", str(invoices)))
    lines = ok(floe_cli("components"))
    assert [line.split() for line in lines] == [
        ["NAME", "STATE", "RULES", "STEPS"],
        ["invoices", "InitialState", "0", "1"],
        ["orders", "AwaitingConfirmation", "1", "3"],
    ]


def _save_snapshots(tmp_path: Path, count: int) -> None:
    async def save(kernel: floe.Kernel) -> None:
        component = await Engine(kernel).restore("orders")
        for number in range(count):
            await save_snapshot(component, {"number": number}, store=kernel.store)

    in_store(tmp_path, save)


def test_snapshots_lists_newest_first(floe_cli: Run, orders: Path, tmp_path: Path) -> None:
    ok(floe_cli("register", "--config", str(orders), "--start"))
    assert ok(floe_cli("snapshots", "orders")) == ["No snapshots of component 'orders'."]
    _save_snapshots(tmp_path, 3)

    lines = ok(floe_cli("snapshots", "orders"))
    assert lines[0].split() == ["ID", "CREATED", "STATE", "RULES", "METADATA"]
    rows = [line.split() for line in lines[1:]]
    assert [row[4] for row in rows] == ['{"number":2}', '{"number":1}', '{"number":0}']
    assert {row[2] for row in rows} == {"AwaitingConfirmation"}
    assert int(rows[0][0]) > int(rows[1][0]) > int(rows[2][0])

    limited = orjson.loads(floe_cli("snapshots", "orders", "--limit", "2", "--json").stdout)
    assert [record["metadata"] for record in limited] == [{"number": 2}, {"number": 1}]
    assert limited[0]["rules"] == [{"max_items": 3}]
    assert limited[0]["state"] == "AwaitingConfirmation"


def test_prune_keeps_the_newest(floe_cli: Run, orders: Path, tmp_path: Path) -> None:
    ok(floe_cli("register", "--config", str(orders)))
    _save_snapshots(tmp_path, 5)
    assert ok(floe_cli("prune", "orders", "--keep-last", "2")) == [
        "orders: deleted 3 snapshots, kept the newest 2"
    ]
    records = orjson.loads(floe_cli("snapshots", "orders", "--json").stdout)
    assert [record["metadata"] for record in records] == [{"number": 4}, {"number": 3}]
    assert ok(floe_cli("prune", "orders", "--keep-last", "2")) == [
        "orders: deleted 0 snapshots, kept the newest 2"
    ]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--keep-last", "0"),
        ("--keep-last", "-1"),
        ("--keep-last", "99999999999999999999999"),
        ("--limit", "0"),
        ("--limit", "99999999999999999999999"),
    ],
)
def test_counts_out_of_range_are_one_error_block(
    floe_cli: Run, orders: Path, tmp_path: Path, option: str, value: str
) -> None:
    ok(floe_cli("register", "--config", str(orders)))
    _save_snapshots(tmp_path, 2)
    command = "prune" if option == "--keep-last" else "snapshots"
    lines = one_error_block(
        floe_cli(command, "orders", option, value),
        f"Invalid value for '{option}': {value} is not in the range 1<=x<=1000000000.",
    )
    assert lines[-1] == f"Context: command='floe {command}', option='{option}'"
    # nothing was deleted
    assert len(orjson.loads(floe_cli("snapshots", "orders", "--json").stdout)) == 2


def test_prune_without_keep_last_is_a_usage_error(floe_cli: Run) -> None:
    result = floe_cli("prune", "orders")
    assert result.returncode == floe.ExitCode.USAGE
    assert "Missing option '--keep-last'" in result.stderr
    assert "Traceback" not in result.stderr
