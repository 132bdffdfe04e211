"""The state registry: ``State`` classes by name, one registry per kernel."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ._errors import StateError
from ._state_machine import State, Transition

__all__ = ["StateRegistry"]


class StateRegistry:
    """Named state classes with the provider that registered each.

    There is no process-global registry: every kernel fills its own at start-up from
    ``floe_register_states``, so two kernels never see each other's states.
    """

    def __init__(self) -> None:
        self._classes: dict[str, type[State]] = {}
        self._providers: dict[str, str] = {}

    def register(
        self, name: str, state: type, *, replace: bool = False, provider: str = "user"
    ) -> None:
        """Register *state* under *name*; an existing name is a StateError unless *replace*."""
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
                why=f"{self._providers[name]} registered {existing.__qualname__} under it; "
                f"{provider} tried to register {state.__qualname__}.",
                fix="Choose another name, or pass replace=True to override it on purpose.",
                context={
                    "name": name,
                    "registered_by": self._providers[name],
                    "provider": provider,
                },
            )
        self._classes[name] = state
        self._providers[name] = provider

    def get(self, name: str) -> type[State]:
        """The class registered under *name*; a StateError listing the known names if none."""
        try:
            return self._classes[name]
        except KeyError:
            raise StateError(
                f"Unknown state {name!r}",
                why=f"Known states: {', '.join(sorted(self._classes)) or 'none'}.",
                fix="Register the state (a state pack or the config's states: mapping) "
                "or correct the name.",
                context={"name": name},
            ) from None

    def provider(self, name: str) -> str:
        """Who registered *name*: ``plugin 'states'``, ``user``, a config ..."""
        self.get(name)
        return self._providers[name]

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._classes)

    def name_of(self, state: type) -> str | None:
        """The name *state* is registered under (the first, if several), or None."""
        for name, registered in self._classes.items():
            if registered is state:
                return name
        return None

    def transitions(self, names: Iterable[str] | None = None) -> list[Transition]:
        """The transitions declared by the states registered as *names* (default: all),
        in the order of the names, then of the declarations."""
        selected = self.names() if names is None else list(names)
        return [transition for name in selected for transition in self.get(name).transitions]

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._classes)


def _check_transitions(name: str, state: type[State], provider: str) -> None:
    declared = state.transitions
    if not isinstance(declared, tuple) or not all(isinstance(t, Transition) for t in declared):
        raise StateError(
            f"State {name!r} ({state.__qualname__}) declares invalid transitions: {declared!r}",
            why="transitions is a tuple of floe.Transition(from_state, message, to_state, guard).",
            fix="Declare e.g. transitions = (Transition('Idle', 'start', 'Busy'),).",
            context={"name": name, "provider": provider},
        )
