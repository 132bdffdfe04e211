"""The threads that run the store's blocking calls: results, errors and cancellation
(a call not started is dropped, one running ends before its caller is cancelled)."""

from __future__ import annotations

import threading

import anyio
import pytest
from floe_postgres._threads import CallThreads

pytestmark = pytest.mark.anyio


@pytest.fixture
def threads() -> CallThreads:
    return CallThreads(1, "test")


async def test_a_call_returns_its_result_or_raises_its_error(threads: CallThreads) -> None:
    try:
        assert await threads.run(lambda a, b: a + b, 2, 3) == 5
        assert await threads.run(threading.current_thread) is not threading.current_thread()
        with pytest.raises(ZeroDivisionError):
            await threads.run(lambda: 1 / 0)
        results = []

        async def one(n: int) -> None:
            results.append(await threads.run(lambda: n * n))

        async with anyio.create_task_group() as group:
            for n in range(20):
                group.start_soon(one, n)
        assert sorted(results) == [n * n for n in range(20)]
    finally:
        await anyio.to_thread.run_sync(threads.stop)


async def test_a_cancelled_caller_drops_a_queued_call_and_waits_for_a_running_one(
    threads: CallThreads,
) -> None:
    release = threading.Event()
    began = threading.Event()
    ran: list[str] = []

    def blocking() -> None:
        began.set()
        release.wait(10)
        ran.append("running")

    scopes: list[anyio.CancelScope] = []
    ended: list[bool] = []

    async def caller() -> None:
        with anyio.CancelScope() as scope:
            scopes.append(scope)
            await threads.run(blocking)
        ended.append(scope.cancelled_caught)

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(caller)
            await anyio.to_thread.run_sync(began.wait, 10)
            # the one thread is busy: this call waits in the queue, then is cancelled
            with anyio.move_on_after(0.05):
                await threads.run(ran.append, "queued")
            scopes[0].cancel()  # the running call's caller, cancelled mid-call
            await anyio.sleep(0.05)
            assert (ran, ended) == ([], [])  # still running: its caller waits for it
            release.set()
        assert ended == [True]
        assert ran == ["running"]  # it ended; the queued one never ran
        assert await threads.run(ran.append, "after") is None
        assert ran == ["running", "after"]
    finally:
        release.set()
        await anyio.to_thread.run_sync(threads.stop)
