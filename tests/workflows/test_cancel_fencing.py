"""A cancel from another kernel fences the run's journal before its saga runs.

Two kernels on one store file stand for two processes: the runner executes the run, the
canceller cancels it without seeing it live. Each test holds one of them at the exact
point of a race, on the real store (its methods wrapped, nothing replaced).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest

import floe
from floe import Kernel, RunStatus, SequenceConflictError, Store

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite", "json"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A store two kernels can open at once (the memory store is one kernel's own)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/floe.db"
    return f"json:///{tmp_path}/json-store"


class Watched:
    """A real store whose writes and run reads the test can wait for, and whose first
    journal read it can hold."""

    def __init__(self, store: Store) -> None:
        self.kinds: list[str] = []
        """The kinds of the events this store appended, in order."""
        self.conflicts = 0
        self.runs_read_after_conflict = 0
        self.first_read = anyio.Event()
        self.hold_first_read: anyio.Event | None = None
        self._changed = anyio.Event()
        append, read, get_run = store.append_events, store.read_events, store.get_run
        append_nowait = store.append_events_nowait

        async def append_events(run_id: str, events: Any, *, run: Any = None) -> None:
            try:
                await append(run_id, events, run=run)
            except SequenceConflictError:
                self.conflicts += 1
                raise
            else:
                self.kinds += [event.kind for event in events]
            finally:
                self._notify()

        def append_events_nowait(run_id: str, events: Any, *, run: Any = None) -> bool:
            # the path of a store that can commit at once (the kernel tries it first)
            try:
                appended = append_nowait(run_id, events, run=run)
            except SequenceConflictError:
                self.conflicts += 1
                self._notify()
                raise
            if appended:
                self.kinds += [event.kind for event in events]
                self._notify()
            return appended

        async def read_events(run_id: str, **options: Any) -> Any:
            events = await read(run_id, **options)
            if not self.first_read.is_set():
                self.first_read.set()
                if self.hold_first_read is not None:
                    await self.hold_first_read.wait()
            return events

        async def read_run(run_id: str) -> Any:
            run = await get_run(run_id)
            if self.conflicts:
                self.runs_read_after_conflict += 1
                self._notify()
            return run

        store.append_events = append_events  # type: ignore[method-assign]
        store.append_events_nowait = append_events_nowait  # type: ignore[method-assign]
        store.read_events = read_events  # type: ignore[method-assign]
        store.get_run = read_run  # type: ignore[method-assign]

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def until(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await self._changed.wait()

    def completed(self) -> int:
        return self.kinds.count("task.completed")


async def run_on(
    kernel: Kernel, watched: dict[str, Watched], start: Callable[[], Awaitable[Any]]
) -> Any:
    async with kernel:
        watched["runner"] = Watched(kernel.store)
        return await start()


async def test_a_step_recorded_after_the_cancels_read_is_rolled_back_once(
    floe_kernel_factory: Callable[..., Kernel], shared_store: str
) -> None:
    ledger: list[str] = []
    gates = [anyio.Event() for _ in range(3)]

    @floe.task(rollback=lambda n: ledger.append(f"undo {n}"))
    async def step(n: int) -> int:
        await gates[n].wait()
        ledger.append(f"do {n}")
        return n

    @floe.workflow
    async def job() -> None:
        for n in range(3):
            await step(n)

    watched: dict[str, Watched] = {}
    results: dict[str, floe.Execution] = {}
    ready = anyio.Event()

    async def run() -> None:
        async def start() -> None:
            ready.set()
            results["run"] = await job.run_async(run_id="job")

        await run_on(floe_kernel_factory(store=shared_store), watched, start)

    async def cancel() -> None:
        results["cancel"] = await job.cancel_async("job")

    gates[0].set()
    async with anyio.create_task_group() as runner_group:
        runner_group.start_soon(run)
        await ready.wait()
        runner = watched["runner"]
        await runner.until(lambda: runner.completed() == 1)
        async with floe_kernel_factory(store=shared_store) as other:
            canceller = Watched(other.store)
            canceller.hold_first_read = anyio.Event()
            async with anyio.create_task_group() as cancel_group:
                cancel_group.start_soon(cancel)
                await canceller.first_read.wait()  # it knows step 0 only
                gates[1].set()
                await runner.until(lambda: runner.completed() == 2)  # step 1 recorded since
                canceller.hold_first_read.set()
        gates[2].set()  # the step in flight returns: its record is refused
    assert results["cancel"].cancelled
    assert results["run"].cancelled
    # each rollback ran once, step 1's included; step 2 was not recorded, so not undone
    assert ledger == ["do 0", "do 1", "undo 1", "undo 0", "do 2"]
    kinds = [e.kind for e in results["cancel"].events]
    assert kinds.count("run.cancelling") == 1
    assert kinds[-4:] == ["run.cancelling", "task.rolled_back", "task.rolled_back", "run.cancelled"]


async def test_the_fenced_out_execution_returns_the_cancelled_run(
    floe_kernel_factory: Callable[..., Kernel], shared_store: str
) -> None:
    ledger: list[str] = []
    gates = [anyio.Event() for _ in range(2)]
    undoing = anyio.Event()
    undo_may_finish = anyio.Event()

    async def undo(n: int) -> None:
        undoing.set()
        await undo_may_finish.wait()
        ledger.append(f"undo {n}")

    @floe.task(rollback=undo)
    async def step(n: int) -> int:
        await gates[n].wait()
        ledger.append(f"do {n}")
        return n

    @floe.workflow
    async def job() -> None:
        for n in range(2):
            await step(n)

    watched: dict[str, Watched] = {}
    results: dict[str, floe.Execution] = {}
    ready = anyio.Event()

    async def run() -> None:
        async def start() -> None:
            ready.set()
            results["run"] = await job.run_async(run_id="job")

        try:
            await run_on(floe_kernel_factory(store=shared_store), watched, start)
        finally:
            undo_may_finish.set()  # a runner that gave up must not leave the saga waiting

    async def cancel() -> None:
        results["cancel"] = await job.cancel_async("job")

    gates[0].set()
    async with anyio.create_task_group() as runner_group:
        runner_group.start_soon(run)
        await ready.wait()
        runner = watched["runner"]
        await runner.until(lambda: runner.completed() == 1)
        async with (
            floe_kernel_factory(store=shared_store),
            anyio.create_task_group() as cancel_group,
        ):
            cancel_group.start_soon(cancel)
            await undoing.wait()  # fenced, its saga under way
            gates[1].set()
            # the runner's record of step 1 is refused, and it finds the run not yet over
            await runner.until(lambda: runner.runs_read_after_conflict >= 1)
            undo_may_finish.set()
    assert results["cancel"].cancelled
    assert results["run"].cancelled
    assert results["run"].status is RunStatus.CANCELLED
    assert ledger == ["do 0", "do 1", "undo 0"]


async def test_a_replay_finishes_a_cancellation_stopped_after_its_fence(
    floe_kernel_factory: Callable[..., Kernel], shared_store: str
) -> None:
    ledger: list[str] = []
    reached = anyio.Event()

    @floe.task(rollback=lambda: ledger.append("undo first"))
    async def first() -> None:
        ledger.append("first")

    @floe.task
    async def hang() -> None:
        ledger.append("hang")
        if reached.is_set():
            raise AssertionError("the step in flight ran again")
        reached.set()
        await anyio.sleep_forever()

    @floe.workflow
    async def job() -> None:
        await first()
        await hang()

    async with floe_kernel_factory(store=shared_store) as kernel:
        async with anyio.create_task_group() as group:
            group.start_soon(functools.partial(job.run_async, run_id="job"))
            await reached.wait()
            group.cancel_scope.cancel()  # the process stops: nothing records it
        run = await kernel.store.get_run("job")
        assert run is not None
        assert run.status is RunStatus.RUNNING
        # what a canceller that stopped right after its fence leaves behind
        fence = floe.Event(
            run_id="job", seq=run.last_seq + 1, kind="run.cancelling", step=None, data={}
        )
        await kernel.store.append_events("job", [fence])
        execution = await job.run_async(run_id="job")
    assert execution.cancelled
    # the cancellation goes on from its fence: the saga runs, the step in flight does not
    assert ledger == ["first", "hang", "undo first"]
