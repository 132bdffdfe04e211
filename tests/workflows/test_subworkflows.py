"""Child runs: a step of the parent with a journal of its own, reattached on replay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

import floe
from floe import ConfigError, Kernel, RunQuery, RunStatus

pytestmark = pytest.mark.anyio


async def test_a_child_run_is_a_step_of_its_parent(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    calls: list[str] = []

    @floe.task
    async def square(n: int) -> int:
        calls.append(f"square {n}")
        return n * n

    @floe.workflow
    async def child(n: int) -> int:
        return await square(n) + 1

    @floe.workflow
    async def parent() -> dict[str, Any]:
        by_call = await floe.call(child, 3)
        execution = await child.run_async(4)
        return {"call": by_call, "run_async": execution.output, "status": str(execution.status)}

    async with floe_kernel_factory(store=store_url) as kernel:
        execution = await parent.run_async(run_id="p")
        children = await kernel.store.list_runs(RunQuery(parent_id="p"))
        child_events = await kernel.store.read_events("p:child#1")
        again = await parent.run_async(run_id="p")
    assert execution.output == {"call": 10, "run_async": 17, "status": "completed"}
    assert sorted(run.run_id for run in children) == ["p:child#1", "p:child#2"]
    assert all(run.parent_id == "p" for run in children)
    assert all(run.status is RunStatus.COMPLETED for run in children)
    assert [e.kind for e in child_events] == [
        "run.started",
        "task.started",
        "task.completed",
        "run.completed",
    ]
    assert child_events[0].data["parent_id"] == "p"
    steps = [(e.kind, e.step, e.data.get("child_run_id")) for e in execution.events]
    assert ("task.completed", "child#1", "p:child#1") in steps
    assert ("task.completed", "child#2", "p:child#2") in steps
    assert execution.executed_tasks == ["child#1", "child#2"]
    assert again.output == execution.output
    assert calls == ["square 3", "square 4"]


async def test_a_failing_child_fails_the_step(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.workflow
    async def broken(reason: str) -> None:
        raise LookupError(reason)

    @floe.workflow
    async def parent() -> list[str]:
        seen = []
        try:
            await floe.call(broken, "first")
        except LookupError as error:
            seen.append(f"caught {error}")
        execution = await broken.run_async("second")
        seen.append(f"{execution.status}: {execution.error.message if execution.error else ''}")
        try:
            await broken.run_async("third", raise_on_error=True)
        except LookupError as error:
            seen.append(f"raised {error}")
        return seen

    async with floe_kernel_factory() as kernel:
        execution = await parent.run_async(run_id="p")
        # replayed from the journal: the same outcomes, nothing runs again
        run = await kernel.store.get_run("p")
        assert run is not None
        await kernel.store.update_run(
            floe.Run(run_id="p", name="parent", status=RunStatus.RUNNING, input=run.input)
        )
        replayed = await parent.run_async(run_id="p")
    expected = ["caught first", "failed: second", "raised third"]
    assert execution.output == expected
    assert replayed.output == expected
    failed = [e for e in execution.events if e.kind == "task.failed"]
    assert [(e.step, e.data["raised"]) for e in failed] == [
        ("broken#1", True),
        ("broken#2", False),
        ("broken#3", True),
    ]
    assert failed[0].data["error"]["type"] == "builtins.LookupError"


async def test_resuming_an_interrupted_parent_resumes_its_child(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    calls: list[str] = []
    crash = {"armed": True}

    @floe.task
    async def work(label: str) -> str:
        calls.append(label)
        if label == "child-2" and crash["armed"]:
            await anyio.sleep_forever()  # the process dies inside the child
        return label

    @floe.workflow
    async def child() -> list[str]:
        return [await work("child-1"), await work("child-2")]

    @floe.workflow
    async def parent() -> list[str]:
        before = await work("parent-1")
        inner = await floe.call(child)
        return [before, *inner, await work("parent-2")]

    async with floe_kernel_factory(store=store_url) as kernel:
        with anyio.move_on_after(0.5):
            await parent.run_async(run_id="p")
        child_run = await kernel.store.get_run("p:child#1")
        assert child_run is not None
        assert child_run.status is RunStatus.RUNNING
        crash["armed"] = False
        execution = await parent.run_async(run_id="p")
        child_run = await kernel.store.get_run("p:child#1")
    assert execution.output == ["parent-1", "child-1", "child-2", "parent-2"]
    assert child_run is not None
    assert child_run.status is RunStatus.COMPLETED
    # completed steps ran once; the one in flight ran again
    assert calls == ["parent-1", "child-1", "child-2", "child-2", "parent-2"]


async def test_a_paused_child_pauses_its_parent(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    @floe.workflow
    async def approval(amount: int) -> list[Any]:
        first = await floe.pause("manager", output={"amount": amount})
        second = await floe.pause("finance", output={"amount": amount})
        return [first, second]

    @floe.workflow
    async def purchase(amount: int) -> dict[str, Any]:
        verdicts = await floe.call(approval, amount)
        return {"amount": amount, "verdicts": verdicts}

    async with floe_kernel_factory(store=store_url) as kernel:
        execution = await purchase.run_async(250, run_id="buy")
        assert execution.paused
        assert execution.pause_name == "manager"
        assert execution.output == {"amount": 250}
        child = await kernel.store.get_run("buy:approval#1")
        assert child is not None
        assert child.status is RunStatus.PAUSED

        execution = await floe.resume("buy", "ok by Ann")  # the value goes down to the child
        assert execution.pause_name == "finance"
        execution = await purchase.resume_async("buy", "ok by Bob")
        child_events = await kernel.store.read_events("buy:approval#1")
    assert execution.succeeded
    assert execution.output == {"amount": 250, "verdicts": ["ok by Ann", "ok by Bob"]}
    assert [e.data["value"] for e in child_events if e.kind == "run.resumed"] == [
        "ok by Ann",
        "ok by Bob",
    ]


async def test_cancelling_a_parent_cancels_its_child(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    ledger: list[str] = []
    reached = anyio.Event()

    @floe.task(rollback=lambda name: ledger.append(f"undo {name}"))
    async def do(name: str) -> str:
        ledger.append(f"do {name}")
        return name

    @floe.task
    async def block() -> None:
        reached.set()
        await anyio.sleep_forever()

    @floe.workflow
    async def child() -> None:
        await do("child")
        await block()

    @floe.workflow
    async def parent() -> None:
        await do("parent")
        await floe.call(child)

    results: dict[str, floe.Execution] = {}

    async def run() -> None:
        results["run"] = await parent.run_async(run_id="p")

    async with floe_kernel_factory(store=store_url) as kernel, anyio.create_task_group() as tg:
        tg.start_soon(run)
        await reached.wait()
        execution = await floe.cancel("p")
        child_run = await kernel.store.get_run("p:child#1")
    assert execution.cancelled
    assert results["run"].cancelled
    assert child_run is not None
    assert child_run.status is RunStatus.CANCELLED
    assert ledger == ["do parent", "do child", "undo child", "undo parent"]


async def test_cancelling_a_paused_parent_cancels_its_paused_child(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    ledger: list[str] = []

    @floe.task(rollback=lambda name: ledger.append(f"undo {name}"))
    async def do(name: str) -> str:
        return name

    @floe.workflow
    async def child() -> Any:
        await do("child")
        return await floe.pause("inner")

    @floe.workflow
    async def parent() -> Any:
        await do("parent")
        return await floe.call(child)

    async with floe_kernel_factory() as kernel:
        assert (await parent.run_async(run_id="p")).paused
        execution = await parent.cancel_async("p")
        child_run = await kernel.store.get_run("p:child#1")
    assert execution.cancelled
    assert child_run is not None
    assert child_run.status is RunStatus.CANCELLED
    assert ledger == ["undo child", "undo parent"]


async def test_cancelling_a_paused_sync_parent_cancels_its_child(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.workflow
    async def child() -> Any:
        return await floe.pause("inner")

    @floe.workflow
    def sync_parent() -> Any:
        return floe.call(child)

    async with floe_kernel_factory() as kernel:
        assert (await sync_parent.run_async(run_id="sp")).paused
        execution = await floe.cancel("sp")
        child_run = await kernel.store.get_run("sp:child#1")
    assert execution.cancelled
    assert child_run is not None
    assert child_run.status is RunStatus.CANCELLED


async def test_a_child_cancelled_on_its_own_fails_the_parents_step(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.workflow
    async def child() -> Any:
        return await floe.pause("inner")

    @floe.workflow
    async def parent() -> str:
        try:
            await floe.call(child)
        except floe.RunCancelledError as error:
            return f"child gone: {error.what}"
        return "unexpected"

    async with floe_kernel_factory():
        assert (await parent.run_async(run_id="p")).paused
        await floe.cancel("p:child#1")
        execution = await floe.resume("p", "ignored")
    assert execution.output == "child gone: Child run 'p:child#1' of workflow 'child' was cancelled"


async def test_children_started_together_get_call_order_ids(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.workflow
    async def child(n: int) -> int:
        await anyio.sleep(0.01 * (5 - n))
        return n

    @floe.workflow
    async def fan_out() -> list[int]:
        results: dict[int, int] = {}

        async def collect(n: int, pending: Any) -> None:
            results[n] = await pending

        async with anyio.create_task_group() as group:
            for n in range(5):
                group.start_soon(collect, n, floe.call(child, n))  # the key is taken here
        return [results[n] for n in range(5)]

    async with floe_kernel_factory() as kernel:
        execution = await fan_out.run_async(run_id="f")
        children = {
            run.run_id: run.input["args"][0]
            for run in await kernel.store.list_runs(RunQuery(parent_id="f"))
        }
    assert execution.output == [0, 1, 2, 3, 4]
    assert children == {f"f:child#{n + 1}": n for n in range(5)}


async def test_sync_bodies_run_children_too(floe_kernel_factory: Callable[..., Kernel]) -> None:
    @floe.workflow
    def child(n: int) -> int:
        return n + 1

    @floe.workflow
    def parent() -> list[Any]:
        return [floe.call(child, 1), child.run(10).output]

    async with floe_kernel_factory() as kernel:
        execution = await parent.run_async(run_id="s")
        children = await kernel.store.list_runs(RunQuery(parent_id="s"))
    assert execution.output == [2, 11]
    assert len(children) == 2


async def test_call_outside_a_workflow_and_bad_targets(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.workflow
    async def standalone(n: int) -> int:
        return n * 10

    @floe.workflow
    async def pauses() -> None:
        await floe.pause("wait")

    @floe.task
    async def plain(n: int) -> int:
        return n - 1

    async with floe_kernel_factory():
        assert await floe.call(standalone, 4) == 40
        assert await floe.call(plain, 4) == 3
        with pytest.raises(floe.StateError, match="paused at 'wait'"):
            await floe.call(pauses)
    with pytest.raises(ConfigError, match="needs a workflow or a task"):
        floe.call(print, 1)  # type: ignore[arg-type]
