"""floe.TaskGraph: building, validation errors, conditional edges, durable runs and replay."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import floe
from floe import ConfigError, Event, Execution, Kernel

pytestmark = pytest.mark.anyio

STORES = ["memory://", "sqlite:///{tmp}/floe.db"]


@pytest.fixture(params=STORES, ids=["memory", "sqlite"])
def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    return str(request.param).format(tmp=tmp_path)


def completed(execution: Execution) -> dict[str, Any]:
    return {e.step: e.data["result"] for e in execution.events if e.kind == "task.completed"}


def positions(execution: Execution) -> dict[str, str]:
    return {e.step: e.data["position"] for e in execution.events if e.kind == "task.completed"}


async def identity(value: Any) -> Any:
    return value


def diamond(**conditions: Callable[[Any], Any]) -> floe.TaskGraph:
    """start -> left, right -> join (end); conditions by edge name "start_left" ..."""

    async def start(n: int) -> int:
        return n

    def left(n: int) -> int:
        return n + 1

    async def right(n: int) -> int:
        return n * 10

    async def join(parents: dict[str, int]) -> int:
        return sum(parents.values())

    graph = floe.TaskGraph("diamond", start="start", end="join")
    for name, function in (("start", start), ("left", left), ("right", right), ("join", join)):
        graph.add_node(name, function)
    for source, target in (
        ("start", "left"),
        ("start", "right"),
        ("left", "join"),
        ("right", "join"),
    ):
        graph.add_edge(source, target, when=conditions.get(f"{source}_{target}"))
    return graph


# -- running ----------------------------------------------------------------------------


async def test_a_linear_graph_runs_each_node_as_a_step(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    @floe.task
    async def fetch(url: str) -> str:
        return f"<{url}>"

    def parse(text: str) -> int:  # a plain sync function runs as a task in a worker thread
        return len(text)

    graph = floe.TaskGraph("etl", start="fetch", end="report")
    graph.add_node("fetch", fetch).add_node("parse", parse)
    graph.add_node("report", lambda n: f"{n} chars")
    graph.add_edge("fetch", "parse").add_edge("parse", "report")

    @floe.workflow
    async def etl(url: str) -> dict[str, Any]:
        result = await graph.run(url)
        return {"output": result.output, "results": result.results, "parse": result["parse"]}

    async with floe_kernel_factory(store=store_url):
        execution = await etl.run_async("x.org")
    assert execution.succeeded, execution.error
    assert execution.output == {
        "output": "7 chars",
        "results": {"fetch": "<x.org>", "parse": 7, "report": "7 chars"},
        "parse": 7,
    }
    assert execution.executed_tasks == ["etl#1/fetch#1", "etl#1/parse#1", "etl#1/report#1"]
    # a position per node, from the node's place in the graph
    assert positions(execution) == {
        "etl#1/fetch#1": "1.1.1",
        "etl#1/parse#1": "1.2.1",
        "etl#1/report#1": "1.3.1",
    }


async def test_a_node_with_several_parents_gets_their_results_by_name(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    graph = diamond()

    @floe.workflow
    async def run_it(n: int) -> Any:
        result = await graph.run(n)
        return [result.output, result["join"], list(result.skipped)]

    async with floe_kernel_factory():
        execution = await run_it.run_async(4)
    assert execution.output == [45, 45, []]
    assert completed(execution)["diamond#1/join#1"] == 45


async def test_independent_branches_run_side_by_side() -> None:
    both_started = anyio.Event()
    started: list[str] = []

    async def branch(name: str, _: Any) -> str:
        started.append(name)
        if len(started) == 2:
            both_started.set()
        await both_started.wait()  # deadlocks unless both branches run at once
        return name

    graph = floe.TaskGraph("fan", start="source", end="sink")
    graph.add_node("source", identity)
    graph.add_node("a", functools.partial(branch, "a"))
    graph.add_node("b", functools.partial(branch, "b"))
    graph.add_node("sink", identity)
    graph.add_edge("source", "a").add_edge("source", "b")
    graph.add_edge("a", "sink").add_edge("b", "sink")
    with anyio.fail_after(5):
        result = await graph.run(0)
    assert result.output == {"a": "a", "b": "b"}


async def test_a_false_condition_skips_the_node_and_what_only_it_leads_to() -> None:
    seen: list[Any] = []

    def small(value: int) -> bool:
        seen.append(value)
        return value < 10

    graph = floe.TaskGraph("branchy", start="start", end="end")
    graph.add_node("start", identity)
    graph.add_node("big", lambda n: f"big {n}")
    graph.add_node("big_detail", lambda text: text.upper())  # only reached through "big"
    graph.add_node("small", lambda n: f"small {n}")
    graph.add_node("end", identity)
    graph.add_edge("start", "big", when=lambda n: not small(n))
    graph.add_edge("big", "big_detail").add_edge("big_detail", "end")
    graph.add_edge("start", "small", when=small)
    graph.add_edge("small", "end")

    low = await graph.run(3)
    assert low.results == {"start": 3, "small": "small 3", "end": {"small": "small 3"}}
    assert low.skipped == ("big", "big_detail")
    high = await graph.run(30)
    assert high.output == {"big_detail": "BIG 30"}
    assert high.skipped == ("small",)
    assert "small" not in high
    assert seen == [3, 3, 30, 30]  # the conditions really ran, on the start node's result


async def test_async_conditions_are_awaited() -> None:
    async def is_even(value: int) -> bool:
        await anyio.lowlevel.checkpoint()
        return value % 2 == 0

    graph = diamond(start_left=is_even)
    assert (await graph.run(3)).skipped == ("left",)
    assert (await graph.run(3)).output == 30  # join got {"right": 30}
    assert (await graph.run(4)).output == 45  # join got {"left": 5, "right": 40}


async def test_a_skipped_end_node_gives_no_output() -> None:
    graph = floe.TaskGraph("maybe", start="a", end="b")
    graph.add_node("a", identity).add_node("b", identity)
    graph.add_edge("a", "b", when=lambda value: value is not None)
    result = await graph.run(None)
    assert result.output is None
    assert result.skipped == ("b",)
    assert (await graph.run(1)).output == 1


async def test_without_input_the_start_node_is_called_with_nothing() -> None:
    graph = floe.TaskGraph(start="seed", end="double")
    graph.add_node("seed", lambda: 21).add_node("double", lambda n: n * 2)
    graph.add_edge("seed", "double")
    assert (await graph.run()).output == 42


async def test_outside_a_workflow_sync_nodes_run_in_worker_threads() -> None:
    loop_thread = threading.get_ident()
    graph = floe.TaskGraph(start="a", end="b")
    graph.add_node("a", lambda _: threading.get_ident())
    graph.add_node("b", identity)
    graph.add_edge("a", "b")
    assert (await graph.run(0)).output != loop_thread


async def test_task_nodes_keep_their_options_under_the_node_name(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    attempts: list[int] = []

    @floe.task(retries=2)
    async def flaky(n: int) -> int:
        attempts.append(n)
        if len(attempts) < 2:
            raise ConnectionError("try again")
        return n * 2

    graph = floe.TaskGraph("g", start="double", end="double").add_node("double", flaky)

    @floe.workflow
    async def run_it() -> Any:
        return (await graph.run(5)).output

    async with floe_kernel_factory():
        execution = await run_it.run_async()
    assert execution.output == 10
    assert attempts == [5, 5]
    assert [e.data["task"] for e in execution.events if e.kind == "task.retrying"] == ["double"]
    assert execution.executed_tasks == ["g#1/double#1"]


async def test_two_runs_of_a_graph_in_one_workflow_take_two_slots(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    graph = diamond()

    @floe.workflow
    async def twice() -> list[Any]:
        first, second = await floe.parallel(graph.run(1), graph.run(2))
        return [first.output, second.output]

    async with floe_kernel_factory():
        execution = await twice.run_async()
    assert execution.output == [12, 23]
    assert completed(execution)["diamond#1/join#1"] == 12
    assert completed(execution)["diamond#2/join#1"] == 23


async def test_a_failing_node_cancels_the_others_and_raises_its_error(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    finished: list[str] = []
    slow_started = anyio.Event()

    async def slow(_: Any) -> str:
        slow_started.set()
        await anyio.sleep(30)
        finished.append("slow")
        return "slow"

    async def broken(_: Any) -> str:
        await slow_started.wait()
        raise LookupError("nothing here")

    graph = floe.TaskGraph("g", start="start", end="end")
    graph.add_node("start", identity).add_node("slow", slow).add_node("broken", broken)
    graph.add_node("end", identity)
    graph.add_edge("start", "slow").add_edge("start", "broken")
    graph.add_edge("slow", "end").add_edge("broken", "end")

    @floe.workflow
    async def run_it() -> Any:
        return (await graph.run(1)).output

    async with floe_kernel_factory(store=store_url):
        with anyio.fail_after(10):
            execution = await run_it.run_async()
    assert type(execution.exception) is LookupError
    assert finished == []
    failed = [e.step for e in execution.events if e.kind == "task.failed"]
    assert failed == ["g#1/broken#1"]


async def test_a_failing_condition_fails_the_graph_and_names_the_edge() -> None:
    graph = diamond(start_right=lambda n: 1 / n)
    with pytest.raises(ZeroDivisionError) as caught:
        await graph.run(0)
    assert "edge 'start' -> 'right' of graph 'diamond'" in "".join(caught.value.__notes__)


async def test_graph_replay_does_not_rerun_finished_nodes(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    runs: list[str] = []
    conditions: list[int] = []
    armed = {"on": True}

    def record(name: str, value: Any) -> Any:
        runs.append(name)
        return value

    async def slow_branch(value: int) -> int:
        runs.append("slow")
        if armed["on"]:
            await anyio.sleep_forever()  # the process dies while this node runs
        return value + 1000

    def taken(value: int) -> bool:
        conditions.append(value)
        return True

    graph = floe.TaskGraph("g", start="start", end="join")
    graph.add_node("start", functools.partial(record, "start"))
    graph.add_node("fast", lambda n: record("fast", n + 1))
    graph.add_node("fast_after", lambda n: record("fast_after", n * 2))
    graph.add_node("slow", slow_branch)
    graph.add_node("join", lambda parents: record("join", parents))
    graph.add_edge("start", "fast", when=taken).add_edge("fast", "fast_after")
    graph.add_edge("start", "slow").add_edge("fast_after", "join").add_edge("slow", "join")

    @floe.workflow
    async def run_it(n: int) -> Any:
        return (await graph.run(n)).output

    def journaled(events: list[Event]) -> bool:
        return sum(1 for e in events if e.kind == "task.completed") == 3

    async with floe_kernel_factory(store=store_url) as kernel:
        seen: list[Event] = []
        ready = anyio.Event()

        def watch(event: Event) -> None:
            seen.append(event)
            if journaled(seen):
                ready.set()

        kernel.bus.subscribe("task.completed", "crash", watch, inline=True)
        async with anyio.create_task_group() as group:
            group.start_soon(functools.partial(run_it.run_async, 1, run_id="crashy"))
            with anyio.fail_after(20):
                await ready.wait()
            group.cancel_scope.cancel()
        armed["on"] = False
        if store_url.startswith("memory"):
            execution = await run_it.run_async(run_id="crashy")
    if not store_url.startswith("memory"):
        async with floe_kernel_factory(store=store_url):
            execution = await run_it.run_async(run_id="crashy")
    assert execution.succeeded, execution.error
    assert execution.output == {"fast_after": 4, "slow": 1001}
    assert sorted(runs) == sorted(["start", "fast", "fast_after", "slow", "slow", "join"])
    assert conditions == [1, 1]  # conditions are evaluated again, on the recorded result


# -- validation -------------------------------------------------------------------------


def three_nodes() -> floe.TaskGraph:
    graph = floe.TaskGraph("g", start="a", end="c")
    for name in "abc":
        graph.add_node(name, identity)
    return graph


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: floe.TaskGraph("g", end="a").add_node("a", identity), "has no start node"),
        (lambda: floe.TaskGraph("g", start="a").add_node("a", identity), "has no end node"),
        (
            lambda: floe.TaskGraph("g", start="x", end="a").add_node("a", identity),
            "the start node names the unknown node 'x'",
        ),
        (
            lambda: three_nodes().add_edge("a", "b").add_edge("b", "nope"),
            "edge 'b' -> 'nope' names the unknown node 'nope'",
        ),
        (
            lambda: three_nodes().add_edge("a", "b").add_edge("b", "c").add_edge("c", "a"),
            "has a cycle: a -> b -> c -> a",
        ),
        (
            lambda: three_nodes().add_edge("a", "c").add_edge("b", "b"),
            "has a cycle: b -> b",
        ),
        (lambda: three_nodes().add_edge("a", "c").add_edge("b", "c"), "node 'b' cannot be reached"),
        (
            lambda: three_nodes().add_edge("a", "b").add_edge("a", "c"),
            "node 'b' does not lead to the end node 'c'",
        ),
    ],
    ids=[
        "no-start",
        "no-end",
        "unknown-start",
        "unknown-edge",
        "cycle",
        "self-loop",
        "unreachable",
        "dead-end",
    ],
)
async def test_validate_explains_what_is_wrong(
    build: Callable[[], floe.TaskGraph], message: str
) -> None:
    graph = build()
    with pytest.raises(ConfigError) as caught:
        graph.validate()
    assert message in str(caught.value)
    assert caught.value.fix is not None
    with pytest.raises(ConfigError):
        graph.run(1)  # run validates before it starts anything


async def test_a_cycle_error_carries_the_cycle() -> None:
    graph = floe.TaskGraph("loop", start="a", end="d")
    for name in "abcd":
        graph.add_node(name, identity)
    graph.add_edge("a", "b").add_edge("b", "c").add_edge("c", "b").add_edge("c", "d")
    with pytest.raises(ConfigError) as caught:
        graph.validate()
    assert caught.value.context["cycle"] == ["b", "c", "b"]


async def test_several_unreachable_nodes_are_all_named() -> None:
    graph = floe.TaskGraph("g", start="a", end="a").add_node("a", identity)
    graph.add_node("x", identity).add_node("y", identity).add_edge("x", "y")
    with pytest.raises(ConfigError, match="nodes 'x', 'y' cannot be reached"):
        graph.validate()


async def test_a_valid_graph_validates() -> None:
    graph = diamond()
    graph.validate()
    assert graph.nodes == ("start", "left", "right", "join")
    assert [(e.source, e.target) for e in graph.edges] == [
        ("start", "left"),
        ("start", "right"),
        ("left", "join"),
        ("right", "join"),
    ]
    assert (graph.start, graph.end) == ("start", "join")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: floe.TaskGraph(""), "Invalid graph name ''"),
        (lambda: floe.TaskGraph("a/b"), "Invalid graph name 'a/b'"),
        (lambda: floe.TaskGraph().add_node("n#1", identity), "Invalid node name 'n#1'"),
        (lambda: floe.TaskGraph().add_node(3, identity), "Invalid node name 3"),  # type: ignore[arg-type]
        (lambda: floe.TaskGraph().add_node("n", 3), "is 3, which is not a task or function"),  # type: ignore[arg-type]
        (
            lambda: floe.TaskGraph().add_node("n", identity).add_node("n", identity),
            "already has a node 'n'",
        ),
        (lambda: floe.TaskGraph().add_edge("a", "b", when=True), "not callable"),  # type: ignore[arg-type]
        (lambda: floe.TaskGraph().add_edge("a", "b").add_edge("a", "b"), "already has an edge"),
        (lambda: floe.TaskGraph().set_start(""), "Invalid start node"),
    ],
)
async def test_building_refuses_bad_parts(build: Callable[[], Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build()
    assert message in str(caught.value)


async def test_an_invalid_graph_fails_the_workflow_run(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    graph = three_nodes().add_edge("a", "b")

    @floe.workflow
    async def run_it() -> Any:
        return (await graph.run(1)).output

    @floe.workflow
    def sync_body() -> Any:
        return diamond().run(1)

    async with floe_kernel_factory():
        execution = await run_it.run_async()
        in_sync_body = await sync_body.run_async()
    assert isinstance(execution.exception, ConfigError)
    assert "cannot be reached from the start node" in str(execution.exception)
    assert execution.executed_tasks == []
    assert isinstance(in_sync_body.exception, ConfigError)
    assert "sync workflow or task body" in str(in_sync_body.exception)
