"""The workflow examples run as their docstrings say, as scripts and through ``floe run``.

Each example runs in a real process (``sys.executable``, or the ``floe`` console script)
in a temporary working directory, so the default store ``.floe/floe.db`` lands there;
the checks read what the processes print and what the store recorded.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

import floe

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FLOE = Path(sys.executable).with_name("floe")


def environment(**extra: str) -> dict[str, str]:
    """This process's environment without floe settings: the examples use the defaults."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLOE_")}
    env["FLOE_STRICT_PLUGINS"] = "1"
    env["PYTHONWARNINGS"] = "error"
    env.update(extra)
    return env


def script(
    name: str, *args: str, cwd: Path, expect: int = 0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python examples/NAME ARGS...`` in *cwd*."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        env=env or environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == expect, f"exit code {result.returncode}:\n{result.stderr}"
    return result


def cli(
    *args: str, cwd: Path, expect: int = 0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The ``floe`` console script in *cwd* (stdout a pipe: progress is plain lines)."""
    result = subprocess.run(
        [str(FLOE), *args],
        cwd=cwd,
        env=env or environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == expect, f"exit code {result.returncode}:\n{result.stderr}"
    return result


def target(example: str, name: str) -> str:
    return f"{EXAMPLES / example}:{name}"


def run_json(example: str, name: str, *args: str, cwd: Path, expect: int = 0) -> dict[str, Any]:
    """``floe run TARGET ARGS --json``: the execution summary."""
    result = cli("run", target(example, name), *args, "--json", cwd=cwd, expect=expect)
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def journal(run_id: str, *, cwd: Path) -> list[dict[str, Any]]:
    """``floe events RUN_ID --json``: the run's journal."""
    events: list[dict[str, Any]] = json.loads(cli("events", run_id, "--json", cwd=cwd).stdout)
    return events


def kinds(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [event for event in events if event["kind"] == kind]


# -- hello ----------------------------------------------------------------------------------


def test_hello(tmp_path: Path) -> None:
    assert script("hello.py", "Ada", cwd=tmp_path).stdout == "Hello, Ada!\n"
    # recorded in the default store under the working directory
    runs = json.loads(cli("runs", "--json", cwd=tmp_path).stdout)
    assert [(run["name"], run["status"], run["output"]) for run in runs] == [
        ("hello", "completed", "Hello, Ada!")
    ]
    assert cli("run", target("hello.py", "hello"), "--input", '"Bo"', cwd=tmp_path).stdout == (
        '"Hello, Bo!"\n'
    )


# -- composition: pipeline, parallel, map, graph ---------------------------------------------


def test_pipeline(tmp_path: Path) -> None:
    lines = script("pipeline.py", "4", cwd=tmp_path).stdout.splitlines()
    assert lines == [
        "121",
        "floe.pipeline#1/multiply_by_two#1",
        "floe.pipeline#1/add_three#1",
        "floe.pipeline#1/square#1",
    ]
    assert script("pipeline.py", "0", cwd=tmp_path).stdout.splitlines()[0] == "9"
    assert not (tmp_path / ".floe").exists()  # the script keeps its runs in memory

    assert cli("run", target("pipeline.py", "numbers"), "--input", "4", cwd=tmp_path).stdout == (
        "121\n"
    )
    summary = run_json("pipeline.py", "numbers", "--input", "5", cwd=tmp_path)
    assert summary["status"] == "completed"
    assert summary["output"] == 169
    assert summary["executed_tasks"] == lines[1:]


def test_pipeline_refuses_a_bad_target_and_input(tmp_path: Path) -> None:
    missing = cli("run", target("pipeline.py", "nope"), "--input", "4", cwd=tmp_path, expect=2)
    assert "has no 'nope'" in missing.stderr
    not_json = cli(
        "run", target("pipeline.py", "numbers"), "--input", "four", cwd=tmp_path, expect=2
    )
    assert "Error:" in not_json.stderr
    assert not_json.stdout == ""


def test_parallel(tmp_path: Path) -> None:
    lines = script("parallel.py", "Ada", cwd=tmp_path).stdout.splitlines()
    # call order, although say_hola finishes first and say_hi last
    assert json.loads(lines[0]) == ["Hi, Ada", "Hello, Ada", "Hola, Ada"]
    assert lines[1] == "say_hello#1, say_hi#1, say_hola#1"

    summary = run_json("parallel.py", "greetings", "--input", '"Bo"', cwd=tmp_path)
    assert summary["output"] == ["Hi, Bo", "Hello, Bo", "Hola, Bo"]
    assert sorted(summary["executed_tasks"]) == ["say_hello#1", "say_hi#1", "say_hola#1"]


def test_map_and_starmap(tmp_path: Path) -> None:
    lines = script("map.py", "apple", "fig", "banana", cwd=tmp_path).stdout.splitlines()
    assert json.loads(lines[0]) == {
        "loud": ["APPLE!", "FIG!", "BANANA!"],
        "labels": ["apple: 5 letters", "fig: 3 letters", "banana: 6 letters"],
    }
    assert lines[1] == "6 steps"

    summary = run_json("map.py", "words", "--input", '["kiwi", "plum"]', cwd=tmp_path)
    assert summary["output"] == {
        "loud": ["KIWI!", "PLUM!"],
        "labels": ["kiwi: 4 letters", "plum: 4 letters"],
    }
    assert sorted(summary["executed_tasks"]) == ["label#1", "label#2", "shout#1", "shout#2"]


def test_graph_takes_or_skips_the_conditional_branch(tmp_path: Path) -> None:
    lines = script("dag.py", "120", "1500", "80", cwd=tmp_path).stdout.splitlines()
    assert json.loads(lines[0]) == {
        "report": "3 orders, 1700.0 in all; large: #2",
        "skipped": [],
    }
    assert lines[1] == "review#1/flag_large#1, review#1/load#1, review#1/report#1, review#1/total#1"

    lines = script("dag.py", "120", "80", cwd=tmp_path).stdout.splitlines()
    assert json.loads(lines[0]) == {"report": "2 orders, 200.0 in all", "skipped": ["flag_large"]}
    assert lines[1] == "review#1/load#1, review#1/report#1, review#1/total#1"

    summary = run_json("dag.py", "orders", "--input", "[2000, 3000]", cwd=tmp_path)
    assert summary["output"]["report"] == "2 orders, 5000.0 in all; large: #1, #2"


# -- failures: retries, fallback, rollbacks --------------------------------------------------


def test_retries_and_fallback(tmp_path: Path) -> None:
    lines = script("retries_fallback.py", "ACME", cwd=tmp_path).stdout.splitlines()
    assert lines == [
        '["ACME: fetched on attempt 3", "ACME: 41.5 (last known price)"]',
        "fetch_report: 3 attempts",
        "retries journaled: 3",
        "fallbacks journaled: 1",
    ]

    summary = run_json(
        "retries_fallback.py", "quotes", "--input", '"INITECH"', "--run-id", "q-1", cwd=tmp_path
    )
    assert summary["output"] == [
        "INITECH: fetched on attempt 3",
        "INITECH: 41.5 (last known price)",
    ]
    events = journal("q-1", cwd=tmp_path)
    retrying = kinds(events, "task.retrying")
    assert [(event["step"], event["data"]["attempt"]) for event in retrying] == [
        ("fetch_report#1", 1),
        ("fetch_report#1", 2),
        ("live_price#1", 1),
    ]
    # the delays compound (0.02, then 0.04), and the timeout stopped each price attempt
    assert [event["data"]["delay"] for event in retrying[:2]] == [0.02, 0.04]
    assert retrying[2]["data"]["error"]["type"] == "floe.TaskTimeoutError"
    assert [event["step"] for event in kinds(events, "task.fallback")] == ["live_price#1"]


def test_saga_rolls_back_in_reverse_order(tmp_path: Path) -> None:
    lines = script("saga.py", "1500", cwd=tmp_path).stdout.splitlines()
    assert lines == [
        "booked hotel in Lisbon for 3 nights",
        "booked flight to Lisbon",
        "released the hold of 1500 on the card",
        "cancelled flight to Lisbon",
        "cancelled hotel in Lisbon",
        "failed: CardDeclined: card declined: 1500 is over the limit",
        "rolled back: charge_card#1 (task_failed), book_flight#1 (run_failed), "
        "book_hotel#1 (run_failed)",
    ]
    lines = script("saga.py", "300", cwd=tmp_path).stdout.splitlines()
    assert lines == [
        "booked hotel in Lisbon for 3 nights",
        "booked flight to Lisbon",
        "charged 300",
        "completed: hotel-lisbon, flight-lisbon, payment-300",
        "rolled back: nothing",
    ]

    failed = cli(
        "run",
        target("saga.py", "trip"),
        "--input",
        "2000",
        "--run-id",
        "t-1",
        cwd=tmp_path,
        expect=1,
    )
    assert failed.stdout == ""
    assert "card declined: 2000 is over the limit" in failed.stderr
    events = journal("t-1", cwd=tmp_path)
    assert [
        (event["kind"], event["step"], (event["data"] or {}).get("reason"))
        for event in events
        if event["kind"] in {"task.failed", "task.rolled_back", "run.failed"}
    ] == [
        ("task.failed", "charge_card#1", None),
        ("task.rolled_back", "charge_card#1", "task_failed"),
        ("task.rolled_back", "book_flight#1", "run_failed"),
        ("task.rolled_back", "book_hotel#1", "run_failed"),
        ("run.failed", None, None),
    ]


# -- durability across processes: cache, pause and resume, durable sleep, subworkflows ------


def computed(stderr: str) -> list[str]:
    """The numbers ``slow_square`` really squared, by the line it writes each time.

    Found anywhere in stderr, not line by line: the command line's progress lines come
    from another thread and may land between a print's text and its newline.
    """
    return re.findall(r"computing (-?\d+)\^2", stderr)


def test_cache_hits_across_processes(tmp_path: Path) -> None:
    first = script("cache.py", "3", "0", "3", cwd=tmp_path)
    assert first.stdout.splitlines() == ["[9, 0, 9]", "cache hits: 1 of 3"]
    assert computed(first.stderr) == ["3", "0"]

    second = script("cache.py", "3", "0", "3", cwd=tmp_path)  # a new run, a new process
    assert second.stdout.splitlines() == ["[9, 0, 9]", "cache hits: 3 of 3"]
    assert computed(second.stderr) == []  # 0 is falsy, and still a hit

    third = cli("run", target("cache.py", "squares"), "--input", "[3, 4]", cwd=tmp_path)
    assert json.loads(third.stdout) == [9, 16]
    assert computed(third.stderr) == ["4"]


def test_pause_in_one_process_resume_in_another(tmp_path: Path) -> None:
    started = script("pause_resume.py", "start", "120", "exp-1", cwd=tmp_path)
    assert started.stdout.splitlines() == [
        "paused at 'approval' waiting with {\"amount\": 120}",
        "resume it with: python examples/pause_resume.py resume exp-1 NAME",
    ]
    assert started.stderr.splitlines() == ["checking an expense of 120"]
    status = json.loads(cli("status", "exp-1", "--json", cwd=tmp_path).stdout)
    assert status["status"] == "paused"

    resumed = script("pause_resume.py", "resume", "exp-1", "Grace", cwd=tmp_path)
    assert resumed.stdout.splitlines() == ["completed: paid 120, approved by Grace"]
    assert resumed.stderr.splitlines() == ["paying 120"]  # the check was replayed, not rerun

    again = script("pause_resume.py", "resume", "exp-1", "Alan", cwd=tmp_path, expect=1)
    assert "Run 'exp-1' is completed, not paused" in again.stderr
    unknown = script("pause_resume.py", "resume", "exp-9", "Alan", cwd=tmp_path, expect=1)
    assert "No run 'exp-9'" in unknown.stderr


def test_pause_and_resume_with_the_command_line(tmp_path: Path) -> None:
    paused = cli(
        "run",
        target("pause_resume.py", "expense"),
        "--input",
        "75",
        "--run-id",
        "exp-2",
        cwd=tmp_path,
    )
    assert paused.stdout == ""
    assert "Paused: run exp-2 of workflow 'expense' is waiting at 'approval'." in paused.stderr
    assert "checking an expense of 75" in paused.stderr

    done = cli("resume", "exp-2", "--input", '"Grace"', cwd=tmp_path)
    assert json.loads(done.stdout) == "paid 75, approved by Grace"
    assert "checking" not in done.stderr
    assert "paying 75" in done.stderr
    events = journal("exp-2", cwd=tmp_path)
    assert [event["data"]["value"] for event in kinds(events, "run.resumed")] == ["Grace"]
    assert len(kinds(events, "task.completed")) == 2  # each task ran and was recorded once


async def _journal_of(run_id: str, store: str) -> list[floe.Event]:
    async with floe.open_kernel(store=store) as kernel:
        return await kernel.store.read_events(run_id)


def test_durable_sleep_survives_a_killed_process(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / '.floe' / 'floe.db'}"
    first = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "durable_sleep.py"), "welcome-1", "3"],
        cwd=tmp_path,
        env=environment(FLOE_RUN_LEASE_SECONDS="0.5"),  # as the example's docstring says
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if (tmp_path / ".floe" / "floe.db").exists():
                recorded = anyio.run(_journal_of, "welcome-1", store, backend="trio")
                if any(event.kind == "timer.scheduled" for event in recorded):
                    break
            time.sleep(0.05)
        else:
            pytest.fail("the timer was never scheduled")
        first.send_signal(signal.SIGKILL)  # in the middle of its sleep
        out, err = first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == -signal.SIGKILL, f"the first process ended on its own:\n{err}"
    assert out == ""
    assert err.splitlines() == ["sent 'welcome' to ada"]
    time.sleep(0.6)  # the killed process's lease on the run runs out

    second = script("durable_sleep.py", "welcome-1", "3", cwd=tmp_path)
    assert second.stdout.splitlines() == [
        '["welcome -> ada", "tips -> ada"]',
        "timer.scheduled floe.sleep#1",
        "timer.fired floe.sleep#1",
    ]
    assert second.stderr.splitlines() == ["sent 'tips' to ada"]  # no second welcome

    # a third process finds the run finished: it prints the stored outcome, sends nothing
    third = script("durable_sleep.py", "welcome-1", "3", cwd=tmp_path)
    assert third.stdout == second.stdout
    assert third.stderr == ""
    events = journal("welcome-1", cwd=tmp_path)
    assert [event["step"] for event in kinds(events, "task.completed")] == ["send#1", "send#2"]
    assert len(kinds(events, "timer.scheduled")) == 1


def test_durable_sleep_with_the_command_line(tmp_path: Path) -> None:
    result = cli(
        "run",
        target("durable_sleep.py", "reminder"),
        "--kwargs",
        "--input",
        '{"user": "bo", "seconds": 0.05}',
        "--run-id",
        "welcome-2",
        cwd=tmp_path,
    )
    assert json.loads(result.stdout) == ["welcome -> bo", "tips -> bo"]
    events = journal("welcome-2", cwd=tmp_path)
    assert [event["data"]["seconds"] for event in kinds(events, "timer.scheduled")] == [0.05]
    assert len(kinds(events, "timer.fired")) == 1


def test_subworkflows_are_child_runs(tmp_path: Path) -> None:
    lines = script("subworkflow.py", "A-1", "B-2", cwd=tmp_path).stdout.splitlines()
    assert lines == [
        '{"total": 181.5, "largest": "B-2", "rechecked": true}',
        "month-end-1:invoice#1 completed 60.5",
        "month-end-1:invoice#2 completed 121.0",
        "month-end-1:invoice#3 completed 121.0",
    ]

    summary = run_json(
        "subworkflow.py",
        "month_end",
        "--input",
        '["C-3", "A-1"]',
        "--run-id",
        "month-end-1",
        cwd=tmp_path,
    )
    assert summary["output"] == {"total": 84.7, "largest": "A-1", "rechecked": True}
    runs = json.loads(cli("runs", "--workflow", "invoice", "--json", cwd=tmp_path).stdout)
    assert sorted((run["run_id"], run["parent_id"], run["output"]) for run in runs) == [
        ("month-end-1:invoice#1", "month-end-1", 24.2),
        ("month-end-1:invoice#2", "month-end-1", 60.5),
        ("month-end-1:invoice#3", "month-end-1", 60.5),
    ]
    # the parent journaled each child's outcome as one of its steps
    steps = kinds(journal("month-end-1", cwd=tmp_path), "task.completed")
    assert [(event["step"], event["data"]["child_run_id"]) for event in steps] == [
        ("invoice#1", "month-end-1:invoice#1"),
        ("invoice#2", "month-end-1:invoice#2"),
        ("invoice#3", "month-end-1:invoice#3"),
    ]


# -- secrets ------------------------------------------------------------------------------------

TOKEN = "tok-5f2c9a"


def test_secrets_reach_the_task_and_never_the_journal(tmp_path: Path) -> None:
    key = cli("secrets", "keygen", cwd=tmp_path).stdout.strip()
    env = environment(FLOE_SECRET_KEY=key)
    cli("secrets", "set", "api_token", "--value", TOKEN, cwd=tmp_path, env=env)

    result = script("secret_values.py", cwd=tmp_path, env=env)
    assert result.stdout.splitlines() == [
        '{"service": "https://api.example.org", "authorized": true, "note": "sent token ***"}',
        'call_service#1 {"service": "https://api.example.org", "authorized": true}',
        'describe_call#1 "***"',
    ]
    ran = cli(
        "run",
        target("secret_values.py", "use_api"),
        "--input",
        '"https://b.example.org"',
        "--run-id",
        "s-1",
        cwd=tmp_path,
        env=env,
    )
    assert json.loads(ran.stdout)["authorized"] is True
    for shown in (result.stdout, result.stderr, ran.stdout, ran.stderr):
        assert TOKEN not in shown
    events = cli("events", "s-1", "--json", cwd=tmp_path, env=env).stdout
    assert '"result": "***"' in events  # the sealed result
    assert TOKEN not in events
    assert TOKEN.encode() not in orjson.dumps(journal("s-1", cwd=tmp_path))


def test_a_missing_secret_is_named(tmp_path: Path) -> None:
    env = environment(FLOE_SECRET_KEY=cli("secrets", "keygen", cwd=tmp_path).stdout.strip())
    result = script("secret_values.py", cwd=tmp_path, env=env, expect=1)
    assert "Missing secret: api_token" in result.stderr
    assert result.stdout == ""


# -- the complete programs in the guides -----------------------------------------------------

DOCS = EXAMPLES.parent / "docs"
DOC_PROGRAMS = {
    # page, a line that identifies the block: what the program prints
    ("replay.md", "async def keys("): [
        "9",
        "['floe.now#1', 'load#1', 'load#1/parse#1', 'parse#1', 'parse#2']",
    ],
    ("replay.md", "async def order("): ["charged 10 2 1"],
    ("migration-flux.md", "async def hello_world(ctx: floe.Context[str])"): ["Hello, World"],
    ("migration-osbot.md", "def my_flow(input_data: str) -> str:\n    return"): ["completed HELLO"],
    ("migration-osbot.md", "def event_listener(event: floe.Event)"): [
        "Task started: process_data",
        "Task stopped: process_data#1, failed: False",
        "HELLO",
    ],
}


# -- artifacts, results, injection -----------------------------------------------------------


def test_artifacts_results_and_captured_output(tmp_path: Path) -> None:
    result = script("artifacts.py", "3", "1", "2", cwd=tmp_path)
    assert result.stdout.splitlines() == [
        "output: 6",
        "artifact stats (json): {'count': 3, 'total': 6}",
        "artifact report (markdown): # Report ...",
        "result total: 3 numbers add up to 6",
        "log: summing 3 numbers",
        "log: the largest is 3",
    ]
    # through the command line, on the default store: the journal holds all of it
    output = run_json("artifacts.py", "report", "--input", "[5, 5]", cwd=tmp_path)
    events = journal(output["run_id"], cwd=tmp_path)
    assert [e["data"]["key"] for e in kinds(events, "artifact.created")] == ["stats", "report"]
    assert [e["data"]["description"] for e in kinds(events, "result.created")] == [
        "2 numbers add up to 10"
    ]
    assert [e["data"]["message"] for e in kinds(events, "log.message")] == [
        "summing 2 numbers",
        "the largest is 5",
    ]


def test_injection_fills_what_the_caller_left_out(tmp_path: Path) -> None:
    result = script("injection.py", cwd=tmp_path)
    assert result.stdout.splitlines() == [
        "fetch#1 attempt 1 of run injection-demo, region eu-west",
        "fetch#2 attempt 1 of run injection-demo, region us-east (passed explicitly)",
        "metadata: {'run_id': 'injection-demo', 'step': 'check#1', 'position': '3', "
        "'task': 'check', 'attempt': 1}",
        "flow_data: {'fetched': ['a', 'b']}",
    ]


def python_blocks(page: str) -> list[str]:
    text = (DOCS / page).read_text(encoding="utf-8")
    return [block.split("\n```", 1)[0] for block in text.split("```python\n")[1:]]


@pytest.mark.parametrize(("page", "marker"), list(DOC_PROGRAMS), ids=lambda value: value[:24])
def test_guide_program_prints_what_it_says(tmp_path: Path, page: str, marker: str) -> None:
    found = [block for block in python_blocks(page) if marker in block]
    assert len(found) == 1, f"docs/{page}: {len(found)} python blocks hold {marker!r}"
    program = tmp_path / "program.py"
    program.write_text(found[0], encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(program)],
        cwd=tmp_path,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == DOC_PROGRAMS[page, marker]


@pytest.mark.parametrize(
    "page", ["tutorial.md", "replay.md", "migration-flux.md", "migration-osbot.md"]
)
def test_guide_python_blocks_compile(page: str) -> None:
    # the other blocks are excerpts of a workflow body: they must at least be Python
    for number, block in enumerate(python_blocks(page), 1):
        source = (
            block
            if "await " not in block
            else "async def _excerpt():\n" + "".join(f"    {line}\n" for line in block.splitlines())
        )
        compile(source, f"docs/{page}, python block {number}", "exec")


def test_workers_example_runs_every_order_once_on_two_workers(tmp_path: Path) -> None:
    result = script("workers.py", "6", cwd=tmp_path)
    lines = result.stdout.splitlines()
    assert lines[:6] == [f"order-{index}: charged {10 + index / 100:.2f}" for index in range(6)]
    executed = [re.fullmatch(r"worker \S+: executed (\d+) runs", line) for line in lines[6:]]
    assert len(executed) == 2
    assert all(match is not None for match in executed), lines
    assert sum(int(match.group(1)) for match in executed if match) == 6
    # the order numbers are the run ids: submitting them again runs nothing new
    again = script("workers.py", "6", cwd=tmp_path)
    assert again.stdout.splitlines()[:6] == lines[:6]
    assert sum(int(line.rsplit(" ", 2)[1]) for line in again.stdout.splitlines()[6:]) == 0
