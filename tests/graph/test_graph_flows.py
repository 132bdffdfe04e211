"""Flows: wiring, param mapping, entry rules, depth-first and concurrent execution, cycles."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from graph_routines import AsyncRecorder, Recorder, Source

import floe
from floe import ConfigError, Kernel, RunStatus, StateError
from floe.graph import DeliveryLimitError, Flow, Routine

pytestmark = pytest.mark.anyio


def _recorder(name: str) -> Recorder:
    routine = Recorder()
    routine.set_config(name=name)
    return routine


def _tree(flow: Flow, edges: list[tuple[str, str]], names: list[str]) -> None:
    for name in names:
        flow.add_routine(_recorder(name), name)
    for source, target in edges:
        flow.connect(source, "output", target, "input")


@pytest.fixture(autouse=True)
def _clear_logs() -> None:
    Recorder.log.clear()
    AsyncRecorder.log.clear()


def test_connect_rejects_unknown_ids_events_and_slots() -> None:
    flow = Flow("wiring")
    _tree(flow, [], ["a", "b"])
    with pytest.raises(ConfigError, match="no routine 'x'"):
        flow.connect("x", "output", "b", "input")
    with pytest.raises(ConfigError, match="no routine 'x'"):
        flow.connect("a", "output", "x", "input")
    with pytest.raises(ConfigError, match="no event 'nope'") as event:
        flow.connect("a", "nope", "b", "input")
    assert "output" in str(event.value)
    with pytest.raises(ConfigError, match="no slot 'nope'"):
        flow.connect("a", "output", "b", "nope")
    with pytest.raises(ConfigError, match="Invalid param_mapping"):
        flow.connect("a", "output", "b", "input", {"value": 3})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="no connection"):
        flow.disconnect("a", "output", "b", "input")


def test_add_routine_rejects_bad_routines_and_ids() -> None:
    flow = Flow("adding")
    routine = _recorder("a")
    assert flow.add_routine(routine) == "recorder_1"
    with pytest.raises(ConfigError, match="already in flow"):
        flow.add_routine(routine)
    with pytest.raises(ConfigError, match="takes a Routine"):
        flow.add_routine(object())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="already has a routine 'recorder_1'"):
        flow.add_routine(_recorder("b"), "recorder_1")
    with pytest.raises(ConfigError, match="Invalid routine id"):
        flow.add_routine(_recorder("c"), " ")

    class Forgot(Routine):
        def __init__(self) -> None:
            pass

    with pytest.raises(ConfigError, match="super"):
        flow.add_routine(Forgot())
    with pytest.raises(ConfigError, match="no routine 'ghost'"):
        flow.get_routine("ghost")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"execution_strategy": "parallel"}, "Unknown execution strategy"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_deliveries": 0}, "max_deliveries"),
        ({"sync_handlers": "fork"}, "sync_handlers"),
        ({"flow_id": ""}, "Invalid flow_id"),
        ({"error_handler": "stop"}, "takes an ErrorHandler"),
    ],
)
def test_bad_flow_options(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Flow(**options)


async def test_param_mapping_renames_and_reconnecting_updates_it(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    class Collect(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.got: list[dict[str, Any]] = []
            self.define_slot("input", handler=lambda **data: self.got.append(data))

    class Emit(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_event("out", ["result"])

        def __call__(self) -> None:
            self.emit("out", result=1, other=2)

    flow = Flow("mapping")
    collect = Collect()
    flow.add_routine(Emit(), "emit")
    flow.add_routine(collect, "collect")
    flow.connect("emit", "out", "collect", "input", {"result": "data"})
    flow.connect("emit", "out", "collect", "input", {"result": "value"})
    assert len(flow.connections) == 1
    async with floe_kernel_factory():
        await flow.execute_async("emit")
        assert collect.got == [{"value": 1, "other": 2}]
        flow.disconnect("emit", "out", "collect", "input")
        flow.connect("emit", "out", "collect", "input")
        await flow.execute_async("emit")
    assert collect.got[1] == {"result": 1, "other": 2}


async def test_depth_first_in_connection_order(floe_kernel_factory: Callable[..., Kernel]) -> None:
    #        a
    #      / | \
    #     b  c  d        b's chain (b-e-f-g) finishes before c; c's (c-h) before d
    #     |  |
    #     e  h
    #     |
    #     f - g
    flow = Flow("tree")
    _tree(
        flow,
        [("a", "b"), ("a", "c"), ("a", "d"), ("b", "e"), ("e", "f"), ("f", "g"), ("c", "h")],
        ["a", "b", "c", "d", "e", "f", "g", "h"],
    )
    async with floe_kernel_factory():
        job = await flow.execute_async("a", {"value": "x"})
    assert job.status == "completed"
    assert [name for name, _ in Recorder.log] == ["a", "b", "e", "f", "g", "c", "h", "d"]
    assert dict(Recorder.log)["g"] == "x>a>b>e>f"
    received = [r.routine_id for r in job.execution_history if r.kind == "slot_received"]
    assert received == ["a", "b", "e", "f", "g", "c", "h", "d"]
    assert set(job.routine_states) == set("abcdefgh")
    assert all(state.status == "completed" for state in job.routine_states.values())


async def test_a_deep_chain_runs_without_recursion(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    names = [f"r{n}" for n in range(300)]
    flow = Flow("deep")
    _tree(flow, list(itertools.pairwise(names)), names)
    async with floe_kernel_factory():
        job = await flow.execute_async("r0", {"value": 0})
    assert job.status == "completed"
    assert [name for name, _ in Recorder.log] == names


async def test_concurrent_execution_drains_before_returning(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    flow = Flow("fan", execution_strategy="concurrent", max_concurrency=5)
    flow.add_routine(Source(), "source")
    for index in range(4):
        stage = AsyncRecorder()
        stage.set_config(name=f"s{index}", delay=0.001 * (index + 1))
        flow.add_routine(stage, f"s{index}")
        flow.connect("source", "item", f"s{index}", "input", {"n": "value"})
        tail = AsyncRecorder()
        tail.set_config(name=f"t{index}", delay=0.002)
        flow.add_routine(tail, f"t{index}")
        flow.connect(f"s{index}", "output", f"t{index}", "input")
    async with floe_kernel_factory():
        job = await flow.execute_async("source", {"count": 10})
        events = await floe.current_kernel().store.read_events(job.job_id)
    assert job.status == "completed"
    assert len(AsyncRecorder.log) == 80  # 10 items x 4 stages x 2
    assert job.pending_deliveries == 0
    assert events[-1].kind == "run.completed"
    assert events[-1].data == {"deliveries": 81}
    for index in range(4):
        assert job.routine_states[f"t{index}"].executions == 10


async def test_concurrency_is_bounded(floe_kernel_factory: Callable[..., Kernel]) -> None:
    running = 0
    highest = 0

    class Slow(Routine):
        reentrant = True  # its deliveries may overlap: the bound is what limits them

        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.handle)

        async def handle(self, n: int) -> None:
            nonlocal running, highest
            running += 1
            highest = max(highest, running)
            await anyio.sleep(0.001)
            running -= 1

    flow = Flow("bounded", execution_strategy="concurrent", max_concurrency=3)
    flow.add_routine(Source(), "source")
    flow.add_routine(Slow(), "slow")
    flow.connect("source", "item", "slow", "input")
    async with floe_kernel_factory():
        job = await flow.execute_async("source", {"count": 20})
    assert job.status == "completed"
    assert highest == 3


async def test_a_cycle_is_bounded_by_max_deliveries(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    flow = Flow("loop", max_deliveries=50)
    _tree(flow, [("a", "b"), ("b", "a")], ["a", "b"])
    async with floe_kernel_factory():
        job = await flow.execute_async("a", {"value": 0})
    assert job.status == "failed"
    assert job.error is not None
    assert "DeliveryLimitError" in job.error
    assert "max_deliveries=50" in job.error
    assert len(Recorder.log) == 50
    assert DeliveryLimitError.__mro__[1] is floe.FloeError


async def test_entry_rules(floe_kernel_factory: Callable[..., Kernel]) -> None:
    class NoEntry(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("other", handler=lambda: None)

    flow = Flow("entries")
    flow.add_routine(NoEntry(), "no_entry")
    flow.add_routine(_recorder("r"), "r")
    async with floe_kernel_factory():
        with pytest.raises(ConfigError, match="cannot be an entry point"):
            await flow.execute_async("no_entry")
        with pytest.raises(ConfigError, match="no routine 'ghost'"):
            await flow.execute_async("ghost")
        with pytest.raises(ConfigError, match="entry_params must be a mapping"):
            await flow.execute_async("r", [1, 2])  # type: ignore[arg-type]
        job = await flow.execute_async("r", {"value": 1})
    assert job.status == "completed"
    assert job.entry_id == "r"
    assert job.entry_params == {"value": 1}
    assert Recorder.log == [("r", 1)]


async def test_a_job_is_a_graph_run_in_the_store(
    floe_kernel_factory: Callable[..., Kernel], tmp_path: Path
) -> None:
    flow = Flow("stored")
    _tree(flow, [("a", "b")], ["a", "b"])
    seen: list[str] = []
    async with floe_kernel_factory(store=f"sqlite:///{tmp_path}/floe.db") as kernel:
        kernel.bus.subscribe("routine.*", "test", lambda event: seen.append(event.kind))
        job = await flow.execute_async("a", {"value": 1}, job_id="job-1")
        run = await kernel.store.get_run("job-1")
        events = await kernel.store.read_events("job-1")
    assert run is not None
    assert (run.kind, run.name, run.status) == ("graph", "stored", RunStatus.COMPLETED)
    assert job.job_id == "job-1"
    assert job.flow_id == "stored"
    kinds = [event.kind for event in events]
    assert kinds == [
        "run.started",
        "routine.slot_received",
        "routine.emitted",
        "routine.slot_received",
        "routine.emitted",
        "run.completed",
    ]
    assert events[1].step == "a.input#1"
    assert events[1].data["data"] == {"value": 1}
    assert events[1].data["stats"] == {"handled": 1}
    assert events[2].data["targets"] == [["b", "input", 2]]
    assert seen == [kind for kind in kinds if kind.startswith("routine.")]
    assert flow.job_state is job
    tracker = flow.execution_tracker
    performance = tracker.get_routine_performance("a")
    assert performance is not None
    assert performance["executions"] == 1
    assert performance["success_rate"] == 1.0
    assert tracker.get_routine_performance("ghost") is None
    assert tracker.get_flow_performance()["deliveries"] == 2


async def test_one_flow_runs_one_job_at_a_time(floe_kernel_factory: Callable[..., Kernel]) -> None:
    entered = anyio.Event()
    release = anyio.Event()

    class Held(Routine):
        """Holds its job in its handler until the test releases it."""

        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.handle)

        async def handle(self, value: Any = None) -> None:
            entered.set()
            await release.wait()

    flow = Flow("busy")
    flow.add_routine(Held(), "slow")
    jobs: list[Any] = []

    async def first_job() -> None:
        jobs.append(await flow.execute_async("slow"))

    async with floe_kernel_factory(), anyio.create_task_group() as group:
        group.start_soon(first_job)
        await entered.wait()  # the first job is executing
        with pytest.raises(StateError, match="already executing"):
            await flow.execute_async("slow")
        release.set()
    assert [job.status for job in jobs] == ["completed"]


def test_sync_execute_opens_a_kernel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLOE_STORE", f"sqlite:///{tmp_path}/sync.db")
    flow = Flow("sync")
    _tree(flow, [("a", "b")], ["a", "b"])
    job = flow.execute("a", {"value": "v"})
    assert job.status == "completed"
    assert Recorder.log == [("a", "v"), ("b", "v>a")]
    again = flow.resume(job.job_id)  # a finished job is returned as it is
    assert again.status == "completed"
    assert len(Recorder.log) == 2
