"""Kill a real process running a workflow at random points; a new process finishes it.

Every step appends a line to a side-effect file before it returns. After SIGKILL and a
resume in a fresh process: each step whose completion was journaled before the kill ran
exactly once; the step in flight (if any) ran at most twice (at-least-once execution);
the deterministic values recorded before the kill are the ones in the output; and the
output has the same shape as an uninterrupted run's.

A task killed while it waits out a retry backoff resumes with its next attempt, when the
backoff ends: across the processes, it makes exactly the attempts its policy allows.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import floe
from floe.testing import open_store

STEPS = 8

SCRIPT = textwrap.dedent(
    f"""
    import json
    import sys
    import anyio
    import floe

    store, log_path, run_id = sys.argv[1], sys.argv[2], sys.argv[3]

    @floe.task
    async def step(n: int) -> int:
        await anyio.sleep(0.02)
        with open(log_path, "a") as log:
            log.write(f"{{n}}\\n")
            log.flush()
        await anyio.sleep(0.02)
        return n * n

    @floe.workflow
    async def crashable() -> dict:
        squares = []
        for n in range({STEPS}):
            squares.append(await step(n))
        return {{
            "squares": squares,
            "at": (await floe.now()).isoformat(),
            "id": str(await floe.uuid4()),
            "dice": await floe.randint(1, 10**9),
        }}

    async def main() -> None:
        async with floe.open_kernel(store=store, log_format="off"):
            execution = await crashable.run_async(run_id=run_id)
            print(json.dumps({{"status": str(execution.status), "output": execution.output}}))

    anyio.run(main)
    """
)


def _launch(script: Path, store: str, log: Path, run_id: str, *more: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(script), store, str(log), run_id, *more],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a short lease: a killed process's runs are free again half a second later
        env={**os.environ, "FLOE_STRICT_PLUGINS": "1", "FLOE_RUN_LEASE_SECONDS": "0.5"},
    )


def _kill(victim: subprocess.Popen[str], store: str, run_id: str) -> None:
    """SIGKILL *victim*, then wait until the lease it held on *run_id* has run out (until
    then, another process is refused the run: it cannot tell a dead owner from a slow one)."""
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=60)
    run = anyio.run(_stored_run, store, run_id)
    assert run is not None
    if run.lease_expires_at is not None:
        time.sleep(max(0.0, (run.lease_expires_at - datetime.now(UTC)).total_seconds()) + 0.05)


async def _stored_run(store_url: str, run_id: str) -> floe.Run | None:
    async with open_store(store_url) as store:
        return await store.get_run(run_id)


def _finish(process: subprocess.Popen[str]) -> dict[str, object]:
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    result: dict[str, object] = json.loads(stdout.strip().splitlines()[-1])
    return result


async def _journal(store_url: str, run_id: str) -> list[floe.Event]:
    async with open_store(store_url) as store:
        return await store.read_events(run_id)


@settings(
    max_examples=6,
    # a list here replaces the profile's (tests/conftest.py): extend it
    suppress_health_check=[
        *settings.default.suppress_health_check,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(kill_after=st.floats(min_value=0.0, max_value=0.5))
def test_sigkill_at_random_points_then_resume(
    tmp_path_factory: pytest.TempPathFactory, kill_after: float
) -> None:
    root = tmp_path_factory.mktemp("crash")
    script = root / "crashable.py"
    script.write_text(SCRIPT)
    store = f"sqlite:///{root}/floe.db"
    log = root / "effects.log"

    victim = _launch(script, store, log, "victim")
    deadline = time.monotonic() + 60
    while not log.exists() and victim.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(kill_after)
    _kill(victim, store, "victim")

    before = anyio.run(_journal, store, "victim")
    completed_before = {
        e.data["result"]
        for e in before
        if e.kind == "task.completed" and e.step and e.step.startswith("step#")
    }
    recorded_values = {
        e.data["task"]: e.data["result"]
        for e in before
        if e.kind == "task.completed" and e.data["task"].startswith("floe.")
    }

    resumed = _finish(_launch(script, store, log, "victim"))
    assert resumed["status"] == "completed"
    output = resumed["output"]
    assert isinstance(output, dict)
    assert output["squares"] == [n * n for n in range(STEPS)]
    for task_name, field in (("floe.now", "at"), ("floe.uuid4", "id"), ("floe.randint", "dice")):
        if task_name in recorded_values:
            assert output[field] == recorded_values[task_name]

    runs = Counter(int(line) for line in log.read_text().split())
    for n in range(STEPS):
        if n * n in completed_before:
            assert runs[n] == 1, f"step {n} completed before the kill but ran {runs[n]} times"
        else:
            assert 1 <= runs[n] <= 2
    assert sum(1 for n in range(STEPS) if runs[n] == 2) <= 1  # only the step in flight

    # a second resume of the finished run runs nothing
    again = _finish(_launch(script, store, log, "victim"))
    assert again["output"] == output
    assert Counter(int(line) for line in log.read_text().split()) == runs


def test_uninterrupted_run_has_the_same_shape(tmp_path: Path) -> None:
    script = tmp_path / "crashable.py"
    script.write_text(SCRIPT)
    result = _finish(_launch(script, f"sqlite:///{tmp_path}/floe.db", tmp_path / "log", "clean"))
    output = result["output"]
    assert isinstance(output, dict)
    assert output["squares"] == [n * n for n in range(STEPS)]
    assert set(output) == {"squares", "at", "id", "dice"}


SLEEPER_SCRIPT = textwrap.dedent(
    """
    import json
    import sys
    import anyio
    import floe

    store, log_path, run_id = sys.argv[1], sys.argv[2], sys.argv[3]

    @floe.task
    async def effect(label: str) -> str:
        with open(log_path, "a") as log:
            log.write(label + "\\n")
        return label

    @floe.workflow
    async def napping_child(n: int) -> int:
        await effect(f"child-before-{n}")
        await floe.sleep(1.5)
        await effect(f"child-after-{n}")
        return n * 10

    @floe.workflow
    async def parent() -> list:
        first = await effect("parent-before")
        value = await floe.call(napping_child, 4)
        return [first, value, await effect("parent-after")]

    async def main() -> None:
        async with floe.open_kernel(store=store, log_format="off"):
            start = anyio.current_time()
            execution = await parent.run_async(run_id=run_id)
            print(json.dumps({"status": str(execution.status), "output": execution.output,
                              "elapsed": anyio.current_time() - start}))

    anyio.run(main)
    """
)


def test_sigkill_inside_a_sleeping_child_then_resume(tmp_path: Path) -> None:
    """Killed during a child's durable sleep: a new process resumes the parent, which
    reattaches to the child; the child sleeps only what was left of its timer."""
    script = tmp_path / "sleeper.py"
    script.write_text(SLEEPER_SCRIPT)
    store = f"sqlite:///{tmp_path}/floe.db"
    log = tmp_path / "effects.log"

    victim = _launch(script, store, log, "nap")
    deadline = time.monotonic() + 60
    while "child-before-4" not in (log.read_text() if log.exists() else ""):
        assert victim.poll() is None, victim.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.6)  # well into the 1.5 s sleep
    _kill(victim, store, "nap")

    child_events = anyio.run(_journal, store, "nap:napping_child#1")
    scheduled = [e for e in child_events if e.kind == "timer.scheduled"]
    assert len(scheduled) == 1
    assert not [e for e in child_events if e.kind == "timer.fired"]

    resumed = _finish(_launch(script, store, log, "nap"))
    assert resumed["status"] == "completed"
    assert resumed["output"] == ["parent-before", 40, "parent-after"]
    elapsed = resumed["elapsed"]
    assert isinstance(elapsed, float)
    assert elapsed < 1.3  # the rest of the timer (plus start-up), not a new 1.5 s
    assert log.read_text().split() == [
        "parent-before",
        "child-before-4",
        "child-after-4",
        "parent-after",
    ]
    child_events = anyio.run(_journal, store, "nap:napping_child#1")
    assert [e.kind for e in child_events].count("timer.scheduled") == 1
    assert [e.kind for e in child_events].count("timer.fired") == 1


# -- a crash during a retry backoff -----------------------------------------------------

ATTEMPTS = 4

RETRY_SCRIPT = textwrap.dedent(
    f"""
    import json
    import os
    import sys
    import time
    import anyio
    import floe

    store, log_path, run_id, delay = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])

    def note(**line):
        with open(log_path, "a") as log:
            log.write(json.dumps({{"pid": os.getpid(), "at": time.time(), **line}}) + "\\n")

    @floe.task(retries={ATTEMPTS - 1}, retry_delay=delay)
    async def flaky(this_task: floe.TaskHandle) -> None:
        note(attempt=this_task.attempt)
        raise ConnectionError(f"attempt {{this_task.attempt}} failed")

    @floe.workflow
    async def calls_flaky() -> None:
        await flaky()

    async def main() -> None:
        async with floe.open_kernel(store=store, log_format="off") as kernel:
            # the bus sees an event once it is stored: from here the backoff is durable
            kernel.bus.subscribe(
                "task.retrying",
                "test",
                lambda event: note(retrying=event.data["attempt"]),
                inline=True,
            )
            note(started=True)
            execution = await calls_flaky.run_async(run_id=run_id)
            print(json.dumps({{"status": str(execution.status)}}))

    anyio.run(main)
    """
)


def _retry_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def _kill_during_backoff(
    root: Path, delay: float, backoff: int, into_backoff: float
) -> tuple[str, Path, Path]:
    """Run the retrying workflow and SIGKILL it *into_backoff* s into backoff number
    *backoff* (the wait after attempt *backoff*); the store URL, script and log."""
    script = root / "retrying.py"
    script.write_text(RETRY_SCRIPT)
    store = f"sqlite:///{root}/floe.db"
    log = root / "attempts.log"
    victim = _launch(script, store, log, "flaky-run", str(delay))
    deadline = time.monotonic() + 60
    while not any(line.get("retrying") == backoff for line in _retry_log(log)):
        assert victim.poll() is None, victim.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    time.sleep(into_backoff)
    _kill(victim, store, "flaky-run")
    return store, script, log


def _resume_retrying(store: str, script: Path, log: Path, delay: float) -> dict[str, object]:
    return _finish(_launch(script, store, log, "flaky-run", str(delay)))


def _assert_attempts_continue(
    log: Path, events: list[floe.Event], killed_in_backoff: int
) -> list[dict[str, Any]]:
    """Exactly the policy's attempts, numbered 1, 2, ... across both processes, the
    resumed one starting with the next attempt; returns the attempt lines."""
    lines = _retry_log(log)
    attempts = [line for line in lines if "attempt" in line]
    assert [line["attempt"] for line in attempts] == list(range(1, ATTEMPTS + 1))
    first_pid = attempts[0]["pid"]
    assert [line["pid"] == first_pid for line in attempts] == [
        n <= killed_in_backoff for n in range(1, ATTEMPTS + 1)
    ]
    kinds = [(e.kind, e.data.get("attempt")) for e in events if e.kind.startswith("task.")]
    assert [a for kind, a in kinds if kind == "task.retrying"] == list(range(1, ATTEMPTS))
    assert ("task.started", killed_in_backoff + 1) in kinds
    assert kinds[-1] == ("task.failed", ATTEMPTS)
    return attempts


@settings(
    max_examples=5,
    # a list here replaces the profile's (tests/conftest.py): extend it
    suppress_health_check=[
        *settings.default.suppress_health_check,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(
    backoff=st.integers(min_value=1, max_value=ATTEMPTS - 1),
    into_backoff=st.floats(min_value=0.0, max_value=0.8),
)
def test_sigkill_during_a_retry_backoff_resumes_with_the_next_attempt(
    tmp_path_factory: pytest.TempPathFactory, backoff: int, into_backoff: float
) -> None:
    delay = 0.3
    root = tmp_path_factory.mktemp("backoff")
    store, script, log = _kill_during_backoff(root, delay, backoff, into_backoff * delay)

    resumed = _resume_retrying(store, script, log, delay)
    assert resumed["status"] == "failed"
    events = anyio.run(_journal, store, "flaky-run")
    attempts = _assert_attempts_continue(log, events, backoff)
    # the attempt after the crash was not early: it waited for its backoff to end
    wake_at = next(
        e.data["wake_at"]
        for e in events
        if e.kind == "task.retrying" and e.data["attempt"] == backoff
    )
    assert attempts[backoff]["at"] >= datetime.fromisoformat(wake_at).timestamp() - 0.01


def test_a_resumed_run_waits_only_for_the_rest_of_the_backoff(tmp_path: Path) -> None:
    """Killed early in a long backoff: the new process makes the next attempt when the
    backoff was due, not a whole backoff after it started."""
    delay = 2.0
    store, script, log = _kill_during_backoff(tmp_path, delay, 1, 0.2)
    resumed = _resume_retrying(store, script, log, 0.01)  # later backoffs: short
    assert resumed["status"] == "failed"
    events = anyio.run(_journal, store, "flaky-run")
    attempts = _assert_attempts_continue(log, events, 1)
    wake_at = datetime.fromisoformat(
        next(e.data["wake_at"] for e in events if e.kind == "task.retrying")
    ).timestamp()
    started = [line["at"] for line in _retry_log(log) if "started" in line]
    assert len(started) == 2
    second = attempts[1]["at"]
    assert second >= wake_at - 0.01
    # the resumed process began within the backoff and waited only for what was left
    assert second - max(wake_at, started[1]) < delay / 2
