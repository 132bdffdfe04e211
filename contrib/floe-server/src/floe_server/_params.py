"""The parameters several endpoints share, with the rules floe checks written into the
OpenAPI schema, so that a client (and a schema-driven test) knows them before it asks.

The kernel checks every value again; these patterns only describe what it accepts.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import Path, Query

__all__ = [
    "PRIORITY",
    "QUEUE",
    "QUEUE_NAME",
    "RUN_ID",
    "RUN_ID_PATTERN",
    "OptionalRunId",
    "PartitionKey",
    "Priority",
    "QueueName",
]

RUN_ID_PATTERN: Final = r"^[^\x00-\x1f\x7f-\x9f]{1,1024}$"
"""A run id: 1 to 1024 characters, none a control character (``floe.storage.check_run_id``)."""
QUEUE_NAME: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
"""A queue's name, as ``floe.Queue`` takes it."""
PRIORITY: Final = 2**31 - 1
"""The largest priority (and, negated, the smallest)."""

RUN_ID = Path(pattern=RUN_ID_PATTERN, description="The run's full id.")
QUEUE = Query(pattern=QUEUE_NAME, description="The queue the run waits in.")

OptionalRunId = Annotated[
    str | None, Query(pattern=RUN_ID_PATTERN, description="The id to give it (idempotent).")
]
QueueName = Annotated[str, QUEUE]
Priority = Annotated[int, Query(ge=-PRIORITY, le=PRIORITY, description="Higher is claimed first.")]
PartitionKey = Annotated[
    str | None,
    Query(
        pattern=r"^[^\x00]{1,200}$",
        description="Runs of the queue with the same key run one at a time, in order.",
    ),
]
