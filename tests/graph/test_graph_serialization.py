"""Flows to JSON and back: a round-tripped flow executes identically; bad documents fail."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import graph_routines
import orjson
import pytest
from graph_routines import Failing, Holder, NeedsArguments, Recorder

import floe
from floe import ConfigError, ImportPathError, Kernel, PersistenceError
from floe.graph import FLOW_FORMAT, ErrorHandler, ErrorStrategy, Flow, Routine

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _clear_logs() -> None:
    Recorder.log.clear()


def _flow() -> Flow:
    flow = Flow("serial", execution_strategy="sequential", max_deliveries=500)
    flow.set_error_handler(ErrorHandler(ErrorStrategy.CONTINUE))
    first = Recorder()
    first.set_config(name="first")
    first.set_stat("handled", 10)
    holder = Holder()
    holder.get_slot("input").restore({"value": ["earlier"]})  # type: ignore[union-attr]
    failing = Failing()
    failing.set_config(failures=1)
    failing.set_error_handler(
        ErrorHandler(
            ErrorStrategy.RETRY,
            max_retries=2,
            retry_delay=0,
            retry_backoff=1,
            retryable_exceptions=(ConnectionError, TimeoutError),
            is_critical=True,
        )
    )
    last = Recorder()
    last.set_config(name="last")
    flow.add_routine(first, "first")
    flow.add_routine(holder, "holder")
    flow.add_routine(failing, "failing")
    flow.add_routine(last, "last")
    flow.connect("first", "output", "holder", "input")
    flow.connect("holder", "output", "failing", "input")
    flow.connect("failing", "output", "last", "input", {"value": "value"})
    return flow


async def _outcome(factory: Callable[..., Kernel], flow: Flow) -> tuple[Any, ...]:
    Recorder.log.clear()
    async with factory():
        job = await flow.execute_async("first", {"value": "x"})
    states = {
        rid: (s.status, s.executions, s.retry_count, s.stats)
        for rid, s in job.routine_states.items()
    }
    return str(job.status), list(Recorder.log), states


async def test_round_trip_executes_identically(
    floe_kernel_factory: Callable[..., Kernel], tmp_path: Path
) -> None:
    document = _flow().serialize()
    assert document["format"] == FLOW_FORMAT
    assert document["routines"]["first"]["class"] == "graph_routines:Recorder"
    assert document["routines"]["holder"]["slots"]["input"] == {"value": ["earlier"]}
    assert document["routines"]["failing"]["error_handler"]["retryable_exceptions"] == [
        "builtins:ConnectionError",
        "builtins:TimeoutError",
    ]
    assert document["connections"][2]["param_mapping"] == {"value": "value"}
    copy = Flow.deserialize(orjson.loads(orjson.dumps(document)), allow=[graph_routines])
    assert copy.serialize() == document
    assert copy.get_routine("first").stats() == {"handled": 10}
    saved = copy.save(tmp_path / "flow.json")
    loaded = Flow.load(saved, allow=["graph_routines"])
    assert loaded.serialize() == document

    original = await _outcome(floe_kernel_factory, _flow())
    assert original[0] == "completed"
    assert original[1] == [("first", "x"), ("last", "partial-earlier,x>first")]
    assert await _outcome(floe_kernel_factory, loaded) == original


def test_routines_that_cannot_be_rebuilt_are_named() -> None:
    class Local(Routine):
        pass

    flow = Flow("local")
    flow.add_routine(Local(), "local")
    with pytest.raises(ConfigError, match=r"'local' .*defined inside a function"):
        flow.serialize()

    document = _flow().serialize()
    document["routines"]["first"]["class"] = "no_such_module_here:Recorder"
    with pytest.raises(ImportPathError, match="routine 'first'"):
        Flow.deserialize(document, allow=[graph_routines, "no_such_module_here"])
    document["routines"]["first"]["class"] = "graph_routines:NeedsArguments"
    with pytest.raises(ConfigError, match=r"NeedsArguments.*without arguments"):
        Flow.deserialize(document, allow=[graph_routines])
    document["routines"]["first"]["class"] = "graph_routines:double"
    with pytest.raises(ImportPathError, match="not a Routine class"):
        Flow.deserialize(document, allow=[graph_routines])
    assert NeedsArguments(1).required == 1


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda d: d.update(kind="other"), PersistenceError, "not a serialized floe flow"),
        (lambda d: d.update(format=FLOW_FORMAT + 1), PersistenceError, "format 2"),
        (lambda d: d.update(routines=[]), PersistenceError, "'routines'"),
        (lambda d: d.update(connections=[3]), PersistenceError, "not a mapping"),
        (lambda d: d.update(execution_strategy="sideways"), ConfigError, "execution strategy"),
        (lambda d: d["connections"][0].update(slot="nope"), ConfigError, "no slot 'nope'"),
        (
            lambda d: d["routines"]["failing"]["error_handler"].update(tries=3),
            ConfigError,
            "Unknown error handler field 'tries'",
        ),
        (
            lambda d: d["routines"]["failing"]["error_handler"].update(
                retryable_exceptions=["builtins:NotAThing"]
            ),
            ImportPathError,
            "NotAThing",
        ),
        (lambda d: d["routines"]["holder"]["slots"].update(gone={}), ConfigError, "no slot 'gone'"),
    ],
)
def test_bad_documents(
    change: Callable[[dict[str, Any]], Any], error: type[Exception], match: str
) -> None:
    document = _flow().serialize()
    change(document)
    with pytest.raises(error, match=match):
        Flow.deserialize(document, allow=[graph_routines])


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(PersistenceError, match="Cannot read"):
        Flow.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("[")
    with pytest.raises(PersistenceError, match="not JSON"):
        Flow.load(tmp_path / "bad.json")
    assert floe.graph.Flow is Flow
