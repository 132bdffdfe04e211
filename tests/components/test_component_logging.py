"""Logging from inside a component: the correlation fields name the component and its run,
and the engine tells what it does at DEBUG on the ``floe.components`` logger.

The records go through the kernel's real JSON-lines sink (the ``floe_logging`` plugin),
read back from stderr.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from floe import Kernel
from floe.components._components import Component, Engine
from floe.components._state_machine import StateMachine
from floe.kernel._states import Message, State, Transition

pytestmark = pytest.mark.anyio

app_logger = logging.getLogger("floe.tests.orders")


class Taking(State):
    """Logs what it decides, as application code in a state would."""

    transitions = (Transition("Taking", "take", "Taken"),)

    async def handle_message(
        self, message: Message, component: Component
    ) -> tuple[bool, str | type[State] | None]:
        app_logger.info("deciding %s", message.type)
        return await super().handle_message(message, component)


class Taken(State):
    def handle_message(  # type: ignore[override]
        self, message: Message, component: Component
    ) -> tuple[bool, str | None]:
        app_logger.warning("already taken: %s", message.type)  # a plain (sync) state too
        return False, None


def records_from(err: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in err.splitlines()]


async def test_a_state_logging_inside_a_message_names_the_component_and_its_run(
    floe_kernel_factory: Callable[..., Kernel], capsys: pytest.CaptureFixture[str]
) -> None:
    async with floe_kernel_factory(log_format="json", log_level="DEBUG") as kernel:
        for state in (Taking, Taken):
            kernel.states.register(state.__name__, state)
        engine = Engine(kernel)
        machine = StateMachine("Taking", registry=kernel.states)
        parcel = engine.register(Component("parcel", state_machine=machine))
        await parcel.handle_message("take")
        await parcel.handle_message("take")
        app_logger.info("outside any message")
        # an unregistered component has a name but no run
        loose = Component("loose", state_machine=StateMachine("Taking", registry=kernel.states))
        await loose.handle_message("take")
        await engine.flush()

    records = records_from(capsys.readouterr().err)
    fields = [
        (record["logger"], record["message"], record["component"], record["run_id"])
        for record in records
    ]
    parcel = ("parcel", "component:parcel")
    assert fields == [
        ("floe.components", "Registered component 'parcel' in state Taking", *parcel),
        ("floe.tests.orders", "deciding take", *parcel),
        (
            "floe.components",
            "Component 'parcel' handled a 'take' message: Taking -> Taken",
            *parcel,
        ),
        ("floe.tests.orders", "already taken: take", *parcel),
        (
            "floe.components",
            "Component 'parcel' ignored a 'take' message (stays in Taken)",
            *parcel,
        ),
        ("floe.tests.orders", "outside any message", None, None),
        ("floe.tests.orders", "deciding take", "loose", None),
        (
            "floe.components",
            "Component 'loose' handled a 'take' message: Taking -> Taken",
            "loose",
            None,
        ),
    ]
    engine_levels = {r["level"] for r in records if r["logger"] == "floe.components"}
    assert engine_levels == {"DEBUG"}


async def test_restoring_is_logged_with_the_component(
    floe_kernel_factory: Callable[..., Kernel], capsys: pytest.CaptureFixture[str]
) -> None:
    async with floe_kernel_factory(log_format="json", log_level="DEBUG") as kernel:
        engine = Engine(kernel)
        await engine.register_async(Component("orders"))
        engine.unregister("orders")
        await engine.handle_message("orders", "start")
    records = records_from(capsys.readouterr().err)
    restored = [record for record in records if record["message"].startswith("Restored")]
    assert [(r["message"], r["component"], r["run_id"]) for r in restored] == [
        (
            "Restored component 'orders' in state InitialState (journal at seq 1)",
            "orders",
            "component:orders",
        )
    ]


async def test_above_debug_the_engine_says_nothing(
    floe_kernel_factory: Callable[..., Kernel], capsys: pytest.CaptureFixture[str]
) -> None:
    async with floe_kernel_factory(log_format="json", log_level="INFO") as kernel:
        engine = Engine(kernel)
        component = engine.register(Component("quiet"))
        await component.handle_message("start")
        await engine.flush()
    assert capsys.readouterr().err == ""
