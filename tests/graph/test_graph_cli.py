"""Graph jobs seen and cancelled through the real ``floe`` console script.

A script run as its own process executes a flow on a SQLite file three times: to the
end, to a pause, and to a SIGKILL of itself mid-job. Then ``floe status``, ``floe runs``,
``floe events`` and ``floe cancel`` (each a subprocess) work on those jobs, and
``floe.cancel`` cancels a paused job from a kernel that never had its flow.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import anyio
import orjson
import pytest

import floe
from floe import Kernel
from floe.graph import Flow, Routine

FLOE = Path(sys.executable).with_name("floe")

JOBS = textwrap.dedent(
    """
    import os
    import signal
    import sys

    import anyio

    import floe
    from floe.graph import Flow, Routine

    store, outcome = sys.argv[1:3]


    class Source(Routine):
        def __init__(self):
            super().__init__()
            self.define_event("item", ["value"])

        def __call__(self, count):
            for n in range(count):
                self.emit("item", value=n)


    class Stage(Routine):
        flow = None

        def __init__(self):
            super().__init__()
            self.define_slot("input", handler=self.handle)

        def handle(self, value):
            if outcome == "paused" and value == 1:
                Stage.flow.pause("halfway")
            if outcome == "crashed" and value == 2:
                os.kill(os.getpid(), signal.SIGKILL)


    flow = Flow("numbers", sync_handlers="inline")
    flow.add_routine(Source(), "source")
    flow.add_routine(Stage(), "stage")
    flow.connect("source", "item", "stage", "input")
    Stage.flow = flow


    async def main():
        async with floe.open_kernel(store=store, log_format="off"):
            job = await flow.execute_async("source", {"count": 4}, job_id=f"job-{outcome}")
            print(job.status)


    anyio.run(main)
    """
)


def _environment() -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("FLOE_")}
    environment["FLOE_STRICT_PLUGINS"] = "1"
    return environment


def _floe(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FLOE), *args],
        cwd=cwd,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _fields(output: str) -> dict[str, str]:
    return dict(re.split(r"\s{2,}", line, maxsplit=1) for line in output.splitlines())


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A project with three jobs of one flow in its SQLite store: completed, paused and
    crashed (its process killed with SIGKILL while the job ran)."""
    project = tmp_path_factory.mktemp("graph-cli")
    script = project / "jobs.py"
    script.write_text(JOBS, encoding="utf-8")
    store = f"sqlite:///{project}/floe.db"
    for outcome, returncode in (("completed", 0), ("paused", 0), ("crashed", -signal.SIGKILL)):
        ran = subprocess.run(
            [sys.executable, str(script), store, outcome],
            cwd=project,
            env=_environment(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert ran.returncode == returncode, ran.stderr
        if returncode == 0:
            assert ran.stdout.strip() == outcome
    return project, store


def test_status_counts_the_deliveries_of_a_graph_job(jobs: tuple[Path, str]) -> None:
    project, store = jobs
    done = _floe("status", "job-completed", "--store", store, cwd=project)
    assert done.returncode == floe.ExitCode.OK, done.stderr
    fields = _fields(done.stdout)
    assert fields["name"] == "numbers (graph)"
    assert fields["status"] == "completed"
    assert fields["deliveries"].startswith("5 finished: source.__call__#1, stage.input#2")
    assert "steps" not in fields

    paused = _fields(_floe("status", "job-paused", "--store", store, cwd=project).stdout)
    assert paused["status"] == "paused"
    assert paused["waiting at"] == "halfway"
    assert paused["deliveries"] == ("3 finished: source.__call__#1, stage.input#2, stage.input#3")


def test_status_with_bad_input(jobs: tuple[Path, str]) -> None:
    project, store = jobs
    missing = _floe("status", "no-such-job", "--store", store, cwd=project)
    assert missing.returncode != floe.ExitCode.OK
    assert "no-such-job" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_runs_and_events_show_graph_jobs(jobs: tuple[Path, str]) -> None:
    project, store = jobs
    listed = _floe("runs", "--kind", "graph", "--json", "--store", store, cwd=project)
    assert listed.returncode == floe.ExitCode.OK, listed.stderr
    runs = {run["run_id"]: run for run in orjson.loads(listed.stdout)}
    assert set(runs) >= {"job-completed", "job-paused", "job-crashed"}
    assert {runs[name]["kind"] for name in runs} == {"graph"}
    assert runs["job-crashed"]["status"] == "running"  # nobody recorded how it ended
    table = _floe("runs", "--store", store, cwd=project).stdout
    assert re.search(r"job-paused\s+numbers\s+graph\s+paused", table)

    events = _floe("events", "job-completed", "--json", "--store", store, cwd=project)
    assert events.returncode == floe.ExitCode.OK, events.stderr
    kinds = [event["kind"] for event in orjson.loads(events.stdout)]
    assert kinds[0] == "run.started"
    assert kinds.count("routine.slot_received") == 5
    assert kinds.count("routine.emitted") == 4
    assert kinds[-1] == "run.completed"
    timeline = _floe("events", "job-completed", "--store", store, cwd=project).stdout
    assert re.search(r"routine\.slot_received\s+stage\.input#2", timeline)


def test_cancel_paused_and_crashed_graph_jobs(jobs: tuple[Path, str]) -> None:
    project, store = jobs
    for job_id in ("job-paused", "job-crashed"):
        cancelled = _floe("cancel", job_id, "--store", store, cwd=project)
        assert cancelled.returncode == floe.ExitCode.OK, cancelled.stderr
        assert cancelled.stdout.strip().startswith(f"job {job_id} of flow ")
        assert cancelled.stdout.strip().endswith(": cancelled")
        assert (
            _fields(_floe("status", job_id, "--store", store, cwd=project).stdout)["status"]
            == "cancelled"
        )
    listed = _floe("events", "job-paused", "--json", "--store", store, cwd=project)
    assert orjson.loads(listed.stdout)[-1]["kind"] == "run.cancelled"

    again = _floe("cancel", "job-completed", "--store", store, cwd=project)
    assert again.returncode != floe.ExitCode.OK
    assert "already completed" in again.stderr
    assert "Traceback" not in again.stderr


class _Counter(Routine):
    flow: Flow | None = None

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.handle)
        self.define_event("output", ["n"])

    def handle(self, n: int) -> None:
        if n == 1 and _Counter.flow is not None:
            _Counter.flow.pause("look")
        if n < 3:
            self.emit("output", n=n + 1)


def _counting_flow() -> Flow:
    flow = Flow("counting")
    flow.add_routine(_Counter(), "count")
    flow.connect("count", "output", "count", "input")
    _Counter.flow = flow
    return flow


@pytest.mark.anyio
async def test_floe_cancel_of_a_paused_job_needs_no_flow(
    floe_kernel_factory: Callable[..., Kernel], tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path}/floe.db"
    flow = _counting_flow()
    async with floe_kernel_factory(store=store):
        paused = await flow.execute_async("count", {"n": 0})
    assert paused.status == "paused"

    async with floe_kernel_factory(store=store) as kernel:  # a kernel that never saw it
        execution = await floe.cancel(paused.job_id)
        assert execution.status == floe.RunStatus.CANCELLED
        run = await kernel.store.get_run(paused.job_id)
        assert run is not None
        assert run.status == floe.RunStatus.CANCELLED
        job = await _counting_flow().load_job(paused.job_id)
        assert job.status == "cancelled"
        assert job.error == "cancelled"
        assert job.pending_deliveries == 1
        resumed = await _counting_flow().resume_async(paused.job_id)
        assert resumed.status == "cancelled"  # a finished job is returned as it is
        assert resumed.routine_states["count"].executions == 2
        with pytest.raises(floe.StateError, match="already cancelled"):
            await floe.cancel(paused.job_id)
        with pytest.raises(floe.NotFoundError):
            await floe.cancel("no-such-job")


@pytest.mark.anyio
async def test_floe_cancel_of_a_job_executing_here(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    class Slow(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.handle)
            self.define_event("output", ["n"])

        async def handle(self, n: int) -> None:
            await anyio.sleep(0.01)
            self.emit("output", n=n + 1)

    flow = Flow("endless", max_deliveries=10**6)
    flow.add_routine(Slow(), "slow")
    flow.connect("slow", "output", "slow", "input")
    jobs: list[object] = []
    async with floe_kernel_factory() as kernel:
        started = anyio.Event()

        async def on_delivery(event: floe.Event) -> None:
            started.set()

        kernel.bus.subscribe("routine.slot_received", "test", on_delivery)
        async with anyio.create_task_group() as group:

            async def execute() -> None:
                jobs.append(await flow.execute_async("slow", {"n": 0}, job_id="endless-1"))

            group.start_soon(execute)
            await started.wait()
            execution = await floe.cancel("endless-1")
        assert execution.status == floe.RunStatus.CANCELLED
    job = jobs[0]
    assert getattr(job, "status", None) == "cancelled"
