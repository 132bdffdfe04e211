"""Messages, states and the state machine that moves a component between them.

A :class:`State` decides, for each :class:`Message`, whether the component moves and
where to; a :class:`StateMachine` holds the current state and asks it. States are named
in a :class:`~floe.StateRegistry` (one per kernel, filled by state packs), and a machine
refers to them by those names, so a journal or a snapshot can name a state and another
process can find the same class again.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import attrs

from ..kernel._errors import FloeError, StateError
from ..kernel._states import Message, State, Transition

if TYPE_CHECKING:
    from ..kernel._states import StateRegistry
    from ._components import Component

__all__ = ["StateMachine", "Transitioned"]


@attrs.frozen
class Transitioned:
    """What :meth:`StateMachine.handle_message` returns when the machine moved."""

    from_state: str
    to_state: str

    def __str__(self) -> str:
        return f"{self.from_state} -> {self.to_state}"


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
