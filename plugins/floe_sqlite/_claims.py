"""Claims of runnable runs: the queries behind :meth:`SQLiteStore.claim_runs`.

A claim runs in one writer transaction (``BEGIN IMMEDIATE``), so that the counts of a
limited queue and the leases it hands out are one step for every process sharing the
file. The selection itself (budgets, rounds) is :func:`floe.storage.fill_claims`, the
same in every store.

:class:`RunnableWatch` is what an idle worker waits on instead of its poll interval:
every :data:`WATCH_SECONDS` it reads the file's ``PRAGMA data_version`` (which SQLite
moves at every commit of another connection, in any process: a read of the shared
memory of the write-ahead log, no I/O), and when that moved, it reads the runs
claimable now (their count and newest position, in the writer thread): a worker is woken
when that changed, so a run submitted by another process starts within milliseconds,
and the commits of busy runs (their steps, their heartbeats) wake nobody.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, Final

import anyio

from floe import PersistenceError, Run, RunStatus
from floe.storage import ClaimRequest, QueueUsage, claim_budgets, fill_claims

__all__ = ["WATCH_SECONDS", "RunnableWatch", "claim_runs"]

WATCH_SECONDS: Final = 0.005
"""How often an idle worker's wait reads whether the file changed."""

_MICROS = 1_000_000
_FINISHED = [str(status) for status in RunStatus if status.finished]

# due, no child (its parent's replay executes it), no live lease, and the first
# unfinished run of its partition when it has a key
_CLAIMABLE = (
    "SELECT run_id, doc, (SELECT max(seq) FROM events WHERE events.run_id = runs.run_id)"
    " FROM runs WHERE runnable_at IS NOT NULL AND runnable_at <= :now AND parent_id IS NULL"
    " AND (lease_expires_at IS NULL OR lease_expires_at <= :now)"
    " AND (partition_key IS NULL OR NOT EXISTS (SELECT 1 FROM runs AS earlier"
    " WHERE earlier.queue = runs.queue AND earlier.partition_key = runs.partition_key"
    " AND earlier.position < runs.position"
    f" AND earlier.status NOT IN ({', '.join(repr(status) for status in _FINISHED)})))"
)
_ORDER = " ORDER BY priority DESC, runnable_at, position LIMIT :limit"


def claim_runs(
    connection: sqlite3.Connection,
    claim: ClaimRequest,
    moment: int,
    decode: Callable[[str, Any, int | None], Run],
    lease: Callable[[list[Run]], list[Run]],
) -> list[Run]:
    """Lease up to ``claim.limit`` claimable runs within the queues' limits; *moment* is
    ``claim.now`` in microseconds since the epoch, as the table keeps times."""
    if claim.claims_nothing:
        return []
    budgets = claim_budgets(claim.limits, _usage(connection, claim, moment))

    def fetch(exhausted: frozenset[str], count: int) -> list[Run]:
        query, parameters = _CLAIMABLE, {"now": moment, "limit": count}
        if claim.queues is not None:
            query += f" AND queue IN ({_marks('q', claim.queues, parameters)})"
        if exhausted:
            query += f" AND queue NOT IN ({_marks('x', exhausted, parameters)})"
        rows = connection.execute(query + _ORDER, parameters).fetchall()
        # decoded before any is leased (errors come before writes)
        return [decode(run_id, doc, last_seq) for run_id, doc, last_seq in rows]

    return fill_claims(fetch, lease, budgets, claim.limit)


def _usage(
    connection: sqlite3.Connection, claim: ClaimRequest, moment: int
) -> dict[str, QueueUsage]:
    usage: dict[str, QueueUsage] = {}
    for queue in claim.limits:
        running, here = connection.execute(
            "SELECT count(*), coalesce(sum(lease_owner = :owner), 0) FROM runs"
            " WHERE queue = :queue AND lease_expires_at > :now AND parent_id IS NULL",
            {"queue": queue.name, "owner": claim.owner, "now": moment},
        ).fetchone()
        started = 0
        if queue.rate_period is not None:
            since = moment - round(queue.rate_period * _MICROS)
            (started,) = connection.execute(
                "SELECT count(*) FROM runs WHERE queue = ? AND claimed_at > ?"
                " AND parent_id IS NULL",
                (queue.name, since),
            ).fetchone()
        usage[queue.name] = QueueUsage(running, here, started)
    return usage


def _marks(prefix: str, names: frozenset[str], parameters: dict[str, Any]) -> str:
    """Named placeholders for *names*, added to *parameters*."""
    marks = []
    for index, name in enumerate(sorted(names)):
        parameters[f"{prefix}{index}"] = name
        marks.append(f":{prefix}{index}")
    return ", ".join(marks)


# the runs a claim could take now, leaving queues and partitions aside (a superset: a
# wait may end early, the worker then claims nothing and waits again)
_DUE = (
    "SELECT count(*), coalesce(max(position), 0) FROM runs"
    " WHERE runnable_at IS NOT NULL AND runnable_at <= ? AND parent_id IS NULL"
    " AND (lease_expires_at IS NULL OR lease_expires_at <= ?)"
)


def due_runs(connection: sqlite3.Connection, moment: int) -> tuple[int, int]:
    """The count and the newest position of the runs claimable at *moment*."""
    count, newest = connection.execute(_DUE, (moment, moment)).fetchone()
    return int(count), int(newest)


class RunnableWatch:
    """Wakes an idle worker when the runs claimable on the file changed (see the module).

    One per store: what it saw last is the store's, so one waiter at a time gets every
    change (a second one, on the same store object, may learn it from its poll only).
    """

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        due: Callable[[], Awaitable[tuple[int, int]]],
    ) -> None:
        self._connect = connect
        self._due = due
        self._connection: sqlite3.Connection | None = None
        self._version: int | None = None
        self._seen: tuple[int, int] | None = None

    async def wait(self) -> None:
        """Return when the claimable runs changed since the last wait returned (the first
        wait: when any is claimable)."""
        if self._connection is None:
            self._connection = self._connect()
        while True:
            version = self._data_version()
            if version != self._version:
                self._version = version
                due = await self._due()
                changed, self._seen = due != self._seen, due
                if changed and due[0]:
                    return
            await anyio.sleep(WATCH_SECONDS)

    def _data_version(self) -> int:
        connection = self._connection
        if connection is None:
            raise PersistenceError(
                "The SQLite store closed while a worker waited on it",
                fix="Stop the workers before closing their store.",
            )
        try:
            (version,) = connection.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error as error:
            raise PersistenceError(
                f"SQLite could not tell whether the file changed: {error}",
                fix="Check the file and its directory; the worker polls meanwhile.",
            ) from error
        return int(version)

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
