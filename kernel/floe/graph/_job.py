"""JobState and ExecutionTracker: what one execution of a flow did, read from its journal.

A job's journal is the truth; :meth:`JobState.from_events` folds it into per-routine
states, the execution history and the pause points, so a job looks the same whether it
just ran here, was resumed after a crash, or is inspected from another process.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import attrs
import orjson

from .._errors import ConfigError, PersistenceError
from .._models import Event, Run, RunStatus
from .._serialize import converter, encode_value

__all__ = [
    "JOB_FORMAT",
    "ExecutionRecord",
    "ExecutionTracker",
    "JobState",
    "PausePoint",
    "RoutineState",
]

JOB_FORMAT: Final = 1
"""Version of the JSON document :meth:`JobState.save` writes."""
_JOB_KIND: Final = "floe.graph.job"

SLOT_RECEIVED: Final = "routine.slot_received"
"""A delivery was handled: its message, duration, attempts and the routine's stats."""
EMITTED: Final = "routine.emitted"
FAILED: Final = "routine.failed"
RETRYING: Final = "routine.retrying"
_DELIVERY_EVENTS: Final = frozenset({SLOT_RECEIVED, EMITTED, FAILED, RETRYING})


def _time(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch is not None else None


@attrs.define
class RoutineState:
    """What one routine did in a job."""

    routine_id: str
    status: str = "pending"
    """``pending`` (deliveries waiting), ``completed``, ``failed`` or ``skipped``: the
    outcome of its last delivery."""
    executions: int = 0
    """Deliveries handled (completed, failed and skipped)."""
    completed: int = 0
    failed: int = 0
    skipped: int = 0
    retry_count: int = 0
    """Retries in this job, over all its deliveries."""
    stats: dict[str, Any] = attrs.field(factory=dict)
    """The routine's stats after its last delivery."""
    error: str | None = None
    """The last error, as ``Type: message``."""
    started_at: datetime | None = None
    """When its first delivery in this job started."""
    finished_at: datetime | None = None
    """When its last delivery finished."""
    total_time: float = 0.0
    """Seconds spent in its handlers."""
    min_time: float | None = None
    max_time: float | None = None


@attrs.define
class ExecutionRecord:
    """One entry of a job's history: a delivery received, an event emitted, a failure."""

    routine_id: str
    kind: str
    """``slot_received`` (handled), ``emitted``, ``failed`` or ``retrying``."""
    name: str | None
    """The slot (or the event, for ``emitted``); None for an entry's ``__call__``."""
    delivery: int
    data: Any = None
    """The message (``slot_received``), the emitted data, or the error."""
    at: datetime | None = None


@attrs.define
class PausePoint:
    """Where a job paused: the reason, its checkpoint and how much was left."""

    reason: str
    at: datetime
    pending: int
    checkpoint: Any = None
    resumed_at: datetime | None = None


@attrs.define
class JobState:
    """The state of one execution of a flow (a run of kind ``graph`` in the store)."""

    job_id: str
    flow_id: str
    status: RunStatus = RunStatus.PENDING
    entry_id: str | None = None
    entry_params: dict[str, Any] = attrs.field(factory=dict)
    routine_states: dict[str, RoutineState] = attrs.field(factory=dict)
    execution_history: list[ExecutionRecord] = attrs.field(factory=list)
    pause_points: list[PausePoint] = attrs.field(factory=list)
    pending_deliveries: int = 0
    """Deliveries created and not yet handled (a paused or interrupted job's work left)."""
    error: str | None = None
    """Why the job failed or was cancelled."""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    format: int = JOB_FORMAT

    # -- reading ---------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.status.finished

    def get_routine_state(self, routine_id: str) -> RoutineState | None:
        return self.routine_states.get(routine_id)

    @property
    def duration(self) -> float:
        if self.created_at is None or self.updated_at is None:
            return 0.0
        return (self.updated_at - self.created_at).total_seconds()

    @classmethod
    def from_events(cls, run: Run, events: Sequence[Event]) -> JobState:
        """Fold a graph run's journal into its job state."""
        document = run.input if isinstance(run.input, Mapping) else {}
        job = cls(
            job_id=run.run_id,
            flow_id=run.name,
            status=run.status,
            entry_id=document.get("entry"),
            entry_params=dict(document.get("params") or {}),
            created_at=run.created_at,
            updated_at=run.updated_at,
        )
        if run.error is not None:
            job.error = f"{run.error.type.rpartition('.')[2]}: {run.error.message}"
        created: set[int] = set()
        finished: set[int] = set()
        states = job.routine_states
        history = job.execution_history
        record = ExecutionRecord
        for event in events:
            kind = event.kind
            if kind in _DELIVERY_EVENTS:
                data = event.data
                routine_id = data.get("routine", "?")
                number = data.get("delivery", 0)
                state = states.get(routine_id)
                if state is None:
                    state = states[routine_id] = RoutineState(routine_id)
                if kind == EMITTED:
                    history.append(
                        record(
                            routine_id,
                            "emitted",
                            data.get("event"),
                            number,
                            data.get("data"),
                            event.at,
                        )
                    )
                    for target in data.get("targets", ()):
                        created.add(target[2])
                elif kind == RETRYING:
                    state.retry_count += 1
                    history.append(
                        record(
                            routine_id,
                            "retrying",
                            data.get("slot"),
                            number,
                            data.get("error"),
                            event.at,
                        )
                    )
                else:
                    at = _time(data.get("started"))
                    if state.started_at is None:
                        state.started_at = at
                    payload = data.get("data") if kind == SLOT_RECEIVED else data.get("error")
                    history.append(
                        record(
                            routine_id,
                            kind.removeprefix("routine."),
                            data.get("slot"),
                            number,
                            payload,
                            at,
                        )
                    )
                    created.add(number)
                    finished.add(number)
                    _finish(state, kind, data)
                continue
            data = event.data if isinstance(event.data, dict) else {}
            if kind == "run.started":
                created.add(1)
            elif kind == "run.paused":
                job.pause_points.append(
                    PausePoint(
                        reason=data.get("reason", ""),
                        at=event.at,
                        pending=data.get("pending", 0),
                        checkpoint=data.get("checkpoint"),
                    )
                )
            elif kind == "run.resumed" and job.pause_points:
                if job.pause_points[-1].resumed_at is None:
                    job.pause_points[-1].resumed_at = event.at
            elif kind == "run.cancelled":
                job.error = data.get("reason") or job.error
        job.pending_deliveries = len(created - finished)
        if not run.status.finished and job.pending_deliveries:
            for routine_id in _pending_routines(events, created - finished):
                states.setdefault(routine_id, RoutineState(routine_id))
        return job

    # -- saving -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The job state as a versioned JSON document."""
        document: dict[str, Any] = converter.unstructure(self)
        return {"kind": _JOB_KIND, **encode_value(document, where="a job state")}

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> JobState:
        """The job state :meth:`to_dict` described (a newer format is refused)."""
        if not isinstance(document, Mapping) or document.get("kind") != _JOB_KIND:
            raise PersistenceError(
                "This document is not a saved floe job state",
                fix="Load a file written by JobState.save().",
            )
        version = document.get("format")
        if not isinstance(version, int) or version > JOB_FORMAT:
            raise PersistenceError(
                f"The job state has format {version!r}; this floe reads up to {JOB_FORMAT}",
                fix="Load it with the floe version that saved it, or a newer one.",
                context={"format": version},
            )
        body = {key: value for key, value in document.items() if key != "kind"}
        try:
            return converter.structure(body, cls)
        except Exception as error:
            raise PersistenceError(
                f"The job state document is invalid: {error}",
                fix="Load a file written by JobState.save(), unchanged.",
            ) from error

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the job state to *path* as JSON (atomically); returns the path."""
        target = Path(path)
        raw = orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2)
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(raw)
        partial.replace(target)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> JobState:
        """Read a job state :meth:`save` wrote."""
        source = Path(path)
        try:
            raw = source.read_bytes()
        except OSError as error:
            raise PersistenceError(
                f"Cannot read the job state file {str(source)!r}: {error.strerror}",
                fix="Check the path.",
                context={"path": str(source)},
            ) from None
        try:
            document = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise PersistenceError(
                f"The job state file {str(source)!r} is not JSON: {error}",
                fix="Load a file written by JobState.save().",
                context={"path": str(source)},
            ) from None
        return cls.from_dict(document)


def _finish(state: RoutineState, kind: str, data: Mapping[str, Any]) -> None:
    state.executions += 1
    outcome = data.get("outcome", "completed")
    if kind == SLOT_RECEIVED:
        state.completed += 1
        state.status = "completed"
    elif outcome == "skipped":
        state.skipped += 1
        state.status = "skipped"
    else:
        state.failed += 1
        state.status = "failed"
    if kind == FAILED:
        error = data.get("error") or {}
        state.error = (
            f"{str(error.get('type', 'Error')).rpartition('.')[2]}: {error.get('message')}"
        )
    duration = data.get("duration")
    if isinstance(duration, int | float):
        state.total_time += duration
        state.min_time = duration if state.min_time is None else min(state.min_time, duration)
        state.max_time = duration if state.max_time is None else max(state.max_time, duration)
        started = data.get("started")
        if isinstance(started, int | float):
            state.finished_at = _time(started + duration)
    stats = data.get("stats")
    if isinstance(stats, dict):
        state.stats = dict(stats)


def _pending_routines(events: Iterable[Event], pending: set[int]) -> set[str]:
    found: set[str] = set()
    for event in events:
        if event.kind == EMITTED and isinstance(event.data, dict):
            for target in event.data.get("targets", ()):
                if target[2] in pending:
                    found.add(target[0])
    return found


class ExecutionTracker:
    """Performance of a flow's routines over one or more jobs.

    ``ExecutionTracker([job])`` or ``flow.execution_tracker`` (the flow's last job).
    """

    def __init__(self, jobs: Iterable[JobState] = ()) -> None:
        self.jobs: list[JobState] = []
        for job in jobs:
            self.add(job)

    def add(self, job: JobState) -> None:
        """Count *job* in the figures."""
        if not isinstance(job, JobState):
            raise ConfigError(
                f"ExecutionTracker counts JobState objects, got {type(job).__name__}",
                fix="Pass the JobState that execute() returned.",
            )
        self.jobs.append(job)

    def get_routine_performance(self, routine_id: str) -> dict[str, Any] | None:
        """Executions, completed, failed, success rate and avg/min/max time, or None."""
        states = [
            job.routine_states[routine_id] for job in self.jobs if routine_id in job.routine_states
        ]
        if not states:
            return None
        executions = sum(state.executions for state in states)
        completed = sum(state.completed for state in states)
        total = sum(state.total_time for state in states)
        minimums = [state.min_time for state in states if state.min_time is not None]
        maximums = [state.max_time for state in states if state.max_time is not None]
        return {
            "routine_id": routine_id,
            "executions": executions,
            "completed": completed,
            "failed": sum(state.failed for state in states),
            "skipped": sum(state.skipped for state in states),
            "retries": sum(state.retry_count for state in states),
            "success_rate": completed / executions if executions else 0.0,
            "avg_time": total / executions if executions else 0.0,
            "min_time": min(minimums) if minimums else None,
            "max_time": max(maximums) if maximums else None,
            "total_time": total,
        }

    def get_flow_performance(self) -> dict[str, Any]:
        """Jobs by status, deliveries, time spent and deliveries per second."""
        deliveries = sum(
            state.executions for job in self.jobs for state in job.routine_states.values()
        )
        duration = sum(job.duration for job in self.jobs)
        statuses: dict[str, int] = {}
        for job in self.jobs:
            statuses[str(job.status)] = statuses.get(str(job.status), 0) + 1
        return {
            "jobs": len(self.jobs),
            "statuses": statuses,
            "deliveries": deliveries,
            "errors": sum(
                state.failed for job in self.jobs for state in job.routine_states.values()
            ),
            "total_time": duration,
            "deliveries_per_second": deliveries / duration if duration > 0 else None,
            "routines": sorted({rid for job in self.jobs for rid in job.routine_states}),
        }
