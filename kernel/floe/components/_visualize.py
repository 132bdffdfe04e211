"""``floe.visualize``: draw a state machine from its states' declared transitions.

States declare their transitions (``State.transitions``); nothing is inferred from
code, so what is drawn is what the state classes promise. The output is text a
renderer understands: Mermaid's ``stateDiagram-v2``.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from ..kernel._errors import ConfigError
from ..kernel._states import StateRegistry
from ._config import ComponentConfig, config_names, config_registry, load_config
from ._explain import declared_transitions, default_registry

if TYPE_CHECKING:
    from ..kernel._states import Transition
    from ._state_machine import StateMachine

__all__ = ["FORMATS", "visualize"]

FORMATS: Final = ("mermaid",)
"""The diagram formats :func:`visualize` writes."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def visualize(
    target: StateRegistry
    | StateMachine
    | ComponentConfig
    | Mapping[str, Any]
    | str
    | os.PathLike[str],
    format: str = "mermaid",
    *,
    registry: StateRegistry | None = None,
) -> str:
    """A diagram of a state machine, as text in *format* (``"mermaid"``).

    *target* is one of:

    * a component config (a YAML path, a mapping or a :class:`ComponentConfig`): the
      states reachable from its initial state, plus every state the config adds; names
      resolve in the config's namespace over *registry* (default: the running kernel's,
      else the installed state packs'), which is not changed;
    * a :class:`StateMachine`: the states reachable from its current state;
    * a :class:`StateRegistry`: every registered state;
    * a routine graph's :class:`floe.graph.Flow`: a Mermaid ``flowchart`` of its
      routines and connections.

    An unknown *format* is a :class:`~floe.ConfigError`; an invalid config raises what
    loading it raises.
    """
    if format not in FORMATS:
        raise ConfigError(
            f"Unknown diagram format {format!r}",
            why=f"visualize() draws: {', '.join(FORMATS)}.",
            fix="Pass format='mermaid' (paste the output into any Mermaid renderer).",
            context={"format": format},
        )
    from ._state_machine import StateMachine

    graph = sys.modules.get("floe.graph")  # a Flow exists only once floe.graph is imported
    if graph is not None and isinstance(target, graph.Flow):
        drawn: str = graph.flow_mermaid(target)
        return drawn
    if isinstance(target, StateRegistry):
        names = target.names()
        return _mermaid(target, names, start=None)
    if isinstance(target, StateMachine):
        machine_registry: StateRegistry = target.registry
        current = target.current_state_name
        return _mermaid(machine_registry, _walk(machine_registry, [current]), start=current)
    base = registry if registry is not None else default_registry()
    scratch, initial = config_registry(load_config(target), base)
    added = config_names(scratch, base)
    return _mermaid(scratch, _walk(scratch, [initial, *added]), start=initial)


def _walk(registry: StateRegistry, roots: list[str]) -> list[str]:
    """The states reachable from each root in turn, breadth first, each once."""
    order: list[str] = []
    for root in roots:
        if root in order:
            continue
        order.append(root)
        position = len(order) - 1
        while position < len(order):
            name = order[position]
            if name in registry:
                for transition in declared_transitions(registry.get(name), name):
                    if transition.to_state not in order:
                        order.append(transition.to_state)
            position += 1
    return order


def _mermaid(registry: StateRegistry, names: list[str], *, start: str | None) -> str:
    ids = _identifiers(names)
    lines = ["stateDiagram-v2"]
    for name in names:
        if ids[name] != name:
            lines.append(f'    state "{_label(name)}" as {ids[name]}')
    if start is not None:
        lines.append(f"    [*] --> {ids[start]}")
    for name in names:
        if name not in registry:
            continue
        transitions = declared_transitions(registry.get(name), name)
        if not transitions:
            # a state with no declared transitions still appears
            lines.append(f"    {ids[name]}")
        for transition in transitions:
            lines.append(
                f"    {ids[name]} --> {ids[transition.to_state]}: {_edge_label(transition)}"
            )
    return "\n".join(lines) + "\n"


def _identifiers(names: list[str]) -> dict[str, str]:
    """Mermaid ids: the name itself when it is an identifier, else a safe stand-in."""
    ids: dict[str, str] = {}
    taken = {name for name in names if _IDENTIFIER.match(name)}
    for index, name in enumerate(names):
        if name in taken:
            ids[name] = name
            continue
        candidate = f"state_{index}"
        while candidate in taken:
            candidate += "_"
        taken.add(candidate)
        ids[name] = candidate
    return ids


def _edge_label(transition: Transition) -> str:
    guard = f" [{transition.guard}]" if transition.guard else ""
    return _label(f"{transition.message}{guard}")


def _label(text: str) -> str:
    # Mermaid ends a statement at a newline or ';' and reads '"' as a delimiter; its
    # entity codes keep them as text
    return "".join(_ENTITIES.get(char, char) for char in " ".join(text.split()))


_ENTITIES: Final = {"#": "#35;", ";": "#59;", '"': "#quot;"}
