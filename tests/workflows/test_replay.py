"""Journal and replay: recorded steps never run again; the code must call the same steps."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import floe
from floe import Kernel, RunStatus

pytestmark = pytest.mark.anyio


class Counter:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def hit(self, name: str) -> None:
        self.calls.append(name)


async def test_a_run_journals_every_step(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    counter = Counter()

    @floe.task
    async def double(n: int) -> int:
        counter.hit("double")
        return n * 2

    @floe.task
    def describe(n: int) -> str:  # a sync task runs in a worker thread
        counter.hit("describe")
        return f"n={n}"

    @floe.workflow
    async def pipeline(n: int) -> dict[str, Any]:
        first = await double(n)
        second = await double(first)  # two identical-looking calls are two steps
        return {"value": second, "text": await describe(second)}

    async with floe_kernel_factory(store=store_url) as kernel:
        execution = await pipeline.run_async(5, run_id="run-1")
        assert execution.succeeded
        assert execution.output == {"value": 20, "text": "n=20"}
        assert execution.executed_tasks == ["double#1", "double#2", "describe#1"]
        kinds = [event.kind for event in execution.events]
        assert kinds[0] == "run.started"
        assert kinds[-1] == "run.completed"
        assert kinds.count("task.completed") == 3
        assert [event.seq for event in execution.events] == list(range(1, len(kinds) + 1))
        stored = await kernel.store.get_run("run-1")
        assert stored is not None
        assert stored.status is RunStatus.COMPLETED
        assert stored.output == {"value": 20, "text": "n=20"}
    assert counter.calls == ["double", "double", "describe"]


async def test_a_finished_run_is_returned_without_running(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    counter = Counter()

    @floe.task
    async def step() -> int:
        counter.hit("step")
        return 1

    @floe.workflow
    async def once() -> int:
        return await step()

    async with floe_kernel_factory(store=store_url):
        first = await once.run_async(run_id="r")
        again = await once.run_async(run_id="r")
    assert counter.calls == ["step"]
    assert again.output == first.output == 1
    assert again.events == first.events


async def test_resume_replays_recorded_steps(floe_kernel_factory: Callable[..., Kernel]) -> None:
    """An unfinished run (a crash) resumes: done steps replay, the rest run."""
    counter = Counter()
    crash = {"armed": True}

    @floe.task
    async def fetch(n: int) -> int:
        counter.hit(f"fetch-{n}")
        return n

    @floe.task
    async def explode() -> None:
        counter.hit("explode")
        if crash["armed"]:
            await anyio.sleep_forever()  # stands for the process dying mid-step

    @floe.workflow
    async def work() -> int:
        total = await fetch(1) + await fetch(2)
        await explode()
        return total + await fetch(3)

    async with floe_kernel_factory() as kernel:
        with anyio.move_on_after(0.2):
            await work.run_async(run_id="r")
        run = await kernel.store.get_run("r")
        assert run is not None
        assert run.status is RunStatus.RUNNING
        crash["armed"] = False
        execution = await work.run_async(run_id="r")
    assert execution.output == 6
    assert counter.calls.count("fetch-1") == 1
    assert counter.calls.count("fetch-2") == 1
    assert counter.calls.count("fetch-3") == 1


async def test_changed_code_is_a_non_determinism_error(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.task
    async def original() -> int:
        return 1

    @floe.task
    async def renamed() -> int:
        return 2

    @floe.task
    async def blocker() -> int:
        raise RuntimeError("stop here")

    @floe.workflow(name="evolving")
    async def first_version() -> int:
        await original()
        return await blocker()

    @floe.workflow(name="evolving")
    async def second_version() -> int:
        await renamed()
        return 0

    async with floe_kernel_factory() as kernel:
        failed = await first_version.run_async(run_id="r")
        assert failed.failed
        # make the run look unfinished, as after a crash before the failure was recorded
        run = await kernel.store.get_run("r")
        assert run is not None
        await kernel.store.update_run(
            floe.Run(run_id="r", name="evolving", status=RunStatus.RUNNING, input=run.input)
        )
        execution = await second_version.run_async(run_id="r")
    assert execution.failed
    assert isinstance(execution.exception, floe.NonDeterminismError)
    message = str(execution.exception)
    assert "'original'" in message
    assert "'renamed'" in message


async def test_recorded_failure_replays_as_the_same_error(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    counter = Counter()

    @floe.task
    async def bad() -> None:
        counter.hit("bad")
        raise KeyError("missing-thing")

    @floe.task(raise_on_error=False)
    async def tolerated() -> int:
        counter.hit("tolerated")
        raise ValueError("ignored")

    @floe.task
    async def later() -> int:
        counter.hit("later")
        return 5

    @floe.workflow
    async def catcher() -> str:
        assert await tolerated() is None
        try:
            await bad()
        except KeyError as error:
            caught = f"caught {error}"
        else:
            caught = "nothing"
        await later()
        raise RuntimeError(caught)

    async with floe_kernel_factory() as kernel:
        first = await catcher.run_async(run_id="r")
        assert first.failed
        assert first.error is not None
        assert first.error.message == "caught 'missing-thing'"
        run = await kernel.store.get_run("r")
        assert run is not None
        await kernel.store.update_run(
            floe.Run(run_id="r", name=run.name, status=RunStatus.RUNNING, input=run.input)
        )
        replayed = await catcher.run_async(run_id="r")
    assert replayed.error is not None
    assert replayed.error.message == "caught 'missing-thing'"
    assert counter.calls == ["tolerated", "bad", "later"]


async def test_raise_on_error_reraises(floe_kernel_factory: Callable[..., Kernel]) -> None:
    @floe.workflow
    async def broken() -> None:
        raise LookupError("nope")

    async with floe_kernel_factory():
        with pytest.raises(LookupError, match="nope"):
            await broken.run_async(raise_on_error=True)
        execution = await broken.run_async()
    assert execution.failed
    assert execution.error is not None
    assert execution.error.type == "builtins.LookupError"


async def test_step_keys_are_allocated_in_call_order_under_concurrency(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.task
    async def sleepy(n: int) -> int:
        await anyio.sleep(0.01 * (5 - n))
        return n

    @floe.workflow
    async def fan_out() -> list[int]:
        results: dict[int, int] = {}

        async def one(n: int, pending: Any) -> None:
            results[n] = await pending

        async with anyio.create_task_group() as group:
            for n in range(5):
                group.start_soon(one, n, sleepy(n))  # the key is taken at the call
        return [results[n] for n in range(5)]

    async with floe_kernel_factory():
        execution = await fan_out.run_async()
    completed = {e.step: e.data["result"] for e in execution.events if e.kind == "task.completed"}
    assert completed == {f"sleepy#{n + 1}": n for n in range(5)}


async def test_nested_task_calls_extend_the_parent_key(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.task
    async def leaf(n: int) -> int:
        return n

    @floe.task
    async def branch(n: int) -> int:
        return await leaf(n) + await leaf(n + 1)

    @floe.workflow
    async def tree() -> int:
        return await branch(1) + await branch(10)

    async with floe_kernel_factory():
        execution = await tree.run_async()
    assert execution.output == 24
    assert execution.executed_tasks == [
        "branch#1/leaf#1",
        "branch#1/leaf#2",
        "branch#1",
        "branch#2/leaf#1",
        "branch#2/leaf#2",
        "branch#2",
    ]


async def test_deterministic_values_replay_the_same(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    armed = {"on": True}

    @floe.task
    async def stop() -> None:
        if armed["on"]:
            await anyio.sleep_forever()  # the process dies here

    @floe.workflow
    async def draw() -> list[Any]:
        values = [
            (await floe.now()).isoformat(),
            str(await floe.uuid4()),
            await floe.randint(1, 10**9),
            await floe.randrange(0, 10**9, 7),
            await floe.choice(["a", "b", "c", "d"]),
        ]
        await stop()
        return values

    async with floe_kernel_factory() as kernel:
        with anyio.move_on_after(0.2):
            await draw.run_async(run_id="r")
        events = await kernel.store.read_events("r")
        drawn = [e.data["result"] for e in events if e.kind == "task.completed"]
        armed["on"] = False
        second = await draw.run_async(run_id="r")
    assert second.succeeded
    assert second.output[:2] == drawn[:2]
    assert second.output[2:] == drawn[2:5]
    assert second.output[3] % 7 == 0


REPLAYED_VALUES: list[Any] = [1, 1.0, True, "1", None, "fetch", [1, "1"], {"a": 1.0}]
"""Results equal to each other across types, and strings like the journal's own."""


@pytest.mark.parametrize("url", ["sqlite:///{tmp}/floe.db", "json:///{tmp}/json-store"])
async def test_a_resumed_map_returns_exactly_the_recorded_results(
    floe_kernel_factory: Callable[..., Kernel], tmp_path: Path, url: str
) -> None:
    # a journal longer than one fetch of a store's read, replayed by a fresh kernel
    store_url = url.format(tmp=tmp_path)
    counter = Counter()
    count = 3_000

    @floe.task
    async def fetch(index: int) -> Any:
        counter.hit("fetch")
        return REPLAYED_VALUES[index % len(REPLAYED_VALUES)]

    @floe.task
    async def number(index: int) -> int:
        counter.hit("number")
        return index

    @floe.workflow
    async def gather_all() -> list[Any]:
        values = await fetch.map(range(count))
        numbers = await number.map(range(count))
        await floe.pause("check")
        return [values, numbers]

    async with floe_kernel_factory(store=store_url):
        paused = await gather_all.run_async(run_id="r")
        assert paused.paused
    assert counter.calls.count("fetch") == counter.calls.count("number") == count
    counter.calls.clear()
    async with floe_kernel_factory(store=store_url):
        resumed = await gather_all.resume_async("r", "go")
    assert resumed.succeeded
    assert counter.calls == []  # every step replayed, none ran again
    values, numbers = resumed.output
    expected = [REPLAYED_VALUES[index % len(REPLAYED_VALUES)] for index in range(count)]
    assert [(type(value), value) for value in values] == [(type(v), v) for v in expected]
    assert numbers == list(range(count))


async def test_outside_a_workflow_tasks_are_plain_functions() -> None:
    @floe.task(retries=3)
    async def add(a: int, b: int) -> int:
        return a + b

    @floe.task
    def shout(text: str) -> str:
        return text.upper()

    assert await add(1, 2) == 3
    assert shout("hi") == "HI"
    assert await floe.randint(3, 3) == 3
