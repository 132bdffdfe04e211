"""Submission, workers and recovery in one process: ``wf.submit_async``, ``floe.Worker``,
``floe.recover`` and ``floe.resume`` of an interrupted run.

Two kernels on one store are two processes as far as leases go (each has its own owner
id); the cases with real processes killed and stopped are in
tests/plugins/test_cli_workers.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

import floe

pytestmark = pytest.mark.anyio

calls: list[str] = []
"""Every step that ran for real, in order (a step that replays adds nothing)."""
running_now: list[int] = [0, 0]
"""[steps executing now, the most seen at once]."""
gate: list[anyio.Event] = []
"""While it holds an event, ``held`` waits for it."""
arrived: dict[str, anyio.Event] = {}
"""Set when ``held`` starts the step of that name."""


@floe.task
async def record(name: str) -> str:
    calls.append(name)
    return name.upper()


@floe.task
async def held(name: str) -> str:
    calls.append(name)
    if name in arrived:
        arrived[name].set()
    running_now[0] += 1
    running_now[1] = max(running_now)
    try:
        if gate:
            await gate[0].wait()
        else:
            await anyio.sleep(0.05)
    finally:
        running_now[0] -= 1
    return name


@floe.workflow
async def greet(name: str) -> str:
    return await record(f"hello {name}")


@floe.workflow
async def two_steps(name: str) -> list[str]:
    first = await record(f"{name}-1")
    second = await held(f"{name}-2")
    return [first, second]


@floe.workflow
async def fails(name: str) -> str:
    raise ValueError(f"no {name}")


@floe.workflow
async def waits() -> str:
    value: str = await floe.pause("approval")
    return value


@pytest.fixture(autouse=True)
def _reset() -> None:
    calls.clear()
    running_now[:] = [0, 0]
    gate.clear()
    arrived.clear()


async def step_started(name: str) -> None:
    """Wait until ``held`` starts its step *name* (call before the step can start)."""
    with anyio.fail_after(10):
        await arrived.setdefault(name, anyio.Event()).wait()


@asynccontextmanager
async def serving(kernel: floe.Kernel, **options: Any) -> AsyncIterator[floe.Worker]:
    """A worker serving *kernel*'s store for the length of the block, drained at its end."""
    worker = floe.Worker(kernel, poll_seconds=0.01, **options)
    async with anyio.create_task_group() as group:
        await group.start(worker.serve)
        yield worker
        worker.drain()


# -- submission ---------------------------------------------------------------------------


async def test_a_submitted_run_waits_pending_until_a_worker_executes_it(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    async with floe_kernel_factory(store=leased_url) as kernel:
        handle = await greet.submit_async("ada")
        assert await handle.status_async() is floe.RunStatus.PENDING
        stored = await kernel.store.get_run(handle.run_id)
        assert stored is not None
        assert (stored.lease_owner, await kernel.store.read_events(handle.run_id)) == (None, [])
        assert calls == []  # nothing ran in the submitting code
        async with serving(kernel):
            with anyio.fail_after(10):
                assert await handle.result_async() == "HELLO ADA"
        events = await kernel.store.read_events(handle.run_id)
        assert events[0].kind == floe.EventKind.RUN_STARTED
        assert events[-1].kind == floe.EventKind.RUN_COMPLETED
        done = await kernel.store.get_run(handle.run_id)
        assert done is not None
        assert (done.status, done.lease_owner) == (floe.RunStatus.COMPLETED, None)
        assert calls == ["hello ada"]


async def test_a_run_id_is_an_idempotency_key(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    async with floe_kernel_factory(store=leased_url) as kernel:
        first = await greet.submit_async("ada", run_id="order-17")
        again = await greet.submit_async("ada", run_id="order-17")
        bare = await greet.submit_async(run_id="order-17")  # no input: the stored one
        assert first.run_id == again.run_id == bare.run_id == "order-17"
        assert [run.run_id for run in await kernel.store.list_runs()] == ["order-17"]
        with pytest.raises(floe.ConfigError, match="another input"):
            await greet.submit_async("bob", run_id="order-17")
        with pytest.raises(floe.ConfigError, match="belongs to workflow 'greet'"):
            await two_steps.submit_async("ada", run_id="order-17")
        async with serving(kernel):
            with anyio.fail_after(10):
                assert await first.result_async() == "HELLO ADA"
        # submitting a finished run's id again returns it, and runs nothing
        assert (await greet.submit_async("ada", run_id="order-17")).run_id == "order-17"
        assert calls == ["hello ada"]


async def test_bad_submissions_are_refused_and_store_nothing(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    @floe.workflow
    async def local(name: str) -> str:
        return name

    async with floe_kernel_factory(store=leased_url) as kernel:
        with pytest.raises(floe.ConfigError, match="cannot be submitted") as caught:
            await local.submit_async("x")
        assert "top level" in (caught.value.fix or "")
        with pytest.raises(floe.SerializationError):
            await greet.submit_async(object())
        with pytest.raises(floe.ConfigError, match="run id"):
            await greet.submit_async("ada", run_id="")
        assert await kernel.store.list_runs() == []


@floe.workflow
async def submits_inside() -> str:
    handle = await greet.submit_async("inner")
    return handle.run_id


async def test_submitting_from_inside_a_run_is_refused(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    async with floe_kernel_factory(store=leased_url):
        execution = await submits_inside.run_async()
        assert execution.failed
        assert execution.error is not None
        assert "submitted from inside a run" in execution.error.message


async def test_a_handle_raises_what_the_run_raised(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    async with floe_kernel_factory(store=leased_url) as kernel:
        failing = await fails.submit_async("luck")
        pausing = await waits.submit_async()
        async with serving(kernel):
            with anyio.fail_after(10), pytest.raises(ValueError, match="no luck"):
                await failing.result_async()
            with anyio.fail_after(10):
                paused = await pausing.wait_async()
            assert paused.paused
            with pytest.raises(floe.StateError, match="paused at 'approval'"):
                await pausing.result_async()


def test_a_sync_wait_times_out_with_a_clear_error(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("FLOE_STORE", f"sqlite:///{tmp_path / 'floe.db'}")
    handle = greet.submit("ada")  # no worker is serving this store
    assert handle.status() is floe.RunStatus.PENDING
    with pytest.raises(floe.WorkflowTimeoutError, match=r"did not finish within 0\.2") as caught:
        handle.result(timeout=0.2)
    assert "floe worker" in (caught.value.fix or "")
    with pytest.raises(floe.ConfigError, match="timeout"):
        handle.wait(timeout=0)
    assert handle.status() is floe.RunStatus.PENDING  # waiting changed nothing


# -- workers ------------------------------------------------------------------------------


async def test_a_worker_executes_at_most_its_concurrency_at_once(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    async with floe_kernel_factory(store=leased_url) as kernel:
        handles = [await two_steps.submit_async(f"r{index}") for index in range(7)]
        async with serving(kernel, concurrency=3) as worker:
            with anyio.fail_after(20):
                outputs = [await handle.result_async() for handle in handles]
        assert outputs == [[f"R{index}-1", f"r{index}-2"] for index in range(7)]
        assert 1 <= running_now[1] <= 3
        assert worker.executed == 7
        assert sorted(calls) == sorted(f"r{i}-{s}" for i in range(7) for s in (1, 2))


async def test_a_serving_worker_is_listed_with_what_it_holds_until_it_stops(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    # heartbeats come every third of a lease
    async with floe_kernel_factory(store=leased_url, run_lease_seconds=0.3) as kernel:
        assert await floe.list_workers() == []
        gate.append(anyio.Event())
        handle = await two_steps.submit_async("h")
        async with serving(kernel, concurrency=2, queues=["default"]) as worker:
            await step_started("h-2")
            with anyio.fail_after(10):  # the next heartbeat shows the run held
                while True:  # the store is read: no event to wait on across kernels
                    listed = await floe.list_workers()
                    if listed and listed[0].executing:
                        break
                    await anyio.sleep(0.01)
            (info,) = listed
            assert info.worker_id == worker.worker_id == kernel.owner_id
            assert (info.concurrency, info.queues, info.executing) == (
                2,
                ("default",),
                (handle.run_id,),
            )
            assert (info.draining, info.executed, info.live()) == (False, 0, True)
            assert info.started_at <= info.heartbeat_at < info.stale_at
            gate[0].set()
            assert await handle.result_async() == ["H-1", "h-2"]
        assert await floe.list_workers() == []  # a stopped worker deletes its record


async def test_a_silent_workers_record_goes_stale_then_is_forgotten(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str, caplog: Any
) -> None:
    from datetime import timedelta

    from floe._worker_records import FORGET_AFTER, WorkerRecords, worker_info

    async with floe_kernel_factory(store=leased_url) as kernel:
        records = WorkerRecords(kernel)
        now = floe.storage.utcnow()
        common = {"concurrency": 1, "queues": None, "executing": (), "executed": 3}
        stale = worker_info("host:1:aa", started_at=now, lease_seconds=-1, draining=False, **common)
        gone = attrs.evolve(
            stale, worker_id="host:2:bb", stale_at=now - FORGET_AFTER - timedelta(seconds=1)
        )
        for info in (stale, gone):
            await records.write(info)
        await kernel.store.put_value("workers", "host:3:cc", b"{not json")
        listed = await floe.list_workers()
        assert [(info.worker_id, info.live()) for info in listed] == [
            ("host:1:aa", False),
            ("host:2:bb", False),
        ]
        assert "Skipping the worker record 'host:3:cc'" in caplog.text  # the others listed
        async with serving(kernel) as worker:  # its first heartbeat forgets the long-gone
            pass
        assert [info.worker_id for info in await floe.list_workers()] == ["host:1:aa"]
        assert worker.worker_id not in await kernel.store.list_keys("workers")


async def test_a_run_whose_workflow_cannot_be_loaded_fails_and_the_worker_goes_on(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    async with floe_kernel_factory(store=leased_url) as kernel:
        lost = floe.Run(
            run_id="lost",
            name="gone",
            metadata={"target": "no_such_module_here:gone"},
            runnable_at=floe.storage.utcnow(),
        )
        await kernel.store.create_run(lost)
        good = await greet.submit_async("ada")
        async with serving(kernel):
            with anyio.fail_after(10):
                assert await good.result_async() == "HELLO ADA"
                assert (await floe.RunHandle(greet, "lost").wait_async()).failed
        failed = await kernel.store.get_run("lost")
        assert failed is not None
        assert failed.error is not None
        assert failed.error.type.endswith("ImportPathError")
        assert "no_such_module_here" in failed.error.message
        assert failed.lease_owner is None
        [event] = await kernel.store.read_events("lost")
        assert event.kind == floe.EventKind.RUN_FAILED


async def test_bad_worker_options_are_config_errors(
    floe_kernel_factory: Callable[..., floe.Kernel],
) -> None:
    async with floe_kernel_factory(store="memory://") as kernel:
        for options in ({"concurrency": 0}, {"concurrency": 1.5}, {"poll_seconds": 0}):
            with pytest.raises(floe.ConfigError, match="Invalid worker"):
                floe.Worker(kernel, **options)


async def test_a_drained_worker_releases_what_it_could_not_finish(
    floe_kernel_factory: Callable[..., floe.Kernel], shared_url: str
) -> None:
    url = shared_url
    gate.append(anyio.Event())  # the second step waits until released
    async with floe_kernel_factory(store=url) as first:
        handle = await two_steps.submit_async("d")
        worker = floe.Worker(first, poll_seconds=0.01)
        async with anyio.create_task_group() as group:
            await group.start(worker.serve)
            await step_started("d-2")
            worker.drain(grace_seconds=0.05)
        released = await first.store.get_run(handle.run_id)
        assert released is not None
        assert released.status is floe.RunStatus.RUNNING
        assert released.lease_owner is None
        assert released.is_interrupted()
    gate[0].set()
    async with floe_kernel_factory(store=url) as second, serving(second):
        with anyio.fail_after(10):
            assert await handle.result_async() == ["D-1", "d-2"]
    # the completed first step never ran again; the one cut off ran again
    assert calls == ["d-1", "d-2", "d-2"]


# -- recovery -----------------------------------------------------------------------------


async def _interrupt(kernel: floe.Kernel, name: str) -> str:
    """Start ``two_steps`` and cut it off in its second step, as a crash would."""
    gate.append(anyio.Event())
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as group:
            group.start_soon(two_steps.run_async, name)
            await step_started(f"{name}-2")
            scope.cancel()
    [run] = await kernel.store.list_runs(floe.RunQuery(status=floe.RunStatus.RUNNING))
    gate.clear()
    return run.run_id


async def test_recover_continues_every_interrupted_run_by_replay(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    async with floe_kernel_factory(store=leased_url) as kernel:
        run_id = await _interrupt(kernel, "x")
        interrupted = await kernel.store.get_run(run_id)
        assert interrupted is not None
        assert interrupted.is_interrupted()
        finished = await greet.run_async("done")
        [recovered] = await floe.recover()
        assert recovered.run.run_id == run_id
        assert recovered.error is None
        assert recovered.execution is not None
        assert recovered.execution.output == ["X-1", "x-2"]
        assert calls == ["x-1", "x-2", "hello done", "x-2"]
        assert await floe.recover() == []  # nothing left; the finished run untouched
        stored = await kernel.store.get_run(finished.run_id)
        assert stored is not None
        assert stored.status is floe.RunStatus.COMPLETED


async def test_recover_leaves_out_runs_interrupted_only_just(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    async with floe_kernel_factory(store=leased_url) as kernel:
        run_id = await _interrupt(kernel, "y")
        assert await floe.recover(older_than=3600) == []
        [recovered] = await floe.recover(older_than=0)
        assert recovered.run.run_id == run_id
        for bad in (-1, "soon", True):
            with pytest.raises(floe.ConfigError, match="older_than"):
                await floe.recover(older_than=bad)


async def test_resume_continues_an_interrupted_run_and_takes_no_value(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    async with floe_kernel_factory(store=leased_url) as kernel:
        run_id = await _interrupt(kernel, "z")
        with pytest.raises(floe.ConfigError, match="interrupted, not paused"):
            await floe.resume(run_id, "a value")
        execution = await floe.resume(run_id)
        assert execution.output == ["Z-1", "z-2"]
        with pytest.raises(floe.StateError, match="completed, not paused or interrupted"):
            await floe.resume(run_id)
        pending = await greet.submit_async("later")
        with pytest.raises(floe.StateError, match="pending") as caught:
            await floe.resume(pending.run_id)
        assert "floe worker" in (caught.value.fix or "")
        assert await kernel.store.read_events(pending.run_id) == []


async def test_a_running_run_of_another_live_process_is_not_interrupted(
    floe_kernel_factory: Callable[..., floe.Kernel], shared_url: str
) -> None:
    url = shared_url
    gate.append(anyio.Event())
    async with floe_kernel_factory(store=url) as owner, anyio.create_task_group() as group:
        group.start_soon(two_steps.run_async, "live")
        await step_started("live-2")
        async with floe_kernel_factory(store=url) as other:
            assert await floe.recover() == []
            [run] = await other.store.list_runs()
            assert not run.is_interrupted()
            with pytest.raises(floe.StateError, match="not paused or interrupted") as caught:
                await floe.resume(run.run_id)
            assert caught.value.context["owner"] == owner.owner_id
        gate[0].set()


# -- suspension: a long durable sleep holds no worker slot --------------------------------


@floe.workflow
async def sleeper(name: str) -> str:
    await record(f"{name} before")
    await floe.sleep(0.6)
    await record(f"{name} after")
    return name


async def test_a_long_sleep_frees_the_workers_slot_until_it_is_due(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    async with floe_kernel_factory(store=leased_url) as kernel:
        sleeping = await sleeper.submit_async("s")
        quick = await greet.submit_async("q")
        async with serving(kernel, concurrency=1, suspend_sleeps_over=0.1):
            with anyio.fail_after(10):
                # one slot: the quick run finishes while the other one sleeps
                assert await quick.result_async() == "HELLO Q"
            suspended = await kernel.store.get_run(sleeping.run_id)
            assert suspended is not None
            assert suspended.status is floe.RunStatus.RUNNING
            assert suspended.lease_owner is None
            assert suspended.runnable_at is not None
            assert suspended.runnable_at > floe.storage.utcnow()
            assert not suspended.is_interrupted()
            assert await floe.recover() == []  # not due: nothing to recover
            with anyio.fail_after(10):
                assert await sleeping.result_async() == "s"
        kinds = [event.kind for event in await kernel.store.read_events(sleeping.run_id)]
        assert kinds.count(floe.EventKind.TIMER_SCHEDULED) == 1
        assert kinds.count(floe.EventKind.TIMER_FIRED) == 1
        assert calls == ["s before", "hello q", "s after"]


flaky_attempts: list[str] = []


@floe.task(retries=1, retry_delay=0.6)
async def flaky(name: str) -> str:
    flaky_attempts.append(name)
    if len(flaky_attempts) == 1:
        raise ConnectionError("the first attempt fails")
    return name


@floe.workflow
async def retried(name: str) -> str:
    await record(f"{name} before")
    return await flaky(name)


async def test_a_long_retry_backoff_frees_the_workers_slot_until_it_ends(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    flaky_attempts.clear()
    async with floe_kernel_factory(store=leased_url) as kernel:
        backing_off = await retried.submit_async("r")
        quick = await greet.submit_async("q")
        async with serving(kernel, concurrency=1, suspend_sleeps_over=0.1) as worker:
            with anyio.fail_after(10):
                # one slot: the quick run finishes while the other one backs off
                assert await quick.result_async() == "HELLO Q"
            suspended = await kernel.store.get_run(backing_off.run_id)
            assert suspended is not None
            assert (suspended.status, suspended.lease_owner) == (floe.RunStatus.RUNNING, None)
            assert suspended.runnable_at is not None
            assert suspended.runnable_at > floe.storage.utcnow()
            assert not suspended.is_interrupted()
            with anyio.fail_after(10):
                assert await backing_off.result_async() == "r"
        assert worker.executed == 3  # the quick run, and the other one twice
        kinds = [event.kind for event in await kernel.store.read_events(backing_off.run_id)]
        assert kinds.count(floe.EventKind.TASK_RETRYING) == 1
        assert kinds.count(floe.EventKind.TASK_COMPLETED) == 2
        assert flaky_attempts == ["r", "r"]  # the attempts its policy allows, no more
        assert calls == ["r before", "hello q"]  # the completed step did not run again


@floe.workflow
async def parent_of_sleeper(name: str) -> str:
    await record(f"{name} parent")
    return await floe.call(sleeper, name)


async def test_a_childs_long_sleep_suspends_its_parent_and_frees_the_slot(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    async with floe_kernel_factory(store=leased_url) as kernel:
        parent = await parent_of_sleeper.submit_async("c")
        quick = await greet.submit_async("q")
        async with serving(kernel, concurrency=1, suspend_sleeps_over=0.1) as worker:
            with anyio.fail_after(10):
                assert await quick.result_async() == "HELLO Q"
            suspended = await kernel.store.get_run(parent.run_id)
            assert suspended is not None
            assert (suspended.status, suspended.lease_owner) == (floe.RunStatus.RUNNING, None)
            assert suspended.runnable_at is not None
            assert suspended.runnable_at > floe.storage.utcnow()
            with anyio.fail_after(10):
                assert await parent.result_async() == "c"
        assert worker.executed == 3  # the quick run, and the parent twice
        [child] = [run for run in await kernel.store.list_runs() if run.parent_id]
        kinds = [event.kind for event in await kernel.store.read_events(child.run_id)]
        assert kinds.count(floe.EventKind.TIMER_SCHEDULED) == 1
        assert kinds.count(floe.EventKind.TIMER_FIRED) == 1
        assert calls == ["c parent", "c before", "hello q", "c after"]  # each step once


async def test_a_short_sleep_is_waited_out_in_the_slot(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    async with floe_kernel_factory(store=leased_url) as kernel:
        sleeping = await sleeper.submit_async("t")
        async with serving(kernel, suspend_sleeps_over=None) as worker:
            with anyio.fail_after(10):
                assert await sleeping.result_async() == "t"
        assert worker.executed == 1  # one execution: never suspended, never claimed again
    async with floe_kernel_factory(store="memory://") as kernel:
        with pytest.raises(floe.ConfigError, match="suspend_sleeps_over"):
            floe.Worker(kernel, suspend_sleeps_over=-1)


# -- queues -------------------------------------------------------------------------------


async def test_a_queued_submission_stores_its_place_and_a_bad_one_stores_nothing(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    async with floe_kernel_factory(store=leased_url) as kernel:
        handle = await greet.queued("emails", priority=7, partition_key="c-1").submit_async("a")
        stored = await kernel.store.get_run(handle.run_id)
        assert stored is not None
        assert (stored.queue, stored.priority, stored.partition_key) == ("emails", 7, "c-1")
        plain = await kernel.store.get_run((await greet.submit_async("b")).run_id)
        assert plain is not None
        assert (plain.queue, plain.priority, plain.partition_key) == ("default", 0, None)
        for queue, options in (
            ("", {}),
            ("a b", {}),
            ("q", {"priority": True}),
            ("q", {"priority": 2**31}),
            ("q", {"partition_key": ""}),
            ("q", {"partition_key": 5}),
        ):
            with pytest.raises(floe.ConfigError):
                greet.queued(queue, **options)
        assert len(await kernel.store.list_runs(floe.RunQuery())) == 2


async def test_a_worker_serves_its_queues_highest_priority_first(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    async with floe_kernel_factory(store=leased_url) as kernel:
        elsewhere = await greet.queued("elsewhere").submit_async("x")
        handles = [
            await greet.queued("mine", priority=priority).submit_async(f"p{priority}")
            for priority in (1, 3, 2)
        ]
        async with serving(kernel, concurrency=1, queues=["mine"]):
            with anyio.fail_after(20):
                for handle in handles:
                    await handle.result_async()
        assert calls == ["hello p3", "hello p2", "hello p1"]
        assert await elsewhere.status_async() is floe.RunStatus.PENDING
        with pytest.raises(floe.ConfigError, match="Invalid worker queues"):
            floe.Worker(kernel, queues="mine")
        with pytest.raises(floe.ConfigError, match="Invalid queue name"):
            floe.Worker(kernel, queues=["no spaces"])


async def test_queue_limits_are_kept_by_every_worker_on_the_store(
    floe_kernel_factory: Callable[..., floe.Kernel], shared_url: str
) -> None:
    async with (
        floe_kernel_factory(store=shared_url) as first,
        floe_kernel_factory(store=shared_url) as second,
    ):
        await floe.set_queue(floe.Queue("narrow", concurrency=2))
        assert await floe.list_queues() == [floe.Queue("narrow", concurrency=2)]
        handles = [await two_steps.queued("narrow").submit_async(f"r{i}") for i in range(6)]
        async with serving(first, concurrency=4), serving(second, concurrency=4):
            with anyio.fail_after(30):
                for handle in handles:
                    await handle.result_async()
        assert running_now[1] <= 2
        await floe.remove_queue("narrow")
        assert await floe.get_queue("narrow") == floe.Queue("narrow")
        with pytest.raises(floe.NotFoundError):
            await floe.remove_queue("narrow")


async def test_queue_limits_set_while_a_worker_serves_hold_from_its_next_poll(
    floe_kernel_factory: Callable[..., floe.Kernel], shared_url: str
) -> None:
    async with floe_kernel_factory(store=shared_url) as kernel:
        async with serving(kernel, concurrency=4) as worker:
            first = await two_steps.queued("late").submit_async("warm")
            await first.result_async()  # the worker has claimed, so it has read no limits
            await floe.set_queue(floe.Queue("late", concurrency=1))
            await anyio.sleep(worker.poll_seconds * 3)  # its next read of the limits
            running_now[:] = [0, 0]
            handles = [await two_steps.queued("late").submit_async(f"q{i}") for i in range(4)]
            with anyio.fail_after(30):
                for handle in handles:
                    await handle.result_async()
        assert running_now[1] == 1


@floe.workflow
async def parent_of_two(name: str) -> list[str]:
    first = await greet.run_async(f"{name}-a", raise_on_error=True)
    second = await greet.run_async(f"{name}-b", raise_on_error=True)
    return [first.output, second.output]


async def test_a_parent_and_its_children_complete_on_one_worker_with_one_slot(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    async with floe_kernel_factory(store=leased_url) as kernel:
        handle = await parent_of_two.submit_async("p")
        async with serving(kernel, concurrency=1) as worker:
            with anyio.fail_after(20):
                assert await handle.result_async() == ["HELLO P-A", "HELLO P-B"]
        children = await kernel.store.list_runs(floe.RunQuery(parent_id=handle.run_id))
        assert {child.status for child in children} == {floe.RunStatus.COMPLETED}
        assert len(children) == 2
        assert worker.executed == 1  # the children ran inside their parent's execution
