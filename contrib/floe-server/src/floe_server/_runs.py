"""The runs API: list, read, resume, cancel, follow (server-sent events), artifacts.

Every document leaves through :func:`floe.mask`: a secret value known to the server and
every sealed envelope show as ``***``; the store keeps them exact. A run is named by its
full id (the API does not guess from a prefix, as the command line does).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Final
from urllib.parse import quote

import anyio
import orjson
from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import Response
from fastapi.sse import KEEPALIVE_COMMENT, EventSourceResponse, format_sse_event

import floe
from floe.storage import encode_value, to_document, utcnow

from ._auth import Role, gate
from ._params import RUN_ID, RUN_ID_PATTERN
from ._problems import PROBLEMS, Conflict
from ._runtime import JSON, JSON_BODY, Runtime, json_body, runtime_of

__all__ = ["event_stream", "router", "run_document", "run_location", "stored_run"]

router = APIRouter(tags=["runs"], responses=PROBLEMS)

_FIRST_POLL: Final = 0.02
_LONGEST_POLL: Final = 0.5
_PAGE_LIMIT: Final = 500
_KEEPALIVE_SECONDS: Final = 15.0
_ARTIFACT_MEDIA: Final = {
    "json": "application/json",
    "text": "text/plain; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
    "binary": "application/octet-stream",
}


def run_document(run: floe.Run, events: list[floe.Event] | None = None) -> dict[str, Any]:
    """The run as the API shows it (masked), with its journal when *events* are given."""
    document = to_document(run)
    document["duration"] = _duration(run)
    if events is not None:
        execution = floe.Execution.from_run(run, events)
        document["executed_tasks"] = execution.executed_tasks
        document["events"] = [to_document(event) for event in events]
    return floe.mask(document)


@router.get("/runs", **gate(Role.READ), summary="List runs, newest first")
async def list_runs(
    request: Request,
    status: Annotated[floe.RunStatus | None, Query()] = None,
    kind: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    name: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    parent_id: Annotated[str | None, Query(pattern=RUN_ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=_PAGE_LIMIT)] = 50,
    cursor: Annotated[
        str | None,
        Query(pattern=RUN_ID_PATTERN, description="next_cursor of the page before."),
    ] = None,
) -> JSON:
    """A page of runs; ``next_cursor`` (null on the last page) asks for the next one.

    A cursor pages by position, not by offset: runs created meanwhile do not shift the
    pages that follow.
    """
    store = runtime_of(request).kernel.store
    query = floe.RunQuery(
        status=status,
        kind=kind,
        name=name,
        parent_id=parent_id,
        limit=limit + 1,
        after=cursor,
    )
    runs = await store.list_runs(query)
    page = runs[:limit]
    following = page[-1].run_id if len(runs) > limit else None
    return JSON({"runs": [run_document(run) for run in page], "next_cursor": following})


@router.get("/runs/{run_id:floe_segment}", **gate(Role.READ), summary="Read a run")
async def get_run(
    request: Request,
    run_id: Annotated[str, RUN_ID],
    detailed: Annotated[bool, Query(description="Add the run's journal.")] = False,
) -> JSON:
    kernel = runtime_of(request).kernel
    run = await stored_run(kernel, run_id)
    events = await kernel.store.read_events(run_id) if detailed else None
    return JSON(run_document(run, events))


@router.post("/runs/{run_id:floe_segment}/resume", **gate(Role.RUN, JSON_BODY), status_code=202)
async def resume_run(request: Request, run_id: Annotated[str, RUN_ID]) -> JSON:
    """Resume a paused run with the JSON body as the value its ``pause()`` returns (no
    body: null), or continue an interrupted one (no body).

    The run continues in the server (under its lease, as a worker would hold it); the
    answer comes once it is running again. Follow it with ``GET /runs/{id}/events``.
    """
    runtime = runtime_of(request)
    _, value = await json_body(request)
    run = await stored_run(runtime.kernel, run_id)
    resumable = run.status is floe.RunStatus.PAUSED or run.is_interrupted()
    if not resumable or run.kind != "workflow":
        raise Conflict(
            f"Run {run_id!r} is {run.status}, not paused",
            why="Only a paused workflow run takes a resume value (or an interrupted one "
            "continues).",
            fix=f"Check it with GET /runs/{run_id}; a component or graph job is resumed "
            "through its own API.",
            context={"run_id": run_id, "status": str(run.status), "kind": run.kind},
        )
    # an unstorable value is refused here, before the run is touched
    encode_value(value, where=f"the value resuming run {run_id!r}")
    runtime.start_soon(f"Resuming run {run_id!r}", lambda: floe.resume(run_id, value))
    current = await _left(runtime, run_id, run.status, run.last_seq)
    return JSON(run_document(current), 202)


@router.post("/runs/{run_id:floe_segment}/cancel", **gate(Role.RUN))
async def cancel_run(request: Request, run_id: Annotated[str, RUN_ID]) -> JSON:
    """Cancel a pending, running or paused run: its completed steps are rolled back."""
    kernel = runtime_of(request).kernel
    await stored_run(kernel, run_id)
    await floe.cancel(run_id)
    return JSON(run_document(await stored_run(kernel, run_id)))


@router.get(
    "/runs/{run_id:floe_segment}/events",
    **gate(Role.READ),
    responses={200: {"content": {"text/event-stream": {}}, "description": "The events."}},
    summary="Follow a run's journal (server-sent events)",
)
async def follow_events(
    request: Request,
    run_id: Annotated[str, RUN_ID],
    last_event_id: Annotated[
        str,
        Header(pattern=r"^[0-9]{1,18}$", description="The id of the last event received."),
    ] = "0",
) -> EventSourceResponse:
    """The run's events from the start (or after ``Last-Event-ID``), then as they are
    recorded, until the run finishes or pauses: each with ``id`` = its seq, ``event`` =
    its kind; a last ``end`` event carries the run."""
    kernel = runtime_of(request).kernel
    await stored_run(kernel, run_id)  # before the stream starts: an unknown run is a 404
    return EventSourceResponse(event_stream(kernel, run_id, after_seq=int(last_event_id)))


@router.get(
    "/runs/{run_id:floe_segment}/artifacts/{key:floe_segment}",
    **gate(Role.READ),
    summary="Read an artifact",
)
async def get_artifact(
    request: Request,
    run_id: Annotated[str, RUN_ID],
    key: Annotated[str, Path(min_length=1, max_length=200)],
) -> Response:
    """The body of the run's artifact *key* (its last one when it was added again), with
    the media type of its kind: JSON, text, Markdown or bytes."""
    kernel = runtime_of(request).kernel
    run = await stored_run(kernel, run_id)
    execution = floe.Execution.from_run(run, await kernel.store.read_events(run_id))
    found = [artifact for artifact in execution.artifacts if artifact.key == key]
    if not found:
        raise floe.NotFoundError(
            f"Run {run_id!r} has no artifact {key!r}",
            why=f"Its artifacts: {', '.join(a.key for a in execution.artifacts) or 'none'}.",
            fix="Check the key (GET /runs/{id}?detailed=true lists artifact.created events).",
            context={"run_id": run_id, "artifact": key},
        )
    artifact = found[-1]
    body = await artifact.read(kernel)
    media = _ARTIFACT_MEDIA.get(artifact.artifact_type, "application/octet-stream")
    if artifact.artifact_type == "binary":
        return Response(bytes(body), media_type=media)
    shown = floe.mask(body)
    content = orjson.dumps(shown) if artifact.artifact_type == "json" else str(shown).encode()
    return Response(content, media_type=media)


def _duration(run: floe.Run) -> float:
    finished = run.updated_at if run.status.finished else utcnow()
    return max(0.0, (finished - run.created_at).total_seconds())


def run_location(run_id: str) -> str:
    """The path of the run *run_id* (``/`` and ``%`` in it encoded), for a Location header."""
    return f"/runs/{quote(run_id, safe='')}"


async def stored_run(kernel: floe.Kernel, run_id: str) -> floe.Run:
    """The run *run_id*, or a NotFoundError."""
    run = await kernel.store.get_run(run_id)
    if run is None:
        raise floe.NotFoundError(
            f"No run {run_id!r}",
            why=f"The store {kernel.store.url} has no run with this id.",
            fix="Check the id (GET /runs lists them).",
            context={"run_id": run_id},
        )
    return run


async def event_stream(
    kernel: floe.Kernel, run_id: str, *, after_seq: int = 0
) -> AsyncIterator[bytes]:
    """The events of *run_id* after *after_seq* in the server-sent events format, as they
    are stored, until the run finishes or pauses; then an ``end`` event with the run.

    The store is read again soon after a new event, then less and less often while the
    run is quiet; a comment line keeps an idle connection open through proxies.
    """
    pause = _FIRST_POLL
    quiet = 0.0
    while True:
        run = await stored_run(kernel, run_id)
        events = await kernel.store.read_events(run_id, after_seq=after_seq)
        for event in events:
            yield _sse(to_document(event), event=str(event.kind), id=str(event.seq))
            after_seq = event.seq
        settled = run.status.finished or run.status is floe.RunStatus.PAUSED
        if settled and after_seq >= run.last_seq:
            yield _sse(to_document(run) | {"duration": _duration(run)}, event="end")
            return
        pause = _FIRST_POLL if events else min(pause * 2, _LONGEST_POLL)
        quiet = 0.0 if events else quiet + pause
        if quiet >= _KEEPALIVE_SECONDS:
            quiet = 0.0
            yield KEEPALIVE_COMMENT
        await anyio.sleep(pause)


def _sse(document: Any, *, event: str, id: str | None = None) -> bytes:
    data = orjson.dumps(floe.mask(document), option=orjson.OPT_NON_STR_KEYS, default=str)
    return format_sse_event(data_str=data.decode(), event=event, id=id)


async def _left(runtime: Runtime, run_id: str, status: floe.RunStatus, seq: int) -> floe.Run:
    """The run once it has moved on from *status* at *seq* (resumed), within a few seconds."""
    with anyio.move_on_after(runtime.config.sync_timeout):
        pause = _FIRST_POLL
        while True:
            run = await stored_run(runtime.kernel, run_id)
            if run.status is not status or run.last_seq > seq:
                return run
            await anyio.sleep(pause)
            pause = min(pause * 2, _LONGEST_POLL)
    return await stored_run(runtime.kernel, run_id)
