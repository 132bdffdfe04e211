"""Rollbacks (the saga) and cancellation: reverse order, journaled once, on every store."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
import trio.testing

import floe
from floe import ConfigError, Kernel, NotFoundError, RunStatus, StateError

pytestmark = pytest.mark.anyio


class Ledger:
    """What the tasks and their rollbacks did, in order."""

    def __init__(self) -> None:
        self.entries: list[str] = []

    def add(self, entry: str) -> None:
        self.entries.append(entry)


def rolled_back(execution: floe.Execution) -> list[tuple[str | None, str]]:
    return [(e.step, e.data["reason"]) for e in execution.events if e.kind == "task.rolled_back"]


# -- rollback when a task fails for good ----------------------------------------------------


async def test_a_task_that_fails_for_good_is_rolled_back_with_its_arguments(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    ledger = Ledger()

    def release(room: str, *, nights: int) -> None:  # a sync rollback runs in a thread
        ledger.add(f"release {room} x{nights}")

    @floe.task(retries=2, rollback=release)
    async def reserve(room: str, *, nights: int) -> str:
        ledger.add(f"reserve {room}")
        raise ConnectionError("hotel offline")

    @floe.workflow
    async def trip() -> str:
        try:
            await reserve("101", nights=3)
        except ConnectionError:
            return "stayed home"
        return "booked"

    async with floe_kernel_factory(store=store_url):
        execution = await trip.run_async(run_id="t")
    assert execution.output == "stayed home"
    # the rollback runs once, after the last attempt
    assert ledger.entries == ["reserve 101"] * 3 + ["release 101 x3"]
    kinds = [e.kind for e in execution.events if e.step == "reserve#1"]
    assert kinds[-2:] == ["task.failed", "task.rolled_back"]
    assert rolled_back(execution) == [("reserve#1", "task_failed")]


async def test_a_fallback_saves_the_task_from_its_rollback(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    ledger = Ledger()

    @floe.task(rollback=lambda: ledger.add("rollback"), fallback=lambda: "plan b")
    async def shaky() -> str:
        raise OSError("down")

    @floe.workflow
    async def saved() -> str:
        return await shaky()

    async with floe_kernel_factory():
        execution = await saved.run_async()
    assert execution.output == "plan b"
    assert ledger.entries == []
    assert rolled_back(execution) == []


# -- the saga: a failed run rolls back its completed steps, newest first --------------------


async def test_a_failed_run_rolls_back_completed_steps_in_reverse_order(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    ledger = Ledger()

    async def undo(name: str) -> None:
        ledger.add(f"undo {name}")

    @floe.task(rollback=undo)
    async def do(name: str) -> str:
        ledger.add(f"do {name}")
        return name

    @floe.task
    async def no_rollback() -> int:
        ledger.add("plain")
        return 1

    @floe.task(rollback=undo)
    async def explode(name: str) -> None:
        ledger.add(f"explode {name}")
        raise RuntimeError("payment declined")

    @floe.workflow
    async def booking() -> None:
        await do("flight")
        await no_rollback()
        await do("hotel")
        await do("car")
        await explode("payment")

    async with floe_kernel_factory(store=store_url):
        execution = await booking.run_async(run_id="b")
    assert execution.failed
    assert execution.error is not None
    assert execution.error.message == "payment declined"
    assert ledger.entries == [
        "do flight",
        "plain",
        "do hotel",
        "do car",
        "explode payment",
        "undo payment",  # the failed task's own rollback
        "undo car",  # then the saga, newest first
        "undo hotel",
        "undo flight",
    ]
    assert rolled_back(execution) == [
        ("explode#1", "task_failed"),
        ("do#3", "run_failed"),
        ("do#2", "run_failed"),
        ("do#1", "run_failed"),
    ]
    kinds = [e.kind for e in execution.events]
    assert kinds[-1] == "run.failed"
    assert kinds.index("run.failed") > max(
        i for i, k in enumerate(kinds) if k == "task.rolled_back"
    )


async def test_a_failing_rollback_is_recorded_and_the_others_still_run(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    ledger = Ledger()

    async def undo(name: str) -> None:
        if name == "b":
            raise ValueError("cannot undo b")
        ledger.add(f"undo {name}")

    @floe.task(rollback=undo)
    async def do(name: str) -> str:
        return name

    @floe.workflow
    async def fragile() -> None:
        await do("a")
        await do("b")
        await do("c")
        raise KeyError("later failure")

    async with floe_kernel_factory():
        execution = await fragile.run_async()
    assert ledger.entries == ["undo c", "undo a"]
    records = {e.step: e.data for e in execution.events if e.kind == "task.rolled_back"}
    assert records["do#2"]["error"]["type"] == "builtins.ValueError"
    assert "error" not in records["do#1"]
    assert execution.error is not None
    assert execution.error.type == "builtins.KeyError"


async def test_a_replay_never_runs_a_recorded_rollback_twice(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    ledger = Ledger()
    crash = {"armed": True}
    dying = anyio.Event()

    async def undo(name: str) -> None:
        ledger.add(f"undo {name}")
        if name == "b" and crash["armed"]:
            dying.set()
            await anyio.sleep_forever()  # the process dies during this rollback

    @floe.task(rollback=undo)
    async def do(name: str) -> str:
        ledger.add(f"do {name}")
        return name

    @floe.workflow
    async def saga() -> None:
        for name in ("a", "b", "c"):
            await do(name)
        raise RuntimeError("undo everything")

    async with floe_kernel_factory(store=store_url) as kernel:
        async with anyio.create_task_group() as group:
            group.start_soon(functools.partial(saga.run_async, run_id="s"))
            await dying.wait()
            group.cancel_scope.cancel()  # the process dies: nothing records it
        run = await kernel.store.get_run("s")
        assert run is not None
        assert run.status is RunStatus.RUNNING  # nothing recorded the end of the run
        crash["armed"] = False
        execution = await saga.run_async(run_id="s")
    assert execution.failed
    assert ledger.entries == [
        "do a",
        "do b",
        "do c",
        "undo c",
        "undo b",  # interrupted: no record, so it runs again
        "undo b",
        "undo a",
    ]
    assert rolled_back(execution) == [
        ("do#3", "run_failed"),
        ("do#2", "run_failed"),
        ("do#1", "run_failed"),
    ]


async def test_cached_steps_are_not_rolled_back(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    ledger = Ledger()

    @floe.task(cache=True, rollback=lambda n: ledger.add(f"undo {n}"))
    async def compute(n: int) -> int:
        return n * 2

    @floe.workflow
    async def uses_cache(n: int) -> int:
        await compute(n)
        raise RuntimeError("fail")

    async with floe_kernel_factory():
        await uses_cache.run_async(1)
        await uses_cache.run_async(1)  # the second run's step is a cache hit
    assert ledger.entries == ["undo 1"]


# -- cancellation -------------------------------------------------------------------------


async def test_cancel_a_run_executing_in_this_process(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    ledger = Ledger()
    reached = anyio.Event()

    async def undo(name: str) -> None:
        ledger.add(f"undo {name}")

    @floe.task(rollback=undo)
    async def do(name: str) -> str:
        ledger.add(f"do {name}")
        return name

    @floe.task(rollback=undo)
    async def wait_forever(name: str) -> None:
        reached.set()
        await anyio.sleep_forever()

    @floe.workflow
    async def long_job() -> None:
        await do("first")
        await do("second")
        try:
            await wait_forever("stuck")
        except Exception:  # cancellation is not an Exception: this never runs
            ledger.add("swallowed")

    results: dict[str, floe.Execution] = {}

    async def run() -> None:
        results["run"] = await long_job.run_async(run_id="job")

    async with floe_kernel_factory(store=store_url) as kernel, anyio.create_task_group() as tg:
        tg.start_soon(run)
        await reached.wait()
        cancelled = await floe.cancel("job")
        stored = await kernel.store.get_run("job")
    assert cancelled.cancelled
    assert cancelled.status is RunStatus.CANCELLED
    assert results["run"].cancelled
    assert stored is not None
    assert stored.status is RunStatus.CANCELLED
    assert stored.runnable_at is None
    # the step in flight did not complete: it is not rolled back
    assert ledger.entries == ["do first", "do second", "undo second", "undo first"]
    assert rolled_back(cancelled) == [("do#2", "run_cancelled"), ("do#1", "run_cancelled")]
    assert cancelled.events[-1].kind == "run.cancelled"


@pytest.mark.parametrize(
    "anyio_backend",
    [
        pytest.param(
            ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}), id="trio-mockclock"
        )
    ],
)
async def test_cancel_a_sleeping_run_with_the_workflow_object(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.workflow
    async def sleeper() -> str:
        await floe.sleep(10_000)
        return "woke"

    results: dict[str, floe.Execution] = {}

    async def run() -> None:
        results["run"] = await sleeper.run_async(run_id="z")

    async with floe_kernel_factory(), anyio.create_task_group() as tg:
        tg.start_soon(run)
        await anyio.sleep(5)
        start = anyio.current_time()
        execution = await sleeper.cancel_async("z")
        assert anyio.current_time() - start < 1
    assert execution.cancelled
    assert results["run"].cancelled
    assert [e.kind for e in execution.events][-2:] == ["timer.scheduled", "run.cancelled"]


async def test_cancel_a_sync_body_stops_at_its_next_step(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    ledger = Ledger()
    reached = anyio.Event()
    go_on = anyio.Event()

    @floe.task(rollback=lambda n: ledger.add(f"undo {n}"))
    async def step(n: int) -> int:
        ledger.add(f"step {n}")
        if n == 2:
            reached.set()
            await go_on.wait()
        return n

    @floe.workflow
    def sync_body() -> int:
        return sum(step(n) for n in range(1, 6))

    results: dict[str, floe.Execution] = {}

    async def run() -> None:
        results["run"] = await sync_body.run_async(run_id="sync")

    async with floe_kernel_factory(), anyio.create_task_group() as tg:
        tg.start_soon(run)
        await reached.wait()
        execution = await floe.cancel("sync")
    assert execution.cancelled
    assert results["run"].cancelled
    assert ledger.entries == ["step 1", "step 2", "undo 1"]


async def test_cancel_a_paused_run(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    ledger = Ledger()

    @floe.task(rollback=lambda item: ledger.add(f"unreserve {item}"))
    async def reserve(item: str) -> str:
        ledger.add(f"reserve {item}")
        return item

    @floe.workflow
    async def order(items: list[str]) -> str:
        for item in items:
            await reserve(item)
        return await floe.pause("confirm", output=items)

    async with floe_kernel_factory(store=store_url):
        paused = await order.run_async(["pen", "ink"], run_id="o")
        assert paused.paused
        execution = await floe.cancel("o")
        assert execution.cancelled
        assert (await order.run_async(run_id="o")).cancelled  # loads as cancelled
        with pytest.raises(StateError, match="is cancelled, not paused"):
            await floe.resume("o", True)
        with pytest.raises(StateError, match="already cancelled"):
            await floe.cancel("o")
    # the replay up to the pause ran nothing again; the saga undid both, newest first
    assert ledger.entries == ["reserve pen", "reserve ink", "unreserve ink", "unreserve pen"]
    kinds = [e.kind for e in execution.events]
    # the cancel fenced the journal (run.cancelling) before its saga ran
    assert kinds[-5:] == [
        "run.paused",
        "run.cancelling",
        "task.rolled_back",
        "task.rolled_back",
        "run.cancelled",
    ]


async def test_cancel_a_paused_run_with_branches_and_a_paused_child(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    """The cancelling replay reaches every completed step with a rollback, including
    steps nested in an unfinished task in another branch, and cancels the paused child."""
    ledger = Ledger()
    branch_went_far = anyio.Event()

    @floe.task(rollback=lambda n: ledger.add(f"undo {n}"))
    async def do(n: int) -> int:
        ledger.add(f"do {n}")
        return n

    @floe.task
    async def branch() -> int:  # unfinished when the run pauses
        first = await do(1)
        await anyio.sleep(0.01)
        second = await do(2)
        branch_went_far.set()
        await anyio.sleep_forever()
        return first + second

    @floe.workflow
    async def child() -> Any:
        await do(10)
        await branch_went_far.wait()
        return await floe.pause("child approval")

    @floe.workflow
    async def fan_out() -> None:
        async with anyio.create_task_group() as group:
            for pending in (branch(), do(3), floe.call(child)):
                group.start_soon(_wait, pending)

    async with floe_kernel_factory(store=store_url) as kernel:
        paused = await fan_out.run_async(run_id="f")
        assert paused.pause_name == "child approval"
        completed = [e.step for e in paused.events if e.kind == "task.completed"]
        assert sorted(completed) == ["branch#1/do#1", "branch#1/do#2", "do#1"]
        ledger.entries.clear()
        execution = await floe.cancel("f")
        child_run = await kernel.store.get_run("f:child#1")
    assert execution.cancelled
    assert child_run is not None
    assert child_run.status is RunStatus.CANCELLED
    assert ledger.entries[0] == "undo 10"  # the child's saga, then the parent's
    assert [step for step, _ in rolled_back(execution)] == list(reversed(completed))


async def _wait(pending: Any) -> None:
    await pending


async def test_cancel_an_interrupted_run(floe_kernel_factory: Callable[..., Kernel]) -> None:
    ledger = Ledger()

    @floe.task(rollback=lambda: ledger.add("undo a"))
    async def a() -> None:
        ledger.add("a")

    hanging = anyio.Event()

    @floe.task
    async def hang() -> None:
        ledger.add("hang")
        hanging.set()
        await anyio.sleep_forever()

    @floe.workflow
    async def interrupted() -> None:
        await a()
        await hang()

    async with floe_kernel_factory() as kernel:
        async with anyio.create_task_group() as group:
            group.start_soon(functools.partial(interrupted.run_async, run_id="i"))
            await hanging.wait()
            group.cancel_scope.cancel()  # the process dies mid-step
        run = await kernel.store.get_run("i")
        assert run is not None
        assert run.status is RunStatus.RUNNING
        execution = await floe.cancel("i")
    assert execution.cancelled
    # the step in flight is not started again by the cancelling replay
    assert ledger.entries == ["a", "hang", "undo a"]


async def test_bad_cancellations_are_clear_errors(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.workflow
    async def quick() -> int:
        return 1

    @floe.workflow
    async def other() -> None:
        await floe.pause("x")

    async with floe_kernel_factory():
        await quick.run_async(run_id="done")
        with pytest.raises(StateError, match="already completed") as raised:
            await floe.cancel("done")
        assert raised.value.fix is not None
        with pytest.raises(NotFoundError, match="No run 'ghost'"):
            await floe.cancel("ghost")
        await other.run_async(run_id="p")
        with pytest.raises(ConfigError, match="belongs to workflow 'other'"):
            await quick.cancel_async("p")


def test_sync_cancel_and_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLOE_STORE", f"sqlite:///{tmp_path}/floe.db")
    monkeypatch.setenv("FLOE_LOG_FORMAT", "off")

    @floe.workflow
    def asks_twice() -> list[Any]:
        return [floe.pause("one"), floe.pause("two")]

    first = asks_twice.run(run_id="sync-a")
    assert first.paused
    second = asks_twice.resume("sync-a", 1)
    assert second.pause_name == "two"
    assert asks_twice.resume("sync-a", 2).output == [1, 2]

    assert asks_twice.run(run_id="sync-b").paused
    assert asks_twice.cancel("sync-b").cancelled


# -- cancel in another process ------------------------------------------------------------

SCRIPT = textwrap.dedent(
    """
    import json
    import sys
    from pathlib import Path
    import anyio
    import floe

    LOG = Path(__file__).with_name("ledger.log")

    def note(text):
        with LOG.open("a") as log:
            log.write(text + "\\n")

    @floe.task(rollback=lambda name: note(f"undo {name}"))
    async def book(name: str) -> str:
        note(f"book {name}")
        return name

    @floe.workflow
    async def travel() -> str:
        await book("flight")
        await book("hotel")
        return await floe.pause("confirm")

    async def main() -> None:
        store, command = sys.argv[1:3]
        async with floe.open_kernel(store=store, log_format="off"):
            if command == "start":
                execution = await travel.run_async(run_id="trip")
            else:
                execution = await floe.cancel("trip")
            print(json.dumps({"status": str(execution.status),
                              "kinds": [e.kind for e in execution.events]}))

    if __name__ == "__main__":
        anyio.run(main)
    """
)

CANCELLER = textwrap.dedent(
    """
    import json
    import sys
    import anyio
    import floe

    async def main() -> None:
        async with floe.open_kernel(store=sys.argv[1], log_format="off"):
            execution = await floe.cancel(sys.argv[2])
            print(json.dumps({"status": str(execution.status)}))

    anyio.run(main)
    """
)


def test_cancel_a_paused_run_from_another_process(tmp_path: Path) -> None:
    script = tmp_path / "travel.py"
    script.write_text(SCRIPT)
    canceller = tmp_path / "canceller.py"
    canceller.write_text(CANCELLER)
    store = f"sqlite:///{tmp_path}/floe.db"
    env = {**os.environ, "FLOE_STRICT_PLUGINS": "1"}

    def python(*args: str) -> tuple[int, str, str]:
        done = subprocess.run(
            [sys.executable, *args], capture_output=True, text=True, env=env, timeout=120
        )
        return done.returncode, done.stdout, done.stderr

    code, out, err = python(str(script), store, "start")
    assert code == 0, err
    assert json.loads(out)["status"] == "paused"
    code, out, err = python(str(canceller), store, "trip")  # loads travel.py by its path
    assert code == 0, err
    assert json.loads(out) == {"status": "cancelled"}
    ledger = (tmp_path / "ledger.log").read_text().splitlines()
    assert ledger == ["book flight", "book hotel", "undo hotel", "undo flight"]
    code, out, err = python(str(canceller), store, "trip")
    assert code == 1
    assert "StateError" in err
    assert "already cancelled" in err


LONG_SCRIPT = textwrap.dedent(
    """
    import json
    import sys
    from pathlib import Path
    import anyio
    import floe

    LOG = Path(__file__).with_name("ledger.log")

    def note(text):
        with LOG.open("a") as log:
            log.write(text + "\\n")

    @floe.task(rollback=lambda n: note(f"undo {n}"))
    async def slow_step(n: int) -> int:
        await anyio.sleep(0.2)
        note(f"step {n}")
        return n

    @floe.workflow
    async def long_haul() -> int:
        return sum([await slow_step(n) for n in range(50)])

    async def main() -> None:
        async with floe.open_kernel(store=sys.argv[1], log_format="off"):
            execution = await long_haul.run_async(run_id="haul")
            print(json.dumps({"status": str(execution.status)}))

    if __name__ == "__main__":
        anyio.run(main)
    """
)


def test_cancel_fences_a_run_executing_in_another_process(tmp_path: Path) -> None:
    script = tmp_path / "long_haul.py"
    script.write_text(LONG_SCRIPT)
    canceller = tmp_path / "canceller.py"
    canceller.write_text(CANCELLER)
    store = f"sqlite:///{tmp_path}/floe.db"
    ledger = tmp_path / "ledger.log"
    env = {**os.environ, "FLOE_STRICT_PLUGINS": "1"}

    runner = subprocess.Popen(
        [sys.executable, str(script), store], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        while len(ledger.read_text().splitlines() if ledger.exists() else []) < 3:
            assert runner.poll() is None
            time.sleep(0.02)
        done = subprocess.run(
            [sys.executable, str(canceller), store, "haul"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"status": "cancelled"}
        out, _ = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.communicate()
    # the runner's next journal write failed: it stopped and reports the stored outcome
    assert runner.returncode == 0
    assert json.loads(out.strip().splitlines()[-1]) == {"status": "cancelled"}
    lines = ledger.read_text().splitlines()
    steps = [line for line in lines if line.startswith("step")]
    undone = [line for line in lines if line.startswith("undo")]
    assert 3 <= len(steps) < 50
    # every step recorded before the cancellation is undone, newest first; at most the
    # step in flight (its record refused) is left
    assert undone == [f"undo {n}" for n in reversed(range(len(undone)))]
    assert len(steps) - 1 <= len(undone) <= len(steps)
