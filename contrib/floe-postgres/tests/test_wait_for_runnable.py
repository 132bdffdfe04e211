"""wait_for_runnable: LISTEN/NOTIFY wakes idle workers when a run becomes claimable.

Every test uses a real PostgreSQL server, in a schema of its own; a second store (a
second pool) plays the other process. The bounds on time are generous: they tell a
notification (milliseconds) from a poll or a hang, they measure nothing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import anyio
import attrs
import psycopg
import pytest
from floe_postgres import PostgresStore
from psycopg import sql

import floe
from floe import Event, Run, Store
from floe.storage import utcnow
from floe.testing import open_store

pytestmark = pytest.mark.anyio

SOON = 2.0
"""Seconds within which a notified wait returns (it takes milliseconds)."""
QUIET = 0.5
"""Seconds a wait is given to show that it does not return."""


async def _primed(store: Store) -> None:
    """Start *store* listening (the first wait returns at once) and take in what came."""
    with anyio.fail_after(SOON):
        await store.wait_for_runnable()
    with anyio.move_on_after(0.1):
        await store.wait_for_runnable()


async def _stays_quiet(store: Store) -> bool:
    with anyio.move_on_after(QUIET) as scope:
        await store.wait_for_runnable()
    return scope.cancelled_caught


async def _seconds_to_wake(store: Store, change: Callable[[], Awaitable[Any]]) -> float:
    """How long a wait of *store* takes to return once *change* committed (within SOON)."""
    woken = anyio.Event()
    returned_at = 0.0

    async def wait() -> None:
        nonlocal returned_at
        await store.wait_for_runnable()
        returned_at = time.monotonic()
        woken.set()

    async with anyio.create_task_group() as group:
        group.start_soon(wait)
        await anyio.sleep(0.1)  # the wait is reading
        assert not woken.is_set()
        await change()
        changed_at = time.monotonic()
        with anyio.fail_after(SOON):
            await woken.wait()
    return returned_at - changed_at


def _leased(run_id: str) -> Run:
    now = utcnow()
    return Run(
        run_id=run_id,
        name="w",
        runnable_at=now,
        lease_owner="other",
        lease_expires_at=now + timedelta(minutes=5),
    )


async def test_the_first_wait_starts_listening_and_returns_at_once(postgres_url: str) -> None:
    async with open_store(postgres_url) as store:
        with anyio.fail_after(SOON):
            await store.wait_for_runnable()  # a run may have come before it listened
        assert await _stays_quiet(store)


async def _submit(other: Store) -> None:
    await other.create_run(Run(run_id="r-1", name="w", runnable_at=utcnow()))


async def _release(other: Store) -> None:
    await other.release_lease("r-1", "other")


async def _update_unleased(other: Store) -> None:
    run = await other.get_run("r-1")
    assert run is not None
    await other.update_run(attrs.evolve(run, lease_owner=None, lease_expires_at=None))


async def _append_unleased(other: Store) -> None:
    run = await other.get_run("r-1")
    assert run is not None
    given_up = attrs.evolve(run, lease_owner=None, lease_expires_at=None, last_seq=1)
    event = Event(run_id="r-1", seq=1, kind="task.completed", step="s#1", data={})
    await other.append_events("r-1", [event], run=given_up)


@pytest.mark.parametrize(
    "change",
    [_submit, _release, _update_unleased, _append_unleased],
    ids=["submitted", "released", "updated-without-lease", "appended-without-lease"],
)
async def test_a_wait_returns_soon_after_another_store_makes_a_run_claimable(
    postgres_url: str, change: Callable[[Store], Awaitable[None]]
) -> None:
    async with open_store(postgres_url) as store, open_store(postgres_url) as other:
        if change is not _submit:
            await other.create_run(_leased("r-1"))  # leased: no notification
        await _primed(store)
        assert await _stays_quiet(store)
        seconds = await _seconds_to_wake(store, lambda: change(other))
        assert seconds < SOON
        assert [run.run_id for run in await store.claim_runs("me")] == ["r-1"]


async def test_one_notification_wakes_every_wait_of_the_store(postgres_url: str) -> None:
    async with open_store(postgres_url) as store, open_store(postgres_url) as other:
        await _primed(store)
        woken: list[int] = []

        async def wait(index: int) -> None:
            await store.wait_for_runnable()
            woken.append(index)

        with anyio.fail_after(SOON):
            async with anyio.create_task_group() as group:  # ends when every wait returned
                for index in range(3):
                    group.start_soon(wait, index)
                await anyio.sleep(0.1)
                assert woken == []
                await _submit(other)
        assert sorted(woken) == [0, 1, 2]


async def test_writes_that_leave_no_run_claimable_wake_nobody(postgres_url: str) -> None:
    now = utcnow()
    async with open_store(postgres_url) as store, open_store(postgres_url) as other:
        await _primed(store)
        later = Run(run_id="later", name="w", runnable_at=now + timedelta(hours=1))
        done = Run(run_id="done", name="w", status=floe.RunStatus.COMPLETED)
        child = Run(run_id="child", name="w", parent_id="done", runnable_at=now)

        async def quiet_writes() -> None:
            for run in (later, done, child, _leased("leased")):
                await other.create_run(run)
            await other.renew_lease("leased", "other")
            await other.update_run(attrs.evolve(_leased("leased"), metadata={"n": 1}))
            await other.release_lease("leased", "nobody")  # not its owner: nothing changes

        async with anyio.create_task_group() as group:
            group.start_soon(quiet_writes)
            assert await _stays_quiet(store)


async def test_another_schemas_runs_wake_nobody(
    postgres_url: str, postgres_base_url: str, postgres_schema: str
) -> None:
    elsewhere = f"{postgres_schema}_b"
    try:
        async with (
            open_store(postgres_url) as store,
            open_store(f"{postgres_base_url}?schema={elsewhere}") as other,
        ):
            await _primed(store)
            async with anyio.create_task_group() as group:
                group.start_soon(_submit, other)
                assert await _stays_quiet(store)
    finally:
        with psycopg.connect(postgres_base_url, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(elsewhere))
            )


async def test_a_cancelled_wait_stops_at_once_and_the_next_one_is_woken(
    postgres_url: str,
) -> None:
    async with open_store(postgres_url) as store, open_store(postgres_url) as other:
        await _primed(store)
        for _ in range(3):
            started = time.monotonic()
            with anyio.move_on_after(0.05):
                await store.wait_for_runnable()
            assert time.monotonic() - started < 0.5
        assert await _seconds_to_wake(store, lambda: _submit(other)) < SOON


async def test_what_a_cancelled_wait_read_goes_to_the_next_wait(postgres_url: str) -> None:
    async with open_store(postgres_url) as store, open_store(postgres_url) as other:
        await _primed(store)
        with anyio.move_on_after(0.05):  # its slice reads on for a moment, abandoned
            await store.wait_for_runnable()
        await _submit(other)  # read by that slice, most likely
        await anyio.sleep(0.3)  # the slice has ended
        with anyio.fail_after(SOON):
            await store.wait_for_runnable()
        assert await _stays_quiet(store)


async def test_a_lost_listening_connection_is_opened_again(
    postgres_url: str, postgres_base_url: str, postgres_schema: str
) -> None:
    async with open_store(postgres_url) as store, open_store(postgres_url) as other:
        await _primed(store)

        async def terminate() -> None:
            with psycopg.connect(postgres_base_url, autocommit=True) as connection:
                connection.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = %s AND query LIKE 'LISTEN%%'",
                    (f"floe ({postgres_schema})",),
                )

        # the wait returns: a notification may have been missed while it was gone
        assert await _seconds_to_wake(store, terminate) < SOON
        assert await _stays_quiet(store)
        assert await _seconds_to_wake(store, lambda: _submit(other)) < SOON


async def test_close_ends_the_listening_connection(
    postgres_url: str, postgres_base_url: str, postgres_schema: str
) -> None:
    store = open_store(postgres_url)
    assert isinstance(store, PostgresStore)
    async with store:
        await _primed(store)
    with psycopg.connect(postgres_base_url, autocommit=True) as connection:
        for _ in range(100):  # a server process ends a moment after its client left
            row = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                (f"floe ({postgres_schema})",),
            ).fetchone()
            if row == (0,):
                break
            await anyio.sleep(0.02)
    assert row == (0,)
    with pytest.raises(floe.PersistenceError, match="not open"):
        await store.wait_for_runnable()


_started: list[str] = []


@floe.task
async def _mark(name: str) -> str:
    _started.append(name)
    return name.upper()


@floe.workflow
async def _marked(name: str) -> str:
    marked: str = await _mark(name)
    return marked


async def test_an_idle_worker_starts_a_submitted_run_long_before_its_next_poll(
    floe_kernel_factory: Callable[..., floe.Kernel], postgres_url: str
) -> None:
    _started.clear()
    async with floe_kernel_factory(store=postgres_url) as serving:
        worker = floe.Worker(serving, poll_seconds=30)  # a poll would come in 30 s
        async with anyio.create_task_group() as group:
            await group.start(worker.serve)
            await anyio.sleep(0.3)  # idle: listening
            async with floe_kernel_factory(store=postgres_url) as submitting:
                with anyio.fail_after(5):
                    results: list[Any] = []
                    for name in ("n1", "n2"):  # one after the other
                        handle = await _marked.submit_async(name)
                        results.append(await handle.result_async())
            # a drain that comes while the worker claims is seen at its next poll only:
            # it is given time to go idle first, and the serve is stopped anyway after 5 s
            await anyio.sleep(0.3)
            worker.drain()
            group.cancel_scope.deadline = anyio.current_time() + 5
    assert results == ["N1", "N2"]
    assert _started == ["n1", "n2"]
    assert worker.executed == 2
    assert submitting is not serving
