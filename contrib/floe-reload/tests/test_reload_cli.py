"""``floe watch`` as people run it: a subprocess watching real files, edited under it.

The plugin comes from the installed ``floe-reload`` distribution (its entry point), the
store is the default SQLite file in the working directory, and other ``floe`` processes
handle messages meanwhile: the state carries across all of them.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import orjson
import pytest

import floe

FLOE = Path(sys.executable).with_name("floe")
TIMEOUT = 30
"""Seconds to wait for a line from the watcher."""


def environment(path: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment of a ``floe`` process: no FLOE_* from outside, *path* importable."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLOE_")}
    env["FLOE_STRICT_PLUGINS"] = "1"
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(path), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def floe_cli(
    *args: str, cwd: Path, on_path: bool = True, **extra: str
) -> subprocess.CompletedProcess[str]:
    """Run ``floe *args`` in *cwd*, which is on PYTHONPATH unless not *on_path*."""
    return subprocess.run(
        [str(FLOE), *args],
        cwd=cwd,
        env=environment(cwd if on_path else None, **extra),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def lines_of(*args: str, cwd: Path, on_path: bool = True) -> list[str]:
    result = floe_cli(*args, cwd=cwd, on_path=on_path)
    assert result.returncode == floe.ExitCode.OK, result.stderr
    return result.stdout.splitlines()


def stored(cwd: Path, name: str) -> dict[str, object]:
    records = orjson.loads(floe_cli("components", "--json", cwd=cwd).stdout)
    record: dict[str, object] = {r["name"]: r for r in records}[name]
    return record


class WatchProcess:
    """A running ``floe watch``; its output is read line by line as it comes."""

    def __init__(self, *args: str, cwd: Path, on_path: bool = True, **extra: str) -> None:
        self.process = subprocess.Popen(
            [str(FLOE), "watch", *args],
            cwd=cwd,
            env=environment(cwd if on_path else None, **extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: queue.Queue[str] = queue.Queue()
        self.stderr: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self._readers = [
            threading.Thread(target=_pump, args=(self.process.stdout, self.stdout), daemon=True),
            threading.Thread(target=_pump, args=(self.process.stderr, self.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def line(self) -> str:
        """The next line on stdout."""
        try:
            return self.stdout.get(timeout=TIMEOUT)
        except queue.Empty:
            self.process.kill()
            raise AssertionError(f"no output; stderr: {self.drain(self.stderr)}") from None

    def error_block(self) -> list[str]:
        """The next error block on stderr: its 'Error:' line and the lines that follow."""
        first = self.stderr.get(timeout=TIMEOUT)
        block = [first]
        deadline = time.monotonic() + 1
        while not block[-1].startswith("Context:") and time.monotonic() < deadline:
            try:
                block.append(self.stderr.get(timeout=0.1))
            except queue.Empty:
                continue
        return block

    @staticmethod
    def drain(lines: queue.Queue[str]) -> list[str]:
        found = []
        while True:
            try:
                found.append(lines.get_nowait())
            except queue.Empty:
                return found

    def stop(self, signal_number: int = signal.SIGINT) -> int:
        """Send *signal_number*, wait for the exit; return the exit code."""
        self.process.send_signal(signal_number)
        code = self.process.wait(timeout=TIMEOUT)
        for reader in self._readers:
            reader.join(timeout=TIMEOUT)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=TIMEOUT)


def _pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))
    stream.close()


@pytest.fixture
def watchers() -> Iterator[list[WatchProcess]]:
    """Every watcher a test starts is stopped, even when the test fails."""
    started: list[WatchProcess] = []
    yield started
    for process in started:
        process.kill()


def save(path: Path, text: str) -> None:
    """Save *path* as editors do: write a new file, then rename it over the old one."""
    temporary = path.with_name(f".{path.name}.saving")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


@pytest.mark.hook("floe_cli")
def test_the_plugin_is_an_installed_third_party_plugin(tmp_path: Path) -> None:
    records = orjson.loads(floe_cli("plugins", "--json", cwd=tmp_path).stdout)
    record = {entry["name"]: entry for entry in records}["reload"]
    assert (record["stage"], record["status"], record["distribution"]) == (
        "third-party",
        "loaded",
        "floe-reload",
    )
    assert record["hooks"] == ["floe_cli"]
    assert "watch" in floe_cli("--help", cwd=tmp_path).stdout


def test_rules_reload_keeps_the_state_across_processes(
    tmp_path: Path, watchers: list[WatchProcess]
) -> None:
    config = tmp_path / "orders.yaml"
    rules = tmp_path / "rules.yaml"
    config.write_text("name: orders\nrules: [{max_items: 10}]\n", encoding="utf-8")
    rules.write_text("- {max_items: 10}\n", encoding="utf-8")
    assert lines_of("register", "--config", str(config), "--start", cwd=tmp_path) == [
        "Registered component 'orders' in state InitialState",
        "orders: InitialState -> AwaitingConfirmation",
    ]

    watcher = WatchProcess("--config", str(config), "--rules", str(rules), cwd=tmp_path)
    watchers.append(watcher)
    assert watcher.line() == (
        "Watching component 'orders' in state AwaitingConfirmation (1 rule); Ctrl-C stops"
    )
    assert [watcher.line(), watcher.line()] == [f"  {config}", f"  {rules}"]

    save(rules, "- {max_items: 10}\n- {max_items: 20}\n")
    assert watcher.line() == (
        "Reloaded component 'orders' (state AwaitingConfirmation kept): rules replaced (2 rules)"
    )
    assert stored(tmp_path, "orders") | {"steps": None} == {
        "name": "orders",
        "state": "AwaitingConfirmation",
        "rules": 2,
        "steps": None,
    }

    # a broken edit: one error block on stderr, and the watcher carries on
    save(config, "name: orders\nrules: [\n")
    block = watcher.error_block()
    assert block[0] == (
        f"Error: Could not reload component 'orders': Cannot parse the component config "
        f"{config}: YAML syntax error at line 3, column 1"
    )
    assert [line.split(":")[0] for line in block] == ["Error", "Why", "Fix", "Context"]
    assert block[2].endswith(
        "The component keeps its last good configuration until a fixed version is saved."
    )
    save(config, "name: orders\nrules: []\n")
    assert watcher.line() == (
        "Reloaded component 'orders' (state AwaitingConfirmation kept): nothing to change"
    )

    # another process moves the component on; the watcher's next reload keeps that state
    confirm = ("handle", "--config", str(config), "confirm", "--content", "confirmed")
    assert lines_of(*confirm, cwd=tmp_path) == ["orders: AwaitingConfirmation -> ProcessingRequest"]
    save(rules, "- {max_items: 30}\n")
    assert watcher.line() == (
        "Reloaded component 'orders' (state ProcessingRequest kept): rules replaced (1 rule)"
    )
    assert lines_of("handle", "--config", str(config), "complete", cwd=tmp_path) == [
        "orders: ProcessingRequest -> InitialState"
    ]
    record = stored(tmp_path, "orders")
    assert (record["state"], record["rules"]) == ("InitialState", 1)

    assert watcher.stop(signal.SIGINT) == floe.ExitCode.OK
    assert watcher.line() == "Stopped watching component 'orders'."
    assert watcher.drain(watcher.stderr) == []


def test_a_state_pack_edit_is_reloaded_and_new_modules_are_watched(
    tmp_path: Path, watchers: list[WatchProcess]
) -> None:
    module = f"shop_states_{uuid.uuid4().hex[:8]}"
    module_file = tmp_path / f"{module}.py"
    pack = textwrap.dedent(
        """
        from floe import State, Transition


        class Packing(State):
            transitions = (Transition("Packing", "ship", "Shipped"),)


        class Shipped(State):
            pass


        class Pack:
            def floe_register_states(self, register):
                register("Packing", Packing)
                register("Shipped", Shipped)
        """
    )
    module_file.write_text(pack, encoding="utf-8")
    config = tmp_path / "parcel.yaml"
    config_text = f'name: parcel\ninitial_state: Packing\npacks: ["{module}:Pack"]\n'
    config.write_text(config_text, encoding="utf-8")

    # FLOE_CONFIG names the config when --config is omitted; a new component is registered
    watcher = WatchProcess(cwd=tmp_path, FLOE_CONFIG=str(config))
    watchers.append(watcher)
    assert watcher.line() == "Watching component 'parcel' in state Packing (0 rules); Ctrl-C stops"
    assert [watcher.line(), watcher.line()] == [f"  {config}", f"  {module_file}"]

    save(module_file, pack.replace("class Shipped(State):", "class Shipped(State:"))
    block = watcher.error_block()
    assert block[0] == (
        f"Error: Could not reload component 'parcel': Cannot import the changed module "
        f"{module!r} ({module_file})"
    )
    # the rest of the line (column, message) is Python's and varies between versions
    assert block[1].startswith("Why: SyntaxError at line 9, column ")

    save(module_file, pack.replace('"Shipped")', '"Lost")').replace("Shipped", "Lost"))
    assert watcher.line() == (
        f"Reloaded component 'parcel' (state Packing kept): modules reloaded: {module}"
    )

    extra = tmp_path / f"{module}_extra.py"
    extra.write_text("from floe import State\n\n\nclass Found(State):\n    pass\n")
    save(config, config_text + f'states:\n  Found: "{module}_extra:Found"\n')
    assert watcher.line() == "Reloaded component 'parcel' (state Packing kept): nothing to change"
    assert watcher.line() == f"  now watching {extra}"

    assert watcher.stop(signal.SIGTERM) == floe.ExitCode.OK
    assert watcher.line() == "Stopped watching component 'parcel'."
    assert stored(tmp_path, "parcel")["state"] == "Packing"


def test_a_config_naming_its_own_initial_state_in_the_working_directory(
    tmp_path: Path, watchers: list[WatchProcess]
) -> None:
    # as in a project checkout: the states module is in the working directory, which is
    # not on PYTHONPATH, and the config names its own InitialState (as FlexiFlow's do)
    module = f"my_states_{uuid.uuid4().hex[:8]}"
    module_file = tmp_path / f"{module}.py"
    states = textwrap.dedent(
        """
        from floe import State, Transition


        class InitialState(State):
            transitions = (Transition("InitialState", "finish", "Complete"),)


        class CompleteState(State):
            pass
        """
    )
    module_file.write_text(states, encoding="utf-8")
    config = tmp_path / "my_component.yaml"
    config.write_text(
        "name: my_component\n"
        f'states: {{InitialState: "{module}:InitialState", Complete: "{module}:CompleteState"}}\n'
        "initial_state: InitialState\n",
        encoding="utf-8",
    )
    assert lines_of("register", "--config", str(config), cwd=tmp_path, on_path=False) == [
        "Registered component 'my_component' in state InitialState"
    ]

    watcher = WatchProcess("--config", str(config), cwd=tmp_path, on_path=False)
    watchers.append(watcher)
    assert watcher.line() == (
        "Watching component 'my_component' in state InitialState (0 rules); Ctrl-C stops"
    )
    assert [watcher.line(), watcher.line()] == [f"  {config}", f"  {module_file}"]

    # the new version: "finish" is not enough any more, it takes "confirm"
    save(module_file, states.replace('"finish"', '"confirm"'))
    assert watcher.line() == (
        f"Reloaded component 'my_component' (state InitialState kept): modules reloaded: {module}"
    )
    handle = ("handle", "--config", str(config))
    assert lines_of(*handle, "finish", cwd=tmp_path, on_path=False) == [
        "my_component: ignored 'finish' (stays in InitialState)"
    ]
    assert lines_of(*handle, "confirm", cwd=tmp_path, on_path=False) == [
        "my_component: InitialState -> Complete"
    ]

    assert watcher.stop() == floe.ExitCode.OK
    assert watcher.line() == "Stopped watching component 'my_component'."
    assert watcher.drain(watcher.stderr) == []


def test_a_config_that_is_invalid_at_start_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("name: orders\nrules: 5\n", encoding="utf-8")
    result = floe_cli("watch", "--config", str(config), cwd=tmp_path)
    assert result.returncode == floe.ExitCode.USAGE
    assert result.stderr.startswith(f"Error: Field 'rules' in {config} must be a list")
    assert "Traceback" not in result.stderr
    # the good case next to it
    config.write_text("name: orders\nrules: []\n", encoding="utf-8")
    watcher = WatchProcess("--config", str(config), cwd=tmp_path)
    try:
        assert watcher.line().startswith("Watching component 'orders' in state InitialState")
        assert watcher.stop() == floe.ExitCode.OK
    finally:
        watcher.kill()


def test_without_a_config_it_says_how_to_give_one(tmp_path: Path) -> None:
    result = floe_cli("watch", cwd=tmp_path)
    assert result.returncode == floe.ExitCode.USAGE
    assert result.stderr.splitlines()[:3] == [
        "Error: No component config given",
        "Why: floe watch needs the component's config, from --config or $FLOE_CONFIG.",
        "Fix: Pass --config PATH, or set FLOE_CONFIG=PATH.",
    ]
