"""A flow as a Mermaid flowchart: routines as nodes, connections as labelled edges."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from ._flow import Flow

__all__ = ["flow_mermaid"]

_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ENTITIES: Final = {"#": "#35;", ";": "#59;", '"': "#quot;", "<": "#lt;", ">": "#gt;"}


def _text(text: str) -> str:
    # Mermaid ends a statement at a newline or ';' and reads '"' as a delimiter
    return "".join(_ENTITIES.get(char, char) for char in " ".join(text.split()))


def flow_mermaid(flow: Flow) -> str:
    """The flow as Mermaid ``flowchart LR`` text (``floe.visualize(flow)`` returns it).

    Each routine is a node labelled with its id and class; each connection an edge
    labelled ``event → slot`` (and its parameter mapping, if any).
    """
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for index, routine_id in enumerate(flow.routine_table):
        candidate = routine_id if _IDENTIFIER.match(routine_id) else f"routine_{index}"
        while candidate in taken or candidate in ("end", "graph", "subgraph", "flowchart"):
            candidate += "_"
        taken.add(candidate)
        ids[routine_id] = candidate
    lines = ["flowchart LR"]
    for routine_id, routine in flow.routine_table.items():
        label = f"{_text(routine_id)}<br/><i>{_text(type(routine).__name__)}</i>"
        lines.append(f'    {ids[routine_id]}["{label}"]')
    for connection in flow.connections:
        edge = f"{connection.event} → {connection.slot}"
        if connection.param_mapping:
            renames = ", ".join(f"{key}→{name}" for key, name in connection.param_mapping.items())
            edge += f" ({renames})"
        lines.append(
            f'    {ids[connection.source]} -- "{_text(edge)}" --> {ids[connection.target]}'
        )
    return "\n".join(lines) + "\n"
