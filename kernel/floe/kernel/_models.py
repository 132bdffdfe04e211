"""The persisted data model: runs, journal events, cached results, component snapshots.

Every model is a frozen ``attrs`` class and carries a ``format`` version, so a store can
tell data written by an older floe (migrate it) from data written by a newer one (refuse
it, touching nothing).
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final

import attrs

from ._errors import ConfigError, FloeError

__all__ = [
    "FORMAT_VERSION",
    "MAX_RUN_ID_LENGTH",
    "RESERVED_RUN_ID_PREFIXES",
    "CacheEntry",
    "DamagedRecord",
    "ErrorInfo",
    "Event",
    "Run",
    "RunListing",
    "RunQuery",
    "RunStatus",
    "Snapshot",
    "check_run_id",
    "utcnow",
]

FORMAT_VERSION = 1
"""Format version of every document this floe writes."""


RESERVED_RUN_ID_PREFIXES: Final[Mapping[str, str]] = MappingProxyType(
    {"component:": "component", "schedule:": "schedule"}
)
"""Run-id prefixes a programming model keeps for its own runs, and the run kind owning each.

The component called ``NAME`` keeps its journal as the run ``component:NAME``; the
schedule ``NAME`` names the run of each tick ``schedule:NAME:TICK``. No other kind of
run may take an id with such a prefix. (Graph jobs and workflow runs have no
prefix: their ids are unique in a store, and a clash is refused when the run is created.)
"""

MAX_RUN_ID_LENGTH: Final = 1024
"""The longest run id (in characters): a child run's id extends its parent's."""

_UNSTORABLE_IN_IDS = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
"""Control characters (unreadable in listings and logs) and lone surrogates (no UTF-8)."""


def check_run_id(run_id: object, *, kind: str = "workflow") -> str:
    """Validate a run id asked for by a caller of the *kind* of run; return it.

    A run id is a non-empty ``str`` of at most :data:`MAX_RUN_ID_LENGTH` characters
    without control characters or lone surrogates, and does not start with a prefix of
    :data:`RESERVED_RUN_ID_PREFIXES` that another kind of run owns. Anything else is a
    :class:`ConfigError`.
    """
    problem = _run_id_problem(run_id)
    if problem is not None:
        shown = run_id[:80] if isinstance(run_id, str) else run_id
        raise ConfigError(
            f"Invalid run id {shown!r}: {problem}",
            why="Run ids are stored, listed and typed on command lines by every store.",
            fix=f"Use up to {MAX_RUN_ID_LENGTH} characters of ordinary text, or leave the "
            "run id out to get a fresh one.",
            context={"run_id": shown},
        )
    assert isinstance(run_id, str)
    for prefix, owner in RESERVED_RUN_ID_PREFIXES.items():
        if run_id.startswith(prefix) and kind != owner:
            raise ConfigError(
                f"Run id {run_id!r} starts with {prefix!r}, which is reserved for {owner}s",
                why=f"floe keeps each {owner}'s journal under a run id starting with "
                f"{prefix!r}; a {kind} run with such an id would take its place.",
                fix=f"Choose a run id that does not start with {prefix!r}.",
                context={"run_id": run_id, "prefix": prefix, "owner": owner},
            )
    return run_id


def _run_id_problem(run_id: object) -> str | None:
    """What makes *run_id* unusable as any run's id, or None (prefixes aside)."""
    if not isinstance(run_id, str):
        return f"a run id is a str, not {type(run_id).__name__}"
    if not run_id:
        return "it is empty"
    if len(run_id) > MAX_RUN_ID_LENGTH:
        return f"it has {len(run_id)} characters, more than {MAX_RUN_ID_LENGTH}"
    if (found := _UNSTORABLE_IN_IDS.search(run_id)) is not None:
        return f"it holds {found.group()!r}, a control character or a lone surrogate"
    return None


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
        # NaN and ±inf have no JSON form: such an error keeps its message, not its args
        plain = all(
            isinstance(a, str | int | bool | type(None))
            or (isinstance(a, float) and math.isfinite(a))
            for a in error.args
        )
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
    queue: str = "default"
    """The queue the run waits in for a worker (see :class:`floe.Queue`)."""
    priority: int = 0
    """Among the claimable runs, higher priorities are claimed first."""
    partition_key: str | None = None
    """Runs of one queue with the same key run one at a time, in submission order."""
    claimed_at: datetime | None = None
    """When a worker first claimed the run (its start, for a queue's rate limit)."""
    last_seq: int = attrs.field(default=0, validator=_positive_or_zero)
    """Sequence number of the last journal event; maintained by the store."""
    format: int = FORMAT_VERSION

    def is_interrupted(self, now: datetime | None = None) -> bool:
        """Whether this run should be executing but no process is: it is running and
        due (``runnable_at <= now``), and nobody holds a live lease on it (its executor
        died, or stopped without finishing it). ``floe recover`` and workers continue
        such runs. A run that waits out a durable sleep is not interrupted until the
        sleep is due.

        Meaningful on stores with leases (:attr:`Store.supports_leases`), where every
        executing run is leased. Components and graph jobs are never runnable, so never
        interrupted.
        """
        now = now or utcnow()
        if self.status is not RunStatus.RUNNING or self.runnable_at is None:
            return False
        if self.runnable_at > now:
            return False  # it waits for a durable timer: due, it is claimed again
        expires = self.lease_expires_at
        return self.lease_owner is None or expires is None or expires <= now


@attrs.frozen(init=False)
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

    def __init__(
        self,
        run_id: str,
        seq: int,
        kind: str,
        step: str | None = None,
        at: datetime | None = None,
        data: Any = None,
        format: int = FORMAT_VERSION,
    ) -> None:
        # Every step makes two events and every resume decodes the whole journal, so
        # this is the hottest constructor of floe: the slots' own setters cost half of
        # what attrs' frozen __init__ does (it goes through object.__setattr__ per field).
        # Same signature, defaults and validation as the generated one.
        if seq < 0:
            raise ValueError(f"seq must be >= 0, got {seq}")
        _set_run_id(self, run_id)
        _set_seq(self, seq)
        _set_kind(self, kind)
        _set_step(self, step)
        _set_at(self, utcnow() if at is None else at)
        _set_data(self, data)
        _set_format(self, format)


(_set_run_id, _set_seq, _set_kind, _set_step, _set_at, _set_data, _set_format) = (
    Event.__dict__[field.name].__set__ for field in attrs.fields(Event)
)


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


def _check_cursor(_instance: object, _attribute: object, after: str | None) -> None:
    # any kind's id is a cursor (a listing holds components and schedules too), so the
    # reserved prefixes of check_run_id do not apply; everything else does
    problem = None if after is None else _run_id_problem(after)
    if problem is not None:
        shown = after[:80] if isinstance(after, str) else after
        raise ConfigError(
            f"Invalid cursor after={shown!r}: {problem}",
            why="RunQuery.after is the run id of the last run of the previous page.",
            fix="Pass the run_id of the last run the previous page listed, or None for "
            "the first page.",
            context={"after": shown},
        )


@attrs.frozen
class RunQuery:
    """Which runs ``Store.list_runs`` returns, newest first.

    The order is total: newest ``created_at`` first, and among runs created at the same
    instant the most recently created first. Page through a listing that grows at the
    top with *after* rather than *offset*: new runs do not shift the pages.
    """

    status: RunStatus | None = None
    name: str | None = None
    kind: str | None = None
    parent_id: str | None = None
    limit: int = attrs.field(default=100, validator=attrs.validators.ge(1))
    offset: int = attrs.field(default=0, validator=_positive_or_zero)
    after: str | None = attrs.field(default=None, validator=_check_cursor)
    """The run id of the last run of the previous page: list only the runs that come
    after it in the listing's order (older ones). The filters, then *offset* and *limit*,
    apply to those. The run must exist in the store (it need not match the filters any
    more): an unknown id is a :class:`NotFoundError`, an unusable one a
    :class:`ConfigError` when the query is built."""


@attrs.frozen
class DamagedRecord:
    """A stored run that cannot be read, reported instead of failing a whole listing."""

    run_id: str | None
    """The run's id, when the damaged record still says (a file that is not JSON may not)."""
    why: str
    """What is wrong with it, on one line."""
    location: str = ""
    """Where it is: the table and database, or the file."""
    fix: str | None = None

    @classmethod
    def from_error(
        cls, error: FloeError, *, run_id: object = None, location: str = ""
    ) -> DamagedRecord:
        """The record the error reading it describes (its *what* and *why*)."""
        why = error.what if not error.why else f"{error.what} ({error.why})"
        return cls(
            run_id=None if run_id is None else str(run_id),
            why=" ".join(why.split()),
            location=location,
            fix=error.fix,
        )


@attrs.frozen
class RunListing:
    """What ``Store.list_runs_checked`` returns: the readable runs and the damaged ones."""

    runs: tuple[Run, ...]
    """The runs matching the query, newest first, as ``list_runs`` orders them."""
    damaged: tuple[DamagedRecord, ...] = ()
    """Records that could not be read, in the order the store met them."""
