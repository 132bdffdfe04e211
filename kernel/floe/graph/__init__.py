"""Routine graphs: routines with input slots and output events, wired into flows.

Each execution of a :class:`Flow` is a durable job (a run of kind ``graph``): every
delivery to a slot is journaled, so a job can pause, resume after a crash where it
stopped, and be inspected like any run (``floe status --detailed``, ``floe events``).
See the how-to page "Routine graphs" for a tour.
"""

from __future__ import annotations

from ._allow import ImportNotAllowedError
from ._builtins import Aggregator, ConditionalRouter, Transformer, Validator
from ._draw import flow_mermaid
from ._engine import GRAPH_KIND
from ._flow import Connection, ExecutionStrategy, Flow
from ._job import ExecutionRecord, ExecutionTracker, JobState, PausePoint, RoutineState
from ._jobs import JobHandle
from ._persist import FLOW_FORMAT
from ._routine import MergeStrategy, OutputEvent, Routine, Slot
from ._strategy import DeliveryLimitError, ErrorHandler, ErrorStrategy

__all__ = [
    "FLOW_FORMAT",
    "GRAPH_KIND",
    "Aggregator",
    "ConditionalRouter",
    "Connection",
    "DeliveryLimitError",
    "ErrorHandler",
    "ErrorStrategy",
    "ExecutionRecord",
    "ExecutionStrategy",
    "ExecutionTracker",
    "Flow",
    "ImportNotAllowedError",
    "JobHandle",
    "JobState",
    "MergeStrategy",
    "OutputEvent",
    "PausePoint",
    "Routine",
    "RoutineState",
    "Slot",
    "Transformer",
    "Validator",
    "flow_mermaid",
]
