"""How the workflow commands find, time and share runs, as the real ``floe`` console script:
checked option values, shortened run ids, durations, a run two processes execute, and
runs of other programming models (a flow's job, a component) given to resume and cancel."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import anyio
import orjson
import pytest
from test_cli_workflows import (
    DURATION,
    FLOE,
    FLOWS,
    assert_one_error_block,
    clean_environment,
    floe_cli,
)

import floe
from floe.testing import open_store
from floe_cli._progress import format_seconds

GATED = """
import os
from pathlib import Path

import anyio

import floe


@floe.task
async def hold(folder: str, step: int) -> int:
    # waits for the file <GATE>.<step>, after making <GATE>.<step>.waiting
    gate = Path(folder) / f"{os.environ['GATE']}.{step}"
    Path(f"{gate}.waiting").touch()
    while not gate.exists():
        await anyio.sleep(0.02)
    return step


@floe.workflow
async def relay(folder: str) -> int:
    return sum([await hold(folder, step) for step in (1, 2, 3)])
"""

PAUSED_JOB = """
import sys

import anyio

import floe
from floe.graph import Flow, Routine


class Review(Routine):
    flow = None

    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.review)
        self.define_event("reviewed", ["topic"])

    def review(self, topic):
        # the job pauses before the next delivery: the one to 'publish'
        Review.flow.pause("waiting for an editor")
        self.emit("reviewed", topic=topic)


class Publish(Routine):
    def __init__(self):
        super().__init__()
        self.define_slot("input", handler=self.publish)

    def publish(self, topic):
        pass


async def main():
    flow = Flow("article")
    flow.add_routine(Review(), "review")
    flow.add_routine(Publish(), "publish")
    flow.connect("review", "reviewed", "publish", "input")
    Review.flow = flow
    async with floe.open_kernel(log_format="off"):
        job = await flow.execute_async("review", {"topic": "graphs"}, job_id=sys.argv[1])
    print(job.status)


anyio.run(main)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "flows.py").write_text(FLOWS, encoding="utf-8")
    (tmp_path / "gated.py").write_text(GATED, encoding="utf-8")
    (tmp_path / "gates").mkdir()
    return tmp_path


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == floe.ExitCode.OK, result.stderr
    return result.stdout


def store_runs(project: Path, *runs: floe.Run) -> None:
    """Write run records straight into the project's SQLite store."""

    async def create() -> None:
        async with open_store(f"sqlite:///{project}/.floe/floe.db") as store:
            for run in runs:
                await store.create_run(run)

    (project / ".floe").mkdir(exist_ok=True)
    anyio.run(create)


def start_relay(project: Path, gate: str, *args: str) -> subprocess.Popen[str]:
    """``floe run gated.py:relay`` in the background; its steps wait for files named *gate*."""
    return subprocess.Popen(
        [str(FLOE), "run", "gated.py:relay", *args],
        cwd=project,
        env=clean_environment(GATE=gate),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(path: Path, *processes: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        for process in processes:
            if process.poll() is not None:
                pytest.fail(f"exited {process.returncode}: {process.communicate()[1]}")
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def open_gate(project: Path, name: str) -> None:
    (project / "gates" / name).touch()


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    stdout, stderr = process.communicate(timeout=60)
    return process.returncode, stdout, stderr


def fields(status_output: str) -> dict[str, str]:
    return dict(re.split(r"\s{2,}", line, maxsplit=1) for line in status_output.splitlines())


def milliseconds(text: str) -> float:
    number, unit = text.split()[:2]
    return float(number) * (1 if unit == "ms" else 1000)


# -- option values are checked before anything runs -----------------------------------------


@pytest.mark.parametrize(
    ("arguments", "first_line", "param"),
    [
        (
            ("runs", "--limit", "99999999999999999999999"),
            "Invalid value for '--limit': 99999999999999999999999 is not in the range "
            "1<=x<=1000000000.",
            "option='--limit'",
        ),
        (
            ("runs", "--limit", "0"),
            "Invalid value for '--limit': 0 is not in the range 1<=x<=1000000000.",
            "option='--limit'",
        ),
        (
            ("runs", "--limit", "ten"),
            "Invalid value for '--limit': 'ten' is not a valid integer range.",
            "option='--limit'",
        ),
        (
            ("runs", "--status", "done"),
            "Invalid value for '--status': 'done' is not one of 'pending', 'running', "
            "'paused', 'completed', 'failed', 'cancelled'.",
            "option='--status'",
        ),
        (
            ("run", "flows.py:hello", "--run-id", ""),
            "Invalid value for '--run-id': a run id cannot be empty",
            "option='--run-id'",
        ),
        (
            ("run", "flows.py:hello", "--run-id", " r-1"),
            "Invalid value for '--run-id': ' r-1' starts or ends with a space",
            "option='--run-id'",
        ),
        (
            ("status", "r\n1"),
            "Invalid value for 'RUN_ID': 'r\\n1' holds a control character",
            "argument='RUN_ID'",
        ),
        (
            ("events", ""),
            "Invalid value for 'RUN_ID': a run id cannot be empty",
            "argument='RUN_ID'",
        ),
        (
            ("resume", ""),
            "Invalid value for 'RUN_ID': a run id cannot be empty",
            "argument='RUN_ID'",
        ),
        (
            ("cancel", " "),
            "Invalid value for 'RUN_ID': a run id cannot be empty",
            "argument='RUN_ID'",
        ),
    ],
)
def test_bad_option_values_are_one_error_block(
    project: Path, arguments: tuple[str, ...], first_line: str, param: str
) -> None:
    result = floe_cli(*arguments, cwd=project)
    assert result.returncode == floe.ExitCode.USAGE
    assert result.stdout == ""
    block = assert_one_error_block(result.stderr, first_line)
    assert (
        block[2] == f"Fix: See 'floe {arguments[0]} --help' for the arguments and options it takes."
    )
    assert block[-1] == f"Context: command='floe {arguments[0]}', {param}"
    assert not (project / ".floe").exists(), "nothing ran, so no store was opened"


def test_the_largest_limit_is_taken(project: Path) -> None:
    assert ok(floe_cli("runs", "--limit", "1000000000", cwd=project)).startswith("No runs in")
    assert ok(floe_cli("runs", "--limit", "1000000000", "--json", cwd=project)) == "[]\n"


# -- shortened run ids ------------------------------------------------------------------------


def test_every_command_takes_a_unique_start_of_a_run_id(project: Path) -> None:
    ok(floe_cli("run", "flows.py:approval", "--input", "7", "-q", cwd=project))
    (run_id,) = [run["run_id"] for run in orjson.loads(ok(floe_cli("runs", "--json", cwd=project)))]
    assert re.fullmatch(r"[0-9a-f]{32}", run_id)
    short = run_id[:7]

    assert fields(ok(floe_cli("status", short, cwd=project)))["run"] == run_id
    assert orjson.loads(ok(floe_cli("status", short, "--json", cwd=project)))["run_id"] == run_id
    events = orjson.loads(ok(floe_cli("events", short, "--json", cwd=project)))
    assert {event["run_id"] for event in events} == {run_id}
    resumed = floe_cli("resume", short, "--input", '"yes"', cwd=project)
    assert ok(resumed) == '"7: yes"\n'
    assert resumed.stderr.splitlines()[-1].startswith("run.completed    approval")

    ok(floe_cli("run", "flows.py:reserve_then_wait", "--input", '"seat"', "-q", cwd=project))
    waiting = orjson.loads(ok(floe_cli("runs", "--status", "paused", "--json", cwd=project)))
    other = waiting[0]["run_id"]
    cancelled = ok(floe_cli("cancel", other[:6], cwd=project))
    assert cancelled.splitlines()[-1] == f"run {other} of workflow 'reserve_then_wait': cancelled"


def test_an_exact_id_wins_over_longer_ids_it_starts(project: Path) -> None:
    store_runs(project, floe.Run(run_id="pay-1", name="one"), floe.Run(run_id="pay-10", name="ten"))
    assert fields(ok(floe_cli("status", "pay-1", cwd=project)))["name"] == "one (workflow)"
    assert fields(ok(floe_cli("status", "pay-10", cwd=project)))["name"] == "ten (workflow)"


def test_an_ambiguous_start_lists_the_runs_it_matches(project: Path) -> None:
    store_runs(
        project,
        floe.Run(run_id="abce-2", name="hello", status=floe.RunStatus.FAILED),
        floe.Run(run_id="abce-1", name="hello", status=floe.RunStatus.COMPLETED),
    )
    result = floe_cli("events", "abce", cwd=project)
    assert result.returncode == floe.ExitCode.USAGE
    block = assert_one_error_block(
        result.stderr,
        "The run id 'abce' is ambiguous in sqlite:///.floe/floe.db: 2 runs start with it",
    )
    assert block[1] == "Why: It matches abce-1 (hello, completed), abce-2 (hello, failed)."
    assert block[-1] == "Context: prefix='abce', store='sqlite:///.floe/floe.db'"
    assert fields(ok(floe_cli("status", "abce-2", cwd=project)))["status"] == "failed"


def test_an_ambiguous_start_lists_ten_runs_at_most(project: Path) -> None:
    store_runs(
        project, *(floe.Run(run_id=f"4f0c{index:028x}", name="hello") for index in range(25))
    )
    result = floe_cli("status", "4f0c", cwd=project)
    assert result.returncode == floe.ExitCode.USAGE
    block = assert_one_error_block(
        result.stderr,
        "The run id '4f0c' is ambiguous in sqlite:///.floe/floe.db: more than 10 runs start "
        "with it",
    )
    listed = re.findall(r"4f0c[0-9a-f]{28} \(hello, pending\)", block[1])
    assert listed == [f"4f0c{index:028x} (hello, pending)" for index in range(10)]
    assert block[1].endswith(", and more.")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("abc", "Why: No run has this id, and a shortened id needs at least 4 characters."),
        ("abcz", "Why: No run has this id or an id that starts with it in the store in effect."),
    ],
)
def test_a_start_too_short_or_matching_nothing_is_no_run(
    project: Path, text: str, why: str
) -> None:
    store_runs(project, floe.Run(run_id="abcd-1", name="hello"))
    for command in ("status", "events", "resume", "cancel"):
        result = floe_cli(command, text, cwd=project)
        assert result.returncode == floe.ExitCode.USAGE
        block = assert_one_error_block(result.stderr, f"No run '{text}' in sqlite:///.floe/floe.db")
        assert block[1] == why


# -- durations ---------------------------------------------------------------------------------


def test_run_status_runs_and_events_time_a_run_alike(project: Path) -> None:
    failed = floe_cli("run", "flows.py:doomed", "--input", '"x"', "--run-id", "timed", cwd=project)
    assert failed.returncode == floe.ExitCode.RUN_FAILED
    record = orjson.loads(ok(floe_cli("status", "timed", "--json", cwd=project)))
    created, updated = (datetime.fromisoformat(record[key]) for key in ("created_at", "updated_at"))
    assert record["duration"] == (updated - created).total_seconds()
    duration = fields(ok(floe_cli("status", "timed", cwd=project)))["duration"]
    assert duration == format_seconds(record["duration"])
    listing = ok(floe_cli("runs", cwd=project)).splitlines()
    assert next(line for line in listing if line.startswith("timed ")).endswith(f"  {duration}")
    # what 'floe run' printed as the run ended
    progress = failed.stderr[: failed.stderr.index("\nError: ")].splitlines()
    assert progress[-1].split()[:2] == ["run.failed", "doomed"]
    assert progress[-1].endswith(f"({duration})")
    # every event's ELAPSED counts from the run's creation, as the duration does
    events = orjson.loads(ok(floe_cli("events", "timed", "--json", cwd=project)))
    timeline = ok(floe_cli("events", "timed", cwd=project)).splitlines()[1:]
    elapsed = [re.split(r"\s{2,}", line)[2] for line in timeline]
    assert elapsed == [
        format_seconds((datetime.fromisoformat(event["at"]) - created).total_seconds())
        for event in events
    ]
    # the last event ended the run: its ELAPSED is the duration (to the rounding of a ms)
    assert abs(milliseconds(elapsed[-1]) - milliseconds(duration)) <= 1


def test_a_running_run_shows_its_time_so_far(project: Path) -> None:
    relay = start_relay(project, "a", "--input", '"gates"', "--run-id", "going", "-q")
    try:
        wait_for(project / "gates" / "a.1.waiting", relay)
        time.sleep(0.3)
        listing = ok(floe_cli("runs", cwd=project)).splitlines()
        row = next(line for line in listing if line.startswith("going "))
        assert row.split()[3] == "running"
        so_far = re.search(rf"({DURATION}) so far$", row)
        assert so_far is not None, row
        assert milliseconds(so_far.group(1)) >= 300
        assert fields(ok(floe_cli("status", "going", cwd=project)))["duration"].endswith(" so far")
        document = orjson.loads(ok(floe_cli("status", "going", "--json", cwd=project)))
        assert document["duration"] >= 0.3
    finally:
        for step in (1, 2, 3):
            open_gate(project, f"a.{step}")
        code, stdout, stderr = finish(relay)
    assert (code, stdout) == (floe.ExitCode.OK, "6\n"), stderr
    listing = ok(floe_cli("runs", cwd=project)).splitlines()
    assert not next(line for line in listing if line.startswith("going ")).endswith("so far")


# -- one run, two processes ---------------------------------------------------------------


def test_a_second_process_on_a_running_run_is_refused_before_any_step(project: Path) -> None:
    gates = project / "gates"
    first = start_relay(project, "a", "--input", '"gates"', "--run-id", "shared", "-q")
    try:
        wait_for(gates / "a.1.waiting", first)
        open_gate(project, "a.1")
        wait_for(gates / "a.2.waiting", first)
        status = fields(ok(floe_cli("status", "shared", cwd=project)))
        owner = status["executed by"].split(" (lease until ")[0]
        # the first process holds the run's lease: the second one runs nothing
        code, stdout, stderr = finish(start_relay(project, "b", "--run-id", "shared", "-q"))
        assert code == floe.ExitCode.USAGE, stderr
        assert stdout == ""
        lines = stderr.strip().splitlines()
        assert lines[0].startswith(f"Error: Run 'shared' is being executed by {owner} (leased ")
        assert sum(line.startswith("Error:") for line in lines) == 1
        assert "Traceback" not in stderr
        assert lines[-1].startswith("Context: run_id='shared', owner=")
        assert not list(gates.glob("b.*"))  # not one of its steps started
    finally:
        for name in ("a.1", "a.2", "a.3"):
            open_gate(project, name)
        code, stdout, stderr = finish(first)
    assert (code, stdout) == (floe.ExitCode.OK, "6\n"), stderr
    events = orjson.loads(ok(floe_cli("events", "shared", "--json", cwd=project)))
    completed = [event["step"] for event in events if event["kind"] == "task.completed"]
    assert completed == ["hold#1", "hold#2", "hold#3"]
    # a finished run holds no lease
    assert "executed by" not in fields(ok(floe_cli("status", "shared", cwd=project)))


def test_a_run_whose_process_was_killed_is_shown_interrupted_and_taken_over(
    project: Path,
) -> None:
    gates = project / "gates"
    first = subprocess.Popen(
        [str(FLOE), "run", "gated.py:relay", "--input", '"gates"', "--run-id", "lost", "-q"],
        cwd=project,
        env=clean_environment(GATE="a", FLOE_RUN_LEASE_SECONDS="0.5"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(gates / "a.1.waiting", first)
    open_gate(project, "a.1")
    wait_for(gates / "a.2.waiting", first)
    first.send_signal(signal.SIGKILL)
    finish(first)
    time.sleep(0.6)  # its lease runs out: nobody renews it
    listing = ok(floe_cli("runs", cwd=project)).splitlines()
    assert next(line for line in listing if line.startswith("lost ")).split()[3] == "interrupted"
    executor = fields(ok(floe_cli("status", "lost", cwd=project)))["executed by"]
    assert executor.startswith("nobody: the lease of ")
    assert " ran out at " in executor
    # another process takes the run over: step 1 replays, steps 2 and 3 run
    for name in ("b.2", "b.3"):
        open_gate(project, name)
    code, stdout, stderr = finish(start_relay(project, "b", "--run-id", "lost", "-q"))
    assert (code, stdout) == (floe.ExitCode.OK, "6\n"), stderr
    assert not (gates / "b.1.waiting").exists()  # replayed, not run again


# -- runs of other programming models -----------------------------------------------------


def test_a_flows_job_is_not_resumed_here_and_the_error_says_how(project: Path) -> None:
    (project / "paused_job.py").write_text(PAUSED_JOB, encoding="utf-8")
    made = subprocess.run(
        [sys.executable, "paused_job.py", "job-0001"],
        cwd=project,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.stdout == "paused\n", made.stderr
    for arguments, command in (
        (("resume", "job-0001"), "floe resume"),
        (("resume", "job-"), "floe resume"),
        (("run", "flows.py:hello", "--run-id", "job-0001"), "floe run --run-id"),
    ):
        result = floe_cli(*arguments, cwd=project)
        assert result.returncode == floe.ExitCode.USAGE
        block = assert_one_error_block(
            result.stderr,
            f"Run 'job-0001' is a job of the flow 'article', which '{command}' cannot continue",
        )
        assert "call 'await flow.resume_async('job-0001')'" in block[2]
        assert "'floe cancel job-0001' cancels the job" in block[2]
    cancelled = ok(floe_cli("cancel", "job-", cwd=project))
    assert cancelled.splitlines()[-1] == "job job-0001 of flow 'article': cancelled"


def test_a_component_is_neither_resumed_nor_cancelled_and_the_error_says_why(
    project: Path,
) -> None:
    (project / "orders.yaml").write_text("name: orders\n", encoding="utf-8")
    ok(floe_cli("register", "--config", "orders.yaml", cwd=project))
    for command, run_id in (("resume", "component:orders"), ("cancel", "comp")):
        result = floe_cli(command, run_id, cwd=project)
        assert result.returncode == floe.ExitCode.USAGE
        block = assert_one_error_block(
            result.stderr,
            f"Run 'component:orders' is the component 'orders', which 'floe {command}' "
            f"cannot {command}",
        )
        assert block[2].startswith("Fix: Send it a message with 'floe handle MESSAGE")
    assert fields(ok(floe_cli("status", "comp", cwd=project)))["status"] == "running"
