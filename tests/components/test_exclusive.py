"""Swapping what decides a component's messages between two of them: ``Component.exclusive``
and ``StateMachine.use_registry``, on real kernels and stores."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import pytest

from floe import Kernel, StateError, StateRegistry
from floe.components._components import CHANGED, MESSAGE_RECEIVED, Component, Engine
from floe.components._state_machine import StateMachine, Transitioned
from floe.kernel._states import Message, State, Transition

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["memory", "sqlite"])
async def kernel(
    request: pytest.FixtureRequest, floe_kernel_factory: Callable[..., Kernel], tmp_path: Path
) -> AsyncIterator[Kernel]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/x.db"
    async with floe_kernel_factory(store=url) as kernel:
        yield kernel


class Elsewhere(State):
    transitions = (Transition("Elsewhere", "back", "InitialState"),)


class DetourInitial(State):
    """A second version of InitialState: ``start`` leads Elsewhere."""

    transitions = (Transition("InitialState", "start", "Elsewhere"),)


class Unbuildable(State):
    def __init__(self) -> None:
        raise RuntimeError("no")


def detour_registry(kernel: Kernel) -> StateRegistry:
    registry = StateRegistry()
    for name in kernel.states.names():
        registry.register(name, kernel.states.get(name))
    registry.register("InitialState", DetourInitial, replace=True)
    registry.register("Elsewhere", Elsewhere)
    return registry


async def test_messages_sent_during_an_exclusive_block_wait_and_keep_their_order(
    kernel: Kernel,
) -> None:
    engine = Engine(kernel)
    component = await engine.register_async(Component("gate"))
    results: list[tuple[int, Transitioned | None]] = []

    async def send(index: int, message: str) -> None:
        results.append((index, await component.handle_message(message)))

    async with anyio.create_task_group() as group, component.exclusive() as held:
        assert held is component
        group.start_soon(send, 0, "start")
        await anyio.wait_all_tasks_blocked()
        group.start_soon(send, 1, "back")
        await anyio.wait_all_tasks_blocked()
        # nothing was handled or journaled while the block runs
        assert results == []
        assert component.state == "InitialState"
        history = await engine.history("gate")
        assert MESSAGE_RECEIVED not in [event.kind for event in history]
        component.state_machine.use_registry(detour_registry(kernel))
    # decided by the classes swapped in, in the order the messages were sent
    assert results == [
        (0, Transitioned("InitialState", "Elsewhere")),
        (1, Transitioned("Elsewhere", "InitialState")),
    ]
    changes = [e.data for e in await engine.history("gate") if e.kind == CHANGED]
    assert [(c["from_state"], c["to_state"]) for c in changes] == [
        ("InitialState", "Elsewhere"),
        ("Elsewhere", "InitialState"),
    ]


async def test_rules_replaced_inside_the_block_are_journaled_after_it(kernel: Kernel) -> None:
    engine = Engine(kernel)
    component = await engine.register_async(Component("ruled", [1]))
    async with component.exclusive():
        component.update_rules([2, 3])
        assert component.rules == (2, 3)
    await component.flush()
    restored = await Engine(kernel).restore("ruled")
    assert restored.rules == (2, 3)
    history = await engine.history("ruled")
    assert history[-1].kind == "component.rules.updated"
    assert history[-1].data["rules"] == [2, 3]


async def test_the_block_is_not_reentrant(kernel: Kernel) -> None:
    component = await Engine(kernel).register_async(Component("solo"))
    async with component.exclusive():
        with pytest.raises(StateError, match="inside its own exclusive"):
            await component.handle_message("start")
        component.update_rules(["x"])  # deferred: no wait for the lock
        with pytest.raises(StateError, match="inside its own exclusive") as raised:
            await component.flush()
        assert raised.value.context == {"component": "solo"}
        with pytest.raises(StateError, match="inside its own exclusive"):
            async with component.exclusive():
                pass  # pragma: no cover
    # the lock was released: the component goes on
    assert await component.handle_message("start") == Transitioned(
        "InitialState", "AwaitingConfirmation"
    )
    await component.flush()
    assert component.rules == ("x",)


async def test_a_waiter_cancelled_while_the_block_runs_leaves_no_trace(kernel: Kernel) -> None:
    engine = Engine(kernel)
    component = await engine.register_async(Component("patient"))
    order: list[str] = []

    async def send(message: str) -> None:
        await component.handle_message(message)
        order.append(message)

    async with anyio.create_task_group() as group:
        with anyio.CancelScope() as doomed:
            async with component.exclusive():
                group.start_soon(send, "start")
                await anyio.wait_all_tasks_blocked()
                inner = anyio.CancelScope()

                async def cancelled_sender() -> None:
                    with inner:
                        await component.handle_message("cancel")
                        order.append("never")  # pragma: no cover

                group.start_soon(cancelled_sender)
                await anyio.wait_all_tasks_blocked()
                group.start_soon(send, "cancel")
                await anyio.wait_all_tasks_blocked()
                inner.cancel()
                await anyio.wait_all_tasks_blocked()
        assert not doomed.cancel_called
    assert order == ["start", "cancel"]
    kinds = [e.kind for e in await engine.history("patient")]
    assert kinds.count(MESSAGE_RECEIVED) == 2
    assert component.state == "InitialState"


async def test_exclusive_works_on_an_unregistered_component(kernel: Kernel) -> None:
    component = Component(
        "loose", state_machine=StateMachine("InitialState", registry=kernel.states)
    )
    async with component.exclusive():
        component.state_machine.use_registry(detour_registry(kernel))
    assert await component.handle_message("start") == Transitioned("InitialState", "Elsewhere")


# -- StateMachine.use_registry --------------------------------------------------------------


async def test_use_registry_keeps_the_state_and_enters_its_new_class(kernel: Kernel) -> None:
    machine = StateMachine("InitialState", registry=kernel.states)
    before = machine.current_state
    registry = detour_registry(kernel)
    machine.use_registry(registry)
    assert machine.registry is registry
    assert machine.current_state_name == "InitialState"
    assert type(machine.current_state) is DetourInitial
    assert machine.current_state is not before
    component = Component("m", state_machine=machine)
    assert await machine.handle_message(Message.of("start"), component) == Transitioned(
        "InitialState", "Elsewhere"
    )


async def test_use_registry_refuses_bad_registries_and_changes_nothing(kernel: Kernel) -> None:
    machine = StateMachine("InitialState", registry=kernel.states)
    state = machine.current_state

    with pytest.raises(StateError, match=r"takes a floe\.StateRegistry"):
        machine.use_registry({"InitialState": DetourInitial})  # type: ignore[arg-type]

    without = StateRegistry()
    without.register("Elsewhere", Elsewhere)
    with pytest.raises(StateError, match="has no state 'InitialState'") as missing:
        machine.use_registry(without)
    assert missing.value.why == "It knows: Elsewhere."
    assert missing.value.context == {"state": "InitialState"}

    broken = StateRegistry()
    broken.register("InitialState", Unbuildable)
    with pytest.raises(StateError, match=r"\(Unbuildable\) cannot be created") as unbuildable:
        machine.use_registry(broken)
    assert unbuildable.value.why == "Creating it raised RuntimeError: no"

    assert machine.registry is kernel.states
    assert machine.current_state is state
