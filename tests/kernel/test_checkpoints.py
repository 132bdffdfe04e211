"""Trio's discipline for the bus, the stores and the write path.

Every async method of the bus, the stores, the journal writer and ``Kernel.record``
is a checkpoint whichever way it goes (trio counts it with ``assert_checkpoints``; on
both backends a call in a cancelled scope raises the cancellation). What must not
yield has a sync ``_nowait`` twin that raises ``anyio.WouldBlock`` instead of waiting.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import floe
from floe import Event, EventBus, Kernel
from floe.kernel._journal import Journal

pytestmark = pytest.mark.anyio

Call = Callable[[], Awaitable[object]]
Prepare = Callable[[Kernel], Awaitable[Call]]

_ids = itertools.count(1)


async def _new_run(kernel: Kernel) -> str:
    run_id = f"run-{next(_ids)}"
    await kernel.store.create_run(floe.Run(run_id=run_id, name="wf"))
    return run_id


async def _publish_to_nobody(kernel: Kernel) -> Call:
    return lambda: kernel.bus.publish("nobody.listens", 1)


async def _publish_to_an_inline_handler(kernel: Kernel) -> Call:
    kernel.bus.subscribe("inline.event", "test", lambda data: None, inline=True)
    return lambda: kernel.bus.publish("inline.event", 1)


async def _post(kernel: Kernel) -> Call:
    return lambda: kernel.bus.post("posted.event", 1)


async def _post_without_a_drain(kernel: Kernel) -> Call:
    return lambda: EventBus().post("posted.event", 1)


async def _post_events_nobody_wants(kernel: Kernel) -> Call:
    event = Event(run_id="r", seq=1, kind="unwanted")
    return lambda: kernel.bus.post_events([event])


async def _post_events_wanted(kernel: Kernel) -> Call:
    kernel.bus.subscribe("wanted", "test", lambda data: None, inline=True)
    event = Event(run_id="r", seq=1, kind="wanted")
    return lambda: kernel.bus.post_events([event])


async def _record(kernel: Kernel) -> Call:
    run_id = await _new_run(kernel)
    return lambda: kernel.record([Event(run_id=run_id, seq=1, kind="run.started")])


async def _record_nothing(kernel: Kernel) -> Call:
    return lambda: kernel.record([])


async def _journal_write(kernel: Kernel) -> Call:
    journal = Journal(kernel, await _new_run(kernel), 0)
    return lambda: journal.write([("task.completed", "a#1", {"position": "1"})])


async def _append_events(kernel: Kernel) -> Call:
    run_id = await _new_run(kernel)
    return lambda: kernel.store.append_events(run_id, [Event(run_id=run_id, seq=1, kind="e")])


async def _read_events(kernel: Kernel) -> Call:
    run_id = await _new_run(kernel)
    return lambda: kernel.store.read_events(run_id)


async def _get_value(kernel: Kernel) -> Call:
    return lambda: kernel.store.get_value("tests", "missing")


CALLS: dict[str, Prepare] = {
    "publish to nobody": _publish_to_nobody,
    "publish to an inline handler": _publish_to_an_inline_handler,
    "post": _post,
    "post without a drain task": _post_without_a_drain,
    "post_events nobody wants": _post_events_nobody_wants,
    "post_events wanted": _post_events_wanted,
    "record": _record,
    "record nothing": _record_nothing,
    "journal write": _journal_write,
    "store append_events": _append_events,
    "store read_events": _read_events,
    "store get_value": _get_value,
}


@pytest.fixture(params=["memory", "sqlite"])
def make_kernel(
    request: pytest.FixtureRequest, floe_kernel_factory: Callable[..., Kernel], tmp_path: Path
) -> Callable[[], Kernel]:
    """A kernel on each kind of store the write path treats differently: one that
    appends without blocking (memory), and one that is awaited (SQLite)."""
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/floe.db"
    return lambda: floe_kernel_factory(store=url)


@pytest.mark.parametrize("anyio_backend", ["trio"])
@pytest.mark.parametrize("name", list(CALLS))
async def test_every_async_call_checkpoints(make_kernel: Callable[[], Kernel], name: str) -> None:
    import trio.testing

    async with make_kernel() as kernel:
        call = await CALLS[name](kernel)
        with trio.testing.assert_checkpoints():
            await call()


@pytest.mark.parametrize("name", list(CALLS))
async def test_every_async_call_raises_in_a_cancelled_scope(
    make_kernel: Callable[[], Kernel], name: str
) -> None:
    async with make_kernel() as kernel:
        call = await CALLS[name](kernel)
        returned = False
        with anyio.CancelScope() as scope:
            scope.cancel()
            await call()
            returned = True
        assert not returned
        assert scope.cancelled_caught


async def test_record_cancelled_at_its_checkpoint_stores_nothing(
    make_kernel: Callable[[], Kernel],
) -> None:
    seen: list[Any] = []
    async with make_kernel() as kernel:
        kernel.bus.subscribe("*", "observer", seen.append, inline=True)
        run_id = await _new_run(kernel)
        with anyio.CancelScope() as scope:
            scope.cancel()
            await kernel.record([Event(run_id=run_id, seq=1, kind="run.started")])
        assert await kernel.store.read_events(run_id) == []
    assert seen == []


async def test_a_cancelled_journal_write_is_stored_and_published(
    make_kernel: Callable[[], Kernel],
) -> None:
    seen: list[str] = []
    async with make_kernel() as kernel:
        kernel.bus.subscribe("task.*", "observer", lambda e: seen.append(e.kind), inline=True)
        run_id = await _new_run(kernel)
        journal = Journal(kernel, run_id, 0)
        with anyio.CancelScope() as scope:
            scope.cancel()
            await journal.write([("task.completed", "a#1", {"position": "1"})])
        assert scope.cancelled_caught
        assert [e.kind for e in await kernel.store.read_events(run_id)] == ["task.completed"]
        assert [e.kind for e in journal.written] == ["task.completed"]
    assert seen == ["task.completed"]


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_the_nowait_twins_never_yield(floe_kernel_factory: Callable[..., Kernel]) -> None:
    import trio.testing

    async with floe_kernel_factory() as kernel:
        run_id = await _new_run(kernel)
        with trio.testing.assert_no_checkpoints():
            kernel.bus.post_nowait("posted.event", 1)
            kernel.bus.post_events_nowait([Event(run_id="r", seq=1, kind="e")])
            kernel.record_nowait([Event(run_id=run_id, seq=1, kind="run.started")])
        assert len(await kernel.store.read_events(run_id)) == 1


async def test_the_nowait_twins_raise_would_block_when_they_would_wait(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    gate = anyio.Event()

    async def stuck(event: Any) -> None:
        await gate.wait()

    # no drain task: post would publish directly, which cannot be done at once
    with pytest.raises(anyio.WouldBlock):
        EventBus().post_nowait("e")
    with pytest.raises(anyio.WouldBlock):
        EventBus().post_events_nowait([Event(run_id="r", seq=1, kind="e")])
    async with floe_kernel_factory(bus_queue_size=1) as kernel:
        kernel.bus.subscribe("*", "stuck", stuck)
        run_id = await _new_run(kernel)
        await kernel.bus.post("held")  # the drain task holds it, waiting for the gate
        await anyio.wait_all_tasks_blocked()
        kernel.bus.post_nowait("queued")  # takes the queue's one slot
        assert not kernel.bus.can_post_nowait()
        with pytest.raises(anyio.WouldBlock):
            kernel.bus.post_nowait("more")
        with pytest.raises(anyio.WouldBlock):
            kernel.bus.post_events_nowait([Event(run_id=run_id, seq=1, kind="e")])
        # asked first: with no room on the bus, nothing is stored either
        with pytest.raises(anyio.WouldBlock):
            kernel.record_nowait([Event(run_id=run_id, seq=1, kind="run.started")])
        assert await kernel.store.read_events(run_id) == []
        gate.set()
        await kernel.record([Event(run_id=run_id, seq=1, kind="run.started")])
        assert len(await kernel.store.read_events(run_id)) == 1


async def test_record_nowait_on_a_store_that_would_block(
    floe_kernel_factory: Callable[..., Kernel], tmp_path: Path
) -> None:
    async with floe_kernel_factory(store=f"sqlite:///{tmp_path}/floe.db") as kernel:
        run_id = await _new_run(kernel)
        # another connection holds the write lock: the commit would have to wait for it
        blocker = sqlite3.connect(tmp_path / "floe.db", isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            with pytest.raises(anyio.WouldBlock):
                kernel.record_nowait([Event(run_id=run_id, seq=1, kind="run.started")])
            blocker.execute("ROLLBACK")
        finally:
            blocker.close()
        assert await kernel.store.read_events(run_id) == []
        kernel.record_nowait([Event(run_id=run_id, seq=1, kind="run.started")])
        assert [event.seq for event in await kernel.store.read_events(run_id)] == [1]
