"""Run ownership: the process executing a run holds its lease, renewed while it runs.

Two kernels on one SQLite file are two owners, as two processes are (the real-process
cases are in test_crash_resume.py and the CLI tests).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import floe

pytestmark = pytest.mark.anyio

started: list[int] = []
entered: list[anyio.Event] = []
"""Set when a step of ``slow`` starts (one per test, made on its event loop)."""


@floe.task
async def slow(n: int) -> int:
    started.append(n)
    for event in entered:
        event.set()
    await anyio.sleep(0.6)
    return n


@floe.workflow
async def leased(n: int) -> int:
    return await slow(n)


@floe.workflow
async def paused() -> str:
    value: str = await floe.pause("wait")
    return value


@pytest.fixture(params=["sqlite", "json", "memory"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    kind: str = request.param
    return {
        "sqlite": f"sqlite:///{tmp_path / 'floe.db'}",
        "json": f"json:///{tmp_path / 'runs'}",
        "memory": "memory://",
    }[kind]


async def test_a_run_holds_its_lease_while_it_runs_and_gives_it_up_when_done(
    floe_kernel_factory: Callable[..., floe.Kernel], store_url: str
) -> None:
    started.clear()
    entered[:] = [anyio.Event()]
    async with floe_kernel_factory(store=store_url, run_lease_seconds=0.3) as kernel:
        async with anyio.create_task_group() as group:
            group.start_soon(leased.run_async, 1)
            await entered[0].wait()
            running = await kernel.store.get_run(_only_run_id(await kernel.store.list_runs()))
            assert running is not None
            assert running.lease_owner == kernel.owner_id
            first_expiry = running.lease_expires_at
            await anyio.sleep(0.45)  # past the first lease: the heartbeat renewed it
            renewed = await kernel.store.get_run(running.run_id)
            assert renewed is not None
            assert renewed.lease_owner == kernel.owner_id
            assert first_expiry is not None
            assert renewed.lease_expires_at is not None
            assert renewed.lease_expires_at > first_expiry
        done = await kernel.store.get_run(running.run_id)
        assert done is not None
        assert done.status is floe.RunStatus.COMPLETED
        assert (done.lease_owner, done.lease_expires_at) == (None, None)


async def test_another_owner_is_refused_a_running_run_before_any_step(
    floe_kernel_factory: Callable[..., floe.Kernel], tmp_path: Path
) -> None:
    started.clear()
    entered[:] = [anyio.Event()]
    url = f"sqlite:///{tmp_path / 'floe.db'}"
    outcome: dict[str, Any] = {}
    async with floe_kernel_factory(store=url, run_lease_seconds=0.3) as first:

        async def run_first() -> None:  # started here: the first kernel is its current one
            outcome["first"] = await leased.run_async(7, run_id="shared")

        async with anyio.create_task_group() as group:
            group.start_soon(run_first)
            await entered[0].wait()
            await anyio.sleep(0.4)  # past the first lease: only the heartbeat keeps it
            async with floe_kernel_factory(store=url):  # another owner, as another process
                with pytest.raises(floe.RunLeasedError) as caught:
                    await leased.run_async(7, run_id="shared")
    assert caught.value.context["owner"] == first.owner_id
    assert first.owner_id in caught.value.what
    assert caught.value.exit_code == floe.ExitCode.USAGE
    assert started == [7]  # the refused execution started no step
    assert outcome["first"].output == 7
    # once the run is done, anyone may ask for it: its stored outcome, nothing run again
    async with floe_kernel_factory(store=url):
        again = await leased.run_async(7, run_id="shared")
    assert again.output == 7
    assert started == [7]


async def test_a_paused_run_holds_no_lease_and_its_resume_takes_one(
    floe_kernel_factory: Callable[..., floe.Kernel], store_url: str
) -> None:
    async with floe_kernel_factory(store=store_url) as kernel:
        execution = await paused.run_async(run_id="p")
        assert execution.paused
        stored = await kernel.store.get_run("p")
        assert stored is not None
        assert stored.lease_owner is None
        resumed = await paused.resume_async("p", "go")
        assert resumed.output == "go"
        done = await kernel.store.get_run("p")
        assert done is not None
        assert done.lease_owner is None


async def test_a_renewal_the_store_fails_is_tried_again_at_the_next_beat(
    floe_kernel_factory: Callable[..., floe.Kernel],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from floe_sqlite import SQLiteStore

    database = tmp_path / "floe.db"
    refused: list[str] = []

    class Outage:
        floe_plugin_name = "outage"

        @floe.hookimpl
        def floe_open_store(self, url: floe.StoreURL) -> floe.Store | None:
            return OutageStore(database) if url.scheme == "outage" else None

    class OutageStore(SQLiteStore):
        async def renew_lease(self, run_id: str, owner: str, *, lease_seconds: float = 30) -> bool:
            if not refused:  # the first beat finds the store unreachable, as a lost connection
                refused.append(run_id)
                raise floe.PersistenceError("The connection to the store was lost")
            return await super().renew_lease(run_id, owner, lease_seconds=lease_seconds)

    started.clear()
    entered[:] = [anyio.Event()]
    caplog.set_level("WARNING", logger="floe.leases")
    async with floe_kernel_factory(Outage(), store="outage://", run_lease_seconds=0.3) as kernel:
        async with anyio.create_task_group() as group:
            group.start_soon(leased.run_async, 3)
            await entered[0].wait()
            running = await kernel.store.get_run(_only_run_id(await kernel.store.list_runs()))
            assert running is not None
            first_expiry = running.lease_expires_at
            assert first_expiry is not None
            await anyio.sleep(0.25)  # the first beat (at 0.1 s) failed, the second renewed
            renewed = await kernel.store.get_run(running.run_id)
            assert renewed is not None
            assert renewed.lease_owner == kernel.owner_id
            assert renewed.lease_expires_at is not None
            assert renewed.lease_expires_at > first_expiry
        done = await kernel.store.get_run(running.run_id)
        assert done is not None
        assert done.status is floe.RunStatus.COMPLETED
        assert done.output == 3
    assert refused == [running.run_id]
    [warning] = [r for r in caplog.records if r.name == "floe.leases"]
    assert "was not renewed: The connection to the store was lost" in warning.getMessage()


def _only_run_id(runs: list[floe.Run]) -> str:
    [run] = runs
    return run.run_id
