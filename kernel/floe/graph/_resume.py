"""Resuming a flow's job: what its journal says is pending, held and spent.

The journal tells everything: the deliveries created and not finished (run depth-first
in the order they would have run, or first-in first-out when concurrent), the routines'
stats, what each slot holds (its messages merged again in journal order), and the
retries already spent with the time the next attempt is due.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..kernel._errors import ConfigError
from ..kernel._kinds import EventKind
from ..kernel._models import Event, Run
from ._delivery import SlotDelivery
from ._job import EMITTED, FAILED, RETRYING, SLOT_RECEIVED
from ._routine import Slot

if TYPE_CHECKING:
    from ._engine import JobExecution
    from ._flow import Flow

__all__ = ["restore"]


def restore(execution: JobExecution, run: Run, events: Sequence[Event]) -> None:
    """Rebuild *execution*'s pending deliveries, stats and slot buffers from the journal."""
    flow = execution.flow
    document = run.input if isinstance(run.input, dict) else {}
    entry_id = document.get("entry")
    created: dict[int, SlotDelivery] = {}
    children: dict[int, list[int]] = collections.defaultdict(list)
    finished: set[int] = set()
    retries: dict[int, list[Event]] = collections.defaultdict(list)
    routines = flow.routine_table
    for routine in routines.values():
        for each_slot in routine.slots.values():
            each_slot.clear()
    for event in events:
        kind = event.kind
        data = event.data if isinstance(event.data, dict) else {}
        if kind == EventKind.RUN_STARTED:
            entry = flow.entry_delivery(entry_id, dict(data.get("params") or {}))
            created[1] = entry
            for routine_id, stats in (data.get("stats") or {}).items():
                if routine_id in routines:
                    execution.last_stats[routine_id] = dict(stats)
            for routine_id, held in (data.get("slots") or {}).items():
                for slot_name, buffer in held.items():
                    initial = _slot(flow, routine_id, slot_name)
                    if initial is not None:
                        initial.restore(buffer)
        elif kind == EMITTED:
            parent = data["delivery"]
            for target in data.get("targets", ()):
                routine_id, target_slot, number = target[0], target[1], target[2]
                mapping = target[3] if len(target) > 3 else None
                payload = _mapped(data.get("data") or {}, mapping)
                created[number] = SlotDelivery(number, routine_id, target_slot, payload, parent)
                children[parent].append(number)
        elif kind in (SLOT_RECEIVED, FAILED):
            finished.add(data["delivery"])
            slot = _slot(flow, data.get("routine"), data.get("slot"))
            if slot is not None:
                try:
                    slot.merge(dict(data.get("data") or {}))
                except Exception:  # the merge failed when it ran, too
                    pass
            for routine_id, slot_name in data.get("cleared", ()):
                cleared = _slot(flow, routine_id, slot_name)
                if cleared is not None:
                    cleared.restore({})
            stats = data.get("stats")
            if isinstance(stats, dict) and data.get("routine") in routines:
                execution.last_stats[data["routine"]] = dict(stats)
        elif kind == RETRYING:
            retries[data["delivery"]].append(event)
    for routine_id, stats in execution.last_stats.items():
        routines[routine_id].restore_stats(stats)
    missing = {d.routine_id for d in created.values()} - set(routines)
    if missing:
        raise ConfigError(
            f"Job {run.run_id!r} has deliveries for routines this flow lacks: {sorted(missing)}",
            fix="Resume the job with the flow definition that started it.",
            context={"job_id": run.run_id},
        )
    for number, recorded in retries.items():
        if number in created:
            created[number].attempt = int(recorded[-1].data.get("attempt", 0)) + 1
            created[number].wake_at = recorded[-1].data.get("wake_at")
    execution.next_number = max(created, default=1) + 1
    order = _preorder(1, children) if execution.sequential else sorted(created)
    execution.schedule([created[n] for n in order if n in created and n not in finished])


def _slot(flow: Flow, routine_id: Any, slot_name: Any) -> Slot | None:
    routine = flow.routine_table.get(routine_id)
    return routine.get_slot(slot_name) if routine is not None else None


def _mapped(data: dict[str, Any], mapping: dict[str, str] | None) -> dict[str, Any]:
    if not mapping:
        return dict(data)
    return {mapping.get(key, key): value for key, value in data.items()}


def _preorder(root: int, children: dict[int, list[int]]) -> list[int]:
    order: list[int] = []
    stack = [root]
    while stack:
        number = stack.pop()
        order.append(number)
        stack.extend(reversed(children.get(number, ())))
    return order
