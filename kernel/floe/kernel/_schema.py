"""The journal's schema: every event kind, and the shape of each kind's ``data``.

:class:`EventKind` names every kind floe writes to a journal or publishes on the bus. It
is a :class:`~enum.StrEnum`: a member *is* its string, so stored JSON, comparisons with
``event.kind`` and bus globs (``"task.*"``) are unchanged by it.

Each kind has a frozen attrs payload class whose fields are exactly the keys its
``data`` holds (:data:`PAYLOADS`). The ``run.*`` kinds have two: a workflow run and a
graph job write different data under the same names. :func:`payload_of` decodes an
event's data, :func:`data_of` turns a payload back into the dict a writer journals; both
go through the one converter, and ``data_of(payload_of(event)) == event.data``.

Decoding is strict about shape and lenient about values: a missing key is a
:class:`PersistenceError`, but a value is taken as stored, never converted. A run with
secrets keeps a sealed envelope (``{"$sealed": ...}``) in place of any field outside
``STRUCTURAL_FIELDS`` (see ``_sealing``): the annotations say what a field holds once
opened (``Opener.data``), and a sealed one comes back as the envelope it is, so the round
trip holds for sealed journals too. Decoding is on demand: replay reads the raw dicts.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs

from ._errors import PersistenceError
from ._kinds import EventKind
from ._models import Event
from ._serialize import converter

if TYPE_CHECKING:
    from ._sealing import Opener

__all__ = [
    "ABSENT",
    "PAYLOADS",
    "ArtifactCreated",
    "ComponentMessageReceived",
    "ComponentRegistered",
    "ComponentRulesUpdated",
    "EventKind",
    "HandlerFailed",
    "JobCancelled",
    "JobCompleted",
    "JobFailed",
    "JobPaused",
    "JobResumed",
    "JobStarted",
    "LogMessage",
    "Payload",
    "ResultCreated",
    "RoutineEmitted",
    "RoutineFailed",
    "RoutineRetrying",
    "RoutineSlotReceived",
    "RunCancelled",
    "RunCancelling",
    "RunCompleted",
    "RunFailed",
    "RunPaused",
    "RunResumed",
    "RunStarted",
    "StateChanged",
    "TaskCacheHit",
    "TaskCompleted",
    "TaskFailed",
    "TaskFallback",
    "TaskRetrying",
    "TaskRolledBack",
    "TaskStarted",
    "TimerFired",
    "TimerScheduled",
    "data_of",
    "payload_of",
]


@enum.unique
class _Absent(enum.Enum):
    ABSENT = "ABSENT"

    def __bool__(self) -> bool:
        return False


ABSENT: Final = _Absent.ABSENT
"""The default of an optional field whose stored value may be ``None``: the key is absent."""


_OMIT: Final = {"omit": True}
"""Field metadata: an optional field, left out of the data when it holds its default
(compared by identity), so a key that was absent stays absent."""


class Payload:
    """The base of every payload class: ``kind`` names the event kind it is the data of."""

    __slots__ = ()
    kind: ClassVar[EventKind]


# -- workflow runs ----------------------------------------------------------------------


@attrs.frozen
class RunStarted(Payload):
    """A workflow run started."""

    kind: ClassVar[EventKind] = EventKind.RUN_STARTED

    workflow: str
    input: Any
    """The encoded arguments (``{"args": [...], "kwargs": {...}}``)."""
    parent_id: str | None = attrs.field(default=None, metadata=_OMIT, kw_only=True)
    """The parent run's id (child runs only)."""


@attrs.frozen
class RunCompleted(Payload):
    """A workflow run's body returned."""

    kind: ClassVar[EventKind] = EventKind.RUN_COMPLETED

    output: Any
    """The encoded return value."""


@attrs.frozen
class RunFailed(Payload):
    """A workflow run's body raised."""

    kind: ClassVar[EventKind] = EventKind.RUN_FAILED

    error: Any
    """The error: an unstructured ``ErrorInfo``."""


@attrs.frozen
class RunCancelling(Payload):
    """``floe.cancel`` fenced a workflow run's journal (its data is ``{}``): the process
    executing the run can record no further step, so the saga undoes what it knows."""

    kind: ClassVar[EventKind] = EventKind.RUN_CANCELLING


@attrs.frozen
class RunCancelled(Payload):
    """A workflow run was cancelled (its data is ``{}``)."""

    kind: ClassVar[EventKind] = EventKind.RUN_CANCELLED


@attrs.frozen
class RunPaused(Payload):
    """A workflow run paused at the step ``Event.step``."""

    kind: ClassVar[EventKind] = EventKind.RUN_PAUSED

    task: str
    """``floe.pause``, or the child workflow's name for a child's pause."""
    position: str
    name: str
    output: Any
    child_run_id: str | None = attrs.field(default=None, metadata=_OMIT, kw_only=True)
    child_pause: int | None = attrs.field(default=None, metadata=_OMIT, kw_only=True)
    """The seq of the child's own ``run.paused``."""


@attrs.frozen
class RunResumed(Payload):
    """A paused workflow run was resumed with ``value``."""

    kind: ClassVar[EventKind] = EventKind.RUN_RESUMED

    task: str
    position: str
    name: str
    child_run_id: str | None = attrs.field(default=None, metadata=_OMIT, kw_only=True)
    child_pause: int | None = attrs.field(default=None, metadata=_OMIT, kw_only=True)
    value: Any
    """The encoded value passed to ``floe.resume``."""


# -- graph jobs ---------------------------------------------------------------------------


@attrs.frozen
class JobStarted(Payload):
    """A graph job started."""

    kind: ClassVar[EventKind] = EventKind.RUN_STARTED

    flow: str
    entry: Any
    params: Any
    execution_strategy: str
    stats: dict[str, Any]
    """The routines' stats as the job started."""
    slots: dict[str, Any]
    """The slot buffers the routines held as the job started."""


@attrs.frozen
class JobCompleted(Payload):
    """A graph job ran all its deliveries."""

    kind: ClassVar[EventKind] = EventKind.RUN_COMPLETED

    deliveries: int


@attrs.frozen
class JobFailed(Payload):
    """A graph job stopped on a failed delivery."""

    kind: ClassVar[EventKind] = EventKind.RUN_FAILED

    error: Any
    step: str | None
    """The failed delivery's key."""


@attrs.frozen
class JobCancelled(Payload):
    """A graph job was cancelled."""

    kind: ClassVar[EventKind] = EventKind.RUN_CANCELLED

    reason: str
    pending: int | None = attrs.field(default=None, metadata=_OMIT, kw_only=True)
    """The deliveries left (when the engine stopped it)."""


@attrs.frozen
class JobPaused(Payload):
    """A graph job paused."""

    kind: ClassVar[EventKind] = EventKind.RUN_PAUSED

    reason: str
    pending: int
    checkpoint: Any


@attrs.frozen
class JobResumed(Payload):
    """A graph job continued."""

    kind: ClassVar[EventKind] = EventKind.RUN_RESUMED

    after: str
    """``paused`` or ``interrupted``."""
    pending: int


# -- steps --------------------------------------------------------------------------------


@attrs.frozen
class TaskStarted(Payload):
    kind: ClassVar[EventKind] = EventKind.TASK_STARTED
    task: str
    position: str
    attempt: int
    child_run_id: str | None = attrs.field(default=None, metadata=_OMIT, kw_only=True)


@attrs.frozen
class TaskCompleted(Payload):
    kind: ClassVar[EventKind] = EventKind.TASK_COMPLETED
    task: str
    position: str
    child_run_id: str | None = attrs.field(default=None, metadata=_OMIT, kw_only=True)
    result: Any
    """The encoded value."""
    rollback: bool = attrs.field(default=False, metadata=_OMIT, kw_only=True)
    """The task has a rollback: the saga undoes this step if the run fails."""
    cached: bool = attrs.field(default=False, metadata=_OMIT, kw_only=True)
    fallback: bool = attrs.field(default=False, metadata=_OMIT, kw_only=True)


@attrs.frozen
class TaskFailed(Payload):
    kind: ClassVar[EventKind] = EventKind.TASK_FAILED
    task: str
    position: str
    attempt: int
    error: Any
    """An unstructured ``ErrorInfo``."""
    raised: bool
    """Whether the failure was raised into the body."""
    child_run_id: str | None = attrs.field(default=None, metadata=_OMIT, kw_only=True)


@attrs.frozen
class TaskRetrying(Payload):
    kind: ClassVar[EventKind] = EventKind.TASK_RETRYING
    task: str
    position: str
    attempt: int
    """The attempt that failed."""
    delay: float
    wake_at: str
    """ISO time of the next attempt."""
    error: Any


@attrs.frozen
class TaskFallback(Payload):
    kind: ClassVar[EventKind] = EventKind.TASK_FALLBACK
    task: str
    position: str


@attrs.frozen
class TaskCacheHit(Payload):
    kind: ClassVar[EventKind] = EventKind.TASK_CACHE_HIT
    task: str
    position: str


@attrs.frozen
class TaskRolledBack(Payload):
    kind: ClassVar[EventKind] = EventKind.TASK_ROLLED_BACK
    task: str
    position: str
    reason: str
    """``task_failed``, ``run_failed`` or ``run_cancelled``."""
    error: Any = attrs.field(default=None, metadata=_OMIT, kw_only=True)
    """What the rollback raised, if it did."""


@attrs.frozen
class TimerScheduled(Payload):
    kind: ClassVar[EventKind] = EventKind.TIMER_SCHEDULED
    task: str
    position: str
    seconds: float
    wake_at: str


@attrs.frozen
class TimerFired(Payload):
    kind: ClassVar[EventKind] = EventKind.TIMER_FIRED
    task: str
    position: str


# -- reports ------------------------------------------------------------------------------


@attrs.frozen
class ArtifactCreated(Payload):
    kind: ClassVar[EventKind] = EventKind.ARTIFACT_CREATED
    key: str
    artifact_type: str
    description: str | None
    size: int
    task: str | None
    value: Any = attrs.field(default=ABSENT, metadata=_OMIT, kw_only=True)
    """The body, inline; :data:`ABSENT` when it is in the artifact store."""
    reference: str | None = attrs.field(default=None, metadata=_OMIT, kw_only=True)
    """Where the artifact store keeps the body."""


@attrs.frozen
class ResultCreated(Payload):
    kind: ClassVar[EventKind] = EventKind.RESULT_CREATED
    key: str
    description: str
    task: str | None


@attrs.frozen
class LogMessage(Payload):
    kind: ClassVar[EventKind] = EventKind.LOG_MESSAGE
    message: str
    stream: str
    """``stdout``, ``stderr`` or ``logging``."""
    level: str
    task: str | None
    logger: str | None = attrs.field(default=None, metadata=_OMIT, kw_only=True)


# -- components ---------------------------------------------------------------------------


@attrs.frozen
class ComponentRegistered(Payload):
    kind: ClassVar[EventKind] = EventKind.COMPONENT_REGISTERED
    component: str
    state: str
    rules: list[Any]
    metadata: dict[str, Any]


@attrs.frozen
class ComponentMessageReceived(Payload):
    kind: ClassVar[EventKind] = EventKind.COMPONENT_MESSAGE_RECEIVED
    component: str
    message: dict[str, Any]
    """The message's ``type``, ``content`` and its other fields."""
    delivery: str | None = attrs.field(default=None, metadata=_OMIT, kw_only=True)
    """The id of the message run a worker delivered it for (``engine.send``)."""


@attrs.frozen
class StateChanged(Payload):
    kind: ClassVar[EventKind] = EventKind.STATE_CHANGED
    component: str
    from_state: str
    to_state: str


@attrs.frozen
class ComponentRulesUpdated(Payload):
    kind: ClassVar[EventKind] = EventKind.COMPONENT_RULES_UPDATED
    component: str
    rules: list[Any]


# -- routine graphs -----------------------------------------------------------------------


@attrs.frozen
class RoutineSlotReceived(Payload):
    kind: ClassVar[EventKind] = EventKind.ROUTINE_SLOT_RECEIVED
    data: Any
    duration: float
    attempts: int
    routine: str
    slot: str | None
    delivery: int
    parent: int | None
    started: float
    """Epoch seconds."""
    stats: dict[str, Any] | None = attrs.field(default=None, metadata=_OMIT, kw_only=True)
    cleared: list[list[str]] | None = attrs.field(default=None, metadata=_OMIT, kw_only=True)


@attrs.frozen
class RoutineEmitted(Payload):
    kind: ClassVar[EventKind] = EventKind.ROUTINE_EMITTED
    event: str
    data: Any
    targets: list[list[Any]]
    """``[routine, slot, number]`` (and the parameter mapping) per delivery created."""
    routine: str
    delivery: int


@attrs.frozen
class RoutineFailed(Payload):
    kind: ClassVar[EventKind] = EventKind.ROUTINE_FAILED
    data: Any
    error: Any
    outcome: str
    strategy: str
    critical: bool
    attempts: int
    duration: float
    routine: str
    slot: str | None
    delivery: int
    parent: int | None
    started: float
    stats: dict[str, Any] | None = attrs.field(default=None, metadata=_OMIT, kw_only=True)
    cleared: list[list[str]] | None = attrs.field(default=None, metadata=_OMIT, kw_only=True)


@attrs.frozen
class RoutineRetrying(Payload):
    kind: ClassVar[EventKind] = EventKind.ROUTINE_RETRYING
    routine: str
    slot: str | None
    delivery: int
    attempt: int
    delay: float
    wake_at: str
    at: float | None = attrs.field(default=None, metadata=_OMIT, kw_only=True)
    """Epoch seconds (journals of earlier versions lack it)."""
    error: Any


# -- the bus ------------------------------------------------------------------------------


@attrs.frozen
class HandlerFailed(Payload):
    kind: ClassVar[EventKind] = EventKind.HANDLER_FAILED
    event_name: str
    owner: str
    exception: Any
    """The exception object (bus only: never stored)."""


def _registry(*classes: type[Payload]) -> dict[EventKind, tuple[type[Payload], ...]]:
    found: dict[EventKind, tuple[type[Payload], ...]] = {}
    for cls in classes:
        found[cls.kind] = (*found.get(cls.kind, ()), cls)
    return found


PAYLOADS: Final[Mapping[EventKind, tuple[type[Payload], ...]]] = _registry(
    # a job's run.* class before the workflow's: its required fields are a superset
    JobStarted, RunStarted, JobCompleted, RunCompleted, JobFailed, RunFailed,
    RunCancelling, JobCancelled, RunCancelled, JobPaused, RunPaused, JobResumed, RunResumed,
    TaskStarted, TaskCompleted, TaskFailed, TaskRetrying, TaskFallback, TaskCacheHit,
    TaskRolledBack, TimerScheduled, TimerFired, ArtifactCreated, ResultCreated, LogMessage,
    ComponentRegistered, ComponentMessageReceived, StateChanged, ComponentRulesUpdated,
    RoutineSlotReceived, RoutineEmitted, RoutineFailed, RoutineRetrying, HandlerFailed,
)  # fmt: skip
"""The payload classes of each kind; a ``run.*`` kind has a workflow's and a job's."""


# -- decoding and encoding ------------------------------------------------------------------


@attrs.frozen
class _Shape:
    """What the converter hooks of one payload class need, computed once."""

    names: tuple[str, ...]
    required: frozenset[str]
    omitted: tuple[tuple[str, Any], ...]
    """The optional fields and the default that leaves each out of the data."""


def _shape(cls: type[Any]) -> _Shape:
    fields = attrs.fields(cls)
    return _Shape(
        names=tuple(field.name for field in fields),
        required=frozenset(field.name for field in fields if field.default is attrs.NOTHING),
        omitted=tuple((f.name, f.default) for f in fields if f.metadata.get("omit")),
    )


_SHAPES: Final = {cls: _shape(cls) for classes in PAYLOADS.values() for cls in classes}


def _is_payload(cls: Any) -> bool:
    return cls in _SHAPES


def _structure_hook(cls: type[Any]) -> Callable[[Any, type[Any]], Any]:
    shape = _SHAPES[cls]
    names, required = shape.names, shape.required

    def structure(data: Any, _cls: type[Any]) -> Any:
        if type(data) is not dict and not isinstance(data, Mapping):
            raise _NotAMapping(data)
        if not required.issubset(data.keys()):
            raise _Missing(sorted(required - data.keys()))
        # values are taken as stored: a sealed field stays the envelope it is
        return cls(**{name: data[name] for name in names if name in data})

    return structure


def _unstructure_hook(cls: type[Any]) -> Callable[[Any], dict[str, Any]]:
    shape = _SHAPES[cls]
    names, omitted = shape.names, dict(shape.omitted)

    def unstructure(payload: Any) -> dict[str, Any]:
        data = {}
        for name in names:
            value = getattr(payload, name)
            if name in omitted and value is omitted[name]:
                continue
            data[name] = value
        return data

    return unstructure


converter.register_structure_hook_factory(_is_payload, _structure_hook)
converter.register_unstructure_hook_factory(_is_payload, _unstructure_hook)


class _NotAMapping(TypeError):
    def __init__(self, data: Any) -> None:
        super().__init__(f"its data is a {type(data).__name__}, not a mapping")


class _Missing(KeyError):
    def __init__(self, names: list[str]) -> None:
        super().__init__(names)
        self.names = names

    def __str__(self) -> str:
        return f"its data lacks {', '.join(map(repr, self.names))}"


def payload_of(event: Event, opener: Opener | None = None) -> Payload:
    """The payload of *event*: its ``data`` decoded as the payload class of its kind.

    With *opener* (a run's ``Opener``) the sealed fields are opened first. A kind with
    two classes (``run.*``) decodes as the first whose required fields the data holds
    (a job's, then a workflow's). An unknown kind, or data that lacks a required field,
    is a :class:`PersistenceError` naming the run, seq and kind.
    """
    try:
        classes = PAYLOADS[EventKind(event.kind)]
    except ValueError:
        raise _undecodable(event, "its kind is not one floe writes", None) from None
    data = event.data
    if opener is not None:
        data = opener.data(event.kind, event.step, data)
    chosen = classes[0]
    if len(classes) > 1 and isinstance(data, Mapping):
        keys = data.keys()
        fitting = [cls for cls in classes if _SHAPES[cls].required.issubset(keys)]
        chosen = fitting[0] if fitting else classes[-1]
    try:
        payload: Payload = converter.structure(data, chosen)
    except (_NotAMapping, _Missing) as error:
        raise _undecodable(event, str(error), chosen) from None
    return payload


def data_of(payload: Payload) -> dict[str, Any]:
    """The ``data`` dict a writer journals for *payload* (optional fields left out)."""
    data: dict[str, Any] = converter.unstructure(payload)
    return data


def _undecodable(event: Event, why: str, cls: type[Payload] | None) -> PersistenceError:
    shape = f" as {cls.__name__}" if cls is not None else ""
    return PersistenceError(
        f"Event {event.seq} ({event.kind!r}) of run {event.run_id!r} cannot be decoded{shape}",
        why=f"{why.capitalize()}." if why else None,
        fix="Restore the journal from a backup, or read it with the floe version that wrote it.",
        context={"run_id": event.run_id, "seq": event.seq, "kind": event.kind},
    )
