"""FlexiFlow's spellings in floe: the ones that cannot work fail with a FloeError whose fix
names the floe spelling (docs/migration-flexiflow.md lists them all)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from floe import FloeError, Kernel, RenamedError, StateError
from floe.components._components import Component, Engine
from floe.components._state_machine import StateMachine
from floe.kernel._states import Message, State


def test_engine_event_bus_names_kernel_bus(floe_kernel_factory: Callable[..., Kernel]) -> None:
    engine = Engine(floe_kernel_factory())
    with pytest.raises(RenamedError) as caught:
        engine.event_bus  # noqa: B018
    error = caught.value
    assert isinstance(error, FloeError)
    assert isinstance(error, AttributeError)  # hasattr() and getattr(..., default) still work
    assert error.what == "floe.Engine has no attribute 'event_bus': it is engine.kernel.bus"
    assert error.fix == "Write engine.kernel.bus instead of engine.event_bus."
    assert not hasattr(engine, "event_bus")
    assert getattr(engine, "event_bus", None) is None
    # any other missing name is a plain AttributeError
    with pytest.raises(AttributeError) as other:
        engine.no_such_thing  # type: ignore[attr-defined]  # noqa: B018
    assert type(other.value) is AttributeError
    assert str(other.value) == "'Engine' object has no attribute 'no_such_thing'"


@pytest.mark.anyio
async def test_from_name_without_a_registry_uses_the_running_kernels(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    async with floe_kernel_factory() as kernel:
        machine = StateMachine.from_name("InitialState")  # FlexiFlow's spelling
        assert machine.registry is kernel.states
        assert StateMachine("AwaitingConfirmation").current_state_name == "AwaitingConfirmation"


def test_from_name_without_a_registry_or_a_kernel_says_what_to_pass() -> None:
    with pytest.raises(StateError) as caught:
        StateMachine.from_name("InitialState")
    error = caught.value
    assert (
        error.what == "StateMachine('InitialState') was given no registry and no kernel runs here"
    )
    assert error.fix is not None
    assert "registry=kernel.states" in error.fix


class Waiting(State):
    async def handle_message(
        self, message: Message, component: Component
    ) -> tuple[bool, str | type[State] | None]:
        return True, Done()  # type: ignore[return-value]  # an instance, as FlexiFlow allowed


class Done(State):
    pass


@pytest.mark.anyio
async def test_a_state_returning_an_instance_is_told_to_return_its_name(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    async with floe_kernel_factory() as kernel:
        kernel.states.register("Waiting", Waiting)
        kernel.states.register("Done", Done)
        component = Component("c", state_machine=StateMachine("Waiting"))
        with pytest.raises(StateError) as caught:
            await component.handle_message("go")
    error = caught.value
    assert error.what == "Invalid next state after a 'go' message: the instance <Done>"
    assert error.fix == "Return 'Done' instead of Done()."
    assert component.state == "Waiting"
