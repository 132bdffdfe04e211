"""Notifications of claimable runs: ``NOTIFY`` when one is written, ``LISTEN`` to wait.

A write that leaves a run claimable (due now, no child, no live lease) notifies the
channel :data:`CHANNEL` with the schema of the store's tables as the payload, in the
statement that writes the run (``RETURNING pg_notify(...)``): PostgreSQL delivers it at
COMMIT, and not at all when the transaction rolls back, and folds the duplicates of one
transaction into one.

A :class:`Listener` is a store's dedicated connection (autocommit, ``LISTEN``), opened
on the first wait and read with psycopg's blocking ``notifies()`` in worker threads, a
short slice at a time, so that a cancelled wait stops at once: an abandoned slice ends
on its own within :data:`SLICE_SECONDS`, and a lock keeps it and the next one apart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import psycopg
from psycopg import sql

from floe import PersistenceError, Run

from ._rows import micros

if TYPE_CHECKING:
    Connection = psycopg.Connection[Any]

__all__ = ["CHANNEL", "DRAIN_POLLS", "SLICE_SECONDS", "Listener", "claimable"]

CHANNEL: Final = "floe_runnable"
"""The channel of every floe-postgres store; the payload names the store's schema."""
SLICE_SECONDS: Final = 0.25
"""The longest one blocking read of the listen connection takes."""
DRAIN_POLLS: Final = 16
"""Reads without waiting after a notification, to take a backlog in as one wake-up."""


def claimable(run: Run, now: datetime) -> bool:
    """Whether *run*, as written, is one that a claim at *now* takes: due, no other run's
    child, and without a live lease."""
    if run.runnable_at is None or run.parent_id is not None:
        return False
    if micros(run.runnable_at) > micros(now):
        return False  # due later: the workers' polls find it then
    return (
        run.lease_owner is None
        or run.lease_expires_at is None
        or micros(run.lease_expires_at) <= micros(now)
    )


class Listener:
    """A connection that listens on :data:`CHANNEL` for the notifications of one schema.

    :meth:`wait_slice` runs in a worker thread. :attr:`received` counts what may have
    made a run claimable: a notification of the schema, or a (re)opened connection, which
    may have missed some; :attr:`delivered` is the count the last wait that returned saw.
    A wait returns once :attr:`received` moved past :attr:`delivered`: every waiter of
    the store sees it move, whichever thread read the notification, and what the slice
    of a cancelled wait read goes to the next wait.
    """

    def __init__(
        self,
        conninfo: str,
        options: Mapping[str, Any],
        payload: str,
        *,
        unreachable: Callable[[BaseException], PersistenceError],
        failed: Callable[[BaseException, str], PersistenceError],
    ) -> None:
        self.payload = payload
        self.received = 0
        self.delivered = 0
        self.closed = False
        self._conninfo = conninfo
        self._options = dict(options)
        self._unreachable = unreachable
        self._failed = failed
        self._lock = threading.Lock()
        self._connection: Connection | None = None

    def wait_slice(self, seen: int) -> None:
        """Read the connection for up to :data:`SLICE_SECONDS` (unless *seen* is stale):
        count a notification of the schema; open the connection first if there is none."""
        if not self._lock.acquire(timeout=SLICE_SECONDS):
            return  # an abandoned slice still reads: it ends within its own slice
        try:
            if self.closed or self.received != seen:
                return
            if self._connection is None:
                self._connection = self._listen()
                self.received += 1  # not listening until now: a run may have been missed
                return
            if self._read(self._connection):
                self.received += 1
        finally:
            self._lock.release()

    def close(self) -> None:
        """Close the connection; every later slice returns at once."""
        with self._lock:
            self.closed = True
            self._drop()

    def _listen(self) -> Connection:
        try:
            connection = psycopg.connect(self._conninfo, **self._options)
        except psycopg.Error as error:
            raise self._unreachable(error) from error
        try:
            connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
        except psycopg.Error as error:
            connection.close()
            raise self._failed(error, "listen for runnable runs") from error
        return connection

    def _read(self, connection: Connection) -> bool:
        """Whether a notification of the schema came within the slice. A connection that
        fails is dropped, to be opened again by the next slice (which counts as one)."""
        try:
            notices = list(connection.notifies(timeout=SLICE_SECONDS, stop_after=1))
            polls = DRAIN_POLLS if notices else 0
            while polls and (more := list(connection.notifies(timeout=0))):
                notices += more
                polls -= 1
        except psycopg.Error:
            self._drop()
            return False
        if connection.broken or connection.closed:
            self._drop()
        return any(notice.payload == self.payload for notice in notices)

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except psycopg.Error:  # pragma: no cover - closing a lost connection
                pass
