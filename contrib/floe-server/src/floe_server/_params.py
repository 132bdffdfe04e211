"""The parameters several endpoints share, with the rules floe checks written into the
OpenAPI schema, so that a client (and a schema-driven test) knows them before it asks;
and how a path parameter may hold any character, ``/`` included.

The kernel checks every value again; these patterns only describe what it accepts.

A run id may hold a ``/`` (``etl/2026-12-04``), which a client sends as ``%2F``. The
server decodes the path before routing, so that ``%2F`` would split the segment:
:class:`EncodedSlashes` routes on the path with ``%2F`` and ``%25`` still encoded
instead, and the ``floe_segment`` convertor of every path parameter decodes them in its
value alone.
"""

from __future__ import annotations

import re
from typing import Annotated, Final
from urllib.parse import quote, unquote

from fastapi import Path, Query
from starlette.convertors import Convertor, register_url_convertor
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "PRIORITY",
    "QUEUE",
    "QUEUE_NAME",
    "RUN_ID",
    "RUN_ID_PATTERN",
    "EncodedSlashes",
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


class _Segment(Convertor[str]):
    """One path segment, its ``%2F`` and ``%25`` (left by :class:`EncodedSlashes`) decoded."""

    regex = "[^/]+"

    def convert(self, value: str) -> str:
        return unquote(value)

    def to_string(self, value: str) -> str:
        return quote(value, safe="")


register_url_convertor("floe_segment", _Segment())

_KEPT_ENCODED = re.compile(r"(%2[Ff]|%25)")


class EncodedSlashes:
    """ASGI middleware: route on the request's path decoded but for ``%2F`` and ``%25``.

    Where the server gives no raw path, the decoded one stays (a ``/`` then splits).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path") if scope["type"] == "http" else None
        if raw and b"%" in raw:
            path = raw.partition(b"?")[0].decode("latin-1")
            parts = _KEPT_ENCODED.split(path)  # odd items: the kept escapes
            scope = dict(scope)
            scope["path"] = "".join(
                part.upper() if index % 2 else unquote(part) for index, part in enumerate(parts)
            )
        await self.app(scope, receive, send)
