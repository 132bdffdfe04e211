"""An idle worker on SQLite is woken when a run becomes claimable on the file, by any
connection (any process): ``SQLiteStore.wait_for_runnable``.

Two store objects on one file are two processes as far as SQLite goes: each has its own
connections, and a commit of one moves the other's ``data_version``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

import floe
from floe.storage import utcnow
from floe_sqlite import SQLiteStore

pytestmark = pytest.mark.anyio


def submitted(run_id: str) -> floe.Run:
    return floe.Run(run_id=run_id, name="w", runnable_at=utcnow())


async def test_a_wait_ends_when_another_connection_makes_a_run_claimable(tmp_path: Path) -> None:
    path = tmp_path / "floe.db"
    async with SQLiteStore(path) as waiting, SQLiteStore(path) as other:
        with anyio.move_on_after(0.2) as nothing_yet:
            await waiting.wait_for_runnable()
        assert nothing_yet.cancelled_caught  # no claimable run at all: it waits
        await other.create_run(submitted("r-1"))
        with anyio.fail_after(5):
            await waiting.wait_for_runnable()


async def test_commits_that_change_no_claimable_run_wake_nobody(tmp_path: Path) -> None:
    path = tmp_path / "floe.db"
    async with SQLiteStore(path) as waiting, SQLiteStore(path) as other:
        await other.create_run(submitted("r-1"))
        with anyio.fail_after(5):
            await waiting.wait_for_runnable()  # the first wait: a run is claimable
        # a run's steps while another process holds it, and a run nobody may claim
        [claimed] = await other.claim_runs("busy", limit=1, lease_seconds=60)
        await other.create_run(floe.Run(run_id="paused", name="w"))
        for seq in range(1, 4):
            event = floe.Event(claimed.run_id, seq, floe.EventKind.LOG_MESSAGE, data={"n": seq})
            await other.append_events(claimed.run_id, [event])
        with anyio.move_on_after(0.3) as still:
            await waiting.wait_for_runnable()
        assert still.cancelled_caught
        await other.create_run(submitted("r-2"))
        with anyio.fail_after(5):
            await waiting.wait_for_runnable()


async def test_a_wait_on_a_store_that_closes_is_an_error_and_one_on_a_closed_store_too(
    tmp_path: Path,
) -> None:
    store = SQLiteStore(tmp_path / "floe.db")
    await store.open()
    errors: list[BaseException] = []

    async def wait() -> None:
        try:
            await store.wait_for_runnable()
        except floe.PersistenceError as error:
            errors.append(error)

    async with anyio.create_task_group() as group:
        group.start_soon(wait)
        await anyio.sleep(0.05)
        await store.close()
    [error] = errors
    assert "closed while a worker waited" in str(error)
    with pytest.raises(floe.PersistenceError, match="not open"):
        await store.wait_for_runnable()


@floe.workflow
async def greet(name: str) -> str:
    return f"hello {name}"


async def test_an_idle_worker_starts_a_run_another_process_submits_without_polling(
    floe_kernel_factory: Callable[..., floe.Kernel], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'floe.db'}"
    async with floe_kernel_factory(store=url) as serving:
        worker = floe.Worker(serving, poll_seconds=3600)  # it would poll only in an hour
        async with anyio.create_task_group() as group:
            await group.start(worker.serve)
            async with floe_kernel_factory(store=url):  # the application's process
                handle = await greet.submit_async("ada")
                with anyio.fail_after(10):
                    assert await handle.result_async() == "hello ada"
            worker.drain()
