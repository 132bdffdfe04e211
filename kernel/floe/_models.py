"""The persisted data model: runs, journal events, cached results, component snapshots.

Every model is a frozen ``attrs`` class and carries a ``format`` version, so a store can
tell data written by an older floe (migrate it) from data written by a newer one (refuse
it, touching nothing).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

__all__ = [
    "FORMAT_VERSION",
    "CacheEntry",
    "ErrorInfo",
    "Event",
    "Run",
    "RunQuery",
    "RunStatus",
    "Snapshot",
    "utcnow",
]

FORMAT_VERSION = 1
"""Format version of every document this floe writes."""


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (the only kind of time floe stores)."""
    return datetime.now(UTC)


class RunStatus(enum.StrEnum):
    """Where a run is in its life."""

    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """True for the statuses a run never leaves."""
        return self in _FINISHED


_FINISHED = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})


def _positive_or_zero(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value}")


@attrs.frozen
class ErrorInfo:
    """A recorded exception: enough to show it and to raise an equivalent one on replay."""

    type: str
    """The exception class as ``module.QualifiedName``."""
    message: str
    traceback: str | None = None
    args: list[Any] | None = None
    """The exception's arguments when they are JSON values, to raise it again on replay."""
    sealed: Any = None
    """In a run record, the whole error sealed when it held a secret's value; *message*
    then holds a masked copy to show (floe opens the envelope to replay it)."""

    @classmethod
    def from_exception(cls, error: BaseException, *, traceback: str | None = None) -> ErrorInfo:
        kind = type(error)
        plain = all(isinstance(a, str | int | float | bool | type(None)) for a in error.args)
        return cls(
            type=f"{kind.__module__}.{kind.__qualname__}",
            message=str(error),
            traceback=traceback,
            args=list(error.args) if plain else None,
        )


@attrs.frozen
class Run:
    """One execution in any programming model: a workflow run, a component, a graph job."""

    run_id: str = attrs.field(validator=attrs.validators.min_len(1))
    name: str
    """The workflow, component or flow this run executes."""
    kind: str = "workflow"
    """The programming model: ``workflow``, ``component`` or ``graph``."""
    status: RunStatus = RunStatus.PENDING
    created_at: datetime = attrs.field(factory=utcnow)
    updated_at: datetime = attrs.field(factory=utcnow)
    parent_id: str | None = None
    input: Any = None
    output: Any = None
    error: ErrorInfo | None = None
    metadata: Mapping[str, Any] = attrs.field(factory=dict)
    runnable_at: datetime | None = None
    """When a worker may pick the run up (``None``: not runnable, e.g. finished or paused)."""
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    last_seq: int = attrs.field(default=0, validator=_positive_or_zero)
    """Sequence number of the last journal event; maintained by the store."""
    format: int = FORMAT_VERSION


@attrs.frozen
class Event:
    """One entry of a run's append-only journal, also what the event bus carries."""

    run_id: str
    seq: int = attrs.field(validator=_positive_or_zero)
    """Position in the run's journal, 1-based and gap-free."""
    kind: str
    """The canonical event name, e.g. ``task.completed`` (see the event catalogue)."""
    step: str | None = None
    """The step key for step events (``fetch#1``, ``pipeline#1/parse#2``)."""
    at: datetime = attrs.field(factory=utcnow)
    data: Any = None
    format: int = FORMAT_VERSION


@attrs.frozen
class CacheEntry:
    """A cached task result, shared across runs and processes through the store."""

    key: str
    value: Any
    created_at: datetime = attrs.field(factory=utcnow)
    expires_at: datetime | None = None
    format: int = FORMAT_VERSION

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and (now or utcnow()) >= self.expires_at


@attrs.frozen
class Snapshot:
    """The saved state of a component: its state, rules and user metadata."""

    component: str
    state: str
    rules: list[Any] = attrs.field(factory=list)
    metadata: Mapping[str, Any] = attrs.field(factory=dict)
    created_at: datetime = attrs.field(factory=utcnow)
    snapshot_id: int | None = None
    """Assigned by the store; increases with insertion order."""
    format: int = FORMAT_VERSION


@attrs.frozen
class RunQuery:
    """Which runs ``Store.list_runs`` returns, newest first."""

    status: RunStatus | None = None
    name: str | None = None
    kind: str | None = None
    parent_id: str | None = None
    limit: int = attrs.field(default=100, validator=attrs.validators.ge(1))
    offset: int = attrs.field(default=0, validator=_positive_or_zero)
