"""Schedules, workers and secrets.

Schedules fire on workers (each tick once across all of them); the API lists, adds,
pauses, resumes and removes them. Workers are listed with the runs each holds and its
last heartbeat. Secrets follow Flux's admin API (``/admin/secrets``): names are listed,
values are set and deleted by admins; reading a value back is a permission of its own
(a token with ``read_secrets = true``), the one response that ever holds a secret.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

import floe
from floe.storage import to_document

from . import _params  # noqa: F401  (registers the floe_segment path convertor)
from ._auth import Caller, Role, gate, requires
from ._problems import PROBLEMS, Forbidden, Unavailable
from ._runtime import JSON, runtime_of

if TYPE_CHECKING:
    from floe_secrets import ManagedSecretStore

__all__ = ["router"]

router = APIRouter(responses=PROBLEMS)

SCHEDULE_NAME: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$"
"""A schedule's name, as floe.add_schedule takes it (in the schema, so clients know)."""
SECRET_NAME: Final = r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$"
"""A secret's name, as floe_secrets.check_secret_name takes it."""
_SCHEDULE = Path(pattern=SCHEDULE_NAME)
_SECRET = Path(pattern=SECRET_NAME)


class NewSchedule(BaseModel):
    """A schedule to add: the workflow, its input, and cron or every."""

    name: str = Field(pattern=SCHEDULE_NAME)
    workflow: str = Field(min_length=1, max_length=200, description="A workflow of this server.")
    cron: str | None = Field(default=None, max_length=200, description="UTC cron expression.")
    every: float | None = Field(default=None, gt=0, description="Seconds between ticks.")
    input: Any = Field(default=None, description="The workflow's one argument (JSON).")
    kwargs: dict[str, Any] | None = Field(default=None, description="Keyword arguments instead.")
    catch_up: Literal["latest", "all"] = "latest"
    replace: bool = False


class NewSecret(BaseModel):
    """A secret to set (replacing one of that name)."""

    name: str = Field(pattern=SECRET_NAME)
    value: str = Field(min_length=floe.MIN_SECRET_LENGTH, max_length=65536)


@router.get("/schedules", **gate(Role.READ), tags=["schedules"])
async def list_schedules() -> JSON:
    return JSON({"schedules": [_schedule(item) for item in await floe.list_schedules()]})


@router.post("/schedules", **gate(Role.ADMIN), tags=["schedules"], status_code=201)
async def add_schedule(request: Request, new: NewSchedule) -> JSON:
    workflow = runtime_of(request).catalog.get(new.workflow)
    args = () if new.input is None else (new.input,)
    schedule = await floe.add_schedule(
        new.name,
        workflow,
        cron=new.cron,
        every=new.every,
        args=args,
        kwargs=new.kwargs,
        catch_up=new.catch_up,
        replace=new.replace,
    )
    return JSON(_schedule(schedule), 201)


@router.post("/schedules/{name:floe_segment}/pause", **gate(Role.ADMIN), tags=["schedules"])
async def pause_schedule(name: Annotated[str, _SCHEDULE]) -> JSON:
    return JSON(_schedule(await floe.pause_schedule(name)))


@router.post("/schedules/{name:floe_segment}/resume", **gate(Role.ADMIN), tags=["schedules"])
async def resume_schedule(name: Annotated[str, _SCHEDULE]) -> JSON:
    return JSON(_schedule(await floe.resume_schedule(name)))


@router.delete(
    "/schedules/{name:floe_segment}", **gate(Role.ADMIN), tags=["schedules"], status_code=204
)
async def remove_schedule(name: Annotated[str, _SCHEDULE]) -> None:
    await floe.remove_schedule(name)


@router.get("/workers", **gate(Role.READ), tags=["workers"])
async def list_workers() -> JSON:
    """The workers: what each serves and holds, and its last heartbeat.

    A worker that stopped without saying so stays listed, ``live`` false, for an hour.
    """
    workers = await floe.list_workers()
    return JSON({"workers": [{**to_document(item), "live": item.live()} for item in workers]})


@router.get("/admin/secrets", **gate(Role.ADMIN), tags=["secrets"])
async def list_secrets(request: Request) -> JSON:
    """The names of the secrets, never their values."""
    async with _secrets(request) as secrets:
        return JSON({"secrets": await secrets.list_secrets()})


@router.post("/admin/secrets", **gate(Role.ADMIN), tags=["secrets"], status_code=204)
async def set_secret(request: Request, new: NewSecret) -> None:
    """Set a secret (sealed with the server's ``FLOE_SECRET_KEY``), replacing one of its name."""
    async with _secrets(request) as secrets:
        await secrets.set_secret(new.name, new.value)


@router.get("/admin/secrets/{name:floe_segment}", **gate(Role.ADMIN), tags=["secrets"])
async def read_secret(
    request: Request,
    name: Annotated[str, _SECRET],
    caller: Annotated[Caller, Depends(requires(Role.ADMIN))],
) -> JSON:
    """The value of a secret: only for a token with ``read_secrets``."""
    if not caller.read_secrets:
        raise Forbidden(
            f"The token {caller.name!r} may not read secret values",
            why="Reading a value is a permission of its own, never implied by a role.",
            fix="Use a token with read_secrets = true in the token file.",
            context={"token": caller.name},
        )
    async with _secrets(request) as secrets:
        values = await secrets.get_secrets([name])
    return JSON({"name": name, "value": values[name]})


@router.delete(
    "/admin/secrets/{name:floe_segment}", **gate(Role.ADMIN), tags=["secrets"], status_code=204
)
async def remove_secret(request: Request, name: Annotated[str, _SECRET]) -> None:
    async with _secrets(request) as secrets:
        removed = await secrets.remove_secret(name)
    if not removed:
        raise floe.NotFoundError(
            f"No secret named {name!r}",
            fix="Check the name (GET /admin/secrets lists them).",
            context={"secret": name},
        )


@asynccontextmanager
async def _secrets(request: Request) -> AsyncIterator[ManagedSecretStore]:
    """The server's secret store; its refusals for want of a key are the server's (503)."""
    from floe_secrets import managed_secrets

    try:
        async with managed_secrets(runtime_of(request).kernel) as secrets:
            yield secrets
    except floe.ConfigError as error:
        # the names and values were checked against the schema: what is left is the
        # server's own setting (FLOE_SECRET_KEY, the secret store)
        raise Unavailable(
            "The server cannot manage secrets", why=error.what, fix=error.fix
        ) from error


def _schedule(schedule: floe.Schedule) -> dict[str, Any]:
    return floe.mask(to_document(schedule))
