"""``floe.storage.set_from_thread``: a store's thread waking the callers of its loops."""

from __future__ import annotations

import threading

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

from floe.storage import set_from_thread

pytestmark = pytest.mark.anyio


async def test_every_event_of_a_batch_is_set_in_its_own_loop() -> None:
    token = anyio.lowlevel.current_token()
    events = [anyio.Event() for _ in range(5)]
    threads: list[int] = []

    def from_the_store() -> None:
        threads.append(threading.get_ident())
        set_from_thread([(token, event) for event in events])

    await anyio.to_thread.run_sync(from_the_store)
    with anyio.fail_after(5):
        for event in events:
            await event.wait()
    assert threads[0] != threading.get_ident()


async def test_a_lone_waiter_and_an_ended_loop() -> None:
    ended: list[anyio.lowlevel.EventLoopToken] = []

    async def remember() -> None:
        ended.append(anyio.lowlevel.current_token())

    await anyio.to_thread.run_sync(lambda: anyio.run(remember))
    token = anyio.lowlevel.current_token()
    mine, gone = anyio.Event(), anyio.Event()
    # the ended loop's waiter is passed over; the live one is still woken
    await anyio.to_thread.run_sync(set_from_thread, [(ended[0], gone), (token, mine)])
    await anyio.to_thread.run_sync(set_from_thread, [(ended[0], gone)])
    with anyio.fail_after(5):
        await mine.wait()
    assert not gone.is_set()
