"""The state registry: ``State`` classes by name, one registry per kernel."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ..components._state_machine import State, Transition
from ._errors import StateError

__all__ = ["StateRegistry", "qualified_name"]


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
