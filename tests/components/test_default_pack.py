"""The default state pack (plugin ``floe_states``): its full transition table.

Every (state, message) pair is sent to a registered component on every store, and the
answer, the state afterwards and the journal are checked: the six transitions move,
every other pair (an unknown message type included) is ignored and journaled as a
received message only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import floe_states
from floe import Kernel
from floe.components._components import CHANGED, MESSAGE_RECEIVED, Component, Engine
from floe.components._state_machine import StateMachine, Transitioned
from floe.kernel._states import Message, Transition

pytestmark = pytest.mark.anyio

STATES = ("InitialState", "AwaitingConfirmation", "ProcessingRequest", "ErrorHandling")
MESSAGES = ("start", "confirm", "cancel", "complete", "error", "acknowledge", "unheard-of")
TABLE = {
    ("InitialState", "start"): "AwaitingConfirmation",
    ("AwaitingConfirmation", "confirm"): "ProcessingRequest",
    ("AwaitingConfirmation", "cancel"): "InitialState",
    ("ProcessingRequest", "complete"): "InitialState",
    ("ProcessingRequest", "error"): "ErrorHandling",
    ("ErrorHandling", "acknowledge"): "InitialState",
}
"""Every transition of the default machine; every other pair is ignored."""


@pytest.fixture
async def kernel(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> AsyncIterator[Kernel]:
    async with floe_kernel_factory(store=store_url) as kernel:
        yield kernel


async def _component_in(kernel: Kernel, state: str) -> Component:
    component = Component("orders", state_machine=StateMachine(state, registry=kernel.states))
    return await Engine(kernel).register_async(component)


def test_the_table_covers_every_pair() -> None:
    pairs = [(state, message) for state in STATES for message in MESSAGES]
    assert len(pairs) == 28
    assert set(TABLE) < set(pairs)
    assert len(pairs) - len(TABLE) == 22


async def test_the_pack_registers_its_four_states(kernel: Kernel) -> None:
    assert set(STATES) <= set(kernel.states.names())
    for state in STATES:
        assert kernel.states.provider(state) == "plugin 'states'"
        assert kernel.states.get(state) is getattr(floe_states, state)
    assert tuple(kernel.states.get(state) for state in STATES) == floe_states.STATES


@pytest.mark.parametrize("message_type", MESSAGES)
@pytest.mark.parametrize("state", STATES)
async def test_transition_table(kernel: Kernel, state: str, message_type: str) -> None:
    component = await _component_in(kernel, state)
    # confirm carries the content that lets it through, so only the state decides
    content = "confirmed" if message_type == "confirm" else None
    moved = await component.handle_message({"type": message_type, "content": content})
    target = TABLE.get((state, message_type))
    journal = await kernel.store.read_events(component.run_id, after_seq=1)
    received = {
        "component": "orders",
        "message": {"type": message_type, "content": content},
    }
    if target is None:
        assert moved is None
        assert component.state == state
        assert [(e.kind, e.data) for e in journal] == [(MESSAGE_RECEIVED, received)]
    else:
        assert moved == Transitioned(state, target)
        assert component.state == target
        assert [(e.kind, e.data) for e in journal] == [
            (MESSAGE_RECEIVED, received),
            (CHANGED, {"component": "orders", "from_state": state, "to_state": target}),
        ]


@pytest.mark.parametrize(
    "content", [None, "", "Confirmed", "confirmed ", "CONFIRMED", "yes", 1, True, ["confirmed"]]
)
async def test_confirm_needs_exactly_the_content_confirmed(kernel: Kernel, content: Any) -> None:
    component = await _component_in(kernel, "AwaitingConfirmation")
    assert await component.handle_message("confirm", content=content) is None
    assert component.state == "AwaitingConfirmation"
    assert await component.handle_message("confirm", content="confirmed") == Transitioned(
        "AwaitingConfirmation", "ProcessingRequest"
    )


async def test_extra_fields_do_not_change_the_decision(kernel: Kernel) -> None:
    component = await _component_in(kernel, "AwaitingConfirmation")
    assert await component.handle_message("confirm", user="ada") is None
    moved = await component.handle_message(Message.of("confirm", content="confirmed", user="ada"))
    assert moved == Transitioned("AwaitingConfirmation", "ProcessingRequest")
    (event,) = [e for e in await kernel.store.read_events(component.run_id) if e.seq == 3]
    assert event.data["message"] == {"type": "confirm", "content": "confirmed", "user": "ada"}


async def test_a_full_walk_through_both_paths(kernel: Kernel) -> None:
    engine = Engine(kernel)
    engine.register(Component("orders"))
    steps = [
        ("start", None, "AwaitingConfirmation"),
        ("cancel", None, "InitialState"),
        ("start", None, "AwaitingConfirmation"),
        ("confirm", "confirmed", "ProcessingRequest"),
        ("error", None, "ErrorHandling"),
        ("acknowledge", None, "InitialState"),
        ("start", None, "AwaitingConfirmation"),
        ("confirm", "confirmed", "ProcessingRequest"),
        ("complete", None, "InitialState"),
    ]
    previous = "InitialState"
    for message_type, content, target in steps:
        moved = await engine.handle_message("orders", message_type, content=content)
        assert moved == Transitioned(previous, target)
        previous = target
    changes = [
        (e.data["from_state"], e.data["to_state"])
        for e in await engine.history("orders")
        if e.kind == CHANGED
    ]
    assert [target for _, target in changes] == [target for _, _, target in steps]


def test_every_state_declares_its_transitions() -> None:
    declared = [t for state in floe_states.STATES for t in state.transitions]
    assert {(t.from_state, t.message): t.to_state for t in declared} == TABLE
    guards = {(t.from_state, t.message): t.guard for t in declared}
    assert guards.pop(("AwaitingConfirmation", "confirm")) == 'content == "confirmed"'
    assert set(guards.values()) == {None}
    for state in floe_states.STATES:
        assert {t.from_state for t in state.transitions} == {state.__name__}


async def test_the_registry_lists_the_declared_transitions(kernel: Kernel) -> None:
    listed = kernel.states.transitions(STATES)
    assert listed[0] == Transition("InitialState", "start", "AwaitingConfirmation")
    assert {(t.from_state, t.message): t.to_state for t in listed} == TABLE
