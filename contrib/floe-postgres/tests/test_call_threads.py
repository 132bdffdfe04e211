"""The threads that run the store's blocking calls: results, errors and cancellation
(a call not started is dropped, one running ends before its caller is cancelled)."""

from __future__ import annotations

import threading

import anyio
import pytest
from floe_postgres._threads import BatchThread, CallThreads

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


async def test_items_queued_while_a_batch_is_written_go_together_into_the_next() -> None:
    release = threading.Event()
    writing = threading.Event()
    batches: list[list[int]] = []

    def write(items: list[int]) -> list[BaseException | None]:
        batches.append(items)
        writing.set()
        if len(batches) == 1:
            release.wait(10)  # the first batch is being written while the others queue
        return [ValueError(f"odd {item}") if item % 2 else None for item in items]

    appends = BatchThread(write, "test")
    outcomes: dict[int, str] = {}

    async def append(item: int) -> None:
        try:
            await appends.run(item)
        except ValueError as error:
            outcomes[item] = str(error)
        else:
            outcomes[item] = "ok"

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(append, 0)
            await anyio.to_thread.run_sync(writing.wait, 10)
            for item in range(1, 6):
                group.start_soon(append, item)
            await anyio.sleep(0.05)
            with anyio.move_on_after(0.01):  # queued, then cancelled: never written
                await appends.run(99)
            release.set()
        assert batches[0] == [0]
        assert sorted(batches[1]) == [1, 2, 3, 4, 5]  # one batch: one transaction
        assert outcomes == {0: "ok", 1: "odd 1", 2: "ok", 3: "odd 3", 4: "ok", 5: "odd 5"}
        assert all(99 not in batch for batch in batches)
    finally:
        release.set()
        await anyio.to_thread.run_sync(appends.stop)
