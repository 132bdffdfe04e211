"""Messages, states, the registry's checks and the state machine, without a kernel.

The machine runs against a registry filled by hand; the default pack and the durable
component are tested in test_default_pack.py and test_components.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from floe import StateError, StateRegistry
from floe.components._components import Component
from floe.components._state_machine import StateMachine, Transitioned
from floe.kernel._states import Message, State, Transition

pytestmark = pytest.mark.anyio


# -- messages ---------------------------------------------------------------------------


def test_message_of_a_type_string() -> None:
    message = Message.of("start")
    assert message == Message(type="start")
    assert message.content is None
    assert message.fields == {}
    assert message.to_dict() == {"type": "start", "content": None}


def test_message_of_a_mapping_keeps_other_keys_as_fields() -> None:
    message = Message.of({"type": "confirm", "content": "confirmed", "user": "ada"}, urgent=True)
    assert message.type == "confirm"
    assert message.content == "confirmed"
    assert message.fields == {"user": "ada", "urgent": True}
    assert message.to_dict() == {
        "type": "confirm",
        "content": "confirmed",
        "user": "ada",
        "urgent": True,
    }


def test_message_of_a_type_with_content_and_fields() -> None:
    message = Message.of("confirm", content="confirmed", user="ada")
    assert message.type == "confirm"
    assert message.content == "confirmed"
    assert message.fields == {"user": "ada"}


def test_message_of_a_message_adds_fields() -> None:
    original = Message.of("confirm", content="no")
    assert Message.of(original) is original
    changed = Message.of(original, content="confirmed", user="ada")
    assert changed == Message("confirm", "confirmed", {"user": "ada"})
    assert original.content == "no"


def test_message_reads_like_a_dict() -> None:
    message = Message.of({"type": "confirm", "content": "confirmed", "user": "ada"})
    assert message["type"] == "confirm"
    assert message["content"] == "confirmed"
    assert message["user"] == "ada"
    assert message.get("missing", 7) == 7
    assert message.get("content") == "confirmed"
    assert message.get("type") == "confirm"
    with pytest.raises(KeyError):
        message["missing"]


@pytest.mark.parametrize(
    ("value", "fields", "match"),
    [
        ("", {}, "Invalid message type"),
        ({"content": "x"}, {}, "needs a 'type'"),
        ({"type": 3}, {}, "Invalid message type"),
        ({"type": None}, {}, "Invalid message type"),
        (42, {}, "Cannot make a message"),
        (["start"], {}, "Cannot make a message"),
        ("start", {"type": "stop"}, "type cannot be passed as a field"),
        ({"type": "start", 1: "x"}, {}, "Invalid message field name"),
    ],
)
def test_bad_messages_are_state_errors(value: Any, fields: dict[str, Any], match: str) -> None:
    with pytest.raises(StateError, match=match) as caught:
        Message.of(value, **fields)
    assert caught.value.fix


def test_message_fields_must_be_a_mapping_without_reserved_names() -> None:
    with pytest.raises(StateError, match="Invalid message fields"):
        Message("start", fields=["x"])
    with pytest.raises(StateError, match="Invalid message field name 'content'"):
        Message("start", fields={"content": 1})


# -- transitions ------------------------------------------------------------------------


def test_transition_and_transitioned() -> None:
    transition = Transition("A", "go", "B", guard="content == 'yes'")
    assert (transition.from_state, transition.message, transition.to_state) == ("A", "go", "B")
    assert Transition("A", "go", "B").guard is None
    moved = Transitioned("A", "B")
    assert str(moved) == "A -> B"
    assert moved == Transitioned(from_state="A", to_state="B")


@pytest.mark.parametrize(
    "arguments",
    [("", "go", "B"), ("A", "", "B"), ("A", "go", None), ("A", "go", "B", 3)],
)
def test_bad_transitions_are_state_errors(arguments: tuple[Any, ...]) -> None:
    with pytest.raises((StateError, TypeError)):
        Transition(*arguments)
    if arguments[3:] != (3,):
        with pytest.raises(StateError, match="Invalid transition"):
            Transition(*arguments)


# -- states for the machine tests -------------------------------------------------------


class Idle(State):
    transitions = (Transition("Idle", "go", "Busy"), Transition("Idle", "wait", "Idle"))


class Busy(State):
    """Goes back to Idle on 'done'; names its target by class on 'stop'."""

    transitions = (Transition("Busy", "done", "Idle"),)

    async def handle_message(
        self, message: Message, component: Component
    ) -> tuple[bool, str | type[State] | None]:
        if message.type == "stop":
            return True, Idle
        return await super().handle_message(message, component)


class Counting(State):
    """A sync handler that counts the messages of one visit."""

    def __init__(self) -> None:
        self.seen = 0

    def handle_message(  # type: ignore[override]
        self, message: Message, component: Component
    ) -> tuple[bool, str | None]:
        self.seen += 1
        if message.type == "again":
            return True, "Counting"
        return False, None


class Lost(State):
    """Names states that do not exist, or answers the wrong shape."""

    async def handle_message(self, message: Message, component: Component) -> Any:
        answers: dict[str, Any] = {
            "nowhere": (True, "Nowhere"),
            "stranger": (True, Stranger),
            "object": (True, 42),
            "none": None,
            "list": [True, "Idle"],
            "triple": (True, "Idle", 1),
            "truthy": ("yes", "Idle"),
            "refuse": (False, "Idle"),
            "stay": (True, None),
        }
        return answers[message.type]


class Stranger(State):
    """A State subclass that is never registered."""


class Plain:
    """Not a State."""


@pytest.fixture
def registry() -> StateRegistry:
    states = StateRegistry()
    for state in (Idle, Busy, Counting, Lost):
        states.register(state.__name__, state)
    return states


@pytest.fixture
def component(registry: StateRegistry) -> Component:
    machine = StateMachine.from_name("Idle", registry=registry)
    return Component("machine-test", state_machine=machine)


# -- the registry's checks --------------------------------------------------------------


def test_registry_takes_state_subclasses_only() -> None:
    states = StateRegistry()
    with pytest.raises(StateError, match=r"must be a floe\.State subclass") as caught:
        states.register("Plain", Plain)
    assert "Derive Plain from floe.State" in (caught.value.fix or "")
    with pytest.raises(StateError, match="must be a class"):
        states.register("Idle", Idle())  # type: ignore[arg-type]
    states.register("Idle", Idle)
    assert states.get("Idle") is Idle


def test_registry_checks_declared_transitions() -> None:
    class Sloppy(State):
        transitions = [Transition("Sloppy", "go", "Idle")]  # type: ignore[assignment]

    class Stringly(State):
        transitions = ("Sloppy -> Idle",)  # type: ignore[assignment]

    states = StateRegistry()
    for state in (Sloppy, Stringly):
        with pytest.raises(StateError, match="declares invalid transitions"):
            states.register(state.__name__, state)
    assert len(states) == 0


def test_registry_lists_declared_transitions_and_names_classes(registry: StateRegistry) -> None:
    assert registry.transitions() == [
        Transition("Busy", "done", "Idle"),
        Transition("Idle", "go", "Busy"),
        Transition("Idle", "wait", "Idle"),
    ]
    assert registry.transitions(["Idle"]) == list(Idle.transitions)
    assert registry.name_of(Busy) == "Busy"
    assert registry.name_of(Stranger) is None
    registry.register("Resting", Idle)
    assert registry.name_of(Idle) == "Idle"  # the first name it was registered under
    with pytest.raises(StateError, match="Unknown state 'Nowhere'"):
        registry.transitions(["Nowhere"])


# -- the machine ------------------------------------------------------------------------


def test_machine_starts_in_the_named_state(registry: StateRegistry) -> None:
    machine = StateMachine.from_name("Busy", registry=registry)
    assert machine.current_state_name == "Busy"
    assert type(machine.current_state) is Busy
    assert repr(machine) == "StateMachine('Busy')"
    assert StateMachine(Idle, registry=registry).current_state_name == "Idle"
    assert machine.transitions() == registry.transitions()


def test_unknown_initial_state_lists_the_known_ones(registry: StateRegistry) -> None:
    with pytest.raises(StateError, match="Unknown state 'Sleeping'") as caught:
        StateMachine.from_name("Sleeping", registry=registry)
    assert "Busy, Counting, Idle, Lost" in (caught.value.why or "")
    with pytest.raises(StateError, match="not a registered state"):
        StateMachine(Stranger, registry=registry)
    with pytest.raises(StateError, match="Invalid initial state"):
        StateMachine(3, registry=registry)  # type: ignore[arg-type]


async def test_handle_message_returns_the_transition_or_none(
    component: Component, registry: StateRegistry
) -> None:
    machine = component.state_machine
    assert await machine.handle_message(Message("done"), component) is None
    assert machine.current_state_name == "Idle"
    first = machine.current_state
    assert await machine.handle_message(Message("go"), component) == Transitioned("Idle", "Busy")
    assert machine.current_state_name == "Busy"
    # a State subclass as the next state is named through the registry
    assert await machine.handle_message(Message("stop"), component) == Transitioned("Busy", "Idle")
    assert machine.current_state is not first  # every entry makes a new instance


async def test_default_handler_follows_unguarded_declared_transitions(
    component: Component,
) -> None:
    machine = component.state_machine
    assert await machine.handle_message(Message("wait"), component) == Transitioned("Idle", "Idle")
    assert await machine.handle_message(Message("unknown"), component) is None

    class Guarded(State):
        transitions = (Transition("Guarded", "go", "Idle", guard="content == 'yes'"),)

    assert await Guarded().handle_message(Message("go", "yes"), component) == (False, None)


async def test_sync_handlers_work(registry: StateRegistry, component: Component) -> None:
    machine = StateMachine.from_name("Counting", registry=registry)
    assert await machine.handle_message(Message("ping"), component) is None
    assert await machine.handle_message(Message("ping"), component) is None
    state = machine.current_state
    assert isinstance(state, Counting)
    assert state.seen == 2
    assert await machine.handle_message(Message("again"), component) == Transitioned(
        "Counting", "Counting"
    )
    assert isinstance(machine.current_state, Counting)
    assert machine.current_state.seen == 0


async def test_decide_does_not_move(component: Component) -> None:
    machine = component.state_machine
    assert await machine.decide(Message("go"), component) == "Busy"
    assert machine.current_state_name == "Idle"
    assert await machine.decide(Message("nothing"), component) is None


@pytest.mark.parametrize("answer", ["refuse", "stay"])
async def test_proceed_false_or_no_next_state_is_ignored(
    registry: StateRegistry, component: Component, answer: str
) -> None:
    machine = StateMachine.from_name("Lost", registry=registry)
    assert await machine.handle_message(Message(answer), component) is None
    assert machine.current_state_name == "Lost"


async def test_unknown_next_state_is_an_error_and_the_machine_stays(
    registry: StateRegistry, component: Component
) -> None:
    machine = StateMachine.from_name("Lost", registry=registry)
    before = machine.current_state
    with pytest.raises(StateError, match="Unknown state 'Nowhere'") as caught:
        await machine.handle_message(Message("nowhere"), component)
    assert "Known states: Busy, Counting, Idle, Lost" in (caught.value.why or "")
    assert machine.current_state_name == "Lost"
    assert machine.current_state is before
    with pytest.raises(StateError, match="Stranger, is not a registered state") as caught:
        await machine.handle_message(Message("stranger"), component)
    assert "Busy, Counting, Idle, Lost" in (caught.value.why or "")
    with pytest.raises(StateError, match="Invalid next state"):
        await machine.handle_message(Message("object"), component)
    assert machine.current_state_name == "Lost"


@pytest.mark.parametrize("answer", ["none", "list", "triple", "truthy"])
async def test_a_malformed_answer_is_an_error(
    registry: StateRegistry, component: Component, answer: str
) -> None:
    machine = StateMachine.from_name("Lost", registry=registry)
    with pytest.raises(StateError, match="returned") as caught:
        await machine.handle_message(Message(answer), component)
    assert "(proceed, next_state)" in (caught.value.why or "")
    assert caught.value.context == {"state": "Lost", "message": answer}
    assert machine.current_state_name == "Lost"


async def test_an_unregistered_component_handles_messages_in_memory(
    component: Component,
) -> None:
    assert not component.registered
    assert component.state == "Idle"
    assert await component.handle_message({"type": "go"}) == Transitioned("Idle", "Busy")
    assert await component.handle_message("done") == Transitioned("Busy", "Idle")
    assert await component.handle_message(Message("nothing")) is None
    assert repr(component) == "<Component 'machine-test' in Idle>"


def test_a_component_without_machine_needs_a_kernel() -> None:
    component = Component("orphan")
    with pytest.raises(StateError, match="no state machine and no kernel") as caught:
        component.state_machine  # noqa: B018
    assert "open_kernel" in (caught.value.fix or "")
