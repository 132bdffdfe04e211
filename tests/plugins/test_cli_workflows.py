"""The workflow commands (run, resume, cancel, status, runs, events), as the real ``floe``
console script in subprocesses, on the default SQLite store in a temporary directory."""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
import textwrap
import time
from pathlib import Path

import orjson
import pytest

import floe

ROOT = Path(__file__).resolve().parents[2]
DURATION = r"(?:\d+ ms|\d+\.\d s)"
"""How progress shows a duration: 12 ms, 1.5 s."""
FLOE = Path(sys.executable).with_name("floe")

FLOWS = """
import anyio

import floe


@floe.task
def greet(name: str) -> str:
    return f"Hello, {name}!"


@floe.workflow
def hello(name: str) -> str:
    return greet(name)


@floe.task
async def shout(text: str) -> str:
    return text.upper()


@floe.workflow
async def greet_all(greeting: str, names: list[str]) -> list[str]:
    return [await shout(f"{greeting}, {name}") for name in names]


@floe.task(retries=2, retry_delay=0.01)
async def explode(reason: str) -> str:
    raise ValueError(f"no luck: {reason}")


@floe.workflow
async def doomed(reason: str) -> str:
    return await explode(reason)


@floe.task
async def nap(index: int) -> int:
    await anyio.sleep(0.15)
    return index


@floe.workflow
async def slow(count: int) -> int:
    return sum([await nap(index) for index in range(count)])


@floe.workflow
async def approval(amount: int) -> str:
    answer = await floe.pause("approve", output={"amount": amount})
    return f"{amount}: {answer}"


@floe.task(rollback=lambda item: print(f"rolled back {item}"))
async def reserve(item: str) -> str:
    return item


@floe.workflow
async def reserve_then_wait(item: str) -> str:
    await reserve(item)
    return await floe.pause("confirm")


not_a_workflow = 42
"""


def clean_environment(**extra: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("FLOE_")}
    environment["FLOE_STRICT_PLUGINS"] = "1"
    environment.update(extra)
    return environment


def floe_cli(
    *args: str, cwd: Path, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the ``floe`` console script; stdout is a pipe, so progress is plain lines."""
    return subprocess.run(
        [str(FLOE), *args],
        cwd=cwd,
        env=env or clean_environment(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_error_block(stderr: str, first_line: str) -> list[str]:
    """One block: what / Why / Fix / Context, no traceback."""
    lines = stderr.strip().splitlines()
    error_lines = [index for index, line in enumerate(lines) if line.startswith("Error:")]
    assert len(error_lines) == 1, stderr
    block = lines[error_lines[0] :]
    assert block[0] == f"Error: {first_line}", stderr
    assert "Traceback" not in stderr
    assert block[1].startswith("Why: "), stderr
    assert block[2].startswith("Fix: "), stderr
    assert block[-1].startswith("Context: "), stderr
    return block


def run_ids(cwd: Path, *options: str) -> list[str]:
    listed = floe_cli("runs", "--json", *options, cwd=cwd)
    assert listed.returncode == 0, listed.stderr
    return [run["run_id"] for run in orjson.loads(listed.stdout)]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A working directory with a module of workflows; the store lands in .floe/ here."""
    (tmp_path / "flows.py").write_text(FLOWS, encoding="utf-8")
    return tmp_path


# -- floe run ----------------------------------------------------------------------------


def test_run_prints_the_output_as_json_and_stores_the_run(project: Path) -> None:
    result = floe_cli("run", "flows.py:hello", "--input", '"World"', cwd=project)
    assert result.returncode == floe.ExitCode.OK, result.stderr
    assert result.stdout == '"Hello, World!"\n'
    assert (project / ".floe" / "floe.db").is_file()
    # stdout is a pipe: progress went to stderr, one plain line per event
    lines = result.stderr.splitlines()
    assert lines[0].split() == ["run.started", "hello", "run", run_ids(project)[0]]
    assert lines[1].split() == ["task.started", "greet#1"]
    assert re.fullmatch(rf"task\.completed\s+greet#1\s+\({DURATION}\)", lines[2])
    assert re.fullmatch(rf"run\.completed\s+hello\s+\({DURATION}\)", lines[3])
    assert len(lines) == 4


def test_run_of_a_missing_file_is_a_usage_error(project: Path) -> None:
    result = floe_cli("run", "nowhere.py:hello", "--input", '"World"', cwd=project)
    assert result.returncode == floe.ExitCode.USAGE
    assert result.stdout == ""
    assert_one_error_block(result.stderr, result.stderr.splitlines()[0].removeprefix("Error: "))
    assert "nowhere.py" in result.stderr
    assert not (project / ".floe").exists(), "nothing was run, so no store was opened"


@pytest.mark.parametrize(
    ("target", "named"),
    [
        ("flows.py:missing", "missing"),
        ("flows.py:not_a_workflow", "not_a_workflow"),
        ("no_such_package.flows:hello", "no_such_package"),
        ("flows.py", "flows.py"),
    ],
)
def test_run_of_a_bad_target_is_one_error_block(project: Path, target: str, named: str) -> None:
    result = floe_cli("run", target, cwd=project)
    assert result.returncode == floe.ExitCode.USAGE, result.stderr
    assert result.stdout == ""
    first = result.stderr.splitlines()[0]
    assert named in first, result.stderr
    assert "Traceback" not in result.stderr
    assert sum(line.startswith("Error:") for line in result.stderr.splitlines()) == 1


def test_run_of_a_file_that_fails_to_import_names_the_cause(project: Path) -> None:
    (project / "broken.py").write_text('raise RuntimeError("no config here")\n', encoding="utf-8")
    result = floe_cli("run", "broken.py:flow", cwd=project)
    assert result.returncode == floe.ExitCode.USAGE
    assert result.stdout == ""
    assert "RuntimeError: no config here" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_of_a_module_target_on_the_python_path(project: Path) -> None:
    result = floe_cli(
        "run",
        "flows:hello",
        "--input",
        '"module"',
        cwd=project,
        env=clean_environment(PYTHONPATH=str(project)),
    )
    assert result.returncode == floe.ExitCode.OK, result.stderr
    assert result.stdout == '"Hello, module!"\n'


def test_run_json_prints_the_execution_summary(project: Path) -> None:
    result = floe_cli("run", "flows.py:hello", "--input", '"World"', "--json", cwd=project)
    assert result.returncode == floe.ExitCode.OK, result.stderr
    summary = orjson.loads(result.stdout)
    assert set(summary) == {
        "run_id",
        "workflow",
        "status",
        "output",
        "error",
        "executed_tasks",
        "duration",
    }
    assert summary["status"] == "completed"
    assert summary["output"] == "Hello, World!"
    assert summary["error"] is None
    assert summary["executed_tasks"] == ["greet#1"]
    assert summary["workflow"] == "hello"
    assert 0 <= summary["duration"] < 30
    assert run_ids(project) == [summary["run_id"]]


def test_failed_run_exits_1_with_one_error_block(project: Path) -> None:
    result = floe_cli("run", "flows.py:doomed", "--input", '"today"', cwd=project)
    assert result.returncode == floe.ExitCode.RUN_FAILED
    assert result.stdout == ""
    (run_id,) = run_ids(project, "--status", "failed")
    block = assert_one_error_block(
        result.stderr, "Workflow 'doomed' failed: ValueError: no luck: today"
    )
    assert block[1] == (
        "Why: Step 'explode#1' failed after 3 attempts and the workflow did not handle the error."
    )
    assert f"floe events {run_id}" in block[2]
    assert f"run_id='{run_id}'" in block[-1]
    # the plain progress lines show each retry, then the failure
    progress = result.stderr[: result.stderr.index("\nError: ")]
    assert progress.count("task.retrying") == 2
    assert "attempt 1 failed (ValueError: no luck: today); next in 10 ms" in progress
    assert re.search(r"task\.failed\s+explode#1\s+ValueError: no luck: today", progress)


def test_failed_run_with_json_prints_the_summary_and_still_exits_1(project: Path) -> None:
    result = floe_cli("run", "flows.py:doomed", "--input", '"x"', "--json", "-q", cwd=project)
    assert result.returncode == floe.ExitCode.RUN_FAILED
    summary = orjson.loads(result.stdout)
    assert summary["status"] == "failed"
    assert summary["output"] is None
    assert summary["error"]["type"] == "builtins.ValueError"
    assert summary["error"]["message"] == "no luck: x"
    assert summary["executed_tasks"] == ["explode#1"]
    assert_one_error_block(result.stderr, "Workflow 'doomed' failed: ValueError: no luck: x")


def test_failed_run_shows_the_workflows_traceback_on_request(project: Path) -> None:
    result = floe_cli("--traceback", "run", "flows.py:doomed", "--input", '"x"', "-q", cwd=project)
    assert result.returncode == floe.ExitCode.RUN_FAILED
    assert "Traceback" in result.stderr
    assert 'raise ValueError(f"no luck: {reason}")' in result.stderr


def test_input_file_and_stdin(project: Path) -> None:
    (project / "input.json").write_text('"file"', encoding="utf-8")
    from_file = floe_cli("run", "flows.py:hello", "--input", "@input.json", cwd=project)
    assert from_file.returncode == floe.ExitCode.OK, from_file.stderr
    assert from_file.stdout == '"Hello, file!"\n'
    from_stdin = floe_cli("run", "flows.py:hello", "--input", "@-", cwd=project, stdin='"pipe"')
    assert from_stdin.returncode == floe.ExitCode.OK, from_stdin.stderr
    assert from_stdin.stdout == '"Hello, pipe!"\n'


def test_missing_input_file_is_a_usage_error(project: Path) -> None:
    result = floe_cli("run", "flows.py:hello", "--input", "@absent.json", cwd=project)
    assert result.returncode == floe.ExitCode.USAGE
    block = assert_one_error_block(result.stderr, "Cannot read the input file 'absent.json'")
    assert "No such file or directory" in block[1]


def test_input_that_is_not_json_is_a_usage_error(project: Path) -> None:
    # the classic slip: a string without its JSON quotes
    result = floe_cli("run", "flows.py:hello", "--input", "World", cwd=project)
    assert result.returncode == floe.ExitCode.USAGE
    assert result.stdout == ""
    block = assert_one_error_block(
        result.stderr, result.stderr.splitlines()[0].removeprefix("Error: ")
    )
    assert block[0].startswith("Error: The input from --input is not valid JSON")
    assert "--input '\"World\"'" in block[1]
    assert "input='World'" in block[-1]
    assert not (project / ".floe").exists()


def test_kwargs_passes_an_objects_members_as_keyword_arguments(project: Path) -> None:
    document = '{"greeting": "hi", "names": ["ann", "bo"]}'
    result = floe_cli("run", "flows.py:greet_all", "--input", document, "--kwargs", cwd=project)
    assert result.returncode == floe.ExitCode.OK, result.stderr
    assert orjson.loads(result.stdout) == ["HI, ANN", "HI, BO"]


@pytest.mark.parametrize(
    ("document", "first_line"),
    [
        ('["hi", ["ann"]]', "--kwargs needs a JSON object as input, got list"),
        ('{"run_id": "x"}', "--kwargs cannot pass the keyword argument 'run_id'"),
    ],
)
def test_kwargs_with_a_bad_input_is_a_usage_error(
    project: Path, document: str, first_line: str
) -> None:
    result = floe_cli("run", "flows.py:greet_all", "--input", document, "--kwargs", cwd=project)
    assert result.returncode == floe.ExitCode.USAGE
    block = assert_one_error_block(
        result.stderr, result.stderr.splitlines()[0].removeprefix("Error: ")
    )
    assert block[0].startswith(f"Error: {first_line}")


def test_arguments_the_workflow_cannot_take_are_a_usage_error(project: Path) -> None:
    result = floe_cli("run", "flows.py:greet_all", "--input", '"one"', cwd=project)
    assert result.returncode == floe.ExitCode.USAGE
    assert "Workflow 'greet_all' cannot take these arguments" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_id_of_a_finished_run_prints_its_output_and_runs_nothing(project: Path) -> None:
    first = floe_cli(
        "run", "flows.py:hello", "--input", '"A"', "--run-id", "greeting-1", cwd=project
    )
    assert first.returncode == floe.ExitCode.OK, first.stderr
    again = floe_cli("run", "flows.py:hello", "--run-id", "greeting-1", cwd=project)
    assert again.returncode == floe.ExitCode.OK, again.stderr
    assert again.stdout == '"Hello, A!"\n'
    assert "task.started" not in again.stderr
    assert run_ids(project) == ["greeting-1"]


def test_run_id_of_another_workflows_run_is_a_usage_error(project: Path) -> None:
    floe_cli("run", "flows.py:hello", "--input", '"A"', "--run-id", "shared", "-q", cwd=project)
    result = floe_cli("run", "flows.py:doomed", "--input", '"A"', "--run-id", "shared", cwd=project)
    assert result.returncode == floe.ExitCode.USAGE
    assert "Run 'shared' belongs to workflow 'hello', not 'doomed'" in result.stderr
    assert "Traceback" not in result.stderr


def test_quiet_shows_no_progress(project: Path) -> None:
    result = floe_cli("run", "flows.py:hello", "--input", '"World"', "--quiet", cwd=project)
    assert result.returncode == floe.ExitCode.OK, result.stderr
    assert result.stdout == '"Hello, World!"\n'
    assert result.stderr == ""


def test_store_option_runs_on_that_store(project: Path) -> None:
    store = "json:///runs-json"
    result = floe_cli(
        "run", "flows.py:hello", "--input", '"json"', "--store", store, "-q", cwd=project
    )
    assert result.returncode == floe.ExitCode.OK, result.stderr
    assert (project / "runs-json").is_dir()
    (run_id,) = run_ids(project, "--store", store)
    assert floe_cli("status", run_id, "--store", store, cwd=project).returncode == 0
    # the root's --store names the same store; without one, the default store has no such run
    assert floe_cli("--store", store, "events", run_id, cwd=project).returncode == 0
    missing = floe_cli("status", run_id, cwd=project)
    assert missing.returncode == floe.ExitCode.USAGE
    assert f"No run '{run_id}' in sqlite:///.floe/floe.db" in missing.stderr


def test_bad_store_option_is_a_usage_error(project: Path) -> None:
    result = floe_cli("run", "flows.py:hello", "--input", '"x"', "--store", "nope", cwd=project)
    assert result.returncode == floe.ExitCode.USAGE
    assert "Malformed store URL 'nope'" in result.stderr
    assert "Traceback" not in result.stderr


# -- the live display on a terminal ------------------------------------------------------


def run_on_terminal(*args: str, cwd: Path) -> tuple[int, str, str]:
    """Run ``floe`` with a pseudo-terminal as stdout; return (exit code, terminal, stderr)."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    env = clean_environment(TERM="xterm-256color", COLUMNS="120", LINES="30")
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [str(FLOE), *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=subprocess.PIPE,
    )
    os.close(terminal)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(controller, 65536)
        except OSError as error:  # EIO: the child closed the terminal
            if error.errno != errno.EIO:
                raise
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    assert process.stderr is not None
    stderr = process.stderr.read().decode()
    process.stderr.close()
    code = process.wait(timeout=60)
    return code, b"".join(chunks).decode(errors="replace"), stderr


ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_run_on_a_terminal_shows_a_live_display_of_the_steps(project: Path) -> None:
    code, screen, stderr = run_on_terminal("run", "flows.py:slow", "--input", "3", cwd=project)
    assert code == floe.ExitCode.OK, stderr
    assert stderr == ""
    # rich redraws in place: cursor movements and erased lines, then the final frame
    assert "\x1b[2K" in screen
    assert "\x1b[?25l" in screen  # the cursor is hidden while the display is live
    text = ANSI.sub("", screen).replace("\r", "")
    for key in ("nap#1", "nap#2", "nap#3"):
        assert re.search(rf"✓ {re.escape(key)}\s+{DURATION}", text), text
    assert re.search(r"slow\s+run [0-9a-f]{32}\s+completed.*3/3 steps done", text), text
    # a frame drawn while the run was going: a step still running, not all steps done
    assert re.search(r"running.*[0-2]/\d steps done", text), text
    # the output comes last, after the display stopped
    assert text.rstrip().endswith("3")
    assert not re.search(r"task\.completed", text), "no plain progress lines on a terminal"


def test_failed_run_on_a_terminal_marks_the_step_and_prints_the_error_on_stderr(
    project: Path,
) -> None:
    code, screen, stderr = run_on_terminal("run", "flows.py:doomed", "--input", '"t"', cwd=project)
    assert code == floe.ExitCode.RUN_FAILED
    text = ANSI.sub("", screen).replace("\r", "")
    assert re.search(rf"✗ explode#1\s+{DURATION}\s+ValueError: no luck: t", text), text
    assert re.search(r"doomed\s+run [0-9a-f]{32}\s+failed", text), text
    assert_one_error_block(stderr, "Workflow 'doomed' failed: ValueError: no luck: t")


# -- floe status / runs / events ---------------------------------------------------------


@pytest.fixture
def finished_runs(project: Path) -> dict[str, str]:
    """Two runs in the project's store: one completed, one failed."""
    ok = floe_cli("run", "flows.py:hello", "--input", '"World"', "--run-id", "run-ok", cwd=project)
    assert ok.returncode == 0, ok.stderr
    bad = floe_cli("run", "flows.py:doomed", "--input", '"x"', "--run-id", "run-bad", cwd=project)
    assert bad.returncode == 1, bad.stderr
    return {"completed": "run-ok", "failed": "run-bad"}


def test_status_shows_a_runs_outcome(project: Path, finished_runs: dict[str, str]) -> None:
    result = floe_cli("status", "run-ok", cwd=project)
    assert result.returncode == floe.ExitCode.OK, result.stderr
    fields = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in result.stdout.splitlines())
    assert fields["run"] == "run-ok"
    assert fields["name"] == "hello (workflow)"
    assert fields["status"] == "completed"
    assert fields["input"] == '{"args":["World"],"kwargs":{}}'
    assert fields["output"] == '"Hello, World!"'
    assert fields["steps"] == "1 finished: greet#1"
    assert "error" not in fields

    failed = floe_cli("status", "run-bad", cwd=project)
    assert failed.returncode == floe.ExitCode.OK, "status reports a failed run, it does not fail"
    assert "error     builtins.ValueError: no luck: x" in failed.stdout


def test_status_detailed_and_json(project: Path, finished_runs: dict[str, str]) -> None:
    detailed = floe_cli("status", "run-ok", "--detailed", cwd=project)
    assert detailed.returncode == floe.ExitCode.OK, detailed.stderr
    summary, timeline = detailed.stdout.split("\n\n")
    assert summary.startswith("run       run-ok")
    assert [re.split(r"\s{2,}", line)[3] for line in timeline.splitlines()[1:]] == [
        "run.started",
        "task.started",
        "task.completed",
        "run.completed",
    ]

    as_json = floe_cli("status", "run-bad", "--json", "--detailed", cwd=project)
    document = orjson.loads(as_json.stdout)
    assert document["run_id"] == "run-bad"
    assert document["status"] == "failed"
    assert document["error"]["message"] == "no luck: x"
    assert document["executed_tasks"] == ["explode#1"]
    assert [event["kind"] for event in document["events"]] == [
        "run.started",
        "task.retrying",
        "task.retrying",
        "task.started",
        "task.failed",
        "run.failed",
    ]
    plain_json = orjson.loads(floe_cli("status", "run-bad", "--json", cwd=project).stdout)
    assert "events" not in plain_json


@pytest.mark.parametrize("command", ["status", "events", "cancel", "resume"])
def test_unknown_run_id_is_one_error_block(project: Path, command: str) -> None:
    result = floe_cli(command, "nope", cwd=project)
    assert result.returncode == floe.ExitCode.USAGE
    assert result.stdout == ""
    block = assert_one_error_block(result.stderr, "No run 'nope' in sqlite:///.floe/floe.db")
    assert "floe runs" in block[2]
    assert block[-1] == "Context: run_id='nope', store='sqlite:///.floe/floe.db'"


def test_runs_lists_newest_first_and_filters(project: Path, finished_runs: dict[str, str]) -> None:
    result = floe_cli("runs", cwd=project)
    assert result.returncode == floe.ExitCode.OK, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["RUN", "ID", "NAME", "KIND", "STATUS", "CREATED", "DURATION"]
    assert [row.split()[:4] for row in rows] == [
        ["run-bad", "doomed", "workflow", "failed"],
        ["run-ok", "hello", "workflow", "completed"],
    ]
    assert run_ids(project, "--status", "completed") == ["run-ok"]
    assert run_ids(project, "--workflow", "doomed") == ["run-bad"]
    assert run_ids(project, "--limit", "1") == ["run-bad"]
    assert run_ids(project, "--kind", "component") == []
    empty = floe_cli("runs", "--status", "paused", cwd=project)
    assert empty.stdout == "No runs in sqlite:///.floe/floe.db match\n"
    document = orjson.loads(floe_cli("runs", "--json", cwd=project).stdout)
    assert [run["status"] for run in document] == ["failed", "completed"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--status", "done"), "Invalid value for '--status': 'done' is not one of"),
        (("--limit", "0"), "Invalid value for '--limit': 0 is not in the range 1<=x<=1000000000."),
    ],
)
def test_runs_with_a_bad_option_is_a_usage_error(
    project: Path, options: tuple[str, ...], message: str
) -> None:
    result = floe_cli("runs", *options, cwd=project)
    assert result.returncode == floe.ExitCode.USAGE
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def _run_hello(project: Path, run_id: str) -> None:
    done = floe_cli("run", "flows.py:hello", "--input", '"x"', "--run-id", run_id, cwd=project)
    assert done.returncode == floe.ExitCode.OK, done.stderr


def test_runs_after_pages_through_runs_created_meanwhile(
    project: Path, finished_runs: dict[str, str]
) -> None:
    for run_id in ("run-3", "run-4"):
        _run_hello(project, run_id)
    assert run_ids(project, "--limit", "2") == ["run-4", "run-3"]
    _run_hello(project, "run-5")  # newer than every page: the next one is not shifted
    assert run_ids(project, "--limit", "2", "--after", "run-3") == ["run-bad", "run-ok"]
    assert run_ids(project, "--limit", "2", "--after", "run-ok") == []
    assert run_ids(project, "--status", "completed", "--after", "run-4") == ["run-3", "run-ok"]
    assert run_ids(project, "--after", "run-b") == ["run-ok"]  # a unique start of an id
    table = floe_cli("runs", "--after", "run-bad", cwd=project)
    assert table.returncode == floe.ExitCode.OK, table.stderr
    assert [row.split()[0] for row in table.stdout.splitlines()[1:]] == ["run-ok"]
    empty = floe_cli("runs", "--after", "run-ok", cwd=project)
    assert empty.stdout == "No runs in sqlite:///.floe/floe.db after run-ok\n"
    filtered = floe_cli("runs", "--after", "run-ok", "--kind", "graph", cwd=project)
    assert filtered.stdout == "No runs in sqlite:///.floe/floe.db after run-ok match\n"


def test_runs_after_an_unknown_or_unusable_run_id_is_a_usage_error(
    project: Path, finished_runs: dict[str, str]
) -> None:
    unknown = floe_cli("runs", "--after", "nope", cwd=project)
    assert unknown.returncode == floe.ExitCode.USAGE
    assert unknown.stdout == ""
    assert_one_error_block(unknown.stderr, "No run 'nope' in sqlite:///.floe/floe.db")
    ambiguous = floe_cli("runs", "--after", "run-", cwd=project)
    assert ambiguous.returncode == floe.ExitCode.USAGE
    assert "is ambiguous" in ambiguous.stderr
    empty = floe_cli("runs", "--after", "", cwd=project)
    assert empty.returncode == floe.ExitCode.USAGE
    assert "Invalid value for '--after': a run id cannot be empty" in empty.stderr
    assert "Traceback" not in empty.stderr


def test_events_is_a_timeline_of_the_journal(project: Path, finished_runs: dict[str, str]) -> None:
    result = floe_cli("events", "run-bad", cwd=project)
    assert result.returncode == floe.ExitCode.OK, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["SEQ", "TIME", "(UTC)", "ELAPSED", "KIND", "STEP", "DATA"]
    cells = [re.split(r"\s{2,}", row) for row in rows]
    assert [cell[0] for cell in cells] == ["1", "2", "3", "4", "5", "6"]
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", cell[1]) for cell in cells)
    assert [cell[3] for cell in cells] == [
        "run.started",
        "task.retrying",
        "task.retrying",
        "task.started",
        "task.failed",
        "run.failed",
    ]
    assert [cell[4] for cell in cells] == ["-", *["explode#1"] * 4, "-"]
    # short data: step events drop what the STEP column shows, errors become one line
    assert cells[4][5] == '{"attempt":3,"error":"ValueError: no luck: x","raised":true}'
    assert cells[5][5] == '{"error":"ValueError: no luck: x"}'
    assert all(len(cell[5]) <= 72 for cell in cells)

    as_json = orjson.loads(floe_cli("events", "run-bad", "--json", cwd=project).stdout)
    assert [event["seq"] for event in as_json] == [1, 2, 3, 4, 5, 6]
    assert as_json[4]["data"]["task"] == "explode"


# -- pause, resume, cancel ---------------------------------------------------------------


def test_pause_then_resume_in_another_process(project: Path) -> None:
    paused = floe_cli(
        "run", "flows.py:approval", "--input", "250", "--run-id", "pay-1", cwd=project
    )
    assert paused.returncode == floe.ExitCode.OK, paused.stderr
    assert paused.stdout == ""
    assert "Paused: run pay-1 of workflow 'approval' is waiting at 'approve'." in paused.stderr
    assert 'Output: {"amount":250}' in paused.stderr
    assert "Resume it with: floe resume pay-1 --input JSON" in paused.stderr
    status = floe_cli("status", "pay-1", cwd=project)
    assert "status      paused" in status.stdout
    assert "waiting at  approve" in status.stdout

    resumed = floe_cli("resume", "pay-1", "--input", '"yes"', cwd=project)
    assert resumed.returncode == floe.ExitCode.OK, resumed.stderr
    assert resumed.stdout == '"250: yes"\n'
    assert run_ids(project, "--status", "completed") == ["pay-1"]


def test_run_json_of_a_paused_run_names_the_pause(project: Path) -> None:
    result = floe_cli("run", "flows.py:approval", "--input", "5", "--json", "-q", cwd=project)
    assert result.returncode == floe.ExitCode.OK, result.stderr
    summary = orjson.loads(result.stdout)
    assert summary["status"] == "paused"
    assert summary["pause"]["name"] == "approve"
    assert summary["pause"]["output"] == {"amount": 5}


def test_resume_of_a_finished_run_is_an_error(project: Path, finished_runs: dict[str, str]) -> None:
    result = floe_cli("resume", "run-ok", "--input", '"late"', cwd=project)
    assert result.returncode == floe.ExitCode.USAGE
    assert "Traceback" not in result.stderr
    assert "run-ok" in result.stderr.splitlines()[0]


def test_resume_with_bad_json_is_a_usage_error(project: Path) -> None:
    floe_cli("run", "flows.py:approval", "--input", "1", "--run-id", "pay-2", "-q", cwd=project)
    result = floe_cli("resume", "pay-2", "--input", "yes", cwd=project)
    assert result.returncode == floe.ExitCode.USAGE
    assert result.stderr.startswith("Error: The input from --input is not valid JSON")


def test_cancel_a_paused_run_runs_its_rollbacks(project: Path) -> None:
    paused = floe_cli(
        "run", "flows.py:reserve_then_wait", "--input", '"seat"', "--run-id", "r-1", cwd=project
    )
    assert paused.returncode == floe.ExitCode.OK, paused.stderr
    cancelled = floe_cli("cancel", "r-1", cwd=project)
    assert cancelled.returncode == floe.ExitCode.OK, cancelled.stderr
    assert cancelled.stdout.splitlines()[-1] == "run r-1 of workflow 'reserve_then_wait': cancelled"
    kinds = [
        event["kind"]
        for event in orjson.loads(floe_cli("events", "r-1", "--json", cwd=project).stdout)
    ]
    assert "task.rolled_back" in kinds
    assert kinds[-1] == "run.cancelled"
    # a finished run cannot be cancelled again
    again = floe_cli("cancel", "r-1", cwd=project)
    assert again.returncode != floe.ExitCode.OK
    assert "Traceback" not in again.stderr


# -- the README's main command -------------------------------------------------------------


def test_readme_command_runs_the_hello_example(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    result = floe_cli("run", "examples/hello.py:hello", "--input", '"World"', cwd=tmp_path)
    assert result.returncode == floe.ExitCode.OK, result.stderr
    assert result.stdout == '"Hello, World!"\n'
    assert (tmp_path / ".floe" / "floe.db").is_file()
    (run,) = orjson.loads(floe_cli("runs", "--json", cwd=tmp_path).stdout)
    assert run["name"] == "hello"
    assert run["status"] == "completed"


def test_readme_command_without_its_input_is_a_usage_error(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    result = floe_cli("run", "examples/hello.py:hello", cwd=tmp_path)
    assert result.returncode == floe.ExitCode.USAGE
    assert "Workflow 'hello' cannot take these arguments" in result.stderr


# -- start-up stays light -------------------------------------------------------------------


def test_help_lists_the_workflow_commands_without_importing_rich(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import sys
        from floe_cli import main
        code = main(["--help"])
        print("rich imported:", "rich" in sys.modules, "exit:", code)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for command in ("run", "resume", "cancel", "status", "runs", "events"):
        assert re.search(rf"^  {command}\s", result.stdout, flags=re.MULTILINE), command
    assert result.stdout.splitlines()[-1] == "rich imported: False exit: 0"
