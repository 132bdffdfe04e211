"""The journal schema: every kind real runs write decodes to its payload class, unchanged.

The journals come from real runs on a SQLite file (a workflow that retries, falls back,
rolls back, sleeps, pauses, reports and calls a child; a cancelled run; a component; graph
jobs that retry, fail, pause and resume) and from the bus (a failing handler).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import anyio
import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import floe
from floe import EventKind, Kernel, PersistenceError
from floe.components._components import Component, Engine
from floe.components._state_machine import StateMachine
from floe.graph import ErrorHandler, ErrorStrategy, Flow, Routine
from floe.kernel._states import State, Transition

pytestmark = pytest.mark.anyio

_log = logging.getLogger("floe.tests.schema")


# -- a workflow that writes every workflow kind -------------------------------------------

attempts: dict[str, int] = {}


@floe.task(retries=2, retry_delay=0)
async def flaky(name: str) -> str:
    attempts[name] = attempts.get(name, 0) + 1
    if attempts[name] < 2:
        raise ConnectionError("try again")
    return name


@floe.task(fallback=lambda: "plan b")
async def broken() -> str:
    raise ValueError("no")


def undo(room: str) -> None:
    pass


@floe.task(rollback=undo)
async def book(room: str) -> str:
    return room


@floe.task(rollback=undo, raise_on_error=False)
async def doomed(room: str) -> str:
    raise RuntimeError("full")


@floe.task(cache=True)
async def cached(n: int) -> int:
    return n * 2


@floe.workflow
async def child(n: int) -> int:
    return n + 1


@floe.workflow
async def pausing_child() -> Any:
    return await floe.pause("child approval")


@floe.workflow(capture_output=True)
async def everything(n: int) -> Any:
    await flaky("a")
    await broken()
    await book("101")
    await doomed("102")
    await cached(n)
    await cached(n)
    await floe.sleep(0)
    floe.add_artifact("table", {"rows": [1, 2]}, description="a table")
    floe.add_artifact("note", "text body", artifact_type="text")
    floe.add_result("done", "it worked")
    print("printed line")
    _log.warning("logged line")
    total = await floe.call(child, n)
    approved = await floe.pause("approval", output={"total": total})
    nested = await floe.call(pausing_child)
    return {"approved": approved, "nested": nested}


@floe.workflow
async def failing() -> None:
    await book("201")
    raise RuntimeError("the body failed")


@floe.workflow
async def sleeper() -> None:
    await floe.sleep(3600)


# -- a component ---------------------------------------------------------------------------


class Waiting(State):
    transitions = (Transition("Waiting", "go", "Going"),)


class Going(State):
    pass


# -- graph jobs ----------------------------------------------------------------------------


class Source(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_event("out", ["value"])

    def __call__(self, value: int) -> None:  # type: ignore[override]
        self.increment_stat("emitted")
        self.emit("out", value=value)


class Breaks(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.handle)

    def handle(self, value: int) -> None:
        raise ConnectionError(f"down on {value}")


class Halts(Routine):
    flow: Flow | None = None

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.handle)
        self.define_event("out", ["value"])

    def handle(self, value: int) -> None:
        self.increment_stat("handled")
        if self.get_stat("handled") == 1 and Halts.flow is not None:
            Halts.flow.pause("review", checkpoint={"seen": value})
        self.emit("out", value=value)


class Sink(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=lambda value: None)


def _failing_flow() -> Flow:
    flow = Flow("schema-failing")
    flow.add_routine(Source(), "source")
    breaks = Breaks()
    breaks.set_error_handler(
        ErrorHandler(
            ErrorStrategy.RETRY, max_retries=1, retry_delay=0, retry_backoff=1, is_critical=True
        )
    )
    flow.add_routine(breaks, "breaks")
    flow.connect("source", "out", "breaks", "input")
    return flow


def _pausing_flow() -> Flow:
    flow = Flow("schema-pausing")
    flow.add_routine(Source(), "source")
    flow.add_routine(Halts(), "halts")
    flow.add_routine(Sink(), "sink")
    flow.connect("source", "out", "halts", "input")
    flow.connect("halts", "out", "sink", "input")
    Halts.flow = flow
    return flow


# -- the journals --------------------------------------------------------------------------


async def _journals(factory: Callable[..., Kernel], tmp_path: Path) -> list[floe.Event]:
    attempts.clear()
    events: list[floe.Event] = []
    store = f"sqlite:///{tmp_path}/schema.db"
    async with factory(store=store) as kernel:
        seen: list[floe.Event] = []

        def boom(event: Any) -> None:
            raise RuntimeError("a failing handler")

        kernel.bus.subscribe("task.started", "schema-test", seen.append, inline=True)
        kernel.bus.subscribe("run.started", "schema-boom", boom, inline=True)
        kernel.bus.subscribe("event.handler.failed", "schema-test", seen.append, inline=True)

        run = await everything.run_async(3)
        assert run.paused
        run = await floe.resume(run.run_id, True)
        assert run.paused  # now the child's pause
        run = await floe.resume(run.run_id, "nested value")
        assert run.status is floe.RunStatus.COMPLETED, run.error
        failed = await failing.run_async(raise_on_error=False)
        assert failed.failed
        # a paused run executes nowhere: cancelling it fences its journal first
        waiting = await everything.run_async(4)
        assert waiting.paused
        assert (await floe.cancel(waiting.run_id)).cancelled
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: sleeper.run_async(run_id="sleeper"))
            await anyio.sleep(0.2)
            await floe.cancel("sleeper")
        kernel.states.register("Waiting", Waiting)
        kernel.states.register("Going", Going)
        engine = Engine(kernel)
        machine = StateMachine("Waiting", registry=kernel.states)
        component = engine.register(Component("schema-part", state_machine=machine))
        component.add_rule({"when": "go"})
        await component.handle_message("go")
        await engine.flush()
        broke = await _failing_flow().execute_async("source", {"value": 1})
        assert broke.status == "failed"
        flow = _pausing_flow()
        paused = await flow.execute_async("source", {"value": 2})
        assert paused.status == "paused"
        resumed = await flow.resume_async(paused)
        assert resumed.status == "completed"
        Halts.flow = flow = _pausing_flow()
        again = await flow.execute_async("source", {"value": 3})
        await floe.cancel(again.job_id)

        for listing in await _all_runs(kernel):
            events.extend(await kernel.store.read_events(listing))
        events.extend(seen)
    return events


async def _all_runs(kernel: Kernel) -> list[str]:
    listing = await kernel.store.list_runs(floe.RunQuery(limit=1000))
    return [run.run_id for run in listing]


@pytest.fixture
async def journal(floe_kernel_factory: Callable[..., Kernel], tmp_path: Path) -> list[floe.Event]:
    return await _journals(floe_kernel_factory, tmp_path)


async def test_every_kind_real_runs_write_decodes_to_its_payload_unchanged(
    journal: list[floe.Event],
) -> None:
    for event in journal:
        payload = floe.payload_of(event)
        assert type(payload) in floe.PAYLOADS[EventKind(event.kind)], event
        assert payload.kind == event.kind
        assert floe.data_of(payload) == event.data, event


async def test_the_runs_write_every_kind_and_every_payload_class(
    journal: list[floe.Event],
) -> None:
    kinds = {event.kind for event in journal}
    assert kinds == set(EventKind)  # a kind with no payload class would fail above
    classes = {type(floe.payload_of(event)) for event in journal}
    assert classes == {cls for group in floe.PAYLOADS.values() for cls in group}


async def test_data_missing_a_required_field_is_a_clear_persistence_error(
    journal: list[floe.Event],
) -> None:
    completed = next(e for e in journal if e.kind == EventKind.TASK_COMPLETED)
    damaged = attrs.evolve(completed, data={"task": completed.data["task"]})
    with pytest.raises(PersistenceError, match="cannot be decoded as TaskCompleted") as raised:
        floe.payload_of(damaged)
    assert "'position'" in str(raised.value.why)
    assert raised.value.context == {
        "run_id": completed.run_id,
        "seq": completed.seq,
        "kind": "task.completed",
    }
    with pytest.raises(PersistenceError, match="not a mapping"):
        floe.payload_of(attrs.evolve(completed, data=[1, 2]))
    with pytest.raises(PersistenceError, match="not one floe writes"):
        floe.payload_of(attrs.evolve(completed, kind="task.exploded"))


def test_event_kinds_are_their_stored_strings() -> None:
    assert EventKind("task.completed") is EventKind.TASK_COMPLETED
    assert isinstance(EventKind.TASK_COMPLETED, str)
    assert f"{EventKind.TIMER_FIRED}" == "timer.fired"
    # in messages and contexts a kind reads as the name it is stored under
    assert repr(EventKind.TASK_COMPLETED) == repr("task.completed")
    assert all(member.__doc__ for member in EventKind)


def test_run_kinds_decode_by_the_fields_they_hold() -> None:
    def event(kind: str, data: Any) -> floe.Event:
        return floe.Event(run_id="r", seq=1, kind=kind, data=data)

    assert floe.payload_of(event("run.cancelled", {})) == floe.RunCancelled()
    job = floe.payload_of(event("run.cancelled", {"reason": "stop", "pending": 0}))
    assert job == floe.JobCancelled(reason="stop", pending=0)


@given(
    value=st.none() | st.integers() | st.text(),
    reference=st.none() | st.text(min_size=1),
)
def test_optional_fields_stay_absent_or_present_as_stored(value: Any, reference: Any) -> None:
    data: dict[str, Any] = {
        "key": "k",
        "artifact_type": "json",
        "description": None,
        "size": 1,
        "task": None,
    }
    if reference is None:
        data["value"] = value  # a None body is stored as None, not left out
    else:
        data["reference"] = reference
    stored = floe.Event(run_id="r", seq=1, kind="artifact.created", data=data)
    assert floe.data_of(floe.payload_of(stored)) == data


def test_a_sealed_field_is_kept_as_its_envelope() -> None:
    envelope = {"$sealed": {"v": 1, "ciphertext": "..."}}
    data = {"task": "t", "position": "1", "result": envelope}
    stored = floe.Event(run_id="r", seq=1, kind="task.completed", data=data)
    payload = floe.payload_of(stored)
    assert isinstance(payload, floe.TaskCompleted)
    assert payload.result == envelope
    assert floe.data_of(payload) == data


def payload_table() -> str:
    """The kind -> payload fields table of docs/reference/events.md, from PAYLOADS."""
    rows = ["| kind | payload class | fields (optional ones in brackets) |", "|---|---|---|"]
    for kind, classes in floe.PAYLOADS.items():
        for cls in classes:
            fields = [
                f"[`{field.name}`]" if field.metadata.get("omit") else f"`{field.name}`"
                for field in attrs.fields(cast(Any, cls))
            ]
            rows.append(f"| `{kind}` | `floe.{cls.__name__}` | {', '.join(fields) or '—'} |")
    return "\n".join(rows) + "\n"


def test_the_events_reference_lists_every_payload_class_and_its_fields() -> None:
    page = Path(__file__).parents[2] / "docs" / "reference" / "events.md"
    assert payload_table() in page.read_text(encoding="utf-8"), (
        "regenerate the table in docs/reference/events.md: "
        "python -c 'from tests.kernel.test_schema import payload_table; print(payload_table())'"
    )
