"""Pause, resume, cancel and JobState persistence; resuming in another kernel."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from graph_routines import AsyncRecorder, Recorder, Source

import floe
from floe import ConfigError, Kernel, NotFoundError, PersistenceError, StateError
from floe.graph import Flow, JobState, Routine

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _clear_logs() -> None:
    Recorder.log.clear()
    AsyncRecorder.log.clear()


class Pauser(Routine):
    """Pauses its flow (config 'flow' is set by the test) while handling."""

    flow: Flow | None = None

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.handle)
        self.define_event("output", ["value"])

    def handle(self, value: Any) -> None:
        self.increment_stat("handled")
        assert Pauser.flow is not None
        if self.get_stat("handled") == 1:
            Pauser.flow.pause("review", checkpoint={"seen": value})
        self.emit("output", value=value)


def _pausing_flow(name: str = "pausing") -> Flow:
    flow = Flow(name)
    first, last = Recorder(), Recorder()
    first.set_config(name="a")
    last.set_config(name="c")
    flow.add_routine(first, "a")
    flow.add_routine(Pauser(), "b")
    flow.add_routine(last, "c")
    flow.connect("a", "output", "b", "input")
    flow.connect("b", "output", "c", "input")
    Pauser.flow = flow
    return flow


async def test_pause_stops_at_the_next_boundary_and_resume_continues(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    flow = _pausing_flow()
    async with floe_kernel_factory() as kernel:
        paused = await flow.execute_async("a", {"value": 1})
        assert paused.status == "paused"
        assert paused.pending_deliveries == 1
        assert [name for name, _ in Recorder.log] == ["a"]
        point = paused.pause_points[0]
        assert (point.reason, point.checkpoint, point.pending) == ("review", {"seen": "1>a"}, 1)
        run = await kernel.store.get_run(paused.job_id)
        assert run is not None
        assert run.status == floe.RunStatus.PAUSED
        resumed = await flow.resume_async(paused)
    assert resumed.status == "completed"
    assert Recorder.log == [("a", 1), ("c", "1>a")]  # the entry did not run again
    assert resumed.pause_points[0].resumed_at is not None
    assert resumed.routine_states["b"].stats == {"handled": 1}


async def test_pause_from_another_task_while_concurrent(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    flow = Flow("concurrent-pause", execution_strategy="concurrent", max_concurrency=2)
    flow.add_routine(Source(), "source")
    slow = AsyncRecorder()
    slow.set_config(name="slow", delay=0.01)
    flow.add_routine(slow, "slow")
    flow.connect("source", "item", "slow", "input", {"n": "value"})
    jobs: list[JobState] = []
    three_done = anyio.Event()

    async def count(event: floe.Event) -> None:
        if event.data["routine"] == "slow" and event.data["delivery"] >= 4:
            three_done.set()

    async with floe_kernel_factory() as kernel:
        kernel.bus.subscribe("routine.slot_received", "test", count)
        async with anyio.create_task_group() as group:

            async def execute() -> None:
                jobs.append(await flow.execute_async("source", {"count": 20}))

            group.start_soon(execute)
            await three_done.wait()
            flow.pause("enough")
        paused = jobs[0]
        assert paused.status == "paused"
        done_before = len(AsyncRecorder.log)
        assert done_before < 20
        assert paused.pending_deliveries == 20 - done_before
        resumed = await flow.resume_async(paused.job_id)
    assert resumed.status == "completed"
    assert len(AsyncRecorder.log) == 20
    assert resumed.routine_states["slow"].executions == 20


async def test_pause_and_cancel_need_an_executing_job(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    flow = _pausing_flow()
    with pytest.raises(StateError, match="not executing"):
        flow.pause("now")
    with pytest.raises(StateError, match="not executing"):
        flow.cancel("now")
    async with floe_kernel_factory():
        with pytest.raises(NotFoundError, match="No job 'ghost'"):
            await flow.resume_async("ghost")
        job = await flow.execute_async("a", {"value": 1})
        with pytest.raises(ConfigError, match="not a job of flow 'elsewhere'"):
            await Flow("elsewhere").resume_async(job)
        with pytest.raises(ConfigError, match="JobState or a job id"):
            await flow.resume_async(3)  # type: ignore[arg-type]


async def test_cancel_from_a_handler(floe_kernel_factory: Callable[..., Kernel]) -> None:
    flow = Flow("cancelling")

    class Canceller(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.handle)
            self.define_event("output", ["value"])

        async def handle(self, value: Any) -> None:
            self.emit("output", value=value)
            flow.cancel("changed my mind")
            await anyio.sleep(1)  # cancelled here

    first = Recorder()
    first.set_config(name="a")
    flow.add_routine(first, "a")
    flow.add_routine(Canceller(), "b")
    flow.add_routine(Recorder(), "c")
    flow.connect("a", "output", "b", "input")
    flow.connect("b", "output", "c", "input")
    async with floe_kernel_factory() as kernel:
        job = await flow.execute_async("a", {"value": 1})
        events = await kernel.store.read_events(job.job_id)
    assert job.status == "cancelled"
    assert job.error == "changed my mind"
    assert [name for name, _ in Recorder.log] == ["a"]
    assert events[-1].kind == "run.cancelled"


async def test_cancel_a_paused_job_and_floe_cancel_a_live_one(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    flow = _pausing_flow()
    async with floe_kernel_factory():
        paused = await flow.execute_async("a", {"value": 1})
        cancelled = await flow.cancel_async(paused, "not needed")
        assert cancelled.status == "cancelled"
        assert cancelled.error == "not needed"
        with pytest.raises(StateError, match="already cancelled"):
            await flow.cancel_async(paused.job_id)
        assert (await flow.resume_async(paused)).status == "cancelled"  # finished: as stored

        slow_flow = Flow("slow")
        slow = AsyncRecorder()
        slow.set_config(delay=30)
        slow_flow.add_routine(slow, "slow")
        jobs: list[JobState] = []
        async with anyio.create_task_group() as group:

            async def execute() -> None:
                jobs.append(await slow_flow.execute_async("slow", job_id="live"))

            group.start_soon(execute)
            await anyio.sleep(0.05)
            execution = await floe.cancel("live")
        assert execution.cancelled
        assert jobs[0].status == "cancelled"
    assert AsyncRecorder.log == []


async def test_resume_in_another_kernel_restores_stats_and_slots(
    floe_kernel_factory: Callable[..., Kernel], tmp_path: Path
) -> None:
    class Collector(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.handle, merge_strategy="append")
            self.got: list[Any] = []

        def handle(self, n: list[int]) -> None:
            self.increment_stat("calls")
            self.got.append(n)
            if len(n) == 2 and Pauser.flow is not None:
                Pauser.flow.pause("half way")

    def build() -> tuple[Flow, Collector]:
        flow = Flow("two-kernels")
        collector = Collector()
        flow.add_routine(Source(), "source")
        flow.add_routine(collector, "collector")
        flow.connect("source", "item", "collector", "input")
        Pauser.flow = flow
        return flow, collector

    store = f"sqlite:///{tmp_path}/floe.db"
    flow, collector = build()
    async with floe_kernel_factory(store=store):
        paused = await flow.execute_async("source", {"count": 4})
    assert paused.status == "paused"
    assert collector.got == [[0], [0, 1]]

    fresh_flow, fresh = build()
    Pauser.flow = None
    async with floe_kernel_factory(store=store):
        resumed = await fresh_flow.resume_async(paused.job_id)
    assert resumed.status == "completed"
    assert fresh.got == [[0, 1, 2], [0, 1, 2, 3]]
    assert fresh.stats() == {"calls": 4}
    assert resumed.routine_states["collector"].executions == 4


async def test_job_state_save_and_load(
    floe_kernel_factory: Callable[..., Kernel], tmp_path: Path
) -> None:
    flow = _pausing_flow()
    async with floe_kernel_factory():
        paused = await flow.execute_async("a", {"value": 1})
        job = await flow.resume_async(paused)
        loaded_from_store = await flow.load_job(job.job_id)
    assert loaded_from_store == job
    path = job.save(tmp_path / "job.json")
    loaded = JobState.load(path)
    assert loaded == job
    assert loaded.status == "completed"
    assert loaded.routine_states["b"].stats == {"handled": 1}
    assert loaded.execution_history == job.execution_history
    assert loaded.pause_points == job.pause_points
    assert loaded.to_dict()["format"] == 1


def test_job_state_load_errors(tmp_path: Path) -> None:
    with pytest.raises(PersistenceError, match="Cannot read"):
        JobState.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(PersistenceError, match="not JSON"):
        JobState.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"kind": "something"}')
    with pytest.raises(PersistenceError, match="not a saved floe job state"):
        JobState.load(tmp_path / "other.json")
    (tmp_path / "newer.json").write_text('{"kind": "floe.graph.job", "format": 99}')
    with pytest.raises(PersistenceError, match="format 99"):
        JobState.load(tmp_path / "newer.json")
    (tmp_path / "broken.json").write_text('{"kind": "floe.graph.job", "format": 1}')
    with pytest.raises(PersistenceError, match="invalid"):
        JobState.load(tmp_path / "broken.json")
