"""The workflows API: what the server offers, uploads, and starting runs.

``POST /workflows/{name}/run/{mode}`` submits a run for a worker (``floe worker``, or
the server's own with ``--workers N``) and then, by *mode*:

- ``async`` answers at once (202) with the run's id;
- ``sync`` waits for the run to finish or pause, at most the server's ``sync_timeout``;
  past it, it answers 202 with the id instead of hanging;
- ``stream`` answers with server-sent events of the run until it finishes or pauses.

The JSON body is the workflow's one argument (no body: no argument); with
``?kwargs=true`` it is an object of keyword arguments, as ``floe run --kwargs`` takes.
A caller-chosen run id (``?run_id=`` or the ``Idempotency-Key`` header) makes a retried
request return the run the first one made.
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Final

import anyio
from fastapi import APIRouter, Header, Path, Query, Request, UploadFile
from fastapi.sse import EventSourceResponse

import floe

from ._auth import Role, gate
from ._catalog import describe
from ._params import RUN_ID, RUN_ID_PATTERN, OptionalRunId, PartitionKey, Priority, QueueName
from ._problems import PROBLEMS, Conflict, Forbidden, PayloadTooLarge
from ._runs import event_stream, run_document, run_location, stored_run
from ._runtime import JSON, JSON_BODY, json_body, runtime_of

__all__ = ["Mode", "router"]

router = APIRouter(tags=["workflows"], responses=PROBLEMS)

_NAME = Path(min_length=1, max_length=200, description="The workflow's name.")
_RESERVED_KEYWORDS: Final = frozenset({"run_id"})


class Mode(enum.StrEnum):
    """How ``run/{mode}`` answers."""

    SYNC = "sync"
    ASYNC = "async"
    STREAM = "stream"


@router.get("/workflows", **gate(Role.READ))
async def list_workflows(request: Request) -> JSON:
    """The workflows this server offers, by name."""
    catalog = runtime_of(request).catalog
    return JSON({"workflows": [describe(catalog.get(name)) for name in catalog.names()]})


@router.get("/workflows/{name:floe_segment}", **gate(Role.READ))
async def get_workflow(request: Request, name: Annotated[str, _NAME]) -> JSON:
    return JSON(describe(runtime_of(request).catalog.get(name)))


@router.post("/workflows", **gate(Role.ADMIN), status_code=201)
async def upload_workflows(request: Request, file: UploadFile) -> JSON:
    """Add the workflows of an uploaded Python file (only with ``--allow-uploads``).

    The file is checked (UTF-8, NAME.py, valid Python, at least one workflow) before it
    is stored; it is never replaced by a later upload of the same name.
    """
    runtime = runtime_of(request)
    if not runtime.config.allow_uploads or runtime.upload_dir is None:
        raise Forbidden(
            "This server takes no workflow uploads",
            why="Uploading a file runs its code in the server: it is off by default.",
            fix="Start the server with --allow-uploads to allow it, or --import the module.",
        )
    body = await file.read(runtime.config.max_body_bytes + 1)
    if len(body) > runtime.config.max_body_bytes:
        raise PayloadTooLarge(
            "The uploaded file is too large",
            fix=f"Upload at most {runtime.config.max_body_bytes} bytes.",
        )
    names = await runtime.catalog.upload(runtime.upload_dir, file.filename or "", body)
    return JSON({"workflows": [describe(runtime.catalog.get(name)) for name in names]}, 201)


@router.post(
    "/workflows/{name:floe_segment}/run/{mode}",
    **gate(Role.RUN, JSON_BODY),
    responses={202: {"description": "Submitted; not finished yet (sync: still running)."}},
)
async def run_workflow(
    request: Request,
    name: Annotated[str, _NAME],
    mode: Mode,
    kwargs: Annotated[
        bool, Query(description="The body is an object of keyword arguments.")
    ] = False,
    run_id: OptionalRunId = None,
    idempotency_key: Annotated[str | None, Header(pattern=RUN_ID_PATTERN)] = None,
    queue: QueueName = floe.DEFAULT_QUEUE,
    priority: Priority = 0,
    partition_key: PartitionKey = None,
) -> Any:
    runtime = runtime_of(request)
    workflow = runtime.catalog.get(name)
    args, keywords = _arguments(*await json_body(request), as_kwargs=kwargs)
    chosen = _chosen_id(run_id, idempotency_key)
    queued = workflow.queued(queue, priority=priority, partition_key=partition_key)
    handle = await queued.submit_async(*args, run_id=chosen, **keywords)
    kernel = runtime.kernel
    if mode is Mode.STREAM:
        return EventSourceResponse(event_stream(kernel, handle.run_id))
    if mode is Mode.SYNC:
        with anyio.move_on_after(runtime.config.sync_timeout):
            await handle.wait_async()
    run = await stored_run(kernel, handle.run_id)
    settled = run.status.finished or run.status is floe.RunStatus.PAUSED
    headers = {"Location": run_location(run.run_id)}
    return JSON(run_document(run), 200 if settled and mode is Mode.SYNC else 202, headers)


@router.get("/workflows/{name:floe_segment}/status/{run_id:floe_segment}", **gate(Role.READ))
async def workflow_run_status(
    request: Request,
    name: Annotated[str, _NAME],
    run_id: Annotated[str, RUN_ID],
    detailed: Annotated[bool, Query(description="Add the run's journal.")] = False,
) -> JSON:
    """The run *run_id* of the workflow *name* (Flux's path; ``GET /runs/{id}`` is the same
    for every kind of run)."""
    kernel = runtime_of(request).kernel
    run = await stored_run(kernel, run_id)
    if run.kind != "workflow" or run.name != name:
        raise floe.NotFoundError(
            f"Workflow {name!r} has no run {run_id!r}",
            why=f"The run is a {run.kind} run of {run.name!r}.",
            fix=f"Read it with GET /runs/{run_id}.",
            context={"workflow": name, "run_id": run_id},
        )
    events = await kernel.store.read_events(run_id) if detailed else None
    return JSON(run_document(run, events))


def _arguments(present: bool, value: Any, *, as_kwargs: bool) -> tuple[list[Any], dict[str, Any]]:
    """The workflow's arguments: the body as its one, or (kwargs) the body's members."""
    if not present:
        return [], {}
    if not as_kwargs:
        return [value], {}
    if not isinstance(value, dict):
        raise floe.ConfigError(
            f"kwargs=true needs a JSON object as the body, got {type(value).__name__}",
            why="With kwargs=true the body's members are the workflow's keyword arguments.",
            fix='Send an object, e.g. {"name": "World"}, or leave out kwargs=true.',
        )
    reserved = sorted(_RESERVED_KEYWORDS & set(value))
    if reserved:
        raise floe.ConfigError(
            f"kwargs=true cannot pass the keyword argument {reserved[0]!r}",
            why="run_id is an option of the run itself.",
            fix="Pass the run's id as ?run_id= or the Idempotency-Key header.",
        )
    return [], value


def _chosen_id(run_id: str | None, idempotency_key: str | None) -> str | None:
    if run_id is not None and idempotency_key is not None and run_id != idempotency_key:
        raise Conflict(
            "run_id and the Idempotency-Key header name different runs",
            why="Both choose the run's id; a retried request must name the same one.",
            fix="Send one of them, or the same value in both.",
            context={"run_id": run_id, "idempotency_key": idempotency_key},
        )
    chosen = run_id if run_id is not None else idempotency_key
    if chosen is not None:
        floe.storage.check_run_id(chosen)
    return chosen
