"""Graph jobs on ``floe worker`` processes, on one SQLite file and on PostgreSQL.

An application process submits jobs (``flow.submit``); workers started with
``--allow jobs`` build each job's flow from the document it recorded. Every delivery
appends ``STAGE VALUE`` to a side-effect file while it runs, so the tests count what ran
for real: after a worker is killed (SIGKILL) and another one finishes its jobs, every
delivery recorded before the kill ran exactly once, and none ran more than twice.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from test_cli_workers import (
    Project,
    effects,
    environment,
    floe_cli,
    journal,
    runs,
    start_worker,
    stop,
    wait_for,
)

import floe

ITEMS = 4
STAGES = 3

JOBS = f"""
import os

import anyio

from floe.graph import Flow, Routine


class Source(Routine):
    def __init__(self):
        super().__init__()
        self.define_event("item", ["value"])

    def __call__(self, tag):
        for n in range({ITEMS}):
            self.emit("item", value=f"{{tag}}{{n}}")


class Stage(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.handle)
        self.define_event("output", ["value"])

    async def handle(self, value):
        with open(os.environ["SIDE_EFFECTS"], "a") as log:
            log.write(f"{{self.get_config('name')}} {{value}}\\n")
        await anyio.sleep(float(os.environ.get("STEP_SECONDS", "0.02")))
        self.increment_stat("handled")
        self.emit("output", value=value)


pipeline = Flow("pipeline")
pipeline.add_routine(Source(), "source")
previous = ("source", "item")
for index in range({STAGES}):
    stage = Stage()
    stage.set_config(name=f"stage{{index}}")
    pipeline.add_routine(stage, f"stage{{index}}")
    pipeline.connect(*previous, f"stage{{index}}", "input")
    previous = (f"stage{{index}}", "output")
"""

SUBMIT = """
import json
import sys

import jobs

handles = [jobs.pipeline.submit("source", {"tag": tag}) for tag in sys.argv[1:]]
print(json.dumps([handle.job_id for handle in handles]))
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Project:
    (tmp_path / "jobs.py").write_text(JOBS)
    (tmp_path / "submit.py").write_text(SUBMIT)
    (tmp_path / "flows.py").write_text(
        "import floe\n\n@floe.workflow\nasync def hello(name: str) -> str:\n"
        "    return f'hello {name}'\n"
    )
    if request.param == "postgresql":
        return Project(tmp_path, str(request.getfixturevalue("postgres_url")))
    return Project(tmp_path, f"sqlite:///{tmp_path / '.floe' / 'floe.db'}")


def submit_jobs(project: Project, *tags: str) -> list[str]:
    """Submit one job per tag from an application process of its own."""
    result = subprocess.run(
        [sys.executable, "submit.py", *tags],
        cwd=project.path,
        env=environment(project),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    ids: list[str] = json.loads(result.stdout)
    return ids


def delivered(project: Project, job_id: str) -> Counter[str]:
    """The deliveries *job_id*'s journal records as handled, as ``STAGE VALUE``."""
    handled: Counter[str] = Counter()
    for event in journal(project, job_id):
        if event.kind == "routine.slot_received" and event.data["routine"] != "source":
            handled[f"{event.data['routine']} {event.data['data']['value']}"] += 1
    return handled


def test_a_killed_workers_jobs_are_finished_by_another_each_recorded_delivery_once(
    project: Project, processes: list[subprocess.Popen[str]]
) -> None:
    ids = submit_jobs(project, "a", "b")
    assert {run.status for run in runs(project).values()} == {floe.RunStatus.PENDING}
    first = start_worker(project, "--allow", "jobs", "--poll-seconds", "0.05", STEP_SECONDS="0.15")
    processes.append(first)
    wait_for(lambda: sum(effects(project).values()) >= 6, "deliveries of the first worker")
    first.kill()
    first.wait(timeout=30)
    recorded_before = sum((delivered(project, job_id) for job_id in ids), Counter())
    assert all(runs(project)[job_id].status is floe.RunStatus.RUNNING for job_id in ids)
    second = start_worker(project, "--allow", "jobs", "--poll-seconds", "0.05")
    processes.append(second)
    wait_for(
        lambda: all(runs(project)[job_id].status.finished for job_id in ids), "the second worker"
    )
    code, stderr = stop(second)
    assert code == 0, stderr
    stored = runs(project)
    assert [stored[job_id].status for job_id in ids] == [floe.RunStatus.COMPLETED] * 2
    every = [f"stage{s} {tag}{n}" for tag in "ab" for n in range(ITEMS) for s in range(STAGES)]
    counted = effects(project)
    assert sorted(counted) == sorted(every), counted
    assert all(count in (1, 2) for count in counted.values()), counted
    for delivery in recorded_before:  # what the journal held at the kill never ran again
        assert counted[delivery] == 1, delivery
    for job_id in ids:
        assert set(delivered(project, job_id).values()) == {1}  # each recorded exactly once
        kinds = [event.kind for event in journal(project, job_id)]
        assert kinds.count(floe.EventKind.RUN_RESUMED) == 1
        assert kinds.count(floe.EventKind.RUN_COMPLETED) == 1
    status = floe_cli(project, "status", ids[0])
    assert status.returncode == 0, status.stderr
    assert "completed" in status.stdout


def test_a_job_the_worker_may_not_load_fails_and_the_worker_goes_on(
    project: Project, processes: list[subprocess.Popen[str]]
) -> None:
    [job_id] = submit_jobs(project, "x")
    result = floe_cli(project, "run", "flows.py:hello", "--input", '"ada"', "--detach")
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip()
    worker = start_worker(project, "--poll-seconds", "0.05")  # no --allow: built-ins only
    processes.append(worker)
    wait_for(lambda: all(run.status.finished for run in runs(project).values()), "both runs")
    code, stderr = stop(worker)
    assert code == 0, stderr
    stored = runs(project)
    assert stored[run_id].output == "hello ada"
    failed = stored[job_id]
    assert failed.status is floe.RunStatus.FAILED
    assert failed.error is not None
    assert failed.error.type.endswith("ImportNotAllowedError")
    assert "jobs:Source" in failed.error.message
    assert "floe worker --allow jobs" in stderr
    assert effects(project) == Counter()  # nothing of the job ran


def test_a_bad_allow_entry_is_a_usage_error(project: Project) -> None:
    result = floe_cli(project, "worker", "--allow", "")
    assert result.returncode == floe.ExitCode.USAGE
    assert "Error: Cannot allow an empty import path" in result.stderr
    assert "Traceback" not in result.stderr
