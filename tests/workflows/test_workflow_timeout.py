"""``@workflow(timeout=...)``: a run that takes longer than its timeout fails with a
WorkflowTimeoutError, counted from its recorded start, so a resumed run (after a pause or
a crash) has no fresh budget."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
import trio.testing

import floe
from floe import Kernel, WorkflowTimeoutError

pytestmark = pytest.mark.anyio

mock_clock = pytest.mark.parametrize(
    "anyio_backend",
    [
        pytest.param(
            ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}), id="trio-mockclock"
        )
    ],
)

undone: list[str] = []


def undo(item: str) -> None:
    undone.append(item)


@floe.task(rollback=undo)
async def book(item: str) -> str:
    return item


@floe.task
async def slow(seconds: float) -> float:
    await anyio.sleep(seconds)
    return seconds


@floe.workflow(timeout=0.3)
async def trip(items: list[str]) -> list[str]:
    booked = [await book(item) for item in items]
    await slow(10)  # cut off at the deadline
    return booked


async def test_a_run_past_its_timeout_fails_and_rolls_back(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    undone.clear()
    async with floe_kernel_factory():
        started = time.monotonic()
        execution = await trip.run_async(["flight", "hotel"])
        took = time.monotonic() - started
    assert execution.failed
    assert execution.error is not None
    assert execution.error.type == "floe.WorkflowTimeoutError"
    assert "ran past its timeout of 0.3 s" in execution.error.message
    assert isinstance(execution.exception, WorkflowTimeoutError)
    assert isinstance(execution.exception, TimeoutError)
    assert took < 5  # the 10 s step was cut off
    assert undone == ["hotel", "flight"]  # the saga ran, newest first
    kinds = [event.kind for event in execution.events]
    assert kinds[-3:] == ["task.rolled_back", "task.rolled_back", "run.failed"]
    assert "slow#1" not in execution.executed_tasks


async def test_raise_on_error_raises_the_timeout(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    async with floe_kernel_factory():
        with pytest.raises(WorkflowTimeoutError, match="ran past its timeout"):
            await trip.run_async([], raise_on_error=True)


@mock_clock
async def test_a_durable_sleep_past_the_deadline_fails_at_the_deadline(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.workflow(timeout=60)
    async def naps() -> str:
        await floe.sleep(3600)
        return "rested"

    async with floe_kernel_factory():
        before = anyio.current_time()
        execution = await naps.run_async()
        waited = anyio.current_time() - before
    assert execution.failed
    assert execution.error is not None
    assert execution.error.type.endswith("WorkflowTimeoutError")
    assert 59 < waited <= 60  # the deadline counts from the recorded start


async def test_a_run_within_its_timeout_completes(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.workflow(timeout=30)
    async def quick() -> float:
        return await slow(0.01)

    async with floe_kernel_factory():
        execution = await quick.run_async()
    assert execution.succeeded
    assert execution.output == 0.01


@floe.task
def blocking(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@floe.workflow(timeout=0.3)
def sync_body() -> float:
    total = 0.0
    for _ in range(20):
        total += blocking(0.05)
    return total


async def test_a_sync_body_stops_at_its_next_step_after_the_deadline(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    async with floe_kernel_factory():
        execution = await sync_body.run_async()
    assert execution.failed
    assert execution.error is not None
    assert execution.error.type.endswith("WorkflowTimeoutError")
    assert 1 <= len(execution.executed_tasks) < 20


@floe.workflow(timeout=0.4)
async def approval(amount: int) -> str:
    await book(f"hold {amount}")
    answer = await floe.pause("approve")
    await book(f"pay {amount}")  # never runs: the resume comes after the deadline
    return str(answer)


async def test_paused_time_counts_and_a_late_resume_fails(
    floe_kernel_factory: Callable[..., Kernel], tmp_path: Path
) -> None:
    undone.clear()
    async with floe_kernel_factory(store=f"sqlite:///{tmp_path}/floe.db"):
        paused = await approval.run_async(5, run_id="late-1")
        assert paused.paused
        await anyio.sleep(0.5)  # the run waits past its deadline
        execution = await approval.resume_async("late-1", "yes")
    assert execution.failed
    assert execution.error is not None
    assert execution.error.type.endswith("WorkflowTimeoutError")
    assert execution.executed_tasks == ["book#1"]  # replayed up to the pause, no further
    assert undone == ["hold 5"]
    assert [e.kind for e in execution.events][-2:] == ["task.rolled_back", "run.failed"]


@floe.workflow
async def child_sleeps() -> str:
    await slow(10)
    return "late"


@floe.workflow(timeout=0.3)
async def parent_waits() -> str:
    return str(await floe.call(child_sleeps))


async def test_a_timed_out_parent_cancels_its_child(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    async with floe_kernel_factory() as kernel:
        execution = await parent_waits.run_async(run_id="parent-1")
        children = await kernel.store.list_runs(floe.RunQuery(parent_id="parent-1"))
    assert execution.failed
    assert execution.error is not None
    assert execution.error.type.endswith("WorkflowTimeoutError")
    assert [child.status for child in children] == [floe.RunStatus.CANCELLED]


CRASHING = textwrap.dedent(
    """
    import sys
    import anyio
    import floe

    @floe.task
    async def step(n: int) -> int:
        if sys.argv[2] == "hang" and n == 1:
            print("hanging", flush=True)
            await anyio.sleep(3600)
        return n

    @floe.workflow(timeout=1.0)
    async def bounded() -> list[int]:
        return [await step(n) for n in range(3)]

    async def main() -> None:
        async with floe.open_kernel(store=sys.argv[1], log_format="off"):
            execution = await bounded.run_async(run_id="bounded-1")
        print(execution.status, execution.error.type if execution.error else "")

    anyio.run(main)
    """
)


def test_a_crashed_run_resumed_later_has_no_fresh_budget(tmp_path: Path) -> None:
    script = tmp_path / "bounded.py"
    script.write_text(CRASHING, encoding="utf-8")
    store = f"sqlite:///{tmp_path}/floe.db"
    # a short lease: the killed process's run is free again when the second one starts
    env = {**os.environ, "FLOE_STRICT_PLUGINS": "1", "FLOE_RUN_LEASE_SECONDS": "0.5"}
    with subprocess.Popen(
        [sys.executable, str(script), store, "hang"], stdout=subprocess.PIPE, text=True, env=env
    ) as first:
        assert first.stdout is not None
        assert first.stdout.readline() == "hanging\n"
        first.send_signal(signal.SIGKILL)  # a crash while step 1 runs
        first.wait(timeout=30)
    time.sleep(1.1)  # the run's budget is spent while no process runs it
    second = subprocess.run(
        [sys.executable, str(script), store, "fine"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert second.returncode == 0, second.stderr
    assert second.stdout == "failed floe.WorkflowTimeoutError\n"
