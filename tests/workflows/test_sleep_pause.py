"""Durable timers and pauses: journaled, replayed, resumed across processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
import trio.testing

import floe
from floe import ConfigError, Kernel, NonDeterminismError, NotFoundError, RunStatus, StateError

pytestmark = pytest.mark.anyio


mock_clock = pytest.mark.parametrize(
    "anyio_backend",
    [
        pytest.param(
            ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}), id="trio-mockclock"
        )
    ],
)


# -- floe.sleep ---------------------------------------------------------------------------


@mock_clock
async def test_sleep_is_a_journaled_timer(floe_kernel_factory: Callable[..., Kernel]) -> None:
    @floe.workflow
    async def napper() -> float:
        start = anyio.current_time()
        await floe.sleep(3600)
        await floe.sleep(0)
        return anyio.current_time() - start

    async with floe_kernel_factory():
        execution = await napper.run_async()
    assert execution.succeeded
    assert execution.output == pytest.approx(3600)
    timers = [(e.kind, e.step) for e in execution.events if e.kind.startswith("timer.")]
    assert timers == [
        ("timer.scheduled", "floe.sleep#1"),
        ("timer.fired", "floe.sleep#1"),
        ("timer.scheduled", "floe.sleep#2"),
        ("timer.fired", "floe.sleep#2"),
    ]
    scheduled = next(e for e in execution.events if e.kind == "timer.scheduled")
    assert scheduled.data["seconds"] == 3600
    wake = datetime.fromisoformat(scheduled.data["wake_at"])
    assert (wake - scheduled.at).total_seconds() == pytest.approx(3600, abs=1)


@mock_clock
async def test_a_fired_timer_replays_at_once_and_the_run_is_runnable_at_the_wake_up(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.workflow
    async def two_naps() -> str:
        await floe.sleep(100)
        await floe.sleep(3600)
        return "rested"

    async with floe_kernel_factory() as kernel:
        with anyio.move_on_after(150):  # the process dies during the second sleep
            await two_naps.run_async(run_id="nap")
        run = await kernel.store.get_run("nap")
        assert run is not None
        assert run.status is RunStatus.RUNNING
        events = await kernel.store.read_events("nap")
        second = [e for e in events if e.kind == "timer.scheduled"][-1]
        assert second.step == "floe.sleep#2"
        assert run.runnable_at == datetime.fromisoformat(second.data["wake_at"])

        start = anyio.current_time()
        execution = await two_naps.run_async(run_id="nap")
        elapsed = anyio.current_time() - start
        final = await kernel.store.get_run("nap")
    assert final is not None
    assert final.runnable_at is None
    assert execution.output == "rested"
    # the first timer fired before the crash: only the second one's time is slept
    assert 3500 < elapsed <= 3600
    kinds = [(e.kind, e.step) for e in execution.events if e.kind.startswith("timer.")]
    assert kinds.count(("timer.scheduled", "floe.sleep#2")) == 1
    assert kinds.count(("timer.fired", "floe.sleep#2")) == 1


async def test_a_timer_interrupted_mid_sleep_sleeps_only_the_time_left(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    @floe.workflow
    async def short_nap() -> str:
        await floe.sleep(1.0)
        return "awake"

    async with floe_kernel_factory(store=store_url):
        with anyio.move_on_after(0.5):
            await short_nap.run_async(run_id="nap")
        start = anyio.current_time()
        execution = await short_nap.run_async(run_id="nap")
        elapsed = anyio.current_time() - start
    assert execution.output == "awake"
    assert 0.2 < elapsed < 0.9


@mock_clock
async def test_sleep_outside_a_workflow_and_in_a_sync_body(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    start = anyio.current_time()
    await floe.sleep(5)
    assert anyio.current_time() - start == pytest.approx(5)

    @floe.workflow
    def sync_napper() -> str:
        floe.sleep(60)  # a sync body calls it without await
        return "done"

    async with floe_kernel_factory():
        execution = await sync_napper.run_async()
    assert execution.output == "done"
    assert [e.kind for e in execution.events if e.kind.startswith("timer.")] == [
        "timer.scheduled",
        "timer.fired",
    ]


@pytest.mark.parametrize("seconds", [-1, "1", True, float("nan"), None])
def test_bad_sleep_seconds_are_rejected(seconds: Any) -> None:
    with pytest.raises(ConfigError, match="Invalid sleep"):
        floe.sleep(seconds)


# -- floe.pause / resume in one process ---------------------------------------------------


async def test_pause_and_resume_with_a_value(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    calls: list[str] = []

    @floe.task
    async def prepare(amount: int) -> int:
        calls.append("prepare")
        return amount * 2

    @floe.task
    async def pay(amount: int, approver: str) -> str:
        calls.append("pay")
        return f"{amount} approved by {approver}"

    @floe.workflow
    async def expense(amount: int) -> str:
        doubled = await prepare(amount)
        approver = await floe.pause("approval", output={"amount": doubled})
        return await pay(doubled, approver)

    async with floe_kernel_factory(store=store_url) as kernel:
        paused = await expense.run_async(60, run_id="exp")
        assert paused.paused
        assert paused.status is RunStatus.PAUSED
        assert paused.output == {"amount": 120}
        assert paused.pause_name == "approval"
        stored = await kernel.store.get_run("exp")
        assert stored is not None
        assert stored.status is RunStatus.PAUSED
        assert stored.runnable_at is None

        # a paused run loads as it is: nothing runs
        again = await expense.run_async(60, run_id="exp")
        assert again.paused
        assert again.events == paused.events

        done = await expense.resume_async("exp", "Grace")
        assert done.succeeded
        assert done.output == "120 approved by Grace"
        assert done.pause_name is None
        pauses = [(e.kind, e.step, e.data) for e in done.events if e.kind.startswith("run.p")]
        assert pauses[0][:2] == ("run.paused", "floe.pause#1")
        assert pauses[0][2]["name"] == "approval"
        resumed = next(e for e in done.events if e.kind == "run.resumed")
        assert resumed.data["value"] == "Grace"
        assert resumed.data["name"] == "approval"

        with pytest.raises(StateError, match="is completed, not paused"):
            await expense.resume_async("exp", "again")
        with pytest.raises(StateError, match="not paused"):
            await floe.resume("exp", "again")
        with pytest.raises(NotFoundError, match="No run 'nope'"):
            await floe.resume("nope", 1)
    assert calls == ["prepare", "pay"]


async def test_several_pause_points_in_turn(floe_kernel_factory: Callable[..., Kernel]) -> None:
    @floe.workflow
    async def survey(questions: int) -> list[Any]:
        answers = []
        for number in range(questions):
            answers.append(await floe.pause(f"question-{number}", output=number))
        return answers

    async with floe_kernel_factory():
        execution = await survey.run_async(5, run_id="s")
        seen = []
        while execution.paused:
            seen.append((execution.pause_name, execution.output))
            execution = await floe.resume("s", {"answer": len(seen)})
    assert seen == [(f"question-{n}", n) for n in range(5)]
    assert execution.output == [{"answer": n} for n in range(1, 6)]


async def test_user_code_catching_exception_does_not_swallow_a_pause(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.workflow
    async def careless() -> str:
        try:
            value = await floe.pause("wait")
        except Exception:  # a pause is not an Exception
            return "swallowed"
        return f"got {value}"

    async with floe_kernel_factory():
        execution = await careless.run_async(run_id="c")
        assert execution.paused
        assert (await floe.resume("c", 1)).output == "got 1"


async def test_pause_in_a_task_and_in_a_sync_body(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    runs: list[str] = []

    @floe.task
    async def ask(question: str) -> str:
        runs.append(question)
        answer = await floe.pause(question)  # the task runs again on resume
        return f"{question}={answer}"

    @floe.workflow
    def sync_interview() -> list[str]:
        first = ask("name")
        second = floe.pause("age")  # no await in a sync body
        return [first, f"age={second}"]

    async with floe_kernel_factory():
        execution = await sync_interview.run_async(run_id="i")
        assert execution.pause_name == "name"
        execution = await floe.resume("i", "Ada")
        assert execution.pause_name == "age"
        execution = await floe.resume("i", 36)
    assert execution.output == ["name=Ada", "age=36"]
    assert runs == ["name", "name"]
    assert execution.executed_tasks == ["ask#1"]
    assert [e.step for e in execution.events if e.kind == "run.paused"] == [
        "ask#1/floe.pause#1",
        "floe.pause#1",
    ]


async def test_bad_pauses_are_clear_errors(floe_kernel_factory: Callable[..., Kernel]) -> None:
    with pytest.raises(StateError, match="outside a workflow"):
        floe.pause("nowhere")
    with pytest.raises(ConfigError, match="Invalid pause name"):
        floe.pause("")

    @floe.workflow(name="evolving")
    async def first() -> Any:
        return await floe.pause("approve")

    @floe.workflow(name="evolving")
    async def second() -> Any:
        return await floe.pause("renamed")

    @floe.workflow
    async def unserializable() -> Any:
        return await floe.pause("x", output=object())

    async with floe_kernel_factory():
        await first.run_async(run_id="e")
        execution = await second.resume_async("e", 1)
        assert execution.failed
        assert isinstance(execution.exception, NonDeterminismError)
        assert "'approve'" in str(execution.exception)
        assert "'renamed'" in str(execution.exception)

        bad = await unserializable.run_async(run_id="u")
        assert bad.failed
        assert isinstance(bad.exception, floe.SerializationError)

        @floe.workflow
        async def other() -> None:
            await floe.pause("x")

        await other.run_async(run_id="o")
        with pytest.raises(ConfigError, match="belongs to workflow"):
            await first.resume_async("o", 1)
        with pytest.raises(floe.SerializationError):
            await other.resume_async("o", object())


# -- pause in one process, resume in others -----------------------------------------------

WORKFLOW_SCRIPT = textwrap.dedent(
    """
    import json
    import sys
    from pathlib import Path
    import anyio
    import floe

    LOG = Path(__file__).with_name("effects.log")  # the same file when loaded by path

    @floe.task
    async def record(label: str) -> str:
        with LOG.open("a") as log:
            log.write(label + "\\n")
        return label

    @floe.workflow
    async def five_questions(topic: str) -> dict:
        answers = []
        for number in range(5):
            await record(f"before-{number}")
            answers.append(await floe.pause(f"q{number}", output={"topic": topic, "n": number}))
        return {"topic": topic, "answers": answers, "last": await record("end")}

    def report(execution):
        print(json.dumps({"status": str(execution.status), "output": execution.output,
                          "pause": execution.pause_name}))

    async def main() -> None:
        store, command, run_id = sys.argv[1:4]
        async with floe.open_kernel(store=store, log_format="off"):
            if command == "start":
                report(await five_questions.run_async("floe", run_id=run_id))
            else:
                report(await floe.resume(run_id, json.loads(sys.argv[4])))

    if __name__ == "__main__":
        anyio.run(main)
    """
)

# knows nothing of the workflow: finds it by the target the run recorded (as the CLI does)
RESUMER_SCRIPT = textwrap.dedent(
    """
    import json
    import sys
    import anyio
    import floe

    async def main() -> None:
        store, run_id, value = sys.argv[1:4]
        async with floe.open_kernel(store=store, log_format="off"):
            execution = await floe.resume(run_id, json.loads(value))
            print(json.dumps({"status": str(execution.status), "output": execution.output,
                              "pause": execution.pause_name}))

    anyio.run(main)
    """
)


def _python(*args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "FLOE_STRICT_PLUGINS": "1"},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    reported: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return reported


def test_pause_in_one_process_and_resume_in_others(tmp_path: Path) -> None:
    script = tmp_path / "questions.py"
    script.write_text(WORKFLOW_SCRIPT)
    resumer = tmp_path / "resumer.py"
    resumer.write_text(RESUMER_SCRIPT)
    store = f"sqlite:///{tmp_path}/floe.db"
    log = tmp_path / "effects.log"

    state = _python(str(script), store, "start", "q-run")
    assert state == {"status": "paused", "output": {"topic": "floe", "n": 0}, "pause": "q0"}
    for number in range(5):
        value = json.dumps({"answer": number})
        if number % 2:  # the script itself resumes its own run...
            state = _python(str(script), store, "resume", "q-run", value)
        else:  # ...or a process that loads the workflow from the recorded file target
            state = _python(str(resumer), store, "q-run", value)
        if number < 4:
            assert state["status"] == "paused"
            assert state["pause"] == f"q{number + 1}"
    assert state["status"] == "completed"
    assert state["output"] == {
        "topic": "floe",
        "answers": [{"answer": n} for n in range(5)],
        "last": "end",
    }
    # every step ran once, though the body was replayed by six processes
    assert log.read_text().split() == [f"before-{n}" for n in range(5)] + ["end"]


# -- workflow targets ---------------------------------------------------------------------


def test_workflow_from_target_by_module_and_by_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "target_pkg_mod.py"
    module.write_text(
        "import floe\n\n@floe.workflow\nasync def hello(name: str) -> str:\n"
        "    return f'Hello, {name}'\n\nnot_a_workflow = 3\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    by_module = floe.Workflow.from_target("target_pkg_mod:hello")
    assert by_module.name == "hello"
    assert by_module.target == "target_pkg_mod:hello"

    by_file = floe.Workflow.from_target(f"{module}:hello")
    assert by_file.name == "hello"
    assert by_file.target == f"{module.resolve()}:hello"
    assert floe.Workflow.from_target(f"{module}:hello") is by_file  # loaded once

    with pytest.raises(floe.ImportPathError, match="not a floe workflow"):
        floe.Workflow.from_target("target_pkg_mod:not_a_workflow")
    with pytest.raises(floe.ImportPathError, match="has no 'missing'"):
        floe.Workflow.from_target(f"{module}:missing")
    with pytest.raises(floe.ImportPathError, match="Malformed"):
        floe.Workflow.from_target("no_colon_here")
    with pytest.raises(floe.ImportPathError, match="No file"):
        floe.Workflow.from_target(f"{tmp_path}/absent.py:hello")
    with pytest.raises(floe.ImportPathError, match="No module named") as missing:
        floe.Workflow.from_target("surely_not_a_module_xyz:hello")
    assert missing.value.why is not None


def test_workflow_from_target_reports_the_real_cause(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import floe\n\nvalue = undefined_name + 1\n")
    with pytest.raises(floe.ImportPathError) as raised:
        floe.Workflow.from_target(f"{broken}:anything")
    assert raised.value.why is not None
    assert "NameError" in raised.value.why
    assert "undefined_name" in raised.value.why
    assert "broken.py:3" in raised.value.why

    syntax = tmp_path / "syntax.py"
    syntax.write_text("def oops(:\n")
    with pytest.raises(floe.ImportPathError) as raised:
        floe.Workflow.from_target(f"{syntax}:oops")
    assert raised.value.why is not None
    assert "SyntaxError" in raised.value.why


async def test_a_timer_where_a_task_was_is_a_non_determinism_error(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.task
    async def fetch() -> int:
        return 1

    @floe.task
    async def stop() -> None:
        raise RuntimeError("stop")

    @floe.workflow(name="changing")
    async def before() -> None:
        await fetch()
        await stop()

    @floe.workflow(name="changing")
    async def after() -> None:
        await floe.sleep(1)  # now a timer where fetch ran
        await stop()

    async with floe_kernel_factory() as kernel:
        assert (await before.run_async(run_id="c")).failed
        run = await kernel.store.get_run("c")
        assert run is not None
        await kernel.store.update_run(
            floe.Run(run_id="c", name="changing", status=RunStatus.RUNNING, input=run.input)
        )
        execution = await after.run_async(run_id="c")
    assert isinstance(execution.exception, NonDeterminismError)
    assert "'fetch'" in str(execution.exception)
    assert "'floe.sleep'" in str(execution.exception)
