"""Component commands: drive message-driven components from the shell.

Every command opens the kernel (and so the store: ``.floe/floe.db`` by default), so a
component registered by one ``floe`` process is found, in the state it reached, by the
next one: each component is a long-lived run whose journal is restored.

A command that needs a component config takes ``--config PATH``; without it,
``$FLOE_CONFIG`` is used (``--config`` wins).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import orjson

import floe

from ._options import COUNT
from ._project import imports_project_code
from ._state import CliState

if TYPE_CHECKING:
    from floe import Component, ComponentConfig, Engine, Transitioned

# the kernel's component modules are imported by the commands that use them, so that
# building the command line (and 'floe --help') does not load them

__all__ = ["COMMANDS", "CONFIG_ENV"]

CONFIG_ENV = "FLOE_CONFIG"
"""The environment variable naming the component config when ``--config`` is omitted."""
FLEXIFLOW_CONFIG_ENV = "FLEXIFLOW_CONFIG"
"""FlexiFlow's name for it: not read, but named in the error when it is set."""

_T = TypeVar("_T")


def _config_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--config",
        "config_path",
        metavar="PATH",
        type=click.Path(path_type=Path, dir_okay=True),
        help=f"The component config (YAML). Default: ${CONFIG_ENV}.",
    )(function)


def _config_path(given: Path | None) -> Path:
    if given is not None:
        return given
    from_env = os.environ.get(CONFIG_ENV, "").strip()
    if from_env:
        return Path(from_env)
    why = f"This command needs the component's config, from --config or ${CONFIG_ENV}."
    fix = f"Pass --config PATH, or set {CONFIG_ENV}=PATH."
    flexiflow = os.environ.get(FLEXIFLOW_CONFIG_ENV, "").strip()
    if flexiflow:
        why += f" ${FLEXIFLOW_CONFIG_ENV} is set, but floe reads ${CONFIG_ENV}."
        fix = f"Set {CONFIG_ENV}={flexiflow} (or pass --config {flexiflow})."
    raise floe.ConfigError(
        "No component config given",
        why=why,
        fix=fix,
        context={"option": "--config", "environment": CONFIG_ENV},
    )


def _run(state: CliState, function: Callable[[floe.Kernel], Awaitable[_T]]) -> _T:
    """Run ``function(kernel)`` inside the command line's kernel, on its event loop."""
    kernel = state.kernel

    async def main() -> _T:
        return await function(kernel)

    return floe.run_sync(main, kernel=kernel)


def _describe(component: Component, result: Transitioned | None, message: str) -> str:
    if result is None:
        return f"{component.name}: ignored {message!r} (stays in {component.state})"
    return f"{component.name}: {result.from_state} -> {result.to_state}"


async def _component(kernel: floe.Kernel, config: ComponentConfig) -> tuple[Engine, Component]:
    """The engine and the component the config names, restored from the store."""
    from floe import Engine

    engine = Engine(kernel)
    component = await engine.restore(config.name, config=config)
    return engine, component


# -- register / handle / update-rules --------------------------------------------------


@click.command("register")
@_config_option
@click.option("--start", is_flag=True, help="Send it the 'start' message once registered.")
@click.option(
    "--replace",
    is_flag=True,
    help="Register it again from its initial state if it is already registered.",
)
@click.pass_obj
@imports_project_code
def register_command(state: CliState, config_path: Path | None, start: bool, replace: bool) -> None:
    """Register the component a config describes.

    The component is journaled in the store, so later commands find it in the state it
    reached. With --start it is sent the 'start' message. A component that is already registered
    is an error unless --replace.
    """
    from floe import Engine, component_run_id, load_config

    config = load_config(_config_path(config_path))

    async def register(kernel: floe.Kernel) -> None:
        engine = Engine(kernel)
        stored = await kernel.store.get_run(component_run_id(config.name))
        if stored is not None and not replace:
            raise floe.StateError(
                f"Component {config.name!r} is already registered in {kernel.store.url}",
                why="Registering it again would start it over from its initial state, "
                "dropping the state it reached.",
                fix="Send it messages with 'floe handle', or pass --replace to start it over "
                "(its history stays in the journal).",
                context={"component": config.name, "store": kernel.store.url},
            )
        component = engine.create_component(config, replace=replace)
        await component.flush()
        click.echo(f"Registered component {component.name!r} in state {component.state}")
        if start:
            result = await engine.handle_message(component.name, "start")
            click.echo(_describe(component, result, "start"))

    _run(state, register)


def _parse_field(text: str) -> tuple[str, Any]:
    key, equals, raw = text.partition("=")
    key = key.strip()
    if not equals or not key:
        raise floe.ConfigError(
            f"Invalid --field {text!r}",
            why="A field is written KEY=VALUE.",
            fix="Write e.g. --field priority=2 or --field note=urgent.",
            context={"option": "--field"},
        )
    if key in ("type", "content"):
        raise floe.ConfigError(
            f"Invalid --field {text!r}: {key!r} is not a free field",
            why="The message type is the MESSAGE argument and its content is --content.",
            fix=f"Pass the {key} as {'MESSAGE' if key == 'type' else '--content'}.",
            context={"option": "--field"},
        )
    try:
        value: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = raw
    return key, value


@click.command("handle")
@_config_option
@click.argument("message")
@click.option("--content", help="The message's content (text).")
@click.option(
    "--field",
    "fields",
    multiple=True,
    metavar="KEY=VALUE",
    help="Another message field (repeatable); VALUE is read as JSON when it parses "
    "(2, true, null, [1, 2]), else as text.",
)
@click.option(
    "--detach",
    is_flag=True,
    help="Send the message for a worker ('floe worker') and print its id; handle nothing here.",
)
@click.option(
    "--message-id",
    metavar="ID",
    help="With --detach: the message's id; a message sent again with it is not sent twice.",
)
@click.option("--queue", metavar="QUEUE", help="With --detach: the queue the message waits in.")
@click.option(
    "--priority",
    type=int,
    help="With --detach: higher priorities are claimed first (default 0).",
)
@click.pass_obj
@imports_project_code
def handle_command(
    state: CliState,
    config_path: Path | None,
    message: str,
    content: str | None,
    fields: Sequence[str],
    detach: bool,
    message_id: str | None,
    queue: str | None,
    priority: int | None,
) -> None:
    """Send MESSAGE to a component; print what it did.

    Prints the transition ('orders: InitialState -> AwaitingConfirmation') or that the
    message was ignored. An ignored message (one the current state does not take) is not
    an error: the exit code is 0 either way. With --detach the message is stored for a
    worker, which handles it with the component restored from the store (the messages to
    one component one at a time, in the order they were sent), and its id is printed.
    """
    from floe import load_config

    if not detach and (message_id is not None or queue is not None or priority is not None):
        raise floe.ConfigError(
            "--message-id, --queue and --priority are for a message sent with --detach",
            why="A message handled here waits in no queue.",
            fix="Add --detach, or leave these options out.",
            context={"option": "--detach"},
        )
    config = load_config(_config_path(config_path))
    extra = dict(_parse_field(text) for text in fields)
    if content is not None:
        extra["content"] = content

    async def handle(kernel: floe.Kernel) -> None:
        engine, component = await _component(kernel, config)
        result = await engine.handle_message(component.name, message, **extra)
        click.echo(_describe(component, result, message))

    async def send(kernel: floe.Kernel) -> None:
        from floe import Engine, Message

        sent = await Engine(kernel).send(
            config.name,
            Message.of(message, **extra),
            message_id=message_id,
            queue=floe.DEFAULT_QUEUE if queue is None else queue,
            priority=priority or 0,
        )
        click.echo(sent.message_id)

    _run(state, send if detach else handle)


def _update_rules(state: CliState, config_path: Path | None, rules_file: Path) -> None:
    from floe import load_config, load_rules

    config = load_config(_config_path(config_path))
    rules = load_rules(rules_file)

    async def update(kernel: floe.Kernel) -> None:
        _engine, component = await _component(kernel, config)
        component.update_rules(rules)
        await component.flush()
        click.echo(f"{component.name}: rules replaced ({len(rules)} rule{'s' * (len(rules) != 1)})")

    _run(state, update)


def _update_rules_command(name: str, *, hidden: bool) -> click.Command:
    @click.command(name, hidden=hidden)
    @_config_option
    @click.argument("rules_file", metavar="RULES_FILE", type=click.Path(path_type=Path))
    @click.pass_obj
    @imports_project_code
    def command(state: CliState, config_path: Path | None, rules_file: Path) -> None:
        """Replace a component's rules with RULES_FILE.

        RULES_FILE is a YAML list of rules (or 'rules:' followed by one). The whole list
        is replaced, not merged; the change is journaled.
        """
        _update_rules(state, config_path, rules_file)

    return command


update_rules_command = _update_rules_command("update-rules", hidden=False)
update_rules_alias = _update_rules_command("update_rules", hidden=True)
"""The same command spelled with an underscore: accepted, not listed."""


# -- explain / visualize ---------------------------------------------------------------


@click.command("explain")
@click.argument("config_path", metavar="CONFIG", required=False, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@click.pass_obj
@imports_project_code
def explain_command(state: CliState, config_path: Path | None, as_json: bool) -> int:
    """Check a component config without running anything.

    Prints what the config would create (or every problem in it). Exit code 0 when it is
    valid, 2 when it is not.
    """
    from floe import explain

    explanation = explain(_config_path(config_path), registry=_installed_states(state))
    if as_json:
        click.echo(orjson.dumps(explanation.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(explanation.format())
    return floe.ExitCode.OK if explanation.is_valid else floe.ExitCode.USAGE


@click.command("visualize")
@click.argument("config_path", metavar="CONFIG", required=False, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "diagram_format",
    default="mermaid",
    show_default=True,
    help="The diagram format (mermaid).",
)
@click.pass_obj
@imports_project_code
def visualize_command(state: CliState, config_path: Path | None, diagram_format: str) -> None:
    """Print a diagram of a config's state machine.

    The diagram is a Mermaid stateDiagram-v2 of the states' declared transitions, from the
    initial state; paste it into any Mermaid renderer.
    """
    from floe import visualize

    path = _config_path(config_path)
    click.echo(visualize(path, diagram_format, registry=_installed_states(state)), nl=False)


def _installed_states(state: CliState) -> floe.StateRegistry:
    """The states every kernel of this command line starts with (no store is opened)."""
    registry = floe.StateRegistry()
    state.kernel.hooks.register_states(registry)
    return registry


# -- components / snapshots / prune ----------------------------------------------------


@click.command("components")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@click.pass_obj
def components_command(state: CliState, as_json: bool) -> None:
    """List the stored components and their states.

    Every component registered in the store, with its current state, its number of rules
    and its number of journaled steps.
    """

    from floe import Engine

    async def listing(kernel: floe.Kernel) -> list[dict[str, Any]]:
        engine = Engine(kernel)
        return [
            {
                "name": stored.name,
                "state": stored.state,
                "rules": len(stored.rules),
                "steps": stored.last_seq,
            }
            for stored in await engine.stored_components()
        ]

    rows = _run(state, listing)
    if as_json:
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    if not rows:
        click.echo("No components registered (floe register --config PATH registers one).")
        return
    table = [("NAME", "STATE", "RULES", "STEPS")] + [
        (row["name"], row["state"], str(row["rules"]), str(row["steps"])) for row in rows
    ]
    click.echo(_table(table))


@click.command("snapshots")
@click.argument("name")
@click.option(
    "--limit",
    default=10,
    show_default=True,
    type=COUNT,
    help="How many to list, newest first.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@click.pass_obj
def snapshots_command(state: CliState, name: str, limit: int, as_json: bool) -> None:
    """List the snapshots of component NAME, newest first."""

    from floe import list_snapshots

    async def listing(kernel: floe.Kernel) -> list[floe.Snapshot]:
        return await list_snapshots(name, limit, store=kernel.store)

    snapshots = _run(state, listing)
    if as_json:
        records = [
            {
                "snapshot_id": snapshot.snapshot_id,
                "component": snapshot.component,
                "state": snapshot.state,
                "created_at": snapshot.created_at,
                "rules": list(snapshot.rules),
                "metadata": dict(snapshot.metadata),
            }
            for snapshot in snapshots
        ]
        click.echo(orjson.dumps(records, option=orjson.OPT_INDENT_2).decode())
        return
    if not snapshots:
        click.echo(f"No snapshots of component {name!r}.")
        return
    table = [("ID", "CREATED", "STATE", "RULES", "METADATA")] + [
        (
            str(snapshot.snapshot_id),
            snapshot.created_at.isoformat(timespec="seconds"),
            snapshot.state,
            str(len(snapshot.rules)),
            orjson.dumps(dict(snapshot.metadata)).decode() if snapshot.metadata else "-",
        )
        for snapshot in snapshots
    ]
    click.echo(_table(table))


@click.command("prune")
@click.argument("name")
@click.option(
    "--keep-last",
    required=True,
    type=COUNT,
    metavar="N",
    help="How many of the newest snapshots to keep (at least 1).",
)
@click.pass_obj
def prune_command(state: CliState, name: str, keep_last: int) -> None:
    """Delete all but the newest N snapshots of component NAME."""
    from floe import prune_snapshots

    async def prune(kernel: floe.Kernel) -> int:
        return await prune_snapshots(name, keep_last, store=kernel.store)

    deleted = _run(state, prune)
    click.echo(
        f"{name}: deleted {deleted} snapshot{'s' * (deleted != 1)}, kept the newest {keep_last}"
    )


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]) - 1)]
    lines = []
    for number, row in enumerate(rows):
        cells = [cell.ljust(widths[i]) if i < len(widths) else cell for i, cell in enumerate(row)]
        line = "  ".join(cells).rstrip()
        lines.append(click.style(line, bold=True) if number == 0 else line)
    return "\n".join(lines)


COMMANDS: tuple[click.Command, ...] = (
    register_command,
    handle_command,
    update_rules_command,
    update_rules_alias,
    explain_command,
    visualize_command,
    components_command,
    snapshots_command,
    prune_command,
)
"""The component commands, in the order ``floe --help`` lists them."""
