"""JobState and ExecutionTracker: what one execution of a flow did, read from its journal.

A job's journal is the truth; :class:`JobFold` folds it into per-routine states, the
execution history and the pause points. An execution folds each record as it makes it
(so ending a job costs no read of its journal), :meth:`JobState.from_events` folds a
stored journal: a job looks the same whether it just ran here, was resumed after a
crash, or is inspected from another process.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
import orjson

from ..kernel._errors import ConfigError, PersistenceError
from ..kernel._kinds import EventKind
from ..kernel._models import Event, Run, RunStatus
from ..kernel._resources import write_atomically
from ..kernel._serialize import converter, encode_value

__all__ = [
    "JOB_FORMAT",
    "ExecutionRecord",
    "ExecutionTracker",
    "JobFold",
    "JobState",
    "PausePoint",
    "RoutineState",
]

JOB_FORMAT: Final = 1
"""Version of the JSON document :meth:`JobState.save` writes."""
_JOB_KIND: Final = "floe.graph.job"

SLOT_RECEIVED: Final = EventKind.ROUTINE_SLOT_RECEIVED
"""A delivery was handled: its message, duration, attempts and the routine's stats."""
EMITTED: Final = EventKind.ROUTINE_EMITTED
FAILED: Final = EventKind.ROUTINE_FAILED
RETRYING: Final = EventKind.ROUTINE_RETRYING


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


@attrs.define(slots=False)
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
    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            # reached only for an attribute that is not set: the history of a job
            # that just ran, built from its records when first read
            if name == "execution_history":
                pending = self.__dict__.get("_history")
                if pending is not None:
                    history = pending.build()
                    self.__dict__["execution_history"] = history
                    self.__dict__["_history"] = None
                    return history
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

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
    def from_events(cls, run: Run, events: Iterable[Event]) -> JobState:
        """Fold a graph run's journal into its job state."""
        fold = JobFold(run)
        for event in events:
            fold.event(event)
        return fold.result(run)

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
        """Write the job state to *path* as JSON (atomically; a new file is owner-only);
        returns the path."""
        target = Path(path)
        raw = orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2)
        write_private(target, raw, "job state")
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


_STRIDE: Final = 6


class _History:
    """A job's execution history as the journal records it was folded from, turned
    into :class:`ExecutionRecord` objects when first read (a job of many deliveries
    then costs no record objects unless someone looks).

    One flat list, six entries a record: kind, routine, slot or event, delivery,
    payload, time. Only the parts the history shows are kept, so a stored record's
    dicts are not held for it.
    """

    __slots__ = ("records",)

    def __init__(self, records: list[Any]) -> None:
        self.records = records

    def build(self) -> list[ExecutionRecord]:
        history: list[ExecutionRecord] = []
        records = self.records
        started_at: datetime | None = None
        for index in range(0, len(records), _STRIDE):
            kind, routine_id, name, number, payload, when = records[index : index + _STRIDE]
            if kind == "emitted":
                # dated with the start of the delivery that emitted it
                at = started_at if started_at is not None else when
            elif isinstance(when, int | float):
                at = _time(when)
                if kind != "retrying":
                    started_at = at
            else:
                at = when
            history.append(ExecutionRecord(routine_id, kind, name, number, payload, at))
        return history


class JobFold:
    """Folds a job's journal records into its :class:`JobState`, one record at a time.

    :meth:`JobState.from_events` feeds it a stored journal; an execution feeds it each
    record as it makes it, so a job that ends here returns the state its journal gives
    back later, without reading the journal again. Times come from the records
    themselves (a delivery's start and duration; an emit is dated with the start of
    the delivery that made it), not from when they were stored.
    """

    __slots__ = ("cancel_reason", "created", "ends", "finished", "job", "records")

    def __init__(self, run: Run) -> None:
        document = run.input if isinstance(run.input, Mapping) else {}
        self.job = JobState(
            job_id=run.run_id,
            flow_id=run.name,
            status=run.status,
            entry_id=document.get("entry"),
            entry_params=dict(document.get("params") or {}),
            created_at=run.created_at,
            updated_at=run.updated_at,
        )
        self.records: list[Any] = []
        """The history's records (see :class:`_History`)."""
        self.created: dict[int, str | None] = {}
        """Delivery numbers created, with the routine each goes to."""
        self.finished: set[int] = set()
        self.ends: dict[str, float] = {}
        """When each routine's last delivery ended (epoch seconds)."""
        self.cancel_reason: str | None = None

    def delivered(self, kind: str, data: Mapping[str, Any]) -> None:
        """A ``routine.slot_received`` (handled) or ``routine.failed`` record."""
        routine_id = data.get("routine", "?")
        number = data.get("delivery", 0)
        states = self.job.routine_states
        state = states.get(routine_id)
        if state is None:
            state = states[routine_id] = RoutineState(routine_id)
        started = data.get("started")
        if state.started_at is None and isinstance(started, int | float):
            state.started_at = _time(started)
        state.executions += 1
        if kind == SLOT_RECEIVED:
            state.completed += 1
            state.status = "completed"
            self.records += ("slot_received", routine_id, data.get("slot"), number)
            self.records += (data.get("data"), started)
        else:
            error = data.get("error") or {}
            self.records += ("failed", routine_id, data.get("slot"), number, error, started)
            if data.get("outcome") == "skipped":
                state.skipped += 1
                state.status = "skipped"
            else:
                state.failed += 1
                state.status = "failed"
            kind_name = str(error.get("type", "Error")).rpartition(".")[2]
            state.error = f"{kind_name}: {error.get('message')}"
        created = self.created
        if number not in created:
            created[number] = routine_id
        self.finished.add(number)
        duration = data.get("duration")
        if isinstance(duration, int | float):
            state.total_time += duration
            minimum = state.min_time
            if minimum is None or duration < minimum:
                state.min_time = duration
            maximum = state.max_time
            if maximum is None or duration > maximum:
                state.max_time = duration
            if isinstance(started, int | float):
                self.ends[routine_id] = started + duration
        stats = data.get("stats")
        if isinstance(stats, dict):
            state.stats = dict(stats)

    def handled(
        self,
        routine_id: str,
        number: int,
        started: float,
        duration: float,
        stats: dict[str, Any] | None,
        data: dict[str, Any],
        emitted: list[tuple[str, str | None, Any]] | None,
    ) -> None:
        """A ``routine.slot_received`` record *data* an execution just made (its
        fields given again, so they need no looking up), and the ``routine.emitted``
        records that follow it: :meth:`delivered` and :meth:`emitted`, quicker."""
        states = self.job.routine_states
        state = states.get(routine_id)
        if state is None:
            state = states[routine_id] = RoutineState(routine_id)
            state.started_at = _time(started)
        elif state.started_at is None:
            state.started_at = _time(started)
        state.executions += 1
        state.completed += 1
        state.status = "completed"
        records = self.records
        records += ("slot_received", routine_id, data["slot"], number, data["data"], started)
        created = self.created
        if number not in created:
            created[number] = routine_id
        self.finished.add(number)
        state.total_time += duration
        minimum = state.min_time
        if minimum is None or duration < minimum:
            state.min_time = duration
        maximum = state.max_time
        if maximum is None or duration > maximum:
            state.max_time = duration
        self.ends[routine_id] = started + duration
        if stats is not None:
            state.stats = dict(stats)
        if emitted:
            for _, _, record in emitted:
                source = record["routine"]
                if source not in states:
                    states[source] = RoutineState(source)
                records += ("emitted", source, record["event"], number, record["data"], None)
                for target in record["targets"]:
                    created[target[2]] = target[0]

    def emitted(self, data: Mapping[str, Any], at: datetime | None = None) -> None:
        """A ``routine.emitted`` record (*at*: when it was stored, if known)."""
        routine_id = data.get("routine", "?")
        states = self.job.routine_states
        if routine_id not in states:
            states[routine_id] = RoutineState(routine_id)
        self.records += ("emitted", routine_id, data.get("event"), data.get("delivery", 0))
        self.records += (data.get("data"), at)
        created = self.created
        for target in data.get("targets", ()):
            created[target[2]] = target[0]

    def retrying(self, data: Mapping[str, Any], at: datetime | None = None) -> None:
        """A ``routine.retrying`` record (*at*: when it was stored, if known)."""
        routine_id = data.get("routine", "?")
        state = self.job.routine_states.get(routine_id)
        if state is None:
            state = self.job.routine_states[routine_id] = RoutineState(routine_id)
        state.retry_count += 1
        when = data.get("at")
        self.records += ("retrying", routine_id, data.get("slot"), data.get("delivery", 0))
        self.records += (data.get("error"), when if isinstance(when, int | float) else at)

    def event(self, event: Event) -> None:
        """One stored journal event."""
        kind = event.kind
        data = event.data if isinstance(event.data, dict) else {}
        if kind in (SLOT_RECEIVED, FAILED):
            self.delivered(kind, data)
        elif kind == EMITTED:
            self.emitted(data, event.at)
        elif kind == RETRYING:
            self.retrying(data, event.at)
        elif kind == EventKind.RUN_STARTED:
            self.created.setdefault(1, self.job.entry_id)
        elif kind == EventKind.RUN_PAUSED:
            self.job.pause_points.append(
                PausePoint(
                    reason=data.get("reason", ""),
                    at=event.at,
                    pending=data.get("pending", 0),
                    checkpoint=data.get("checkpoint"),
                )
            )
        elif kind == EventKind.RUN_RESUMED:
            points = self.job.pause_points
            if points and points[-1].resumed_at is None:
                points[-1].resumed_at = event.at
        elif kind == EventKind.RUN_CANCELLED:
            self.cancel_reason = data.get("reason") or self.cancel_reason

    def result(self, run: Run) -> JobState:
        """The job state as of *run* (the run record gives status, error and times).

        A copy: the fold may go on with later records.
        """
        job = self.job
        error = self.cancel_reason
        if error is None and run.error is not None:
            error = f"{run.error.type.rpartition('.')[2]}: {run.error.message}"
        states = {}
        for routine_id, state in job.routine_states.items():
            end = self.ends.get(routine_id)
            states[routine_id] = attrs.evolve(
                state, stats=dict(state.stats), finished_at=_time(end) if end else None
            )
        pending = [number for number in self.created if number not in self.finished]
        if not run.status.finished:
            for number in pending:
                waiting = self.created[number]
                if waiting is not None and waiting not in states:
                    states[waiting] = RoutineState(waiting)
        result = JobState(
            job_id=job.job_id,
            flow_id=job.flow_id,
            status=run.status,
            entry_id=job.entry_id,
            entry_params=dict(job.entry_params),
            routine_states=states,
            pause_points=[attrs.evolve(point) for point in job.pause_points],
            pending_deliveries=len(pending),
            error=error,
            created_at=run.created_at,
            updated_at=run.updated_at,
        )
        # built when first read (see JobState.__getattr__)
        del result.execution_history
        result.__dict__["_history"] = _History(list(self.records))
        return result


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


def write_private(target: Path, raw: bytes, what: str) -> None:
    """Write *raw* to *target* atomically; a new file is owner-only (``0600``), as the
    store's files are: a flow's config, slots and a job's data may be private."""
    try:
        write_atomically(target, raw)
    except OSError as error:
        raise PersistenceError(
            f"Cannot write the {what} file {str(target)!r}: {error.strerror}",
            fix="Check that the directory is writable.",
            context={"path": str(target)},
        ) from None
