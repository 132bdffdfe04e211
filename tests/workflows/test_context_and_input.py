"""A workflow's input: Context inputs of any type, ctx.events as the run goes on, and a
run resumed by its id with the input it was started with, not another."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import floe
from floe import ConfigError, Kernel

pytestmark = pytest.mark.anyio


@floe.workflow
async def takes_none(ctx: floe.Context[None]) -> str:
    return f"got {ctx.input!r}"


@floe.workflow
async def takes_object(ctx: floe.Context[object]) -> object:
    return ctx.input


@floe.workflow
async def takes_optional(ctx: floe.Context[int | None]) -> str:
    return f"got {ctx.input!r}"


@pytest.mark.parametrize("call", [(), (None,)], ids=["no input", "input None"])
async def test_context_none_takes_none(
    floe_kernel_factory: Callable[..., Kernel], call: tuple[None, ...]
) -> None:
    async with floe_kernel_factory():
        execution = await takes_none.run_async(*call)
    assert execution.succeeded, execution.error
    assert execution.output == "got None"


async def test_context_none_refuses_a_value(floe_kernel_factory: Callable[..., Kernel]) -> None:
    async with floe_kernel_factory():
        with pytest.raises(ConfigError, match="does not fit its annotation NoneType"):
            await takes_none.run_async(3)


@pytest.mark.parametrize("value", [None, 3, "text", [1, {"a": None}]])
async def test_context_object_takes_any_json_value(
    floe_kernel_factory: Callable[..., Kernel], value: object
) -> None:
    async with floe_kernel_factory():
        execution = await takes_object.run_async(value)
        optional = await takes_optional.run_async(None)
    assert execution.succeeded, execution.error
    assert execution.output == value
    assert optional.output == "got None"


@floe.task
async def step(value: int) -> int:
    return value + 1


seen: dict[str, list[list[str]]] = {}


@floe.workflow
async def watches_its_events(ctx: floe.Context[int]) -> int:
    kinds = seen.setdefault(ctx.run_id, [])
    kinds.append([event.kind for event in ctx.events])
    first = await step(ctx.input)
    kinds.append([event.kind for event in ctx.events])
    answer = await floe.pause("check", output=first)
    kinds.append([event.kind for event in ctx.events])
    return first + int(answer)


async def test_ctx_events_show_the_run_so_far_on_a_fresh_run_and_on_resume(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    seen.clear()
    async with floe_kernel_factory():
        paused = await watches_its_events.run_async(1, run_id="watch-1")
        assert paused.paused
        done = await floe.resume("watch-1", 10)
    assert done.output == 12
    before_pause, after_step, resumed_start, resumed_step, after_pause = seen["watch-1"]
    assert before_pause == ["run.started"]
    assert after_step == ["run.started", "task.started", "task.completed"]
    journal_at_pause = [*after_step, "run.paused", "run.resumed"]
    assert resumed_start == journal_at_pause  # the same journal on resume as on the fresh run
    assert resumed_step == journal_at_pause
    assert after_pause == journal_at_pause
    assert [event.kind for event in done.events] == [*journal_at_pause, "run.completed"]


@floe.workflow
async def greets(name: str) -> str:
    answer = await floe.pause("go")
    return f"{answer}, {name}"


@floe.workflow
async def adds(a: int, b: int = 0) -> int:
    return a + b


async def test_a_paused_run_resumed_by_id_refuses_another_input(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    async with floe_kernel_factory():
        first = await greets.run_async("Ada", run_id="greet-1")
        assert first.paused
        with pytest.raises(ConfigError, match="'greet-1' was started with another input") as info:
            await greets.run_async("Bob", run_id="greet-1")
        assert "Leave the input out" in str(info.value.fix)
        same = await greets.run_async("Ada", run_id="greet-1")  # the same input: fine
        bare = await greets.run_async(run_id="greet-1")  # no input: the recorded one
        assert same.paused
        assert bare.paused
        done = await floe.resume("greet-1", "Hello")
    assert done.output == "Hello, Ada"


async def test_a_finished_run_refuses_another_input(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    async with floe_kernel_factory():
        first = await adds.run_async(1, 2, run_id="add-1")
        with pytest.raises(ConfigError, match="another input"):
            await adds.run_async(1, 3, run_id="add-1")
        with pytest.raises(ConfigError, match="another input"):
            await adds.run_async(1, run_id="add-1")  # b's default is not the recorded 2
        again = await adds.run_async(1, b=2, run_id="add-1")  # as recorded, by keyword
        assert (await adds.run_async(a=1, b=2, run_id="add-1")).output == 3
    assert first.output == again.output == 3
