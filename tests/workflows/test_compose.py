"""parallel, pipeline, map and starmap: inside workflows (memory and SQLite) and outside."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.to_thread
import pytest

import floe
from floe import ConfigError, Event, Execution, Kernel

pytestmark = pytest.mark.anyio

STORES = ["memory://", "sqlite:///{tmp}/floe.db"]


@pytest.fixture(params=STORES, ids=["memory", "sqlite"])
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    return str(request.param).format(tmp=tmp_path)


def completed(execution: Execution) -> dict[str, Any]:
    """Step key -> recorded result of every completed step."""
    return {e.step: e.data["result"] for e in execution.events if e.kind == "task.completed"}


def positions(execution: Execution) -> dict[str, str]:
    """Step key -> recorded position of every finished step."""
    return {
        e.step: e.data["position"]
        for e in execution.events
        if e.kind in ("task.completed", "task.failed") and e.step
    }


class Crash:
    """Interrupt a run once its journal holds some steps, then resume it (reopening SQLite).

    The interruption cancels the run like a dying process would stop it: the steps that
    were journaled stay recorded, the rest have no record. The resume runs in a fresh
    kernel on SQLite (a new process would see the same file) and in the same kernel on
    the memory store (whose runs live only as long as the kernel).
    """

    def __init__(self, factory: Callable[..., Kernel], store_url: str) -> None:
        self.factory = factory
        self.store_url = store_url
        self.armed = True
        self.blocked = anyio.Event()

    async def block_if_armed(self) -> None:
        if self.armed:
            self.blocked.set()
            await anyio.sleep_forever()  # the process dies while this step runs

    async def run(
        self,
        workflow: floe.Workflow[..., Any],
        args: tuple[Any, ...],
        journaled: Callable[[list[Event]], bool],
    ) -> Execution:
        async with self.factory(store=self.store_url) as kernel:
            seen: list[Event] = []
            ready = anyio.Event()

            def watch(event: Event) -> None:  # the bus delivers events once they are stored
                seen.append(event)
                if journaled(seen):
                    ready.set()

            kernel.bus.subscribe("task.*", "crash", watch, inline=True)
            async with anyio.create_task_group() as group:
                group.start_soon(functools.partial(workflow.run_async, *args, run_id="crashy"))
                with anyio.fail_after(20):
                    await ready.wait()
                    await self.blocked.wait()  # the step that dies with the process runs
                group.cancel_scope.cancel()
            kernel.bus.unsubscribe_all("crash")
            run = await kernel.store.get_run("crashy")
            assert run is not None
            assert not run.status.finished
            self.armed = False
            if self.store_url.startswith("memory"):
                return await workflow.run_async(run_id="crashy")
        async with self.factory(store=self.store_url):
            return await workflow.run_async(run_id="crashy")


def count_completed(events: list[Event], prefix: str) -> int:
    return sum(
        1 for e in events if e.kind == "task.completed" and (e.step or "").startswith(prefix)
    )


class Tracker:
    """Counts calls and the most calls running at once.

    With a *limit*, a call waits until *limit* calls have run at once (then none waits
    again): a limit that holds makes ``most`` exactly *limit*, with no timing involved.
    """

    def __init__(self, limit: int | None = None) -> None:
        self.calls: list[Any] = []
        self.running = 0
        self.most = 0
        self.limit = limit
        self.full = anyio.Event()

    async def visit(self, item: Any, delay: float = 0.0) -> None:
        self.calls.append(item)
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            if self.limit is None:
                await anyio.sleep(delay)
                return
            if self.running >= self.limit:
                self.full.set()
            await self.full.wait()
        finally:
            self.running -= 1


# -- parallel ---------------------------------------------------------------------------


async def test_parallel_results_come_in_call_order_with_keys_in_argument_order(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    recorded = {2: anyio.Event(), 3: anyio.Event()}

    def watch(event: Event) -> None:  # the bus delivers events once they are stored
        if event.step in ("slow_echo#2", "slow_echo#3"):
            recorded[int(event.step[-1])].set()

    @floe.task
    async def slow_echo(n: int) -> int:
        if n < 3:
            await recorded[n + 1].wait()  # the last call finishes first
        return n

    @floe.task
    def shout(text: str) -> str:  # sync tasks run in worker threads, side by side too
        return text.upper()

    @floe.workflow
    async def fan_out() -> list[Any]:
        return await floe.parallel(slow_echo(1), shout("a"), slow_echo(2), slow_echo(3))

    async with floe_kernel_factory(store=store_url) as kernel:
        kernel.bus.subscribe("task.completed", "order", watch, inline=True)
        with anyio.fail_after(20):  # a body that ran the calls one by one would wait forever
            execution = await fan_out.run_async()
    assert execution.succeeded, execution.error
    assert execution.output == [1, "A", 2, 3]
    assert completed(execution) == {
        "slow_echo#1": 1,
        "shout#1": "A",
        "slow_echo#2": 2,
        "slow_echo#3": 3,
    }
    assert positions(execution) == {
        "slow_echo#1": "1",
        "shout#1": "2",
        "slow_echo#2": "3",
        "slow_echo#3": "4",
    }
    # they really ran side by side: the last one finished first
    finished = [key for key in execution.executed_tasks if key.startswith("slow_echo")]
    assert finished == ["slow_echo#3", "slow_echo#2", "slow_echo#1"]


async def test_parallel_respects_max_concurrency(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    tracker = Tracker(limit=2)

    @floe.task
    async def visit(n: int) -> int:
        await tracker.visit(n)
        return n

    @floe.workflow
    async def limited() -> list[int]:
        return await floe.parallel(*[visit(n) for n in range(7)], max_concurrency=2)

    async with floe_kernel_factory():
        with anyio.fail_after(20):  # a limit of one would never fill the tracker
            execution = await limited.run_async()
    assert execution.output == list(range(7))
    assert tracker.most == 2
    assert tracker.calls == list(range(7))  # started in call order


async def test_parallel_first_failure_cancels_the_rest_and_raises_it(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    tracker = Tracker()
    slow_started = anyio.Event()

    @floe.task
    async def slow(n: int) -> int:
        slow_started.set()
        await tracker.visit(n, 30)
        tracker.calls.append("finished")  # never reached: cancelled
        return n

    @floe.task
    async def broken() -> int:
        await slow_started.wait()
        raise KeyError("no such thing")

    @floe.workflow
    async def doomed() -> list[int]:
        return await floe.parallel(slow(1), broken(), slow(2))

    async with floe_kernel_factory(store=store_url):
        with anyio.fail_after(10):
            execution = await doomed.run_async()
            with pytest.raises(KeyError, match="no such thing"):
                await doomed.run_async(raise_on_error=True)
    assert execution.failed
    assert type(execution.exception) is KeyError  # the error itself, not an exception group
    assert "finished" not in tracker.calls
    kinds = {(e.kind, e.step) for e in execution.events if e.step}
    assert ("task.failed", "broken#1") in kinds
    assert not any(kind == "task.completed" for kind, _ in kinds)


async def test_parallel_failure_can_be_caught_in_the_workflow(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.task
    async def broken(n: int) -> int:
        raise ValueError(f"bad {n}")

    @floe.task
    async def fine(n: int) -> int:
        return n

    @floe.workflow
    async def careful() -> str:
        try:
            await floe.parallel(fine(1), broken(2))
        except ValueError as error:
            return f"recovered from {error}"
        return "no error"

    async with floe_kernel_factory():
        execution = await careful.run_async()
    assert execution.output == "recovered from bad 2"


@pytest.mark.parametrize("limit", [0, -1, 1.5, True, "2"])
async def test_parallel_refuses_a_bad_max_concurrency(limit: Any) -> None:
    async def work() -> int:
        return 1

    call = work()
    with pytest.raises(ConfigError, match="max_concurrency") as caught:
        floe.parallel(call, max_concurrency=limit)
    assert caught.value.fix is not None
    # the call it was given is closed, not left to warn that it was never awaited
    assert inspect.getcoroutinestate(call) == inspect.CORO_CLOSED


async def test_parallel_refuses_a_task_that_was_not_called(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.task
    async def fetch(n: int) -> int:
        return n

    @floe.workflow
    async def mistaken() -> list[int]:
        return await floe.parallel(fetch(1), fetch)  # type: ignore[arg-type]

    async with floe_kernel_factory():
        execution = await mistaken.run_async()
    assert isinstance(execution.exception, ConfigError)
    assert "'fetch' itself" in str(execution.exception)


async def test_parallel_of_nothing_is_an_empty_list() -> None:
    assert await floe.parallel() == []


async def test_parallel_outside_a_workflow_is_plain_concurrency() -> None:
    order: list[str] = []

    fast_done = anyio.Event()
    never = anyio.Event()

    @floe.task
    async def sleeper(name: str, after: anyio.Event | None = None) -> str:
        if after is not None:
            await after.wait()
        order.append(name)
        if name == "fast":
            fast_done.set()
        return name

    @floe.task
    def sync_task(n: int) -> int:  # outside a workflow a sync task call is its result
        return n * 2

    async def plain() -> str:
        return "plain coroutine"

    with anyio.fail_after(5):
        results = await floe.parallel(
            sleeper("slow", fast_done), sleeper("fast"), sync_task(21), plain()
        )
    assert results == ["slow", "fast", 42, "plain coroutine"]
    assert order == ["fast", "slow"]
    with pytest.raises(ZeroDivisionError):
        await floe.parallel(sleeper("x", never), anyio.to_thread.run_sync(lambda: 1 / 0))


async def test_parallel_replay_does_not_rerun_finished_branches(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    crash = Crash(floe_kernel_factory, store_url)
    runs: list[str] = []

    @floe.task
    async def branch(name: str) -> str:
        runs.append(name)
        if name == "c":
            await crash.block_if_armed()
        return name * 2

    @floe.workflow
    async def three() -> list[str]:
        return await floe.parallel(branch("a"), branch("b"), branch("c"))

    execution = await crash.run(three, (), lambda events: count_completed(events, "branch") == 2)
    assert execution.succeeded, execution.error
    assert execution.output == ["aa", "bb", "cc"]
    assert sorted(runs) == ["a", "b", "c", "c"]  # only the unfinished branch ran again


# -- pipeline ---------------------------------------------------------------------------


async def test_pipeline_feeds_each_result_to_the_next(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    @floe.task
    async def load(path: str) -> list[str]:
        return [f"{path}:1", f"{path}:2"]

    @floe.task
    def count(lines: list[str]) -> int:
        return len(lines)

    async def times_ten(n: int) -> int:  # a plain function is a step too
        return n * 10

    @floe.workflow
    async def chain(path: str) -> int:
        return await floe.pipeline(load, count, times_ten, lambda n: n + 1, input=path)

    async with floe_kernel_factory(store=store_url):
        execution = await chain.run_async("data.txt")
    assert execution.output == 21
    assert execution.executed_tasks == [
        "floe.pipeline#1/load#1",
        "floe.pipeline#1/count#1",
        "floe.pipeline#1/times_ten#1",
        "floe.pipeline#1/<lambda>#1",
    ]
    assert positions(execution)["floe.pipeline#1/count#1"] == "1.2"


async def test_pipeline_without_input_calls_the_first_task_with_nothing(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.task
    async def seed() -> int:
        return 5

    @floe.task
    async def square(n: int) -> int:
        return n * n

    @floe.workflow
    async def chain() -> int:
        return await floe.pipeline(seed, square)

    async with floe_kernel_factory():
        assert (await chain.run_async()).output == 25
    assert await floe.pipeline(seed, square, square) == 625  # outside a workflow


async def test_pipelines_side_by_side_keep_their_keys_apart(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.task
    async def wait_then_add(n: int) -> int:
        await anyio.sleep(0.02 if n < 100 else 0.0)  # the second pipeline runs ahead
        return n + 1

    @floe.workflow
    async def two() -> list[int]:
        return await floe.parallel(
            floe.pipeline(wait_then_add, wait_then_add, input=1),
            floe.pipeline(wait_then_add, wait_then_add, input=100),
        )

    async with floe_kernel_factory():
        execution = await two.run_async()
    assert execution.output == [3, 102]
    assert completed(execution) == {
        "floe.pipeline#1/wait_then_add#1": 2,
        "floe.pipeline#1/wait_then_add#2": 3,
        "floe.pipeline#2/wait_then_add#1": 101,
        "floe.pipeline#2/wait_then_add#2": 102,
    }


async def test_pipeline_stops_at_a_failing_stage(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    ran: list[str] = []

    @floe.task
    async def first(n: int) -> int:
        ran.append("first")
        return n

    @floe.task
    async def failing(n: int) -> int:
        raise ArithmeticError(f"cannot handle {n}")

    @floe.task
    async def never(n: int) -> int:
        ran.append("never")
        return n

    @floe.workflow
    async def chain() -> int:
        return await floe.pipeline(first, failing, never, input=3)

    async with floe_kernel_factory():
        execution = await chain.run_async()
    assert type(execution.exception) is ArithmeticError
    assert ran == ["first"]


async def test_pipeline_refuses_bad_stages() -> None:
    with pytest.raises(ConfigError, match="at least one task"):
        floe.pipeline(input=1)
    with pytest.raises(ConfigError, match=r"stage 2 of floe\.pipeline is 42"):
        floe.pipeline(len, 42, input="x")  # type: ignore[arg-type]

    async def parse(text: str) -> int:
        return int(text)

    call = parse("1")
    with pytest.raises(ConfigError, match="not a task or function") as caught:
        floe.pipeline(call, input="1")  # type: ignore[arg-type]
    assert caught.value.fix is not None
    assert "parse, not parse(x)" in caught.value.fix
    assert inspect.getcoroutinestate(call) == inspect.CORO_CLOSED


async def test_pipeline_outside_a_workflow_runs_sync_stages_in_threads() -> None:
    import threading

    loop_thread = threading.get_ident()

    def which_thread(value: int) -> tuple[int, bool]:
        return value, threading.get_ident() != loop_thread

    async def add_one(pair: tuple[int, bool]) -> tuple[int, bool]:
        return pair[0] + 1, pair[1]

    assert await floe.pipeline(which_thread, add_one, input=1) == (2, True)


async def test_pipeline_replay_does_not_rerun_finished_stages(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    crash = Crash(floe_kernel_factory, store_url)
    runs: list[str] = []

    @floe.task
    async def parse(text: str) -> int:
        runs.append("parse")
        return int(text)

    @floe.task
    async def enrich(n: int) -> dict[str, int]:
        runs.append("enrich")
        await crash.block_if_armed()
        return {"n": n}

    @floe.workflow
    async def chain(text: str) -> dict[str, int]:
        return await floe.pipeline(parse, enrich, input=text)

    execution = await crash.run(
        chain, ("41",), lambda events: count_completed(events, "floe.") == 1
    )
    assert execution.output == {"n": 41}
    assert runs == ["parse", "enrich", "enrich"]


# -- map and starmap --------------------------------------------------------------------


async def test_map_keeps_item_order_and_allocates_keys_at_the_call(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    @floe.task
    async def square(n: int) -> int:
        await anyio.sleep(0.002 * (10 - n))  # later items finish first
        return n * n

    @floe.task
    async def after() -> str:
        return "after"

    @floe.workflow
    async def squares() -> dict[str, Any]:
        pending = square.map(range(10))  # every key is taken here, before any call starts
        tail = after()
        return {"squares": await pending, "tail": await tail}

    async with floe_kernel_factory(store=store_url):
        execution = await squares.run_async()
    assert execution.output == {"squares": [n * n for n in range(10)], "tail": "after"}
    assert completed(execution) == {
        **{f"square#{n + 1}": n * n for n in range(10)},
        "after#1": "after",
    }
    assert positions(execution)["after#1"] == "11"


async def test_map_with_fixed_keyword_arguments_and_a_limit(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    tracker = Tracker(limit=3)

    @floe.task
    async def scale(n: int, *, factor: int, offset: int = 0) -> int:
        await tracker.visit(n)
        return n * factor + offset

    @floe.workflow
    async def scaled() -> list[int]:
        return await scale.map([1, 2, 3, 4, 5], factor=10, offset=1, max_concurrency=3)

    async with floe_kernel_factory():
        with anyio.fail_after(20):  # a lower limit would never fill the tracker
            execution = await scaled.run_async()
    assert execution.output == [11, 21, 31, 41, 51]
    assert tracker.most == 3


async def test_starmap_unpacks_each_item(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    @floe.task
    def add(a: int, b: int, *, scale: int = 1) -> int:
        return (a + b) * scale

    @floe.workflow
    async def sums() -> dict[str, list[int]]:
        return {
            "plain": await add.starmap([(1, 2), [3, 4]]),
            "scaled": await add.starmap(iter([(1, 1), (2, 2)]), scale=100),
        }

    async with floe_kernel_factory(store=store_url):
        execution = await sums.run_async()
    assert execution.output == {"plain": [3, 7], "scaled": [200, 400]}
    assert sorted(execution.executed_tasks) == ["add#1", "add#2", "add#3", "add#4"]


async def test_map_of_nothing(floe_kernel_factory: Callable[..., Kernel]) -> None:
    @floe.task
    async def never(n: int) -> int:
        raise AssertionError("called")

    @floe.workflow
    async def empty() -> list[int]:
        return await never.map([])

    async with floe_kernel_factory():
        assert (await empty.run_async()).output == []


async def test_map_first_failure_cancels_the_rest(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    finished: list[int] = []
    small_ones_done = anyio.Event()

    @floe.task
    async def check(n: int) -> int:
        if n == 3:
            await small_ones_done.wait()
            raise ValueError("three is bad")
        if n > 3:
            await anyio.sleep(30)  # cancelled by the failure
        finished.append(n)
        if len(finished) == 3:
            small_ones_done.set()
        return n

    @floe.workflow
    async def checks() -> list[int]:
        return await check.map(range(8))

    async with floe_kernel_factory():
        with anyio.fail_after(10):
            execution = await checks.run_async()
    assert type(execution.exception) is ValueError
    assert sorted(finished) == [0, 1, 2]


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (42, "needs an iterable"),
        ("abc", "needs an iterable"),
        (b"abc", "needs an iterable"),
        (None, "needs an iterable"),
    ],
)
async def test_map_refuses_items_that_are_not_a_collection(items: Any, message: str) -> None:
    @floe.task
    async def echo(n: Any) -> Any:
        return n

    with pytest.raises(ConfigError, match=message):
        echo.map(items)


async def test_map_and_starmap_refuse_calls_that_cannot_fit(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    calls: list[Any] = []

    @floe.task
    async def pair(a: int, b: int) -> int:
        calls.append((a, b))
        return a + b

    for attempt in (
        lambda: pair.map([1, 2], max_concurrency=0),
        lambda: pair.map([1, 2], unknown=3),
        lambda: pair.starmap([(1, 2), (1, 2, 3)]),
        lambda: pair.starmap([(1, 2), 5]),
        lambda: pair.starmap(["ab"]),
    ):
        with pytest.raises(ConfigError) as caught:
            attempt()
        assert caught.value.fix is not None

    @floe.workflow
    async def wrong() -> list[int]:
        return await pair.starmap([(1, 2), (3, 4), (5,), (6, 7, 8)])

    async with floe_kernel_factory():
        execution = await wrong.run_async()
    assert isinstance(execution.exception, ConfigError)
    assert "item 3" in str(execution.exception)
    assert calls == []  # refused before any call was made
    assert execution.executed_tasks == []


async def test_map_handles_a_thousand_items(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    @floe.task
    async def inc(n: int) -> int:
        return n + 1

    @floe.workflow
    async def many(count: int) -> int:
        return sum(await inc.map(range(count)))

    async with floe_kernel_factory(store=store_url):
        execution = await many.run_async(1000)
    assert execution.output == sum(range(1, 1001))
    assert len(execution.executed_tasks) == 1000


@pytest.mark.slow
async def test_map_handles_a_hundred_thousand_items(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.task
    async def inc(n: int) -> int:
        return n + 1

    @floe.workflow
    async def many(count: int) -> int:
        results = await inc.map(range(count))
        return sum(results)

    count = 100_000
    async with floe_kernel_factory():
        execution = await many.run_async(count)
    assert execution.succeeded, execution.error
    assert execution.output == count * (count + 1) // 2
    assert sum(1 for e in execution.events if e.kind == "task.completed") == count


async def test_map_outside_a_workflow() -> None:
    import threading

    @floe.task
    async def double(n: int) -> int:
        return n * 2

    @floe.task
    def thread_of(n: int) -> tuple[int, int]:
        return n, threading.get_ident()

    assert await double.map([1, 2, 3]) == [2, 4, 6]
    results = await thread_of.map(range(4), max_concurrency=2)
    assert [n for n, _ in results] == [0, 1, 2, 3]
    assert threading.get_ident() not in {thread for _, thread in results}


async def test_map_replay_does_not_rerun_finished_items(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    crash = Crash(floe_kernel_factory, store_url)
    runs: list[int] = []

    @floe.task
    async def work(n: int) -> int:
        runs.append(n)
        if n == 3:
            await crash.block_if_armed()
        return n * 100

    @floe.workflow
    async def batch() -> list[int]:
        return await work.map(range(6), max_concurrency=6)

    execution = await crash.run(batch, (), lambda events: count_completed(events, "work") == 5)
    assert execution.output == [0, 100, 200, 300, 400, 500]
    assert sorted(runs) == [0, 1, 2, 3, 3, 4, 5]


# -- in a sync body ---------------------------------------------------------------------


async def test_composition_in_a_sync_workflow_body_is_a_config_error(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.task
    async def one(n: int) -> int:
        return n

    attempts: dict[str, Callable[[], Awaitable[Any] | Any]] = {
        "parallel": lambda: floe.parallel(),
        "pipeline": lambda: floe.pipeline(one, input=1),
        "map": lambda: one.map([1]),
        "starmap": lambda: one.starmap([(1,)]),
    }
    for name in attempts:

        @floe.workflow(name=f"sync-{name}")
        def sync_body(make: str) -> Any:
            return attempts[make]()

        async with floe_kernel_factory():
            execution = await sync_body.run_async(name)
        assert isinstance(execution.exception, ConfigError), name
        assert "sync workflow or task body" in str(execution.exception)


# -- map: keys, positions and checks of the calls made in one loop -----------------------


async def test_map_keys_and_positions_continue_those_of_calls_one_by_one(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    runs: list[int] = []

    @floe.task
    async def square(n: int) -> int:
        runs.append(n)
        return n * n

    @floe.task
    async def group() -> list[int]:
        first = await square(0)  # a call one by one, then a map, then one more call
        rest = await square.map([1, 2, 3])
        return [first, *rest, await square(4)]

    @floe.workflow
    async def nested() -> list[int]:
        squares = await group()
        await floe.pause("go")
        return [*squares, *(await square.map([5, 6]))]

    async with floe_kernel_factory(store=store_url):
        paused = await nested.run_async(run_id="keys")
        assert paused.paused
        execution = await nested.resume_async("keys", "go")
    assert execution.output == [0, 1, 4, 9, 16, 25, 36]
    assert sorted(runs) == [0, 1, 2, 3, 4, 5, 6]  # the resume ran none of them again
    assert positions(execution) == {
        "group#1/square#1": "1.1",
        "group#1/square#2": "1.2",
        "group#1/square#3": "1.3",
        "group#1/square#4": "1.4",
        "group#1/square#5": "1.5",
        "group#1": "1",
        "square#1": "3",
        "square#2": "4",
    }


async def test_a_replayed_map_of_another_task_is_a_non_determinism_error(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.task
    async def original(n: int) -> int:
        return n

    @floe.task
    async def renamed(n: int) -> int:
        return -n

    @floe.workflow(name="mapped")
    async def first_version() -> int:
        total = sum(await original.map(range(3)))
        await floe.pause("go")
        return total

    @floe.workflow(name="mapped")
    async def second_version() -> int:
        total = sum(await renamed.map(range(3)))
        await floe.pause("go")
        return total

    async with floe_kernel_factory():
        assert (await first_version.run_async(run_id="m")).paused
        execution = await second_version.resume_async("m", "go")
    assert isinstance(execution.exception, floe.NonDeterminismError)
    message = str(execution.exception)
    assert "'original'" in message
    assert "'renamed'" in message
    assert execution.exception.context["step"] == "renamed#1"
