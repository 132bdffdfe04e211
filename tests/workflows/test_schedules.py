"""Schedules: stored in the store, fired by workers, one run per tick however many fire.

The ticks are computed from given times where the test is about which ticks are due, so
that nothing depends on the clock; the cases with workers firing use short intervals.
The cases with real worker processes are in tests/plugins/test_cli_schedules.py.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

import floe
from floe._schedules import MAX_CATCH_UP, fire_due

pytestmark = pytest.mark.anyio


@floe.task
async def note(text: str) -> str:
    return text


@floe.workflow
async def report(day: str, copies: int = 1) -> str:
    return await note(f"{day} x{copies}")


async def _scheduled_runs(kernel: floe.Kernel, name: str) -> list[floe.Run]:
    runs = await kernel.store.list_runs(floe.RunQuery(limit=10_000))
    return sorted(
        (run for run in runs if run.metadata.get("schedule") == name),
        key=lambda run: run.metadata["tick"],
    )


async def test_a_schedule_is_stored_listed_paused_resumed_and_removed(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    async with floe_kernel_factory(store=leased_url):
        added = await floe.add_schedule(
            "nightly", report, cron="0 2 * * *", args=["mon"], kwargs={"copies": 2}
        )
        assert (added.workflow, added.cron, added.every, added.paused) == (
            "report",
            "0 2 * * *",
            None,
            False,
        )
        assert added.input == {"args": ["mon"], "kwargs": {"copies": 2}}
        await floe.add_schedule("often", report, every=30, args=["tue"])
        assert [s.name for s in await floe.list_schedules()] == ["nightly", "often"]
        assert (await floe.pause_schedule("often")).paused
        [_, often] = await floe.list_schedules()
        assert often.paused
        assert not (await floe.resume_schedule("often")).paused
        await floe.remove_schedule("nightly")
        assert [s.name for s in await floe.list_schedules()] == ["often"]
        with pytest.raises(floe.NotFoundError, match="No schedule named 'nightly'"):
            await floe.remove_schedule("nightly")
        with pytest.raises(floe.NotFoundError):
            await floe.pause_schedule("nightly")
        with pytest.raises(floe.ConfigError, match="exists already"):
            await floe.add_schedule("often", report, every=10, args=["x"])
        replaced = await floe.add_schedule("often", report, every=10, args=["x"], replace=True)
        assert replaced.every == 10.0


@floe.workflow
async def no_args() -> str:
    return "done"


async def test_bad_schedules_are_refused_and_store_nothing(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    @floe.workflow
    async def local() -> None:
        return None

    bad: list[tuple[dict[str, Any], str]] = [
        ({"cron": "nope"}, "Invalid cron expression"),
        ({"cron": "* * * * *", "every": 5}, "exactly one of cron and every"),
        ({}, "exactly one of cron and every"),
        ({"every": 0}, "Invalid interval"),
        ({"every": "5"}, "Invalid interval"),
        ({"every": True}, "Invalid interval"),
        ({"every": 5, "catch_up": "some"}, "Invalid catch_up"),
    ]
    async with floe_kernel_factory(store=leased_url):
        for options, message in bad:
            with pytest.raises(floe.ConfigError, match=message):
                await floe.add_schedule("s", no_args, **options)
        for name in ("", "has space", "-dash", "x" * 201, 7):
            with pytest.raises(floe.ConfigError, match="Invalid schedule name"):
                await floe.add_schedule(name, no_args, every=5)  # type: ignore[arg-type]
        with pytest.raises(floe.ConfigError, match="cannot be scheduled"):
            await floe.add_schedule("s", local, every=5)
        with pytest.raises(floe.ConfigError, match="not 42"):
            await floe.add_schedule("s", 42, every=5)  # type: ignore[arg-type]
        with pytest.raises(floe.ConfigError):  # an input the workflow cannot take
            await floe.add_schedule("s", no_args, every=5, args=["surplus"])
        assert await floe.list_schedules() == []


async def test_due_ticks_make_one_run_each_and_a_second_firing_makes_none(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    async with floe_kernel_factory(store=leased_url) as kernel:
        schedule = await floe.add_schedule("ten", report, every=10, args=["d"], catch_up="all")
        start = schedule.created_at
        assert await fire_due(kernel, start + timedelta(seconds=5)) == []
        made = await fire_due(kernel, start + timedelta(seconds=25))
        ticks = [start + timedelta(seconds=10), start + timedelta(seconds=20)]
        assert made == [schedule.run_id(tick) for tick in ticks]
        assert await fire_due(kernel, start + timedelta(seconds=25)) == []  # once per tick
        runs = await _scheduled_runs(kernel, "ten")
        assert [run.run_id for run in runs] == made
        assert {run.status for run in runs} == {floe.RunStatus.PENDING}
        assert runs[0].input == {"args": ["d"], "kwargs": {}}
        assert runs[0].run_id.startswith("schedule:ten:")


async def test_the_latest_policy_catches_up_only_the_newest_missed_tick(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    async with floe_kernel_factory(store=leased_url) as kernel:
        schedule = await floe.add_schedule("ten", report, every=10, args=["d"])
        start = schedule.created_at
        made = await fire_due(kernel, start + timedelta(seconds=95))
        assert made == [schedule.run_id(start + timedelta(seconds=90))]
        more = await fire_due(kernel, start + timedelta(seconds=101))
        assert more == [schedule.run_id(start + timedelta(seconds=100))]


async def test_a_paused_schedule_fires_nothing_and_resumes_from_its_next_tick(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    async with floe_kernel_factory(store=leased_url) as kernel:
        await floe.add_schedule("p", report, every=0.05, args=["d"], catch_up="all")
        await floe.pause_schedule("p")
        later = floe.storage.utcnow() + timedelta(seconds=1)
        assert await fire_due(kernel, later) == []
        resumed = await floe.resume_schedule("p")
        assert resumed.created_at < floe.storage.utcnow()
        # the ticks of the pause are skipped: only what follows the resumption is due
        made = await fire_due(kernel, floe.storage.utcnow() + timedelta(seconds=0.12))
        assert 1 <= len(made) <= 3


def test_cron_ticks_follow_the_expression_in_utc() -> None:
    schedule = floe.Schedule(
        name="c",
        workflow="w",
        target="m:w",
        input=None,
        created_at=datetime(2026, 1, 1, 0, 3, tzinfo=UTC),
        cron="*/5 * * * *",
    )
    start = schedule.created_at
    ticks = schedule.ticks(start, datetime(2026, 1, 1, 0, 21, tzinfo=UTC))
    assert [tick.minute for tick in ticks] == [5, 10, 15, 20]
    assert all(tick.tzinfo is not None for tick in ticks)


def test_a_long_outage_of_a_fast_schedule_is_capped_without_a_loop() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    schedule = floe.Schedule(
        name="fast", workflow="w", target="m:w", input=None, created_at=start, every=0.01
    )
    ticks = schedule.ticks(start, start + timedelta(days=30))  # 259 million ticks due
    assert len(ticks) == MAX_CATCH_UP
    assert ticks[-1] == start + timedelta(days=30)
    assert ticks[0] == start + timedelta(days=30) - timedelta(seconds=0.01) * (MAX_CATCH_UP - 1)


async def test_workers_fire_each_tick_once_and_run_it(
    floe_kernel_factory: Callable[..., floe.Kernel], shared_url: str
) -> None:
    url = shared_url
    async with floe_kernel_factory(store=url) as first, floe_kernel_factory(store=url) as second:
        await floe.add_schedule("fast", report, every=0.1, args=["t"], catch_up="all")
        workers = [floe.Worker(kernel, poll_seconds=0.01) for kernel in (first, second)]
        async with anyio.create_task_group() as group:
            for worker in workers:
                await group.start(worker.serve)
            with anyio.fail_after(60):  # five ticks at least, however loaded the machine
                while len(await _scheduled_runs(first, "fast")) < 5:  # noqa: ASYNC110 (a store)
                    await anyio.sleep(0.05)
            await floe.pause_schedule("fast")
            with anyio.fail_after(20):
                for run in await _scheduled_runs(first, "fast"):
                    await floe.RunHandle(report, run.run_id).wait_async()
            for worker in workers:
                worker.drain()
        runs = await _scheduled_runs(first, "fast")
        ticks = [datetime.fromisoformat(run.metadata["tick"]) for run in runs]
        assert len(ticks) >= 5
        assert len(set(ticks)) == len(ticks)  # no tick twice
        gaps = {round((b - a).total_seconds(), 3) for a, b in itertools.pairwise(ticks)}
        assert gaps == {0.1}  # and none missed
        assert {run.output for run in runs} == {"t x1"}
        assert sum(worker.executed for worker in workers) == len(runs)
