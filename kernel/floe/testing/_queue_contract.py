"""Contract tests of queues in claims: priorities, partitions and the queues' limits.

Part of :class:`StoreContract`; each test needs a store with leases. Every test works in
queues of its own (a fresh name per test or example), so that the runs of others do not
count.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import anyio
import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..kernel._errors import ConfigError
from ..kernel._models import Run, RunStatus, utcnow
from ..kernel._queues import Queue
from ..kernel._store import Store

__all__ = ["QueueContract"]

_LEASE = 60.0


def _queue(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


async def _submit(
    store: Store, queue: str, at: datetime, count: int = 1, **fields: Any
) -> list[str]:
    ids = []
    for _ in range(count):
        run_id = f"{queue}-{uuid.uuid4().hex[:8]}"
        await store.create_run(Run(run_id=run_id, name="w", queue=queue, runnable_at=at, **fields))
        ids.append(run_id)
    return ids


async def _finish(store: Store, run_id: str) -> None:
    run = await store.get_run(run_id)
    assert run is not None
    finished = attrs.evolve(
        run, status=RunStatus.COMPLETED, runnable_at=None, lease_owner=None, lease_expires_at=None
    )
    await store.update_run(finished)


def _needs_leases(store: Store) -> None:
    if not store.supports_leases:
        pytest.skip(f"{type(store).__name__} does not support leases")


class QueueContract:
    """The queue tests of :class:`StoreContract` (a mixin; it has the ``store`` fixture)."""

    async def test_claims_go_by_priority_then_due_then_submission(self, store: Store) -> None:
        _needs_leases(store)
        queue, now = _queue("order"), utcnow()
        earlier = now - timedelta(seconds=10)
        low = await _submit(store, queue, earlier, priority=-1)
        first, second = await _submit(store, queue, now, 2)
        old = await _submit(store, queue, earlier)
        urgent = await _submit(store, queue, now, priority=5)
        claimed = await store.claim_runs("w", limit=10, now=now, queues=[queue])
        assert [run.run_id for run in claimed] == [*urgent, *old, first, second, *low]
        assert {run.claimed_at for run in claimed} == {now}
        assert {(run.queue, run.lease_owner) for run in claimed} == {(queue, "w")}

    async def test_claims_take_only_the_queues_named(self, store: Store) -> None:
        _needs_leases(store)
        mine, other, now = _queue("mine"), _queue("other"), utcnow()
        wanted = await _submit(store, mine, now, 2)
        await _submit(store, other, now)
        assert await store.claim_runs("w", limit=5, now=now, queues=[]) == []
        claimed = await store.claim_runs("w", limit=5, now=now, queues=[mine])
        assert [run.run_id for run in claimed] == wanted
        assert await store.claim_runs("w", limit=5, now=now, queues=[mine]) == []

    @pytest.mark.parametrize(
        "arguments",
        [{"queues": "emails"}, {"queues": ["bad name"]}, {"queue_limits": [("q", 1)]}],
        ids=["a-string", "a-bad-name", "not-a-queue"],
    )
    async def test_bad_claim_queues_are_a_config_error(
        self, store: Store, arguments: dict[str, Any]
    ) -> None:
        _needs_leases(store)
        queue, now = _queue("kept"), utcnow()
        kept = await _submit(store, queue, now)
        with pytest.raises(ConfigError):
            await store.claim_runs("w", now=now, **arguments)
        # nothing was claimed by the refused call
        claimed = await store.claim_runs("w", now=now, queues=[queue])
        assert [run.run_id for run in claimed] == kept

    async def test_a_partition_runs_one_at_a_time_in_order(self, store: Store) -> None:
        _needs_leases(store)
        queue, now = _queue("parts"), utcnow()
        first, second = await _submit(store, queue, now, 2, partition_key="customer-1")
        # a later, more urgent run of the partition still waits for the ones before it
        third = (await _submit(store, queue, now, priority=9, partition_key="customer-1"))[0]
        other = await _submit(store, queue, now, partition_key="customer-2")
        loose = await _submit(store, queue, now)
        claimed = await store.claim_runs("w", limit=10, now=now, queues=[queue])
        assert sorted(run.run_id for run in claimed) == sorted([first, *other, *loose])
        assert await store.claim_runs("w2", limit=10, now=now, queues=[queue]) == []
        # an expired lease is no finish: the same run is claimed again, not the next
        later = now + timedelta(seconds=2 * _LEASE)
        again = await store.claim_runs("w2", limit=10, now=later, queues=[queue])
        assert first in {run.run_id for run in again}
        assert second not in {run.run_id for run in again}
        await _finish(store, first)
        claimed = await store.claim_runs("w3", limit=10, now=later, queues=[queue])
        assert [run.run_id for run in claimed] == [second]
        await _finish(store, second)
        claimed = await store.claim_runs("w3", limit=10, now=later, queues=[queue])
        assert [run.run_id for run in claimed] == [third]

    async def test_queue_concurrency_holds_across_workers_and_per_worker(
        self, store: Store
    ) -> None:
        _needs_leases(store)
        queue, now = _queue("limited"), utcnow()
        limits = [Queue(queue, concurrency=3, worker_concurrency=2)]
        runs = await _submit(store, queue, now, 6)

        async def claim(owner: str, limit: int = 10) -> list[str]:
            found = await store.claim_runs(
                owner, limit=limit, now=now, queues=[queue], queue_limits=limits
            )
            return [run.run_id for run in found]

        assert await claim("w1") == runs[:2]  # its worker limit
        assert await claim("w1") == []
        assert await claim("w2") == runs[2:3]  # the queue's limit
        assert await claim("w3") == []
        await _finish(store, runs[0])
        assert await claim("w3") == runs[3:4]
        # a queue with no limits given is claimed without any
        assert len(await store.claim_runs("w4", limit=10, now=now, queues=[queue])) == 2

    async def test_rate_limit_counts_first_claims_in_the_period(self, store: Store) -> None:
        _needs_leases(store)
        queue, now = _queue("rated"), utcnow()
        limits = [Queue(queue, rate_limit=2, rate_period=60)]
        runs = await _submit(store, queue, now, 4)

        async def claim(at: datetime) -> list[Run]:
            return await store.claim_runs(
                "w", limit=10, now=at, lease_seconds=1, queues=[queue], queue_limits=limits
            )

        assert [run.run_id for run in await claim(now)] == runs[:2]
        for run_id in runs[:2]:
            await _finish(store, run_id)
        assert await claim(now + timedelta(seconds=30)) == []
        later = await claim(now + timedelta(seconds=61))
        assert [run.run_id for run in later] == runs[2:]
        # a run claimed again after its lease ran out keeps its first claim's time
        again = await claim(now + timedelta(seconds=200))
        assert [(run.run_id, run.claimed_at) for run in again] == [
            (run.run_id, run.claimed_at) for run in later
        ]

    async def test_concurrent_claimers_never_exceed_a_queue_concurrency(self, store: Store) -> None:
        _needs_leases(store)
        queue, now = _queue("race"), utcnow()
        limits = [Queue(queue, concurrency=3)]
        await _submit(store, queue, now, 12)
        claimed: list[Run] = []

        async def claim(owner: str) -> None:
            claimed.extend(
                await store.claim_runs(owner, limit=2, now=now, queues=[queue], queue_limits=limits)
            )

        async with anyio.create_task_group() as group:
            for index in range(8):
                group.start_soon(claim, f"w{index}")
        assert len(claimed) == 3
        assert len({run.run_id for run in claimed}) == 3

    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        runs=st.lists(
            st.tuples(
                st.sampled_from(["a", "b"]),
                st.integers(-2, 2),
                st.sampled_from([None, "p", "q"]),
            ),
            min_size=1,
            max_size=12,
        ),
        concurrency=st.none() | st.integers(1, 3),
        worker_concurrency=st.none() | st.integers(1, 2),
        rate_limit=st.none() | st.integers(1, 3),
        actions=st.lists(
            st.tuples(st.sampled_from(["claim", "finish", "expire"]), st.integers(0, 3)),
            max_size=12,
        ),
    )
    async def test_claims_keep_every_limit_whatever_the_order(
        self,
        store: Store,
        runs: list[tuple[str, int, str | None]],
        concurrency: int | None,
        worker_concurrency: int | None,
        rate_limit: int | None,
        actions: list[tuple[str, int]],
    ) -> None:
        _needs_leases(store)
        names = {label: _queue(label) for label in "ab"}
        limits = [
            Queue(names["a"], concurrency=concurrency, worker_concurrency=worker_concurrency),
            Queue(
                names["b"], rate_limit=rate_limit, rate_period=None if rate_limit is None else 3600
            ),
        ]
        clock = utcnow()
        order: list[str] = []
        for label, priority, key in runs:
            order += await _submit(store, names[label], clock, priority=priority, partition_key=key)
        for action, number in actions:
            if action == "claim":
                claimed = await store.claim_runs(
                    f"w{number % 2}",
                    limit=number + 1,
                    lease_seconds=_LEASE,
                    now=clock,
                    queues=list(names.values()),
                    queue_limits=limits,
                )
                ranks = [(-run.priority, order.index(run.run_id)) for run in claimed]
                assert ranks == sorted(ranks)
            elif action == "finish":
                held = [run for run in await self._stored(store, order) if run.lease_owner]
                if held:
                    await _finish(store, held[number % len(held)].run_id)
            else:
                clock += timedelta(seconds=_LEASE + 1)
            await self._check_limits(store, order, limits, clock)

    async def _stored(self, store: Store, order: list[str]) -> list[Run]:
        found = [await store.get_run(run_id) for run_id in order]
        return [run for run in found if run is not None]

    async def _check_limits(
        self, store: Store, order: list[str], limits: list[Queue], now: datetime
    ) -> None:
        stored = await self._stored(store, order)
        live = [run for run in stored if run.lease_expires_at and run.lease_expires_at > now]
        for queue in limits:
            mine = [run for run in live if run.queue == queue.name]
            if queue.concurrency is not None:
                assert len(mine) <= queue.concurrency
            if queue.worker_concurrency is not None:
                for owner in {run.lease_owner for run in mine}:
                    held = [run for run in mine if run.lease_owner == owner]
                    assert len(held) <= queue.worker_concurrency
            if queue.rate_limit is not None:
                started = [run for run in stored if run.queue == queue.name and run.claimed_at]
                assert len(started) <= queue.rate_limit  # one window: the test is short
        # a partition's live run is its first unfinished one
        for run in live:
            if run.partition_key is None:
                continue
            first = next(
                other
                for other in stored
                if (other.queue, other.partition_key) == (run.queue, run.partition_key)
                and other.status is not RunStatus.COMPLETED
            )
            assert first.run_id == run.run_id
