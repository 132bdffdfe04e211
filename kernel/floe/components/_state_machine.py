"""Messages, states and the state machine that moves a component between them.

A :class:`State` decides, for each :class:`Message`, whether the component moves and
where to; a :class:`StateMachine` holds the current state and asks it. States are named
in a :class:`~floe.StateRegistry` (one per kernel, filled by state packs), and a machine
refers to them by those names, so a journal or a snapshot can name a state and another
process can find the same class again.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs

from ..kernel._errors import FloeError, StateError

if TYPE_CHECKING:
    from ..kernel._states import StateRegistry
    from ._components import Component

__all__ = ["Message", "State", "StateMachine", "Transition", "Transitioned"]

_RESERVED: Final = frozenset({"type", "content"})


def _message_type(_instance: object, _attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise StateError(
            f"Invalid message type {value!r}",
            why="A message names what it asks for with a non-empty string type.",
            fix="Send e.g. {'type': 'start'} or the string 'start'.",
        )


def _message_fields(value: Any) -> Mapping[str, Any]:
    if type(value) is dict and not value:
        return value  # the common case: no fields (a fresh dict from the factory)
    if not isinstance(value, Mapping):
        raise StateError(
            f"Invalid message fields {value!r}",
            fix="Pass the message's extra fields as a mapping of names to values.",
        )
    for key in value:
        if not isinstance(key, str) or key in _RESERVED:
            raise StateError(
                f"Invalid message field name {key!r}",
                why="Field names are strings other than 'type' and 'content', which are "
                "the message's own attributes.",
                fix="Rename the field.",
            )
    return dict(value)


@attrs.frozen
class Message:
    """What a component is sent: a ``type``, an optional ``content`` and any other fields.

    Build one with :meth:`of` from a mapping (``{"type": "confirm", "content":
    "confirmed"}``), from a type string (``"start"``) or from another message. States
    read ``message.type``, ``message.content`` and ``message.fields``; ``message.get(name)``
    and ``message[name]`` read any of the three the way a dict-shaped message would.
    """

    type: str = attrs.field(validator=_message_type)
    content: Any = None
    fields: Mapping[str, Any] = attrs.field(factory=dict, converter=_message_fields)

    @classmethod
    def of(cls, value: Message | Mapping[str, Any] | str, **fields: Any) -> Message:
        """A message from *value*, with keyword *fields* added (``content`` included)."""
        if isinstance(value, Message):
            if not fields:
                return value
            merged = {**value.fields, **fields}
            content = merged.pop("content", value.content)
            _no_type(merged)
            return cls(type=value.type, content=content, fields=merged)
        if isinstance(value, str):
            if not fields:
                return cls(value)
            _no_type(fields)
            content = fields.pop("content", None)
            return cls(type=value, content=content, fields=fields)
        if isinstance(value, Mapping):
            data = {**value, **fields}
            if "type" not in data:
                raise StateError(
                    "A message needs a 'type'",
                    why=f"The mapping has the keys: {', '.join(map(repr, data)) or 'none'}.",
                    fix="Add the message type, e.g. {'type': 'confirm', 'content': 'confirmed'}.",
                )
            message_type = data.pop("type")
            content = data.pop("content", None)
            return cls(type=message_type, content=content, fields=data)
        raise StateError(
            f"Cannot make a message of {value!r}",
            why=f"A message is a mapping with a 'type', a type string or a Message, "
            f"not a {type(value).__name__}.",
            fix="Send e.g. {'type': 'start'} or 'start'.",
        )

    def to_dict(self) -> dict[str, Any]:
        """``{"type": ..., "content": ..., **fields}``: the form the journal keeps."""
        return {"type": self.type, "content": self.content, **self.fields}

    def get(self, key: str, default: Any = None) -> Any:
        """``type``, ``content`` or a field by name; *default* when absent."""
        if key == "type":
            return self.type
        if key == "content":
            return self.content
        return self.fields.get(key, default)

    def __getitem__(self, key: str) -> Any:
        if key == "type":
            return self.type
        if key == "content":
            return self.content
        return self.fields[key]


def _no_type(fields: Mapping[str, Any]) -> None:
    if "type" in fields:
        raise StateError(
            "A message's type cannot be passed as a field",
            fix="Give the type once: Message.of('start') or Message.of({'type': 'start'}).",
        )


def _state_name(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise StateError(
            f"Invalid transition {attribute.name}={value!r}",
            fix=f"Give {attribute.name} as a non-empty string.",
        )


@attrs.frozen
class Transition:
    """A transition a state declares, for introspection and drawing.

    ``guard`` describes, for people, a condition the state checks in code
    (``'content == "confirmed"'``); ``None`` means the message alone decides.
    """

    from_state: str = attrs.field(validator=_state_name)
    message: str = attrs.field(validator=_state_name)
    to_state: str = attrs.field(validator=_state_name)
    guard: str | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(str))
    )


@attrs.frozen
class Transitioned:
    """What :meth:`StateMachine.handle_message` returns when the machine moved."""

    from_state: str
    to_state: str

    def __str__(self) -> str:
        return f"{self.from_state} -> {self.to_state}"


class State:
    """A state of a component's machine; subclass it and register it by name.

    Implement ``handle_message(message, component)`` returning ``(proceed,
    next_state)``: with ``proceed`` false or ``next_state`` None the message is ignored;
    otherwise ``next_state`` is the registered *name* of the state to move to (or the
    State subclass registered under it). The method may be ``async`` or plain; a plain
    one runs on the event loop, so it must not block.

    ``transitions`` declares the state's transitions for introspection and drawing.
    The default ``handle_message`` follows them: it takes the first declared transition
    without a guard whose message is the message's type, and ignores everything else.
    A state with guards (or any logic) overrides it.

    A machine makes a new instance each time it enters a state, so an instance may keep
    data about one visit.
    """

    transitions: ClassVar[tuple[Transition, ...]] = ()

    async def handle_message(
        self, message: Message, component: Component
    ) -> tuple[bool, str | type[State] | None]:
        """Decide where *message* takes *component*; see the class docstring."""
        for transition in self.transitions:
            if transition.guard is None and transition.message == message.type:
                return True, transition.to_state
        return False, None

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__}>"


def _running_registry(initial: object) -> StateRegistry:
    """The running kernel's registry, for a machine made without one."""
    from ..kernel._current import current_kernel

    try:
        return current_kernel().states
    except FloeError:
        raise StateError(
            f"StateMachine({initial!r}) was given no registry and no kernel runs here",
            why="States are found by name in a kernel's registry (kernel.states); there is "
            "no process-wide registry to fall back on.",
            fix="Pass registry=kernel.states (StateMachine.from_name(name, registry="
            "kernel.states)), or make the machine inside 'async with floe.open_kernel() "
            "as kernel:'.",
            context={"state": str(initial)},
        ) from None


class StateMachine:
    """The current state of one component, and the registry its state names refer to.

    *registry* defaults to the running kernel's (``kernel.states``); there is no global
    registry, so outside a kernel it must be given.
    """

    __slots__ = ("current_state", "current_state_name", "registry")

    def __init__(
        self, initial: str | type[State], *, registry: StateRegistry | None = None
    ) -> None:
        self.registry = registry if registry is not None else _running_registry(initial)
        self.current_state_name: str = ""
        self.current_state: State
        self.set_state(self._name_of(initial, role="initial state"))

    @classmethod
    def from_name(cls, name: str, *, registry: StateRegistry | None = None) -> StateMachine:
        """A machine starting in the state registered as *name* (in *registry*, by
        default the running kernel's)."""
        return cls(name, registry=registry)

    def __repr__(self) -> str:
        return f"StateMachine({self.current_state_name!r})"

    def set_state(self, name: str) -> None:
        """Enter the state registered as *name* (a new instance of its class).

        A name the registry does not know is a :class:`~floe.StateError` listing the
        known ones; the machine then stays where it was.
        """
        state_class = self.registry.get(name)
        self.current_state = state_class()
        self.current_state_name = name

    def use_registry(self, registry: StateRegistry) -> None:
        """Look states up in *registry* from now on, staying in the current state.

        The machine enters its current state again, as a new instance of the class
        *registry* has under the same name, so the next message is decided by the new
        class. This is how a reload swaps state classes; on a registered component call
        it inside :meth:`Component.exclusive() <floe.Component.exclusive>`, so that no
        message is being decided while the classes change.

        A *registry* without the current state's name, or whose class for it cannot be
        created, is a :class:`~floe.StateError`; the machine is then left as it was.
        """
        from ..kernel._states import StateRegistry

        if not isinstance(registry, StateRegistry):
            raise StateError(
                f"use_registry() takes a floe.StateRegistry, got {registry!r}",
                fix="Build one with floe.StateRegistry() and register the states in it.",
                context={"state": self.current_state_name},
            )
        name = self.current_state_name
        if name not in registry:
            raise StateError(
                f"The new registry has no state {name!r}, the machine's current state",
                why=f"It knows: {', '.join(registry.names()) or 'no states'}.",
                fix=f"Register {name!r} in it, or switch once the machine has left {name!r}.",
                context={"state": name},
            )
        state_class = registry.get(name)
        try:
            entered = state_class()
        except Exception as error:
            raise StateError(
                f"The new class of state {name!r} ({state_class.__qualname__}) cannot be created",
                why=f"Creating it raised {type(error).__name__}: {error}",
                fix="Make the class constructible without arguments, as every State is.",
                context={"state": name},
            ) from error
        self.registry = registry
        self.current_state = entered

    async def handle_message(self, message: Message, component: Component) -> Transitioned | None:
        """Let the current state handle *message*; return the transition, or None if ignored."""
        previous = self.current_state_name
        target = await self.decide(message, component)
        if target is None:
            return None
        self.set_state(target)
        return Transitioned(previous, target)

    async def decide(self, message: Message, component: Component) -> str | None:
        """The name of the state *message* leads to (None: ignored), without moving.

        A next state that names no registered state is a :class:`~floe.StateError`
        listing the known ones.
        """
        state = self.current_state
        outcome: Any = state.handle_message(message, component)
        if type(outcome) is not tuple and inspect.isawaitable(outcome):
            outcome = await outcome
        if type(outcome) is not tuple or len(outcome) != 2 or not isinstance(outcome[0], bool):
            raise StateError(
                f"State {self.current_state_name!r} returned {outcome!r} for a "
                f"{message.type!r} message",
                why="handle_message returns a pair (proceed, next_state): a bool and a state "
                "name, a State subclass or None.",
                fix=f"Return e.g. (True, 'NextState') or (False, None) from "
                f"{type(state).__qualname__}.handle_message.",
                context={"state": self.current_state_name, "message": message.type},
            )
        proceed, target = outcome
        if not proceed or target is None:
            return None
        return self._name_of(target, role=f"next state after a {message.type!r} message")

    def _name_of(self, target: object, *, role: str) -> str:
        registry = self.registry
        if isinstance(target, str):
            if target not in registry:
                registry.get(target)  # raises the StateError listing the known names
            return target
        if isinstance(target, type) and issubclass(target, State):
            name = registry.name_of(target)
            if name is None:
                raise StateError(
                    f"The {role}, {target.__qualname__}, is not a registered state",
                    why=f"Known states: {', '.join(registry.names()) or 'none'}.",
                    fix="Register the class (a state pack or the config's states: mapping) "
                    "and name states by their registered names.",
                    context={"state": target.__qualname__, "from_state": self.current_state_name},
                )
            return name
        if isinstance(target, State):
            name = registry.name_of(type(target))
            spelling = repr(name) if name is not None else type(target).__qualname__
            raise StateError(
                f"Invalid {role}: the instance {target!r}",
                why="A machine makes a new instance each time it enters a state, so states "
                "are named by their registered name (a string) or given as the registered "
                "State subclass, not as an instance.",
                fix=f"Return {spelling} instead of {type(target).__qualname__}().",
                context={"from_state": self.current_state_name},
            )
        raise StateError(
            f"Invalid {role}: {target!r}",
            why="States are named by their registered name (a string) or given as the "
            "registered State subclass.",
            fix="Use a registered state name such as 'InitialState'.",
            context={"from_state": self.current_state_name},
        )

    def transitions(self) -> list[Transition]:
        """Every transition the states in the machine's registry declare."""
        return self.registry.transitions()
