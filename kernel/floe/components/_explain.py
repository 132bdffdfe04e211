"""``floe.explain``: what a component config would do, checked before anything runs.

``explain`` runs the same code that creating the component runs (load the config,
build its namespace of states over the state registry, build the machine and the
component), and reports instead of raising. So a config it calls valid loads and
runs, and one it calls invalid fails to load, with the same errors.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ..kernel._errors import FloeError
from ..kernel._states import StateRegistry
from ._config import ComponentConfig, check_config, config_names, config_registry

if TYPE_CHECKING:
    from ..kernel._states import Transition

__all__ = ["Diagnostic", "Explanation", "default_registry", "explain"]


@attrs.frozen
class Diagnostic:
    """One problem ``explain`` found: the error loading would raise, as a record."""

    kind: str
    """The error class it stands for: ``ConfigError``, ``StateError`` ..."""
    what: str
    why: str | None = None
    fix: str | None = None
    context: Mapping[str, Any] = attrs.field(factory=dict)

    @classmethod
    def from_error(cls, error: BaseException) -> Diagnostic:
        if isinstance(error, FloeError):
            return cls(type(error).__name__, error.what, error.why, error.fix, error.context)
        return cls(
            type(error).__name__,
            f"Unexpected {type(error).__name__}: {error}",
            why="Code run while loading the config (a state or pack) raised it.",
            fix="Fix that code; the traceback shows where (create the component to see it).",
        )

    def __str__(self) -> str:
        return str(FloeError(self.what, why=self.why, fix=self.fix, context=self.context))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "what": self.what,
            "why": self.why,
            "fix": self.fix,
            "context": {key: _jsonable(value) for key, value in self.context.items()},
        }


@attrs.frozen
class Explanation:
    """What :func:`explain` found out about a component config."""

    source: str | None
    """The config file (``None`` for a mapping)."""
    name: str | None = None
    """The component's name, when the config has a usable one."""
    initial_state: str | None = None
    """The registry name the machine starts in."""
    errors: tuple[Diagnostic, ...] = ()
    """Why loading or creating the component would fail (empty: it would succeed)."""
    warnings: tuple[Diagnostic, ...] = ()
    """What works but is probably not meant (unreachable states, dangling transitions)."""
    states: Mapping[str, str] = attrs.field(factory=dict)
    """Every state name the component's machine can use, with its provider."""
    config_states: tuple[str, ...] = ()
    """The names this config adds or takes over for itself (packs, ``states:``, a dotted
    initial state), sorted."""
    packs: tuple[str, ...] = ()
    rules_count: int | None = None
    """How many rules the config gives (``None`` when its fields could not be read)."""
    transitions: tuple[Transition, ...] = ()
    """Declared transitions of the states reachable from the initial state."""

    @property
    def is_valid(self) -> bool:
        """Whether loading the config and creating its component succeed."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable summary (what ``floe explain --json`` prints)."""
        return {
            "source": self.source,
            "is_valid": self.is_valid,
            "name": self.name,
            "initial_state": self.initial_state,
            "rules_count": self.rules_count,
            "packs": list(self.packs),
            "states": dict(self.states),
            "config_states": list(self.config_states),
            "transitions": [
                {
                    "from": transition.from_state,
                    "message": transition.message,
                    "to": transition.to_state,
                    "guard": transition.guard,
                }
                for transition in self.transitions
            ],
            "errors": [error.to_dict() for error in self.errors],
            "warnings": [warning.to_dict() for warning in self.warnings],
        }

    def format(self) -> str:
        """A report for people: verdict, then errors or the component's outline."""
        where = self.source or "(in memory)"
        if self.is_valid:
            lines = [f"Component config {where}: valid"]
        else:
            count = len(self.errors)
            lines = [f"Component config {where}: invalid ({count} error{'s' * (count != 1)})"]
        if self.name is not None:
            lines.append(f"  name: {self.name}")
        if self.initial_state is not None:
            provider = self.states.get(self.initial_state)
            suffix = f" (from {provider})" if provider else ""
            lines.append(f"  initial state: {self.initial_state}{suffix}")
        if self.rules_count is not None:
            lines.append(f"  rules: {self.rules_count}")
        if self.packs:
            lines.append(f"  packs: {', '.join(self.packs)}")
        if self.is_valid and self.states:
            lines.append("  states:")
            width = max(len(name) for name in self.states)
            for name, provider in self.states.items():
                marker = "*" if name in self.config_states else " "
                lines.append(f"   {marker}{name.ljust(width)}  {provider}")
        if self.transitions:
            lines.append("  transitions:")
            for transition in self.transitions:
                guard = f" [{transition.guard}]" if transition.guard else ""
                lines.append(
                    f"    {transition.from_state} --{transition.message}{guard}--> "
                    f"{transition.to_state}"
                )
        for title, records in (("Errors", self.errors), ("Warnings", self.warnings)):
            if records:
                lines.append(f"{title}:")
                for number, record in enumerate(records, 1):
                    text = str(record).splitlines()
                    lines.append(f"  {number}. {text[0]}")
                    lines.extend(f"     {line}" for line in text[1:])
        return "\n".join(lines)


def explain(
    config: str | os.PathLike[str] | Mapping[str, Any] | ComponentConfig | object,
    *,
    registry: StateRegistry | None = None,
) -> Explanation:
    """Check a component config (a YAML path, a mapping or a ComponentConfig); never raises.

    *registry* is the state registry the component would be created against (default: the
    running kernel's, else the one a kernel built from the settings here would have: the
    installed state packs). It is not changed.
    """
    try:
        return _explain(config, registry)
    except Exception as error:  # explain reports; it never raises
        return Explanation(source=_source_of(config), errors=(Diagnostic.from_error(error),))


def _source_of(config: object) -> str | None:
    if isinstance(config, ComponentConfig):
        return config.source
    if isinstance(config, str | os.PathLike):
        return str(config)
    return None


def _explain(config: object, registry: StateRegistry | None) -> Explanation:
    source = _source_of(config)
    loaded, errors = check_config(config)
    if loaded is None:
        return Explanation(
            source=source,
            name=_usable_name(config),
            errors=tuple(Diagnostic.from_error(error) for error in errors),
        )
    outline: dict[str, Any] = {
        "source": source,
        "name": loaded.name,
        "packs": tuple(loaded.packs),
        "rules_count": len(loaded.rules),
    }
    try:
        base = registry if registry is not None else default_registry()
    except Exception as error:
        return Explanation(**outline, errors=(Diagnostic.from_error(error),))
    try:
        scratch, initial = config_registry(loaded, base)
        _create_component(loaded, initial, scratch)
    except Exception as error:
        return Explanation(**outline, errors=(Diagnostic.from_error(error),))
    added = tuple(config_names(scratch, base))
    transitions, reachable = _reachable(scratch, initial)
    return Explanation(
        **outline,
        initial_state=initial,
        states={name: scratch.provider(name) for name in scratch.names()},
        config_states=added,
        transitions=tuple(transitions),
        warnings=tuple(_warnings(loaded, scratch, initial, transitions, reachable, added)),
    )


def _usable_name(config: object) -> str | None:
    if isinstance(config, ComponentConfig):
        data: Any = {"name": config.name}
    elif isinstance(config, Mapping):
        data = config
    else:
        return None
    name = data.get("name")
    return name if isinstance(name, str) and name.strip() == name and name else None


def _create_component(config: ComponentConfig, initial: str, registry: StateRegistry) -> None:
    """Build the machine and the component exactly as the engine does, then drop them."""
    from ._components import Component
    from ._state_machine import StateMachine

    machine = StateMachine.from_name(initial, registry=registry)
    Component(config.name, list(config.rules), machine)


def _reachable(registry: StateRegistry, initial: str) -> tuple[list[Transition], list[str]]:
    """The declared transitions and states reachable from *initial* (breadth first)."""
    order = [initial]
    transitions: list[Transition] = []
    for name in order:  # grows while it is walked
        if name not in registry:
            continue
        for transition in declared_transitions(registry.get(name), name):
            transitions.append(transition)
            if transition.to_state not in order:
                order.append(transition.to_state)
    return transitions, order


def declared_transitions(state: type, name: str) -> list[Transition]:
    """What ``state.transitions`` declares, leaving from *name*.

    The transitions a class declares leave the state it is registered as, whatever their
    ``from_state`` says: a config may register a class under another name (its key).
    """
    declared: Sequence[Transition] = getattr(state, "transitions", ()) or ()
    return [
        transition if transition.from_state == name else attrs.evolve(transition, from_state=name)
        for transition in declared
    ]


def _warnings(
    config: ComponentConfig,
    registry: StateRegistry,
    initial: str,
    transitions: list[Transition],
    reachable: list[str],
    added: tuple[str, ...],
) -> list[Diagnostic]:
    where = config.where
    context = {"source": config.source or "<mapping>"}
    found: list[Diagnostic] = []
    for transition in transitions:
        if transition.to_state not in registry:
            found.append(
                Diagnostic(
                    "StateError",
                    f"State {transition.from_state!r} declares a transition on "
                    f"{transition.message!r} to an unknown state {transition.to_state!r}",
                    why="The message would fail when the component handles it.",
                    fix="Register the target state (states: or packs:) or correct the "
                    "declared transition.",
                    context={**context, "state": transition.from_state},
                )
            )
    for name in reachable:
        if name not in registry:
            continue
        state = registry.get(name)
        declared_from = sorted({t.from_state for t in getattr(state, "transitions", ())} - {name})
        if declared_from:
            found.append(
                Diagnostic(
                    "ConfigError",
                    f"State {name!r} ({state.__module__}:{state.__qualname__}) declares "
                    f"transitions from {', '.join(map(repr, declared_from))}",
                    why=f"The class is registered as {name!r}, so its transitions leave "
                    f"{name!r}; they are shown that way.",
                    fix=f"Register the class under the name its transitions use, or declare "
                    f"them from {name!r}.",
                    context={**context, "state": name},
                )
            )
    initial_declares = bool(declared_transitions(registry.get(initial), initial))
    if initial_declares:
        for name in added:
            if name not in reachable:
                found.append(
                    Diagnostic(
                        "ConfigError",
                        f"State {name!r} from {where} is not reachable from {initial!r} "
                        "through declared transitions",
                        why="No declared transition leads to it, so the component may never "
                        "enter it (undeclared transitions are possible, but not shown).",
                        fix="Declare the transition that leads to it, or remove the state.",
                        context={**context, "state": name},
                    )
                )
    seen: set[str] = set()
    for index, path in enumerate(config.packs):
        if path in seen:
            found.append(
                Diagnostic(
                    "ConfigError",
                    f"The pack {path!r} is listed twice in {where}",
                    fix="Remove the second entry.",
                    context={**context, "field": f"packs[{index}]"},
                )
            )
        seen.add(path)
    return found


def default_registry() -> StateRegistry:
    """The running kernel's state registry, else the one a new kernel would have.

    The second is built from the plugins a kernel with the settings in the working
    directory loads (the installed state packs), without starting a kernel.
    """
    from ..kernel._current import running_kernel
    from ..kernel._kernel import Kernel

    running = running_kernel()
    if running is not None:
        return running.states
    with warnings.catch_warnings():
        # a broken plugin is reported by the commands that start a kernel
        warnings.simplefilter("ignore")
        kernel = Kernel()
    registry = StateRegistry()
    kernel.hooks.register_states(registry)
    return registry


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return repr(value)
