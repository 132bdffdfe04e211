"""What the routes share: the kernel, the catalog, the config, the dashboard's sessions,
and a task group of the server's own for the runs it continues (a resumed run) and its
in-process worker.

:class:`Runtime` is an async context manager that owns its task group (nothing it starts
outlives it): ``async with Runtime(...)`` inside ``async with kernel``. Leaving it drains
the in-process worker and waits for the runs it continues.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import anyio
import anyio.abc
import orjson
from fastapi import Request
from fastapi.responses import JSONResponse

import floe

from ._auth import Tokens
from ._catalog import Catalog
from ._config import ServerConfig
from ._problems import BadRequest
from ._sessions import Sessions

__all__ = ["JSON", "JSON_BODY", "Runtime", "json_body", "runtime_of"]

logger = logging.getLogger("floe.server")

_GRACE_SECONDS: Final = 10.0
"""How long the runs the server executes may take to finish when it stops."""


class JSON(JSONResponse):
    """A JSON response rendered by orjson (datetimes, non-string keys, attrs-free)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS, default=str)


class Runtime:
    """The server's running parts, reached by every route as ``request.app.state.runtime``."""

    def __init__(
        self,
        kernel: floe.Kernel,
        config: ServerConfig,
        tokens: Tokens,
        catalog: Catalog,
        *,
        upload_dir: Path | None = None,
    ) -> None:
        self.kernel = kernel
        self.config = config
        self.tokens = tokens
        self.catalog = catalog
        self.upload_dir = upload_dir
        self.worker: floe.Worker | None = None
        self.sessions = Sessions()
        """The dashboard's sign-in sessions (in memory: a restart signs everyone out)."""
        self._group: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> Self:
        if floe.current_kernel() is not self.kernel:
            raise floe.ConfigError(
                "The server's runtime was opened outside its kernel",
                fix="Open it inside 'async with kernel:'.",
            )
        self._group = anyio.create_task_group()
        await self._group.__aenter__()
        if self.config.workers:
            self.worker = floe.Worker(self.kernel, concurrency=self.config.workers)
            await self._group.start(self.worker.serve)  # listed and claiming before requests
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._group is not None
        # what still runs gets a grace period, then is cancelled: its lease is given up
        # and a worker continues it by replay
        if self.worker is not None:
            self.worker.drain(_GRACE_SECONDS)
        scope = self._group.cancel_scope
        scope.deadline = min(scope.deadline, anyio.current_time() + _GRACE_SECONDS)
        try:
            return await self._group.__aexit__(exc_type, exc, tb)
        finally:
            self._group = None

    def start_soon(self, what: str, function: Callable[[], Awaitable[Any]]) -> None:
        """Run *function* in the server's task group; a FloeError it raises is logged."""
        if self._group is None:
            raise floe.StateError("The server is not running", fix="Start it first.")
        self._group.start_soon(self._logged, what, function)

    async def _logged(self, what: str, function: Callable[[], Awaitable[Any]]) -> None:
        try:
            await function()
        except floe.FloeError as error:
            logger.warning("%s ended with an error: %s", what, floe.mask(error.what))


async def json_body(request: Request) -> tuple[bool, Any]:
    """Whether the request has a body, and its JSON value (None without a body).

    Read here rather than by FastAPI, so that a body sent without a JSON content type
    is read all the same instead of being taken for no body.
    """
    body = await request.body()
    if not body.strip():
        return False, None
    try:
        return True, orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequest(
            f"The request body is not valid JSON: {error}",
            why="The body is a JSON document; a string needs its double quotes.",
            fix="Send JSON (Content-Type: application/json).",
        ) from None


JSON_BODY: Final = {
    "requestBody": {
        "required": False,
        "content": {"application/json": {"schema": {}}},
        "description": "Any JSON value.",
    }
}
"""The OpenAPI description of a body read with :func:`json_body`."""


def runtime_of(request: Request) -> Runtime:
    """The runtime of the app serving *request*."""
    runtime: Runtime = request.app.state.runtime
    return runtime
