"""The components API (state, rules, history, diagram; messages) and graph jobs.

A component is read from the store (:meth:`floe.Engine.stored_components` and its
journal), so the server needs neither its config nor its code to show it. A message is
sent for a worker to deliver (:meth:`floe.Engine.send`): the component's messages are
handled one at a time, in order, by whichever worker holds it.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

import floe
from floe.storage import to_document

from ._auth import Role, gate
from ._params import RUN_ID, OptionalRunId, Priority, QueueName
from ._problems import PROBLEMS
from ._runs import run_document, run_location, stored_run
from ._runtime import JSON, runtime_of

__all__ = ["router"]

router = APIRouter(tags=["components"], responses=PROBLEMS)

_NAME = Path(min_length=1, max_length=200, description="The component's name.")
_HISTORY: Final = 200


class NewMessage(BaseModel):
    """A message to a component: its type, and any other fields it carries."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(min_length=1, max_length=200, description="What the state handles.")


@router.get("/components", **gate(Role.READ))
async def list_components(request: Request) -> JSON:
    """Every component in the store with its current state, by name."""
    engine = floe.Engine(runtime_of(request).kernel)
    stored = await engine.stored_components()
    return JSON({"components": [floe.mask(_summary(item)) for item in stored]})


@router.get("/components/{name:floe_segment}", **gate(Role.READ))
async def get_component(
    request: Request,
    name: Annotated[str, _NAME],
    history: Annotated[int, Query(ge=0, le=10_000, description="Last events shown.")] = 50,
) -> JSON:
    """The component *name*: state, rules, its last *history* journal events, and its
    state diagram as Mermaid text (when its states are known to this server)."""
    engine = floe.Engine(runtime_of(request).kernel)
    found = {item.name: item for item in await engine.stored_components()}.get(name)
    if found is None:
        raise floe.NotFoundError(
            f"No component named {name!r}",
            why="The store has no component of this name.",
            fix="Check the name (GET /components lists them).",
            context={"component": name},
        )
    events = await engine.history(name, after_seq=max(0, found.last_seq - history))
    document = _summary(found)
    document["history"] = [to_document(event) for event in events]
    document["diagram"] = await _diagram(engine, name)
    return JSON(floe.mask(document))


@router.post("/components/{name:floe_segment}/messages", **gate(Role.RUN), status_code=202)
async def send_message(
    request: Request,
    name: Annotated[str, _NAME],
    message: Annotated[NewMessage, Body(description='{"type": ..., other fields}.')],
    message_id: OptionalRunId = None,
    queue: QueueName = floe.DEFAULT_QUEUE,
    priority: Priority = 0,
) -> JSON:
    """Send *message* to the component; a worker delivers it. A *message_id* sent again
    returns the message it named."""
    kernel = runtime_of(request).kernel
    engine = floe.Engine(kernel)
    handle = await engine.send(
        name, message.model_dump(), message_id=message_id, queue=queue, priority=priority
    )
    run = await stored_run(kernel, handle.stored_id)
    return JSON(run_document(run), 202, {"Location": run_location(run.run_id)})


@router.get("/graphs/{job_id:floe_segment}", **gate(Role.READ), tags=["graphs"])
async def get_graph_job(request: Request, job_id: Annotated[str, RUN_ID]) -> JSON:
    """The graph job *job_id*: its status, each routine's state and what it executed."""
    kernel = runtime_of(request).kernel
    run = await stored_run(kernel, job_id)
    if run.kind != floe.graph.GRAPH_KIND:
        raise floe.NotFoundError(
            f"Run {job_id!r} is not a graph job",
            why=f"It is a run of kind {run.kind!r}.",
            fix="Read it with GET /runs/{id}.",
            context={"run_id": job_id, "kind": run.kind},
        )
    state = floe.graph.JobState.from_events(run, await kernel.store.read_events(job_id))
    document = state.to_dict()
    document["run"] = run_document(run)
    return JSON(floe.mask(document))


def _summary(item: Any) -> dict[str, Any]:
    return {
        "name": item.name,
        "state": item.state,
        "rules": item.rules,
        "metadata": dict(item.metadata),
        "last_seq": item.last_seq,
        "created_at": item.created_at.isoformat(),
        "updated_at": item.updated_at.isoformat(),
    }


async def _diagram(engine: floe.Engine, name: str) -> str | None:
    """The component's state diagram, or None when its states are not known here."""
    try:
        component = await engine.restore(name)
    except floe.FloeError:
        return None
    return floe.visualize(component.state_machine)
