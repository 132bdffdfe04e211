"""Claims of runnable runs: the queries behind :meth:`PostgresStore.claim_runs`.

Rows are claimed with ``FOR UPDATE SKIP LOCKED``: a run another worker is claiming right
now is passed over, and a run leased since this statement's snapshot is re-checked once
locked. A limited queue is claimed under a transaction-level advisory lock on its name
(taken in name order, so two claims never wait on each other in a circle): its live
leases and recent starts are counted, and its runs leased, by one claimer at a time, so
no interleaving of workers exceeds its limits. Queues without limits take no lock. The
selection itself (budgets, rounds) is :func:`floe.storage.fill_claims`, the same in every
store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from floe import Run, RunStatus
from floe.storage import ClaimRequest, QueueUsage, claim_budgets, fill_claims

from ._rows import micros

if TYPE_CHECKING:
    import psycopg

    Connection = psycopg.Connection[Any]

__all__ = ["claim_runs"]

_MICROS = 1_000_000
_FINISHED = [str(status) for status in RunStatus if status.finished]

# due, no child (its parent's replay executes it), no live lease, and the first
# unfinished run of its partition when it has a key
_CLAIMABLE = (
    "SELECT run_id, doc, last_seq FROM runs"
    " WHERE runnable_at IS NOT NULL AND runnable_at <= %(now)s AND parent_id IS NULL"
    " AND (lease_expires_at IS NULL OR lease_expires_at <= %(now)s)"
    " AND (partition_key IS NULL OR NOT EXISTS (SELECT 1 FROM runs AS earlier"
    " WHERE earlier.queue = runs.queue AND earlier.partition_key = runs.partition_key"
    " AND earlier.position < runs.position AND earlier.status <> ALL(%(finished)s)))"
)
_ORDER = " ORDER BY priority DESC, runnable_at, position LIMIT %(limit)s FOR UPDATE SKIP LOCKED"


def claim_runs(
    connection: Connection,
    claim: ClaimRequest,
    decode: Callable[[str, Any, int | None], Run],
    lease: Callable[[list[Run]], list[Run]],
) -> list[Run]:
    """Lease up to ``claim.limit`` claimable runs within the queues' limits."""
    if claim.claims_nothing:
        return []
    moment = micros(claim.now)
    for name in sorted(queue.name for queue in claim.limits):
        connection.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended("
            "'floe-postgres queue ' || current_schema() || ' ' || %s, 0))",
            (name,),
        )
    budgets = claim_budgets(claim.limits, _usage(connection, claim, moment))

    def fetch(exhausted: frozenset[str], count: int) -> list[Run]:
        query = _CLAIMABLE
        parameters: dict[str, Any] = {"now": moment, "limit": count, "finished": _FINISHED}
        if claim.queues is not None:
            query += " AND queue = ANY(%(queues)s)"
            parameters["queues"] = sorted(claim.queues)
        if exhausted:
            query += " AND queue <> ALL(%(exhausted)s)"
            parameters["exhausted"] = sorted(exhausted)
        rows = connection.execute(query + _ORDER, parameters).fetchall()
        # decoded before any is leased (errors come before writes)
        return [decode(run_id, doc, last_seq) for run_id, doc, last_seq in rows]

    return fill_claims(fetch, lease, budgets, claim.limit)


def _usage(connection: Connection, claim: ClaimRequest, moment: int) -> dict[str, QueueUsage]:
    usage: dict[str, QueueUsage] = {}
    for queue in claim.limits:
        row = connection.execute(
            "SELECT count(*), count(*) FILTER (WHERE lease_owner = %(owner)s) FROM runs"
            " WHERE queue = %(queue)s AND lease_expires_at > %(now)s AND parent_id IS NULL",
            {"queue": queue.name, "owner": claim.owner, "now": moment},
        ).fetchone()
        running, here = row if row is not None else (0, 0)
        started = 0
        if queue.rate_period is not None:
            since = moment - round(queue.rate_period * _MICROS)
            counted = connection.execute(
                "SELECT count(*) FROM runs WHERE queue = %s AND claimed_at > %s"
                " AND parent_id IS NULL",
                (queue.name, since),
            ).fetchone()
            started = counted[0] if counted is not None else 0
        usage[queue.name] = QueueUsage(running, here, started)
    return usage
