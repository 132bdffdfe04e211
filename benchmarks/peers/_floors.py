"""The in-memory floors of the workflows benchmark: what a durable step cannot do without.

A trio loop (or nursery) calling a plain async function that checkpoints once, each call
also building its step's two journal records — ``task.started`` and ``task.completed``,
each a :class:`floe.Event` with its timestamp and data — and appending them to a list.
Shared by the in-process figures (``bench_workflows.py``) and the fresh-process ones
(``run_floe.py``), so that the floor at 1,000 steps and at 100,000 is the same code.
"""

from __future__ import annotations

from datetime import UTC, datetime

import trio

import floe

__all__ = ["memory_floor", "memory_floor_concurrent", "plain_step"]


async def plain_step(i: int) -> int:
    await trio.lowlevel.checkpoint()
    return i


def _step_events(journal: list[floe.Event], run_id: str, i: int) -> None:
    """Append a step's two journal records (started, completed) as floe's events."""
    seq, step, at = len(journal), f"step#{i}", datetime.now(UTC)
    position = str(i)
    started = {"task": "step", "position": position, "attempt": 1}
    completed = {"task": "step", "position": position, "result": i}
    journal.append(floe.Event(run_id, seq + 1, "task.started", step, at, started))
    journal.append(floe.Event(run_id, seq + 2, "task.completed", step, at, completed))


async def memory_floor(ops: int) -> int:
    """The trio loop, each call also recording its step in a journal list."""
    journal: list[floe.Event] = []
    total = 0
    for i in range(ops):
        _step_events(journal, "floor", i)
        total += await plain_step(i)
    return total


async def memory_floor_concurrent(ops: int) -> int:
    """The trio nursery, each spawned call also recording its step in a journal list."""
    journal: list[floe.Event] = []
    results = [0] * ops

    async def spawned(i: int) -> None:
        _step_events(journal, "floor", i)
        results[i] = await plain_step(i)

    async with trio.open_nursery() as nursery:
        for i in range(ops):
            nursery.start_soon(spawned, i)
    return sum(results)
