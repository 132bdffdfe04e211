"""The in-memory store (``memory://``): the kernel's own, for tests and ephemeral runs."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import ClassVar

import anyio
import attrs

from ._errors import PersistenceError
from ._models import CacheEntry, Event, Run, RunQuery, RunStatus, Snapshot, utcnow
from ._queues import (
    Queue,
    claim_budgets,
    claimable_now,
    partition_heads,
    pick_claims,
    queue_usage,
)
from ._store import (
    Store,
    after_cursor,
    check_append,
    check_keep_last,
    check_limit,
    check_namespace,
    check_run_id_prefix,
    check_value,
    check_value_key,
    claim_request,
    lease_held,
    lease_live,
    no_such_run,
)

__all__ = ["MemoryStore"]


class MemoryStore(Store):
    """Everything in dicts; gone when the process ends. Leases work within the process."""

    supports_leases: ClassVar[bool] = True

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._runs: dict[str, Run] = {}
        self._order: dict[str, int] = {}
        self._journals: dict[str, list[Event]] = {}
        self._cache: dict[str, CacheEntry] = {}
        self._snapshots: dict[str, list[Snapshot]] = {}
        self._values: dict[str, dict[str, bytes]] = {}
        self._ids = itertools.count(1)

    async def create_run(self, run: Run) -> None:
        await anyio.lowlevel.checkpoint()
        if run.run_id in self._runs:
            raise PersistenceError(
                f"Run {run.run_id!r} already exists in {self.url}",
                fix="Use a new run id, or load the existing run with get_run().",
                context={"run_id": run.run_id},
            )
        self._runs[run.run_id] = attrs.evolve(run, last_seq=0)
        self._order[run.run_id] = next(self._ids)
        self._journals[run.run_id] = []

    async def get_run(self, run_id: str) -> Run | None:
        await anyio.lowlevel.checkpoint()
        run = self._runs.get(run_id)
        return None if run is None else self._with_last_seq(run)

    def _with_last_seq(self, run: Run) -> Run:
        # last_seq is the journal's length (appends are contiguous from 1); the record
        # is brought up to date when read, so that appending stays a list extend
        last_seq = len(self._journals[run.run_id])
        if run.last_seq != last_seq:
            run = attrs.evolve(run, last_seq=last_seq)
            self._runs[run.run_id] = run
        return run

    async def update_run(self, run: Run) -> None:
        await anyio.lowlevel.checkpoint()
        self._replace(run)

    def _replace(self, run: Run) -> None:
        current = self._runs.get(run.run_id)
        if current is None:
            raise no_such_run(run.run_id, self.url)
        self._runs[run.run_id] = attrs.evolve(run, last_seq=len(self._journals[run.run_id]))

    async def append_events(
        self, run_id: str, events: Sequence[Event], *, run: Run | None = None
    ) -> None:
        await anyio.lowlevel.checkpoint()
        self.append_events_nowait(run_id, events, run=run)

    def append_events_nowait(
        self, run_id: str, events: Sequence[Event], *, run: Run | None = None
    ) -> bool:
        journal = self._journals.get(run_id)
        last_seq = None if journal is None else len(journal)
        check_append(run_id, events, last_seq, where=self.url, run=run)
        assert journal is not None  # check_append raises for an unknown run
        if run is not None:
            self._replace(run)
        journal.extend(events)
        return True

    async def read_events(
        self, run_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        await anyio.lowlevel.checkpoint()
        journal = self._journals.get(run_id, [])
        selected = journal[max(after_seq, 0) :]
        return selected if limit is None else selected[: check_limit(limit)]

    async def list_runs(self, query: RunQuery = RunQuery()) -> list[Run]:
        await anyio.lowlevel.checkpoint()
        # every run is sorted, not only the matching ones: the cursor need not match
        ordered = sorted(
            self._runs.values(),
            key=lambda run: (run.created_at, self._order[run.run_id]),  # _order is unique
            reverse=True,
        )
        runs = [
            self._with_last_seq(run)
            for run in after_cursor(ordered, query.after, lambda run: run.run_id, where=self.url)
            if (query.status is None or run.status == query.status)
            and (query.name is None or run.name == query.name)
            and (query.kind is None or run.kind == query.kind)
            and (query.parent_id is None or run.parent_id == query.parent_id)
        ]
        return runs[query.offset : query.offset + query.limit]

    async def count_runs(self) -> dict[tuple[RunStatus, str], int]:
        await anyio.lowlevel.checkpoint()
        return dict(Counter((run.status, run.queue) for run in self._runs.values()))

    async def find_run_ids(self, prefix: str, *, limit: int = 10) -> list[str]:
        check_run_id_prefix(prefix)
        check_limit(limit)
        await anyio.lowlevel.checkpoint()
        return sorted(run_id for run_id in self._runs if run_id.startswith(prefix))[:limit]

    async def get_cached(self, key: str) -> CacheEntry | None:
        await anyio.lowlevel.checkpoint()
        entry = self._cache.get(key)
        return None if entry is None or entry.expired() else entry

    async def put_cached(self, entry: CacheEntry) -> None:
        await anyio.lowlevel.checkpoint()
        self._cache[entry.key] = entry

    async def save_snapshot(self, snapshot: Snapshot) -> int:
        await anyio.lowlevel.checkpoint()
        snapshot_id = next(self._ids)
        self._snapshots.setdefault(snapshot.component, []).append(
            attrs.evolve(snapshot, snapshot_id=snapshot_id)
        )
        return snapshot_id

    def _newest_first(self, component: str) -> list[Snapshot]:
        return sorted(
            self._snapshots.get(component, []),
            key=lambda s: (s.created_at, s.snapshot_id),
            reverse=True,
        )

    async def latest_snapshot(self, component: str) -> Snapshot | None:
        await anyio.lowlevel.checkpoint()
        newest = self._newest_first(component)
        return newest[0] if newest else None

    async def list_snapshots(self, component: str, *, limit: int = 10) -> list[Snapshot]:
        await anyio.lowlevel.checkpoint()
        return self._newest_first(component)[: check_limit(limit)]

    async def prune_snapshots(self, component: str, *, keep_last: int = 10) -> int:
        check_keep_last(keep_last)
        await anyio.lowlevel.checkpoint()
        newest = self._newest_first(component)
        kept, dropped = newest[:keep_last], newest[keep_last:]
        if kept:
            self._snapshots[component] = sorted(kept, key=lambda s: s.snapshot_id or 0)
        else:
            self._snapshots.pop(component, None)
        return len(dropped)

    async def get_value(self, namespace: str, key: str) -> bytes | None:
        check_value_key(namespace, key)
        await anyio.lowlevel.checkpoint()
        return self._values.get(namespace, {}).get(key)

    async def put_value(self, namespace: str, key: str, value: bytes) -> None:
        check_value_key(namespace, key)
        check_value(namespace, key, value)
        await anyio.lowlevel.checkpoint()
        self._values.setdefault(namespace, {})[key] = value

    async def delete_value(self, namespace: str, key: str) -> bool:
        check_value_key(namespace, key)
        await anyio.lowlevel.checkpoint()
        values = self._values.get(namespace, {})
        return values.pop(key, None) is not None

    async def list_keys(self, namespace: str) -> list[str]:
        check_namespace(namespace)
        await anyio.lowlevel.checkpoint()
        return sorted(self._values.get(namespace, {}))

    async def claim_runs(
        self,
        owner: str,
        *,
        limit: int = 1,
        lease_seconds: float = 30.0,
        now: datetime | None = None,
        queues: Collection[str] | None = None,
        queue_limits: Sequence[Queue] = (),
    ) -> list[Run]:
        claim = claim_request(owner, limit, lease_seconds, now, queues, queue_limits)
        await anyio.lowlevel.checkpoint()
        runs = list(self._runs.values())  # in submission order
        usage = queue_usage(runs, claim.limits, owner, claim.now)
        budgets = claim_budgets(claim.limits, usage)
        heads = partition_heads(runs)
        candidates = sorted(
            (
                run
                for run in runs
                if run.run_id in heads and claimable_now(run, claim.now, claim.queues)
            ),
            key=lambda run: (-run.priority, run.runnable_at, self._order[run.run_id]),
        )
        claimed = []
        for run in pick_claims(candidates, budgets, claim.limit):
            leased = claim.lease(self._with_last_seq(run))
            self._runs[run.run_id] = leased
            claimed.append(leased)
        return claimed

    async def acquire_lease(
        self,
        run_id: str,
        owner: str,
        *,
        lease_seconds: float = 30.0,
        now: datetime | None = None,
    ) -> Run:
        await anyio.lowlevel.checkpoint()
        run = self._runs.get(run_id)
        if run is None:
            raise no_such_run(run_id, self.url)
        now = now or utcnow()
        if lease_live(run, owner, now):
            raise lease_held(run, self.url)
        leased = attrs.evolve(
            self._with_last_seq(run),
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
        )
        self._runs[run_id] = leased
        return leased

    async def renew_lease(self, run_id: str, owner: str, *, lease_seconds: float = 30.0) -> bool:
        await anyio.lowlevel.checkpoint()
        run = self._runs.get(run_id)
        now = utcnow()
        if (
            run is None
            or run.lease_owner != owner
            or (run.lease_expires_at is not None and run.lease_expires_at <= now)
        ):
            return False
        self._runs[run_id] = attrs.evolve(
            run, lease_expires_at=now + timedelta(seconds=lease_seconds)
        )
        return True

    async def release_lease(self, run_id: str, owner: str) -> None:
        await anyio.lowlevel.checkpoint()
        run = self._runs.get(run_id)
        if run is not None and run.lease_owner == owner:
            self._runs[run_id] = attrs.evolve(run, lease_owner=None, lease_expires_at=None)
