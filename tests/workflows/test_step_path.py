"""The step's common path: what it journals, its one checkpoint, and a cancellation at it.

A step of the usual kind (an async task without a timeout, nothing to inject) makes its
first attempt and journals its outcome without a stage's coroutine; on the memory store
the outcome is stored at once and the step then checkpoints. These pin that the journal
it writes is the one every store gets, and that trio's rules still hold.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import floe
from floe import Kernel

pytestmark = pytest.mark.anyio


@floe.task
async def double(i: int) -> int:
    return 2 * i


@floe.task(retries=1)
async def fails_once(attempts: list[int]) -> str:
    attempts.append(len(attempts) + 1)
    if len(attempts) == 1:
        raise ConnectionError("first attempt")
    return "second"


@floe.workflow
async def steps(n: int) -> int:
    total = 0
    for i in range(n):
        total += await double(i)
    total += sum(await double.map(range(n)))

    @floe.task
    async def nested() -> int:
        return await double(100)

    return total + await nested()


def _steps(events: list[floe.Event]) -> dict[str, list[tuple[Any, ...]]]:
    """Each step's events, by step key: (seq counted from the step's first, kind, data)."""
    by_step: dict[str, list[floe.Event]] = {}
    for event in events:
        if event.step is not None:
            by_step.setdefault(event.step, []).append(event)
    return {
        key: [(e.seq - mine[0].seq, e.kind, e.data) for e in mine] for key, mine in by_step.items()
    }


async def test_every_store_journals_the_same_steps(
    floe_kernel_factory: Callable[..., Kernel], tmp_path: Path
) -> None:
    journals = []
    for url in ("memory://", f"sqlite:///{tmp_path}/floe.db"):
        async with floe_kernel_factory(store=url) as kernel:
            execution = await steps.run_async(3, run_id="r")
            assert execution.output == 2 * (0 + 1 + 2) * 2 + 200
            stored = await kernel.store.read_events("r")
            assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
            journals.append(_steps(stored))
    # the mapped steps finish in the scheduler's order; each step's events follow on
    assert journals[0] == journals[1]
    assert journals[0]["double#1"] == [
        (0, "task.started", {"task": "double", "position": "1", "attempt": 1}),
        (1, "task.completed", {"task": "double", "position": "1", "result": 0}),
    ]
    assert journals[0]["nested#1/double#1"][1] == (
        1,
        "task.completed",
        {"task": "double", "position": "7.1", "result": 200},
    )


async def test_a_retried_step_journals_each_attempt(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    attempts: list[int] = []

    @floe.workflow
    async def retried() -> str:
        return await fails_once(attempts)

    async with floe_kernel_factory():
        execution = await retried.run_async()
    assert execution.output == "second"
    assert attempts == [1, 2]
    kinds = [(e.kind, e.data.get("attempt")) for e in execution.events if e.step]
    assert kinds == [("task.retrying", 1), ("task.started", 1), ("task.completed", None)]


@pytest.mark.parametrize("anyio_backend", ["trio"])
@pytest.mark.parametrize("store", ["memory", "sqlite"])
async def test_a_step_checkpoints(
    floe_kernel_factory: Callable[..., Kernel], tmp_path: Path, store: str
) -> None:
    import trio.testing

    @floe.workflow
    async def checked() -> int:
        with trio.testing.assert_checkpoints():
            return await double(1)

    url = "memory://" if store == "memory" else f"sqlite:///{tmp_path}/floe.db"
    async with floe_kernel_factory(store=url):
        assert (await checked.run_async()).output == 2


async def test_a_step_cancelled_at_its_checkpoint_is_journaled_and_cancelled(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    returned: list[int] = []

    @floe.workflow
    async def cancelled_inside() -> str:
        with anyio.CancelScope() as scope:
            scope.cancel()
            returned.append(await double(1))  # stored, then the cancellation is raised
        assert scope.cancelled_caught
        return "went on"

    async with floe_kernel_factory() as kernel:
        execution = await cancelled_inside.run_async(run_id="c")
        stored = await kernel.store.read_events("c")
    assert execution.output == "went on"
    assert returned == []
    assert [e.kind for e in stored if e.step] == ["task.started", "task.completed"]
