"""``floe run --detach``, ``floe worker``, ``floe recover`` and ``floe resume`` of an
interrupted run, with real processes on one SQLite file.

Every step appends ``RUN STEP`` to a side-effect file when it starts, so the tests count
what ran for real: after a worker is killed (SIGKILL) or stopped (SIGSTOP) and another
one finishes its runs, every step that completed before ran exactly once, and only the
step in flight at the kill may have run twice.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import anyio
import attrs
import pytest

import floe
from floe.testing import open_store

FLOE = Path(sys.executable).with_name("floe")
LEASE = "0.5"
"""The lease of these tests' processes, in seconds: a dead worker's runs are free soon."""

FLOWS = """
import gc
import os
import time

import anyio

import floe


@floe.task
async def step(name: str, n: int) -> int:
    with open(os.environ["SIDE_EFFECTS"], "a") as log:
        log.write(f"{name} {n}\\n")
    await anyio.sleep(float(os.environ.get("STEP_SECONDS", "0.05")))
    return n


@floe.workflow
async def chain(name: str, count: int) -> int:
    return sum([await step(name, n) for n in range(count)])


@floe.task
async def timed(name: str) -> str:
    with open(os.environ["SIDE_EFFECTS"] + ".times", "a") as log:
        log.write(f"start {name} {time.time()}\\n")
    await anyio.sleep(0.1)
    with open(os.environ["SIDE_EFFECTS"] + ".times", "a") as log:
        log.write(f"end {name} {time.time()}\\n")
    return name


@floe.workflow
async def spans(name: str) -> str:
    return await timed(name)


@floe.workflow
async def frozen() -> int:
    return gc.get_freeze_count()


@floe.workflow
async def napper(name: str) -> str:
    await step(name, 0)
    await floe.sleep(1.0)
    await step(name, 1)
    return name
"""


@attrs.frozen
class Project:
    """A folder holding flows.py, and the store its processes share."""

    path: Path
    store: str

    def __truediv__(self, name: str) -> Path:
        return self.path / name


@pytest.fixture(params=["sqlite", "postgresql"])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Project:
    (tmp_path / "flows.py").write_text(FLOWS)
    if request.param == "postgresql":
        return Project(tmp_path, str(request.getfixturevalue("postgres_url")))
    return Project(tmp_path, f"sqlite:///{tmp_path / '.floe' / 'floe.db'}")


def environment(project: Project, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLOE_")}
    env.update(
        FLOE_STRICT_PLUGINS="1",
        FLOE_RUN_LEASE_SECONDS=LEASE,
        FLOE_STORE=project.store,
        SIDE_EFFECTS=str(project / "effects.txt"),
        **extra,
    )
    return env


def floe_cli(project: Project, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FLOE), *args],
        cwd=project.path,
        env=environment(project, **extra),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def start(project: Project, *args: str, **extra: str) -> subprocess.Popen[str]:
    """Start ``floe ARGS``; its stdout and stderr go to a file each, never to a pipe that
    nobody reads (a busy worker's log would fill it and block the worker)."""
    number = len(list(project.path.glob("process-*.err")))
    output = (project / f"process-{number}.out").open("w")
    errors = (project / f"process-{number}.err").open("w")
    process = subprocess.Popen(
        [str(FLOE), *args],
        cwd=project.path,
        env=environment(project, **extra),
        stdout=output,
        stderr=errors,
        text=True,
    )
    output.close()
    errors.close()
    _LOGS[process.pid] = project / f"process-{number}.err"
    return process


def start_worker(project: Project, *options: str, **extra: str) -> subprocess.Popen[str]:
    """``floe worker OPTIONS``, once it serves the store (before, SIGTERM would kill it
    outright: its handler is not installed yet)."""
    worker = start(project, "worker", *options, **extra)
    log = _LOGS[worker.pid]
    wait_for(lambda: "serving" in log.read_text(), "the worker to serve", 60, every=0.02)
    return worker


_LOGS: dict[int, Path] = {}
"""The stderr file of every process start() started, by process id."""


def finish(process: subprocess.Popen[str], timeout: float = 60) -> str:
    """Wait for *process* to exit; its stderr."""
    process.wait(timeout=timeout)
    return _LOGS.pop(process.pid).read_text()


def submit(project: Project, name: str, count: int, *more: str) -> str:
    document = json.dumps({"name": name, "count": count})
    result = floe_cli(
        project, "run", "flows.py:chain", "--kwargs", "--input", document, "--detach", *more
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def runs(project: Project) -> dict[str, floe.Run]:
    async def read() -> dict[str, floe.Run]:
        async with open_store(project.store) as store:
            return {run.run_id: run for run in await store.list_runs(floe.RunQuery(limit=10_000))}

    return anyio.run(read)


def journal(project: Project, run_id: str) -> list[floe.Event]:
    async def read() -> list[floe.Event]:
        async with open_store(project.store) as store:
            return await store.read_events(run_id)

    return anyio.run(read)


def wait_for(
    condition: Callable[[], bool], what: str, seconds: float = 60, every: float = 0.05
) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


def effects(project: Project) -> Counter[str]:
    path = project / "effects.txt"
    return Counter(path.read_text().splitlines()) if path.exists() else Counter()


def all_done(project: Project, ids: list[str]) -> bool:
    stored = runs(project)
    return all(stored[run_id].status.finished for run_id in ids)


def stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str]:
    process.send_signal(sig)
    stderr = finish(process)
    return process.returncode, stderr


# -- submission and workers ---------------------------------------------------------------


def test_detached_runs_are_executed_by_a_worker_that_drains_on_sigterm(
    project: Project, processes: list[subprocess.Popen[str]]
) -> None:
    ids = [submit(project, f"r{index}", 3) for index in range(5)]
    assert len(set(ids)) == 5
    assert {run.status for run in runs(project).values()} == {floe.RunStatus.PENDING}
    again = submit(project, "r0", 3, "--run-id", ids[0], "--json")
    assert json.loads(again) == {"run_id": ids[0]}  # an idempotency key: no second run
    assert len(runs(project)) == 5
    listing = floe_cli(project, "runs")
    assert listing.stdout.count("pending") == 5, listing.stdout
    worker = start_worker(project, "--concurrency", "2", "--poll-seconds", "0.05")
    processes.append(worker)
    wait_for(lambda: all_done(project, ids), "the submitted runs")
    code, stderr = stop(worker)
    assert code == 0, stderr
    assert "executed 5 runs" in stderr
    assert ", 2 at once" in stderr
    stored = runs(project)
    assert [stored[run_id].output for run_id in ids] == [3] * 5
    assert all(stored[run_id].lease_owner is None for run_id in ids)
    assert effects(project) == Counter(f"r{i} {n}" for i in range(5) for n in range(3))


def test_a_worker_keeps_its_start_up_objects_out_of_the_collectors_scans(
    project: Project, processes: list[subprocess.Popen[str]]
) -> None:
    submitted = floe_cli(project, "run", "flows.py:frozen", "--detach")
    assert submitted.returncode == 0, submitted.stderr
    run_id = submitted.stdout.strip()
    worker = start_worker(project, "--poll-seconds", "0.05")
    processes.append(worker)
    wait_for(lambda: all_done(project, [run_id]), "the run")
    assert stop(worker)[0] == 0
    assert runs(project)[run_id].output > 1_000  # gc.freeze() ran before serving


def test_floe_workers_lists_live_workers_and_a_killed_one_as_stale(
    project: Project, processes: list[subprocess.Popen[str]]
) -> None:
    none = floe_cli(project, "workers")
    assert (none.returncode, none.stdout, none.stderr) == (0, "", "no workers\n")
    killed = start_worker(project, "--concurrency", "3", "--queue", "fast")
    processes.append(killed)
    serving = start_worker(project)
    processes.append(serving)
    listed = json.loads(floe_cli(project, "workers", "--json").stdout)
    by_pid = {worker["pid"]: worker for worker in listed}
    assert set(by_pid) == {killed.pid, serving.pid}
    assert (by_pid[killed.pid]["concurrency"], by_pid[killed.pid]["queues"]) == (3, ["fast"])
    assert by_pid[serving.pid]["queues"] is None
    killed.kill()  # it says nothing: its record goes stale once its lease would expire
    killed.wait(timeout=30)
    stale_id = by_pid[killed.pid]["worker_id"]

    def states() -> dict[str, str]:
        table = floe_cli(project, "workers").stdout.splitlines()
        assert table[0].split() == ["WORKER", "QUEUES", "RUNNING", "EXECUTED", "STATE", "HEARTBEAT"]
        return {row.split()[0]: row.split()[4] for row in table[1:]}

    wait_for(lambda: states().get(stale_id) == "stale", "the killed worker to go stale")
    assert states()[by_pid[serving.pid]["worker_id"]] == "serving"
    code, stderr = stop(serving)
    assert code == 0, stderr
    assert list(states()) == [stale_id]  # a worker that stops deletes its record


def test_a_killed_workers_runs_are_finished_by_another_each_step_once(
    project: Project, processes: list[subprocess.Popen[str]]
) -> None:
    ids = [submit(project, name, 6) for name in ("a", "b")]
    first = start_worker(project, "--poll-seconds", "0.05", STEP_SECONDS="0.2")
    processes.append(first)
    wait_for(lambda: sum(effects(project).values()) >= 4, "steps of the first worker")
    first.kill()
    first.wait(timeout=30)
    killed_at = effects(project)
    assert all(runs(project)[run_id].status is floe.RunStatus.RUNNING for run_id in ids)
    second = start_worker(project, "--poll-seconds", "0.05")
    processes.append(second)
    wait_for(lambda: all_done(project, ids), "the second worker to finish the runs")
    code, stderr = stop(second)
    assert code == 0, stderr
    stored = runs(project)
    assert [stored[run_id].status for run_id in ids] == [floe.RunStatus.COMPLETED] * 2
    assert [stored[run_id].output for run_id in ids] == [15, 15]
    counted = effects(project)
    for name in ("a", "b"):
        steps = [counted[f"{name} {n}"] for n in range(6)]
        assert all(count in (1, 2) for count in steps), counted
        # only the step in flight at the kill ran twice: it had started, not completed
        assert sum(count == 2 for count in steps) <= 1, counted
        for n, count in enumerate(steps):
            if count == 2:
                assert killed_at[f"{name} {n}"] == 1
    for run_id in ids:
        kinds = [event.kind for event in journal(project, run_id)]
        assert kinds.count(floe.EventKind.TASK_COMPLETED) == 6
        assert kinds.count(floe.EventKind.RUN_COMPLETED) == 1


def test_a_stopped_worker_past_its_lease_is_fenced_out_when_it_continues(
    project: Project, processes: list[subprocess.Popen[str]]
) -> None:
    [run_id] = [submit(project, "s", 4)]
    stale = start_worker(project, "--poll-seconds", "0.05", STEP_SECONDS="0.4")
    processes.append(stale)
    wait_for(lambda: effects(project)["s 1"] == 1, "the stale worker's second step")
    stale.send_signal(signal.SIGSTOP)
    time.sleep(float(LEASE) * 3)  # its lease runs out while it is stopped
    assert runs(project)[run_id].is_interrupted()
    fresh = start_worker(project, "--poll-seconds", "0.05")
    processes.append(fresh)
    wait_for(lambda: all_done(project, [run_id]), "the fresh worker to finish the run")
    stale.send_signal(signal.SIGCONT)
    time.sleep(1.5)  # its step ends and its next write is refused
    code, stale_log = stop(stale)
    assert code == 0, stale_log
    assert "written by another process meanwhile" in stale_log or (
        "no longer leased to this process" in stale_log
    ), stale_log
    stop(fresh)
    events = journal(project, run_id)
    assert [event.seq for event in events] == list(range(1, len(events) + 1))
    kinds = [event.kind for event in events]
    assert kinds.count(floe.EventKind.RUN_COMPLETED) == 1
    assert kinds.count(floe.EventKind.TASK_COMPLETED) == 4
    assert runs(project)[run_id].output == 6
    counted = effects(project)
    assert counted["s 0"] == 1
    assert counted["s 1"] == 2  # in flight when stopped: the fresh worker ran it again
    assert counted["s 2"] == counted["s 3"] == 1


def test_a_run_whose_workflow_a_worker_cannot_import_fails_and_the_worker_goes_on(
    project: Project, processes: list[subprocess.Popen[str]]
) -> None:
    doomed = submit(project, "d", 1)
    (project / "flows.py").rename(project / "moved.py")
    worker = start_worker(project, "--poll-seconds", "0.05")
    processes.append(worker)
    wait_for(lambda: all_done(project, [doomed]), "the unloadable run to fail")
    (project / "moved.py").rename(project / "flows.py")
    good = submit(project, "g", 2)
    wait_for(lambda: all_done(project, [good]), "the next run")
    code, stderr = stop(worker)
    assert code == 0, stderr
    failed = runs(project)[doomed]
    assert failed.status is floe.RunStatus.FAILED
    assert failed.error is not None
    assert "flows.py" in failed.error.message
    assert runs(project)[good].output == 1
    status = floe_cli(project, "status", doomed)
    assert "failed" in status.stdout


def test_bad_worker_options_are_usage_errors(project: Project) -> None:
    result = floe_cli(project, "worker", "--concurrency", "0")
    assert result.returncode == floe.ExitCode.USAGE
    result = floe_cli(project, "worker", "--import", "no_such_module_for_floe")
    assert result.returncode == floe.ExitCode.USAGE
    assert "Error: Cannot import 'no_such_module_for_floe' (--import)" in result.stderr
    assert "Traceback" not in result.stderr
    result = floe_cli(project, "run", "flows.py:chain", "--input", "[1]", "--detach")
    assert result.returncode == floe.ExitCode.USAGE
    assert runs(project) == {}


def submit_many(project: Project, count: int) -> list[str]:
    """Submit *count* one-step runs of ``chain`` from this process, as an application would."""
    chain = floe.Workflow.from_target(f"{project / 'flows.py'}:chain")

    async def main() -> list[str]:
        async with floe.open_kernel(store=project.store, log_format="off"):
            return [
                (await chain.submit_async(f"n{index}", 1, run_id=f"load-{index}")).run_id
                for index in range(count)
            ]

    return anyio.run(main)


@pytest.mark.parametrize("kill_one", [False, True], ids=["both-live", "one-killed"])
def test_two_workers_run_a_thousand_submissions_each_once(
    project: Project, processes: list[subprocess.Popen[str]], kill_one: bool
) -> None:
    ids = submit_many(project, 1000)
    workers = [
        start_worker(project, "--concurrency", "8", "--poll-seconds", "0.05", STEP_SECONDS="0")
        for _ in range(2)
    ]
    processes.extend(workers)
    if kill_one:
        wait_for(lambda: sum(effects(project).values()) >= 500, "half of the runs", 120)
        workers[0].kill()
        workers[0].wait(timeout=30)
    # the side effects first: reading a thousand runs over and over would slow the workers
    wait_for(lambda: len(effects(project)) == 1000, "every run's step", 240, every=0.2)
    wait_for(lambda: all_done(project, ids), "every run", 60, every=0.5)
    for worker in workers[kill_one:]:
        code, stderr = stop(worker)
        assert code == 0, stderr
    stored = runs(project)
    assert {stored[run_id].status for run_id in ids} == {floe.RunStatus.COMPLETED}  # none lost
    counted = effects(project)
    assert set(counted) == {f"n{index} 0" for index in range(1000)}
    twice = [line for line, count in counted.items() if count > 1]
    if kill_one:  # at most the runs the killed worker held, each run again once
        assert len(twice) <= 8, twice
        assert max(counted.values()) <= 2
    else:
        assert twice == []  # none twice
    for run_id in ids[::97]:
        kinds = [event.kind for event in journal(project, run_id)]
        assert kinds.count(floe.EventKind.RUN_STARTED) == 1
        assert kinds.count(floe.EventKind.RUN_COMPLETED) == 1


def terminate_backends(url: str) -> int:
    """Kill every connection of the stores on *url*'s schema, as an administrator (or a
    failover) would; the number killed. Other tests' schemas are left alone."""
    import psycopg

    base, _, options = url.partition("?")
    schema = options.removeprefix("schema=")
    with psycopg.connect(base, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s",
            (f"floe ({schema})",),
        ).fetchall()
    return len(rows)


def test_postgresql_workers_ride_out_killed_connections(
    postgres_url: str, tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    (tmp_path / "flows.py").write_text(FLOWS)
    project = Project(tmp_path, postgres_url)
    ids = submit_many(project, 200)
    workers = [
        start(
            project, "worker", "--concurrency", "4", "--poll-seconds", "0.05", STEP_SECONDS="0.02"
        )
        for _ in range(2)
    ]
    processes.extend(workers)
    killed = 0
    for round_ in range(5):  # five times while the runs go on, every connection of the workers
        done = round_ * 30
        wait_for(lambda done=done: sum(effects(project).values()) > done, "progress", 120, 0.1)
        killed += terminate_backends(postgres_url)
    assert killed >= 5  # a round may find a pool between two connections
    wait_for(lambda: len(effects(project)) == 200, "every run's step", 240, every=0.2)
    wait_for(lambda: all_done(project, ids), "every run", 120, every=0.5)
    for worker in workers:
        code, stderr = stop(worker)
        assert code == 0, stderr
    stored = runs(project)
    assert {stored[run_id].status for run_id in ids} == {floe.RunStatus.COMPLETED}
    counted = effects(project)
    assert set(counted) == {f"n{index} 0" for index in range(200)}  # none lost
    assert max(counted.values()) <= 2  # a step cut off mid-write may run again, once
    for run_id in ids:
        kinds = [event.kind for event in journal(project, run_id)]
        assert kinds.count(floe.EventKind.RUN_COMPLETED) == 1  # nothing recorded twice


# -- recovery of runs whose process died --------------------------------------------------


def kill_mid_run(project: Project, run_id: str, *args: str) -> subprocess.Popen[str]:
    process = start(project, "run", *args, "--run-id", run_id, STEP_SECONDS="0.3")
    wait_for(lambda: sum(effects(project).values()) >= 2, "two steps to start")
    process.kill()
    process.wait(timeout=30)
    wait_for(lambda: runs(project)[run_id].is_interrupted(), "its lease to run out", 10)
    return process


def test_floe_recover_finishes_the_runs_of_a_killed_process(project: Project) -> None:
    document = json.dumps({"name": "k", "count": 4})
    kill_mid_run(project, "killed-1", "flows.py:chain", "--kwargs", "--input", document)
    listing = floe_cli(project, "runs")
    assert "interrupted" in listing.stdout
    status = floe_cli(project, "status", "killed-1")
    assert "nobody: the lease of" in status.stdout
    result = floe_cli(project, "recover")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "run killed-1 of workflow 'chain': completed"
    assert runs(project)["killed-1"].output == 6
    counted = effects(project)
    assert sorted(counted) == ["k 0", "k 1", "k 2", "k 3"]
    assert counted["k 0"] == 1  # completed before the kill: never again
    assert sum(count == 2 for count in counted.values()) <= 1  # the step in flight
    again = floe_cli(project, "recover")
    assert (again.returncode, again.stderr.strip()) == (0, "no interrupted runs")


def test_floe_resume_continues_an_interrupted_run_and_a_sleep_wakes_when_due(
    project: Project,
) -> None:
    process = start(project, "run", "flows.py:napper", "--input", '"n"', "--run-id", "nap-1")
    wait_for(lambda: effects(project)["n 0"] == 1, "the first step")
    time.sleep(0.2)  # into the durable sleep
    process.kill()
    process.wait(timeout=30)
    wait_for(lambda: runs(project)["nap-1"].is_interrupted(), "its lease to run out", 10)
    refused = floe_cli(project, "resume", "nap-1", "--input", '"x"')
    assert refused.returncode == floe.ExitCode.USAGE
    assert "is interrupted, not paused: it takes no resume value" in refused.stderr
    result = floe_cli(project, "resume", "nap-1")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == "n"
    assert effects(project) == Counter({"n 0": 1, "n 1": 1})
    kinds = [event.kind for event in journal(project, "nap-1")]
    assert kinds.count(floe.EventKind.TIMER_SCHEDULED) == 1
    assert kinds.count(floe.EventKind.TIMER_FIRED) == 1


def test_recover_older_than_leaves_recent_interruptions(project: Project) -> None:
    document = json.dumps({"name": "o", "count": 3})
    kill_mid_run(project, "recent-1", "flows.py:chain", "--kwargs", "--input", document)
    result = floe_cli(project, "recover", "--older-than", "3600")
    assert (result.returncode, result.stdout) == (0, "")
    assert runs(project)["recent-1"].is_interrupted()
    bad = floe_cli(project, "recover", "--older-than", "-1")
    assert bad.returncode == floe.ExitCode.USAGE


# -- schedules ----------------------------------------------------------------------------


def scheduled(project: Project, name: str) -> list[floe.Run]:
    return sorted(
        (run for run in runs(project).values() if run.metadata.get("schedule") == name),
        key=lambda run: run.metadata["tick"],
    )


def test_a_schedule_ticking_under_two_workers_fires_each_tick_once_and_survives_restarts(
    project: Project, processes: list[subprocess.Popen[str]]
) -> None:
    document = json.dumps({"name": "t", "count": 1})
    added = floe_cli(
        project, "schedule", "add", "beat", "flows.py:chain", "--every", "0.5s",
        "--kwargs", "--input", document, "--catch-up", "all",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("schedule 'beat': every 0.5 s; first tick ")
    workers = [start_worker(project, "--poll-seconds", "0.05") for _ in range(2)]
    processes.extend(workers)
    wait_for(lambda: len(scheduled(project, "beat")) >= 6, "six ticks")
    for worker in workers:
        code, stderr = stop(worker)
        assert code == 0, stderr
    before = scheduled(project, "beat")
    ticks = [run.metadata["tick"] for run in before]
    assert len(set(ticks)) == len(ticks)  # each tick once across the two workers
    time.sleep(1.6)  # three ticks go by with no worker
    restarted = start_worker(project, "--poll-seconds", "0.05")
    processes.append(restarted)
    wait_for(lambda: len(scheduled(project, "beat")) >= len(before) + 4, "the caught-up ticks")
    paused = floe_cli(project, "schedule", "pause", "beat")
    assert paused.stdout.strip() == "schedule 'beat': paused"
    wait_for(lambda: all(run.status.finished for run in scheduled(project, "beat")), "the runs")
    code, stderr = stop(restarted)
    assert code == 0, stderr
    after = scheduled(project, "beat")
    moments = [datetime.fromisoformat(run.metadata["tick"]) for run in after]
    steps = {round((b - a).total_seconds(), 3) for a, b in itertools.pairwise(moments)}
    assert steps == {0.5}  # no tick twice and, with --catch-up all, none missed
    assert {run.status for run in after} == {floe.RunStatus.COMPLETED}
    listing = floe_cli(project, "schedule", "list")
    assert listing.stdout.splitlines()[1].split()[:4] == ["beat", "chain", "every", "0.5"]
    assert "paused" in listing.stdout


def test_schedule_commands_refuse_bad_input(project: Project) -> None:
    bad = [
        (["add", "x", "flows.py:chain", "--cron", "61 * * * *"], "Invalid cron expression"),
        (["add", "x", "flows.py:chain"], "needs exactly one of cron and every"),
        (["add", "x", "flows.py:chain", "--every", "soon"], "is not an interval"),
        (["add", "x", "flows.py:nowhere", "--every", "5s"], "nowhere"),
        (["add", "x y", "flows.py:chain", "--every", "5s"], "Invalid schedule name"),
        (["pause", "ghost"], "No schedule named 'ghost'"),
        (["remove", "ghost"], "No schedule named 'ghost'"),
    ]
    for args, message in bad:
        result = floe_cli(project, "schedule", *args)
        assert result.returncode == floe.ExitCode.USAGE, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    listing = floe_cli(project, "schedule", "list", "--json")
    assert json.loads(listing.stdout) == []


# -- queues -------------------------------------------------------------------------------


def spans_of(project: Project) -> dict[str, tuple[float, float]]:
    """When each run of ``spans`` started and ended its step, by name."""
    starts: dict[str, float] = {}
    ends: dict[str, float] = {}
    for line in (project / "effects.txt.times").read_text().splitlines():
        edge, name, moment = line.split()
        assert name not in (starts if edge == "start" else ends), f"{name} ran twice"
        (starts if edge == "start" else ends)[name] = float(moment)
    return {name: (starts[name], ends[name]) for name in starts}


def most_at_once(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running = most = 0
    for _, change in edges:
        running += change
        most = max(most, running)
    return most


def test_queue_limits_and_partitions_hold_across_worker_processes(
    project: Project, processes: list[subprocess.Popen[str]]
) -> None:
    assert floe_cli(project, "queue", "set", "narrow", "--concurrency", "2").returncode == 0

    def place(name: str, *options: str) -> str:
        result = floe_cli(
            project, "run", "flows.py:spans", "--input", json.dumps(name), "--detach", *options
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    narrow = [place(f"n{index}", "--queue", "narrow") for index in range(8)]
    ordered = [
        place(f"p{index}", "--queue", "wide", "--partition-key", "customer") for index in range(4)
    ]
    for _ in range(2):
        worker = start_worker(project, "--concurrency", "4", "--poll-seconds", "0.05")
        processes.append(worker)
    wait_for(lambda: all_done(project, narrow + ordered), "the queued runs")
    spans = spans_of(project)
    # the queue's concurrency holds across both workers ...
    assert most_at_once([spans[f"n{index}"] for index in range(8)]) <= 2
    # ... and a partition's runs ran one at a time, in the order they were submitted
    partition = [spans[f"p{index}"] for index in range(4)]
    assert all(end <= after for (_, end), (after, _) in itertools.pairwise(partition))
    stored = runs(project)
    assert {stored[run_id].queue for run_id in narrow} == {"narrow"}
    assert {stored[run_id].partition_key for run_id in ordered} == {"customer"}
    for worker in processes:
        assert stop(worker)[0] == 0


def test_queue_options_refuse_bad_input_and_store_nothing(project: Project) -> None:
    for options in (
        ("--queue", "no spaces"),
        ("--queue", ""),
        ("--priority", "2147483648"),
        ("--partition-key", ""),
    ):
        result = floe_cli(project, "run", "flows.py:spans", "--input", '"x"', "--detach", *options)
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("Error:") == 1
    placed = floe_cli(project, "run", "flows.py:spans", "--input", '"x"', "--queue", "q")
    assert placed.returncode == 2
    assert "--detach" in placed.stderr
    for arguments in (
        ("queue", "set", "q", "--concurrency", "0"),
        ("queue", "set", "q", "--rate", "5"),
        ("queue", "remove", "never-set"),
        ("worker", "--queue", "no spaces"),
    ):
        result = floe_cli(project, *arguments)
        assert result.returncode == 2, (arguments, result.stderr)
    assert runs(project) == {}
    assert floe_cli(project, "queue", "list", "--json").stdout.strip() == "[]"
