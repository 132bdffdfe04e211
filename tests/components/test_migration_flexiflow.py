"""docs/migration-flexiflow.md runs as printed, as the front page does (tests/test_docs.py).

The page's fenced blocks are of three kinds: a block titled with a file name
(```` ```yaml title="config.yaml" ````) is a file the examples use; a ``python`` block
without a title is an example, run as a script in a fresh directory holding those files;
a ``text`` block titled ``Output`` right after an example is what it prints.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest

import floe

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "migration-flexiflow.md"
FENCE = re.compile(r'^```(\w+)(?: title="([^"]+)")?\n(.*?)^```$', re.DOTALL | re.MULTILINE)
NOT_FILES = frozenset({"Output", "FlexiFlow"})


@attrs.frozen
class Example:
    number: int
    code: str
    output: str | None


def _blocks() -> list[tuple[str, str | None, str]]:
    return [(kind, title, body) for kind, title, body in FENCE.findall(GUIDE.read_text("utf-8"))]


def _files() -> dict[str, str]:
    return {title: body for _, title, body in _blocks() if title and title not in NOT_FILES}


def _examples() -> list[Example]:
    blocks = _blocks()
    examples = []
    for index, (kind, title, body) in enumerate(blocks):
        if kind != "python" or title:
            continue
        following = blocks[index + 1] if index + 1 < len(blocks) else None
        output = following[2] if following and following[1] == "Output" else None
        examples.append(Example(len(examples) + 1, body, output))
    return examples


EXAMPLES = _examples()


def test_the_guide_has_examples_files_and_outputs() -> None:
    assert len(EXAMPLES) >= 8
    assert {"config.yaml", "orders.yaml", "mypkg/states.py"} <= set(_files())
    # every example shows what it prints, and no FlexiFlow code is an example
    assert all(example.output is not None for example in EXAMPLES)
    assert not any("import flexiflow" in example.code for example in EXAMPLES)
    assert not any("from flexiflow" in example.code for example in EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda example: f"example-{example.number}")
def test_each_example_runs_as_printed(example: Example, tmp_path: Path) -> None:
    for name, text in _files().items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    script = tmp_path / "example.py"
    script.write_text(example.code, encoding="utf-8")
    environment = {key: value for key, value in os.environ.items() if not key.startswith("FLOE_")}
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**environment, "FLOE_STRICT_PLUGINS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"example {example.number} failed:\n{result.stderr}"
    assert result.stdout == example.output, f"example {example.number} printed otherwise"


# -- the table's errors are floe's ---------------------------------------------------------


class Waiting(floe.State):
    async def handle_message(self, message: Any, component: Any) -> tuple[bool, Any]:
        return True, MyState()


class MyState(floe.State):
    pass


async def _literal_port_errors(kernel: floe.Kernel) -> list[BaseException]:
    """What each FlexiFlow spelling of the table raises in floe."""
    engine = floe.Engine(kernel)

    async def handler(data: Any) -> None: ...

    async def awaited_subscribe() -> None:
        await kernel.bus.subscribe("my.event", "my_component", handler)  # type: ignore[misc]

    async def returns_an_instance() -> None:
        kernel.states.register("Waiting", Waiting)
        kernel.states.register("MyState", MyState)
        component = floe.Component("c", state_machine=floe.StateMachine("Waiting"))
        await component.handle_message("go")

    event = floe.Event("component:c", 1, "state.changed", None, datetime.now(UTC), {})
    failures: list[Any] = []

    async def failing(data: Any) -> None:
        raise RuntimeError("a handler failed")

    kernel.bus.subscribe("event.handler.failed", "watcher", failures.append, inline=True)
    kernel.bus.subscribe("my.event", "my_component", failing)
    await kernel.bus.publish("my.event", {})
    (failure,) = failures
    # the failure report is a floe.Event too, its payload in data
    assert isinstance(failure, floe.Event)
    assert (failure.kind, sorted(failure.data)) == (
        "event.handler.failed",
        ["event_name", "exception", "owner"],
    )
    assert (failure.data["event_name"], failure.data["owner"]) == ("my.event", "my_component")
    spellings: list[Callable[[], Any]] = [
        lambda: engine.event_bus,
        awaited_subscribe,
        lambda: kernel.bus.subscribe("my.event", "o", handler, filter_fn=bool),
        lambda: kernel.bus.subscribe("my.event", "o", handler, priority=0),
        lambda: event["component"],
        lambda: failure["component_name"],
        lambda: failure.data["component_name"],
        lambda: floe.AsyncComponent,
        lambda: floe.StateMachine.from_name("Processing"),
        returns_an_instance,
        lambda: floe.Snapshot(name="c", current_state="S", rules=[], metadata={}),
        lambda: floe.Snapshot("c", "S").current_state,
        lambda: floe.save_snapshot_sqlite,
        lambda: floe.prune_snapshots("c", keep_last=0),
        lambda: floe.retry_async,
        lambda: floe.FlexiFlowError,
    ]
    raised = []
    for spelling in spellings:
        with pytest.raises(Exception) as caught:  # noqa: PT011 - each raises its own
            await _call(spelling)
        raised.append(caught.value)
    return raised


async def _call(spelling: Callable[[], Any]) -> None:
    outcome = spelling()
    if inspect.isawaitable(outcome):
        await outcome


def _quoted(error: BaseException) -> str:
    # Python 3.13 appends its own suggestion to a wrong keyword ("Did you mean 'filter'?");
    # the guide quotes the message every supported Python gives
    first = re.sub(r"\. Did you mean '\w+'\?$", "", str(error).splitlines()[0])
    return first if isinstance(error, floe.FloeError) else f"{type(error).__name__}: {first}"


@pytest.mark.anyio
async def test_the_table_quotes_what_a_literal_port_gets(
    floe_kernel_factory: Callable[..., floe.Kernel],
) -> None:
    async with floe_kernel_factory() as kernel:
        raised = await _literal_port_errors(kernel)
    # and the spellings that need no kernel at all
    raised.append(_raised(lambda: floe.StateMachine.from_name("InitialState")))
    raised.append(_raised(lambda: floe.Engine().kernel))
    guide = GUIDE.read_text("utf-8")
    missing = [_quoted(error) for error in raised if _quoted(error) not in guide]
    assert not missing, f"docs/migration-flexiflow.md does not quote: {missing}"


def _raised(spelling: Callable[[], Any]) -> BaseException:
    with pytest.raises(Exception) as caught:  # noqa: PT011
        spelling()
    return caught.value
