"""Graph jobs on workers, in one process: ``flow.submit_async`` stores a pending job, a
``floe.Worker`` builds its flow from the document it recorded and executes it.

The real-process cases (a worker killed mid-job, another one continuing it) are in
tests/plugins/test_cli_workers.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from graph_routines import AsyncRecorder, Recorder, Source

import floe
from floe.graph import Flow, JobHandle, Transformer

pytestmark = pytest.mark.anyio

ALLOWED = ["graph_routines"]


@pytest.fixture(autouse=True)
def _reset() -> None:
    Recorder.log.clear()
    AsyncRecorder.log.clear()


def chain(flow_id: str = "chain") -> Flow:
    """source -> first -> second, each a Recorder."""
    flow = Flow(flow_id)
    flow.add_routine(Source(), "source")
    for name in ("first", "second"):
        recorder = Recorder()
        recorder.set_config(name=name)
        flow.add_routine(recorder, name)
    flow.connect("source", "item", "first", "input", param_mapping={"n": "value"})
    flow.connect("first", "output", "second", "input")
    return flow


@asynccontextmanager
async def serving(kernel: floe.Kernel, **options: Any) -> AsyncIterator[floe.Worker]:
    worker = floe.Worker(kernel, poll_seconds=0.01, allow=ALLOWED, **options)
    async with anyio.create_task_group() as group:
        await group.start(worker.serve)
        yield worker
        worker.drain()


async def test_a_submitted_job_waits_pending_until_a_worker_executes_it(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    flow = chain()
    async with floe_kernel_factory(store=leased_url) as kernel:
        handle = await flow.submit_async("source", {"count": 2}, job_id="nightly")
        assert handle == JobHandle("chain", "nightly")
        assert await handle.status_async() is floe.RunStatus.PENDING
        stored = await kernel.store.get_run("nightly")
        assert stored is not None
        assert (stored.kind, stored.name, stored.lease_owner) == ("graph", "chain", None)
        assert stored.metadata["flow"] == flow.serialize()  # the flow as it was submitted
        assert await kernel.store.read_events("nightly") == []
        assert Recorder.log == []  # nothing ran in the submitting code
        async with serving(kernel):
            with anyio.fail_after(10):
                job = await handle.wait_async()
        assert job.status is floe.RunStatus.COMPLETED
        assert Recorder.log == [
            ("first", 0),
            ("second", "0>first"),
            ("first", 1),
            ("second", "1>first"),
        ]
        assert job.get_routine_state("second") is not None
        done = await kernel.store.get_run("nightly")
        assert done is not None
        assert (done.status, done.lease_owner, done.runnable_at) == (
            floe.RunStatus.COMPLETED,
            None,
            None,
        )
        kinds = [event.kind for event in await kernel.store.read_events("nightly")]
        assert (kinds[0], kinds[-1]) == (floe.EventKind.RUN_STARTED, floe.EventKind.RUN_COMPLETED)
        # the flow object that submitted it executed nothing and holds no job
        assert flow.job_state is None


async def test_a_job_id_is_an_idempotency_key(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    flow = chain()
    async with floe_kernel_factory(store=leased_url) as kernel:
        first = await flow.submit_async("source", {"count": 1}, job_id="once")
        again = await flow.submit_async("source", {"count": 1}, job_id="once")
        assert first == again
        with pytest.raises(floe.ConfigError, match="another entry or other params"):
            await flow.submit_async("source", {"count": 5}, job_id="once")
        with pytest.raises(floe.ConfigError, match="not a job of flow 'other'"):
            await chain("other").submit_async("source", {"count": 1}, job_id="once")
        assert [run.run_id for run in await kernel.store.list_runs()] == ["once"]
        async with serving(kernel):
            with anyio.fail_after(10):
                assert (await first.wait_async()).status is floe.RunStatus.COMPLETED
        assert (await flow.submit_async("source", {"count": 1}, job_id="once")) == first
        assert len(Recorder.log) == 2  # one item through two routines, once


async def test_bad_submissions_are_refused_and_store_nothing(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    class Local(Recorder):  # defined in a function: no worker could import it
        pass

    unbuildable = Flow("local")
    unbuildable.add_routine(Local(), "local")
    flow = chain()
    async with floe_kernel_factory(store=leased_url) as kernel:
        with pytest.raises(floe.ConfigError, match="defined inside a function"):
            await unbuildable.submit_async("local", {"value": 1})
        with pytest.raises(floe.ConfigError, match="entry_params must be a mapping"):
            await flow.submit_async("source", [1])  # type: ignore[arg-type]
        with pytest.raises(floe.ConfigError):
            await flow.submit_async("nowhere")
        with pytest.raises(floe.ConfigError, match=r"run id|job id"):
            await flow.submit_async("source", job_id="")
        with pytest.raises(floe.ConfigError, match="queue"):
            await flow.submit_async("source", queue="")
        with pytest.raises(floe.ConfigError, match="priority"):
            await flow.submit_async("source", priority=2**40)
        with pytest.raises(floe.SerializationError):
            await flow.submit_async("source", {"count": object()})
        assert await kernel.store.list_runs() == []


async def test_a_worker_executes_several_jobs_of_one_flow_at_once(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    flow = Flow("slow", execution_strategy="concurrent")
    for name in ("a", "b"):
        slow = AsyncRecorder()
        slow.set_config(name=name, delay=0.2)
        flow.add_routine(slow, name)
    flow.connect("a", "output", "b", "input")
    async with floe_kernel_factory(store=leased_url) as kernel:
        handles = [await flow.submit_async("a", {"value": n}) for n in range(4)]
        began = anyio.current_time()
        async with serving(kernel, concurrency=4) as worker:
            with anyio.fail_after(10):
                jobs = [await handle.wait_async() for handle in handles]
        took = anyio.current_time() - began
    assert [job.status for job in jobs] == [floe.RunStatus.COMPLETED] * 4
    assert sorted(AsyncRecorder.log) == ["a"] * 4 + ["b"] * 4
    assert worker.executed == 4
    # each job took two 0.2 s deliveries: one after another they would take 1.6 s
    assert took < 1.4


async def test_a_job_naming_what_the_worker_does_not_allow_fails_and_the_worker_goes_on(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    builtin = Flow("builtin")
    double = Transformer()
    double.set_config(function="graph_routines:double")
    builtin.add_routine(double, "double")
    async with floe_kernel_factory(store=leased_url) as kernel:
        refused = await chain().submit_async("source", {"count": 1})
        allowed = await builtin.submit_async("double", {"value": 2})
        worker = floe.Worker(kernel, poll_seconds=0.01, allow=["graph_routines:double"])
        async with anyio.create_task_group() as group:
            await group.start(worker.serve)
            with anyio.fail_after(10):
                failed = await refused.wait_async()
                assert (await allowed.wait_async()).status is floe.RunStatus.COMPLETED
            worker.drain()
        assert failed.status is floe.RunStatus.FAILED
        assert "ImportNotAllowedError" in (failed.error or "")
        assert Recorder.log == []  # nothing of the refused job ran
        stored = await kernel.store.get_run(refused.job_id)
        assert stored is not None
        assert stored.lease_owner is None
        assert stored.error is not None
        assert "graph_routines:Source" in stored.error.message
        [event] = await kernel.store.read_events(refused.job_id)
        assert event.kind == floe.EventKind.RUN_FAILED


async def test_a_drained_worker_releases_a_job_and_another_continues_it(
    floe_kernel_factory: Callable[..., floe.Kernel], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'floe.db'}"
    flow = Flow("steps")
    for name in ("one", "two", "three"):
        stage = AsyncRecorder()
        stage.set_config(name=name, delay=0.3)
        flow.add_routine(stage, name)
    flow.connect("one", "output", "two", "input")
    flow.connect("two", "output", "three", "input")
    async with floe_kernel_factory(store=url) as first:
        handle = await flow.submit_async("one", {"value": "v"})
        worker = floe.Worker(first, poll_seconds=0.01, allow=ALLOWED)
        async with anyio.create_task_group() as group:
            await group.start(worker.serve)
            with anyio.fail_after(10):
                while AsyncRecorder.log != ["one"]:  # noqa: ASYNC110 - the routine sets no event
                    await anyio.sleep(0.01)
            worker.drain(grace_seconds=0.05)  # cut off in "two"
        released = await first.store.get_run(handle.job_id)
        assert released is not None
        assert (released.status, released.lease_owner) == (floe.RunStatus.RUNNING, None)
        assert released.is_interrupted()
    async with floe_kernel_factory(store=url) as second:
        async with serving(second):
            with anyio.fail_after(10):
                job = await handle.wait_async()
        kinds = [event.kind for event in await second.store.read_events(handle.job_id)]
    assert job.status is floe.RunStatus.COMPLETED
    # "one" was recorded and never ran again; "two", cut off, ran again in full
    assert AsyncRecorder.log == ["one", "two", "three"]
    assert kinds.count(floe.EventKind.RUN_RESUMED) == 1


def test_a_sync_wait_times_out_with_a_clear_error(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("FLOE_STORE", f"sqlite:///{tmp_path / 'floe.db'}")
    handle = chain().submit("source", {"count": 1})  # no worker is serving this store
    assert handle.status() is floe.RunStatus.PENDING
    with pytest.raises(floe.WorkflowTimeoutError, match=r"did not finish within 0\.2") as caught:
        handle.wait(timeout=0.2)
    assert "floe worker" in (caught.value.fix or "")
    with pytest.raises(floe.ConfigError, match="timeout"):
        handle.wait(timeout=-1)
    with pytest.raises(floe.NotFoundError, match="No job 'missing'"):
        JobHandle("chain", "missing").status()
    assert handle.status() is floe.RunStatus.PENDING  # waiting changed nothing


async def test_a_bad_allow_list_is_refused_when_the_worker_is_made(
    floe_kernel_factory: Callable[..., floe.Kernel],
) -> None:
    async with floe_kernel_factory(store="memory://") as kernel:
        for allow in ("tests.graph", [42], [""]):
            with pytest.raises(floe.ConfigError, match="allow"):
                floe.Worker(kernel, allow=allow)


async def test_a_job_executed_in_its_process_is_never_claimed(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    """A job started with flow.execute has no document: a worker leaves it alone, and
    the flow that started it resumes it."""
    flow = chain()
    async with floe_kernel_factory(store=leased_url) as kernel:
        job = await flow.execute_async("source", {"count": 1}, job_id="here")
        assert job.status is floe.RunStatus.COMPLETED
        assert await kernel.store.claim_runs("w", limit=5) == []
