"""Statements, columns and conversions that the store's modules share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from floe import Run
from floe.storage import dump_json

__all__ = [
    "FIX_DAMAGED",
    "INSERT_EVENTS",
    "READ_BATCH",
    "RUN_COLUMNS",
    "RUN_VALUES",
    "SET_RUN",
    "UPDATE_RUN",
    "above",
    "micros",
    "micros_or_none",
    "run_columns",
    "unstorable",
]

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND: Final = timedelta(microseconds=1)
FIX_DAMAGED: Final = "Restore the database from a backup, or delete the damaged row."
INSERT_EVENTS: Final = (
    "INSERT INTO events (run_id, seq, kind, step, at, data, format)"
    " SELECT * FROM unnest(%s::text[], %s::bigint[], %s::text[], %s::text[], %s::text[],"
    " %s::text[], %s::integer[]) WHERE EXISTS (SELECT FROM moved)"
)
"""The rows of an append, one array per column, inserted only when the statement's
``moved`` (the fenced UPDATE of the run) changed a row."""
_COLUMN_NAMES: Final = (
    "name",
    "kind",
    "status",
    "parent_id",
    "created_at",
    "updated_at",
    "runnable_at",
    "lease_owner",
    "lease_expires_at",
    "queue",
    "priority",
    "partition_key",
    "claimed_at",
    "format",
    "doc",
)
RUN_COLUMNS: Final = ", ".join(_COLUMN_NAMES)
"""The columns of :func:`run_columns` but the id, as an INSERT names them."""
RUN_VALUES: Final = ", ".join(["%s"] * (len(_COLUMN_NAMES) + 1))
"""The placeholders of :func:`run_columns` (the id with them)."""
SET_RUN: Final = ", ".join(f"{name} = %s" for name in _COLUMN_NAMES)
"""The SET clause of :func:`run_columns` but the id."""
UPDATE_RUN: Final = f"UPDATE runs SET {SET_RUN} WHERE run_id = %s"
READ_BATCH: Final = 4096
"""Journal rows fetched at a time: a long journal's rows are never all held at once."""


def unstorable(text: str) -> bool:
    """Whether *text* holds a NUL, which PostgreSQL text cannot: no stored row has it, so
    a lookup by it finds nothing (and a write of it fails, naming the reason)."""
    return "\x00" in text


def micros(moment: datetime) -> int:
    """Exact microseconds since the epoch; naive times are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // MICROSECOND


def micros_or_none(moment: datetime | None) -> int | None:
    return None if moment is None else micros(moment)


def above(prefix: str) -> str | None:
    """A string above every string that starts with *prefix*, or None if there is none.

    The last character that can be is raised by one code point (the surrogates, which
    UTF-8 cannot hold, are skipped); what follows it is dropped.
    """
    for index in range(len(prefix) - 1, -1, -1):
        code = ord(prefix[index]) + 1
        if 0xD800 <= code <= 0xDFFF:
            code = 0xE000
        if code <= 0x10FFFF:
            return prefix[:index] + chr(code)
    return None


def run_columns(run: Run) -> tuple[Any, ...]:
    """The columns of *run*'s row, in the order of UPDATE_RUN (its id last)."""
    doc = dump_json(run, where=f"run {run.run_id!r}").decode()
    return (
        run.name,
        run.kind,
        str(run.status),
        run.parent_id,
        micros(run.created_at),
        micros(run.updated_at),
        micros_or_none(run.runnable_at),
        run.lease_owner,
        micros_or_none(run.lease_expires_at),
        run.queue,
        run.priority,
        run.partition_key,
        micros_or_none(run.claimed_at),
        run.format,
        doc,
        run.run_id,
    )
