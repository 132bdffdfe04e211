"""The threads that run the store's blocking psycopg calls, off the event loop.

A store keeps as many threads as its pool has connections, each waiting on one queue of
calls. A caller puts its call on the queue and waits on an event of its own loop; the
thread that takes the call runs it and wakes the caller with one call into that loop.
That is the least a blocking call can cost a loop (a thread wake-up each way): a call
through ``anyio.to_thread`` also acquires a capacity limiter and hands the work to a
thread of a cache, which on a virtual machine costs about twice as much again, and a
durable step on PostgreSQL is one such call.

Appends go to a :class:`BatchThread` of their own: every append queued while one batch
is written goes into the next, which is one transaction (group commit across runs), so
concurrent runs share a thread hop and a commit, and the batch's callers are woken with
one call into each loop (``floe.storage.set_from_thread``), not one each.

A caller cancelled before a thread took its call drops it; one cancelled while its call
runs waits for it to end (a transaction is not left half-done), then is cancelled, as
``anyio.to_thread.run_sync`` does.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any, Final, TypeVar

import anyio
import anyio.lowlevel

from floe.storage import set_from_thread

__all__ = ["MAX_BATCH", "BatchThread", "CallThreads"]

T = TypeVar("T")

MAX_BATCH: Final = 256
"""Most calls written in one batch, so that one transaction stays reasonably small."""

_QUEUED: Final = 0
_RUNNING: Final = 1
_ABANDONED: Final = 2


class _Call:
    __slots__ = ("args", "done", "error", "function", "result", "state", "token")

    def __init__(self, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.function = function
        self.args = args
        self.token = anyio.lowlevel.current_token()
        self.done = anyio.Event()
        self.state = _QUEUED
        self.result: Any = None
        self.error: BaseException | None = None


class CallThreads:
    """*size* threads running the calls put on their queue (see the module)."""

    def __init__(self, size: int, name: str) -> None:
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._serve, name=f"{name} #{index}", daemon=True)
            for index in range(size)
        ]
        for thread in self._threads:
            thread.start()

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in one of the threads; its result, or its error raised."""
        call = _Call(function, args)
        self._queue.put(call)
        await _outcome(call, self._lock)
        result: T = call.result
        return result

    def stop(self) -> None:
        """End the threads once the calls queued before are done (blocking: call it from a
        thread of its own)."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()

    def _serve(self) -> None:
        while (call := self._queue.get()) is not None:
            with self._lock:
                if call.state == _ABANDONED:
                    continue
                call.state = _RUNNING
            try:
                call.result = call.function(*call.args)
            except BaseException as error:  # handed to the caller, raised there
                call.error = error
            set_from_thread([(call.token, call.done)])


class BatchThread:
    """One thread writing the items put on its queue in batches: ``write(items)`` gets
    every item queued while the batch before was written (up to :data:`MAX_BATCH`) and
    returns each one's error or None, in order."""

    def __init__(self, write: Callable[[list[Any]], list[BaseException | None]], name: str) -> None:
        self._write = write
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    async def run(self, item: Any) -> None:
        """Write *item* with the batch it joins; its error raised."""
        call = _Call(self._write, (item,))
        self._queue.put(call)
        await _outcome(call, self._lock)

    def stop(self) -> None:
        """End the thread once the items queued before are written (blocking)."""
        self._queue.put(None)
        self._thread.join()

    def _serve(self) -> None:
        stopping = False
        while not stopping and (first := self._queue.get()) is not None:
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    call = self._queue.get_nowait()
                except queue.Empty:
                    break
                if call is None:
                    stopping = True
                    break
                batch.append(call)
            with self._lock:
                live = [call for call in batch if call.state != _ABANDONED]
                for call in live:
                    call.state = _RUNNING
            if not live:
                continue
            try:
                errors = self._write([call.args[0] for call in live])
            except BaseException as failure:  # the batch as a whole failed: each caller hears
                errors = [failure] * len(live)
            for call, outcome in zip(live, errors, strict=True):
                call.error = outcome
            set_from_thread([(call.token, call.done) for call in live])  # a loop once


async def _outcome(call: _Call, lock: threading.Lock) -> None:
    """Wait for *call* to be done, and raise its error; see the module for cancellation."""
    try:
        await call.done.wait()
    except BaseException:
        with lock:
            running = call.state == _RUNNING
            if not running:
                call.state = _ABANDONED
        if running:  # it ends first, whatever happens to this caller
            with anyio.CancelScope(shield=True):
                await call.done.wait()
        raise
    error, call.error = call.error, None
    if error is not None:
        raise error
