"""Waking callers waiting on their event loops, from a store's thread.

A store that runs blocking calls in threads of its own wakes each caller with a call
into the caller's loop (``run_sync_soon``). That call is a wake-up of the loop's
thread; a batch of calls finished together (a group commit) wakes each loop once, for
all of its callers, not once per caller.
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio
from anyio.lowlevel import EventLoopToken

__all__ = ["set_from_thread"]


def set_from_thread(waiters: Sequence[tuple[EventLoopToken, anyio.Event]]) -> None:
    """Set each ``(token, event)``'s event in its own loop, with one call per loop.

    Called from a thread other than the loops'. A loop that has ended is passed over:
    nobody waits there any more.
    """
    if len(waiters) == 1:  # the common case of a lone call
        token, event = waiters[0]
        _call_soon(token, [event])
        return
    by_loop: dict[int, tuple[EventLoopToken, list[anyio.Event]]] = {}
    for token, event in waiters:
        entry = by_loop.setdefault(id(token.native_token), (token, []))
        entry[1].append(event)
    for token, events in by_loop.values():
        _call_soon(token, events)


def _call_soon(token: EventLoopToken, events: list[anyio.Event]) -> None:
    try:
        token.backend_class.run_sync_soon(_set_all, (events,), token.native_token)
    except Exception:  # that event loop has ended: its waiters are gone
        pass


def _set_all(events: list[anyio.Event]) -> None:
    for event in events:
        event.set()
