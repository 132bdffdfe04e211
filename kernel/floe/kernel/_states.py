"""States and the state registry: ``State`` classes by name, one registry per kernel.

A state pack (a plugin's ``floe_register_states``) registers :class:`State` subclasses,
which decide for each :class:`Message` where a component moves and declare their
:class:`Transition` s. That contract is the kernel's: the components model
(``floe.components``) drives states through its state machines.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar, Final

import attrs

from ._errors import StateError

__all__ = ["Message", "State", "StateRegistry", "Transition", "qualified_name"]

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
        self,
        message: Message,
        component: Any,  # a floe.Component: the components model's, not the kernel's
    ) -> tuple[bool, str | type[State] | None]:
        """Decide where *message* takes *component*; see the class docstring."""
        for transition in self.transitions:
            if transition.guard is None and transition.message == message.type:
                return True, transition.to_state
        return False, None

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__}>"


class StateRegistry:
    """Named state classes with the provider that registered each.

    There is no process-global registry: every kernel fills its own at start-up from
    ``floe_register_states``, so two kernels never see each other's states.

    A registry made with a *parent* is a namespace over it: a name registered here hides
    the parent's class of that name for the users of this registry only, and every other
    name is looked up in the parent (as it is when asked, not when the namespace was
    made). A component made from a config gets one, so that its ``states:`` and packs
    are its own (see :func:`floe.register_config_states` for putting them in a shared
    registry instead).
    """

    def __init__(self, *, parent: StateRegistry | None = None) -> None:
        if parent is not None and not isinstance(parent, StateRegistry):
            raise StateError(
                f"StateRegistry(parent=...) takes a floe.StateRegistry, got {parent!r}",
                fix="Pass the registry to look names up in when this one lacks them, "
                "e.g. kernel.states.",
            )
        self._classes: dict[str, type[State]] = {}
        self._providers: dict[str, str] = {}
        self._parent = parent

    @property
    def parent(self) -> StateRegistry | None:
        """The registry names not registered here are looked up in, if any."""
        return self._parent

    def register(
        self, name: str, state: type, *, replace: bool = False, provider: str = "user"
    ) -> None:
        """Register *state* under *name*; an existing name is a StateError unless *replace*.

        Only this registry's own names are checked: a name the parent holds is hidden,
        not taken.
        """
        if not isinstance(name, str) or not name:
            raise StateError(
                f"Invalid state name {name!r}",
                fix="Register states under a non-empty string name.",
                context={"provider": provider},
            )
        if not isinstance(state, type):
            raise StateError(
                f"State {name!r} must be a class, got {state!r}",
                fix="Register the State subclass itself, not an instance.",
                context={"provider": provider},
            )
        if not issubclass(state, State):
            raise StateError(
                f"State {name!r} must be a floe.State subclass, got {state.__qualname__}",
                why="A machine asks its states handle_message(message, component); "
                "floe.State defines that method and the transitions declaration.",
                fix=f"Derive {state.__qualname__} from floe.State.",
                context={"name": name, "provider": provider},
            )
        _check_transitions(name, state, provider)
        existing = self._classes.get(name)
        if existing is not None and existing is not state and not replace:
            raise StateError(
                f"State name {name!r} is taken",
                why=f"{self._providers[name]} registered {qualified_name(existing)} under it; "
                f"{provider} tried to register {qualified_name(state)}.",
                fix="Choose another name, or pass replace=True to override it on purpose.",
                context={
                    "name": name,
                    "registered_by": self._providers[name],
                    "provider": provider,
                },
            )
        self._classes[name] = state
        self._providers[name] = provider

    def _holder(self, name: str) -> StateRegistry | None:
        """The registry of the chain (this one, then its parents) that has *name*."""
        registry: StateRegistry | None = self
        while registry is not None:
            if name in registry._classes:
                return registry
            registry = registry._parent
        return None

    def get(self, name: str) -> type[State]:
        """The class registered under *name*; a StateError listing the known names if none."""
        holder = self._holder(name) if isinstance(name, str) else None
        if holder is None:
            raise StateError(
                f"Unknown state {name!r}",
                why=f"Known states: {', '.join(self.names()) or 'none'}.",
                fix="Register the state (a state pack or the config's states: mapping) "
                "or correct the name.",
                context={"name": name},
            )
        return holder._classes[name]

    def provider(self, name: str) -> str:
        """Who registered *name*: ``plugin 'states'``, ``user``, a config ..."""
        self.get(name)
        holder = self._holder(name)
        assert holder is not None
        return holder._providers[name]

    def names(self) -> list[str]:
        """The names known here (this registry's and its parent's), sorted."""
        return sorted(name for name, _ in self._entries())

    def _entries(self) -> Iterator[tuple[str, type[State]]]:
        """Each known name with its class: this registry's first, then the parent's
        names it does not hide."""
        yield from self._classes.items()
        if self._parent is not None:
            for name, state in self._parent._entries():
                if name not in self._classes:
                    yield name, state

    def name_of(self, state: type) -> str | None:
        """The name *state* is registered under (the first, if several), or None."""
        for name, registered in self._entries():
            if registered is state:
                return name
        return None

    def transitions(self, names: Iterable[str] | None = None) -> list[Transition]:
        """The transitions declared by the states registered as *names* (default: all),
        in the order of the names, then of the declarations."""
        selected = self.names() if names is None else list(names)
        return [transition for name in selected for transition in self.get(name).transitions]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._holder(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())


def qualified_name(cls: type) -> str:
    """``package.module:Class``: how errors name a class, unambiguously."""
    return f"{cls.__module__}:{cls.__qualname__}"


def _check_transitions(name: str, state: type[State], provider: str) -> None:
    declared = state.transitions
    if not isinstance(declared, tuple) or not all(isinstance(t, Transition) for t in declared):
        raise StateError(
            f"State {name!r} ({state.__qualname__}) declares invalid transitions: {declared!r}",
            why="transitions is a tuple of floe.Transition(from_state, message, to_state, guard).",
            fix="Declare e.g. transitions = (Transition('Idle', 'start', 'Busy'),).",
            context={"name": name, "provider": provider},
        )
