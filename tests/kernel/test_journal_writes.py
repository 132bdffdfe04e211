"""A journal's write at once (``write_nowait``), where the store does not group appends.

On such a store (memory) a write with none in flight stores and posts its events at
once, then makes its one checkpoint; where it cannot (a store that groups appends, a
deferred event, a secret in play, a bus with no room) it stores nothing and numbers
nothing, and ``write`` does all of it. Either way the events, their order and their
sequence numbers are the same.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest

import floe
from floe import Event, Kernel
from floe.kernel._journal import Deferred, Journal
from floe.kernel._secrets import KnownSecrets

pytestmark = pytest.mark.anyio

_ids = itertools.count(1)
_STARTED_AT = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


async def _journal(kernel: Kernel) -> Journal:
    run_id = f"run-{next(_ids)}"
    await kernel.store.create_run(floe.Run(run_id=run_id, name="wf"))
    return Journal(kernel, run_id, 0)


def _step(number: int) -> dict[str, Any]:
    """A step's outcome and its start, as a step writes them."""
    position = str(number)
    return {
        "events": [("task.completed", f"a#{number}", {"position": position, "result": number})],
        "published": [("task.started", f"a#{number}", {"position": position}, _STARTED_AT)],
    }


def _shape(events: list[Event]) -> list[tuple[Any, ...]]:
    return [(e.run_id, e.seq, e.kind, e.step, e.data) for e in events]


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_a_write_at_once_stores_and_posts_without_a_checkpoint(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    import trio.testing

    seen: list[Event] = []
    async with floe_kernel_factory() as kernel:
        kernel.bus.subscribe("task.*", "observer", seen.append, inline=True)
        journal = await _journal(kernel)
        with trio.testing.assert_no_checkpoints():
            first = journal.write_nowait(**_step(1))
            second = journal.write_nowait(**_step(2))
        assert first is not None
        assert second is not None
        with trio.testing.assert_checkpoints():
            await journal.checkpoint()
        stored = await kernel.store.read_events(journal.run_id)
        assert [(e.seq, e.kind) for e in stored] == [
            (1, "task.started"),
            (2, "task.completed"),
            (3, "task.started"),
            (4, "task.completed"),
        ]
        assert stored[0].at == _STARTED_AT
        assert journal.written == stored
        assert journal.last_seq == 4
        assert first + second == [stored[1], stored[3]]
    # the starts were posted live, before the write: only the outcomes are posted by it
    assert [(e.seq, e.kind) for e in seen] == [(2, "task.completed"), (4, "task.completed")]


async def test_a_write_at_once_stores_what_write_stores(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    stored: dict[str, list[Event]] = {}
    for way in ("at once", "awaited"):
        async with floe_kernel_factory() as kernel:
            await kernel.store.create_run(floe.Run(run_id="same", name="wf"))
            journal = Journal(kernel, "same", 0)
            if way == "at once":
                assert journal.write_nowait(**_step(1)) is not None
                await journal.checkpoint()
            else:
                await journal.write(**_step(1))
            assert journal.written == await kernel.store.read_events("same")
            stored[way] = journal.written
    assert _shape(stored["at once"]) == _shape(stored["awaited"])
    assert stored["at once"][0].at == _STARTED_AT


async def test_a_write_that_cannot_go_at_once_stores_and_numbers_nothing(
    floe_kernel_factory: Callable[..., Kernel], tmp_path: Path
) -> None:
    # a store that groups appends: the leader's path, where concurrent writers share
    async with floe_kernel_factory(store=f"sqlite:///{tmp_path}/floe.db") as kernel:
        journal = await _journal(kernel)
        assert journal.write_nowait(**_step(1)) is None
        assert await kernel.store.read_events(journal.run_id) == []
        await journal.write(**_step(1))
        assert [e.seq for e in await kernel.store.read_events(journal.run_id)] == [1, 2]
    async with floe_kernel_factory() as kernel:
        # a deferred event: it may need preparing, which write awaits
        journal = await _journal(kernel)
        journal.defer(Deferred("log.message", None, {"line": "hello"}))
        assert journal.write_nowait(**_step(1)) is None
        assert journal.last_seq == 0
        await journal.write(**_step(1))
        stored = await kernel.store.read_events(journal.run_id)
        assert [e.kind for e in stored] == ["task.started", "log.message", "task.completed"]
        # a secret in play: write seals what holds it
        journal = await _journal(kernel)
        journal.secrets = KnownSecrets()
        journal.secrets.add("token", "s3cret-value-long-enough")
        assert journal.write_nowait(**_step(1)) is None
        assert await kernel.store.read_events(journal.run_id) == []


async def test_a_write_at_once_waits_for_no_room_on_the_bus(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    gate = anyio.Event()

    async def stuck(event: Any) -> None:
        await gate.wait()

    async with floe_kernel_factory(bus_queue_size=1) as kernel:
        kernel.bus.subscribe("*", "stuck", stuck)
        journal = await _journal(kernel)
        await kernel.bus.post("held")  # the drain task holds it, waiting for the gate
        await anyio.wait_all_tasks_blocked()
        kernel.bus.post_nowait("queued")  # takes the queue's one slot
        assert journal.write_nowait(**_step(1)) is None
        assert journal.last_seq == 0
        assert await kernel.store.read_events(journal.run_id) == []
        gate.set()
        await journal.write(**_step(1))
        assert [e.seq for e in await kernel.store.read_events(journal.run_id)] == [1, 2]


async def test_a_refused_write_at_once_breaks_the_journal(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    async with floe_kernel_factory() as kernel:
        journal = await _journal(kernel)
        # another writer appended first: the journal's numbers no longer follow on
        await kernel.store.append_events(journal.run_id, [Event(journal.run_id, 1, "e")])
        with pytest.raises(floe.SequenceConflictError):
            journal.write_nowait(**_step(1))
        assert journal.write_nowait(**_step(2)) is None
        with pytest.raises(floe.SequenceConflictError):
            await journal.write(**_step(2))
