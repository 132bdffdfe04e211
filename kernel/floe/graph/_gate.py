"""The gate that runs one routine's deliveries one at a time, in the order they came.

A routine's handlers share its state (slot buffers, stats, attributes): two of them
running at once, a sync one in a worker thread and another on the loop, would merge,
read and clear that state in an unpredictable order. Under the concurrent strategy each
routine that is not ``reentrant`` has a gate: a delivery passes it before its message is
merged and leaves it once its journal record is made, so merges, handlers and records
follow one order, the order deliveries reached the gate (the queue's, first in first
out). Unlike a lock, entering a free gate never yields, so a delivery taken from the
queue is at the gate before any other task runs.
"""

from __future__ import annotations

import collections

import anyio

__all__ = ["Gate"]


class Gate:
    """First-come first-served exclusion among the tasks of one event loop."""

    __slots__ = ("busy", "waiting")

    def __init__(self) -> None:
        self.busy = False
        self.waiting: collections.deque[anyio.Event] = collections.deque()

    async def enter(self) -> None:
        if not self.busy:
            self.busy = True
            return
        turn = anyio.Event()
        self.waiting.append(turn)
        try:
            await turn.wait()
        except BaseException:
            if turn.is_set():  # handed the gate as it was cancelled: hand it on
                self.leave()
            else:
                self.waiting.remove(turn)
            raise

    def leave(self) -> None:
        """Hand the gate to the next task waiting (it stays busy), or free it."""
        if self.waiting:
            self.waiting.popleft().set()
        else:
            self.busy = False
