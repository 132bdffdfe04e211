"""The FastAPI application and the server around it: :func:`create_app`, :func:`open_server`,
:func:`serve`.

``open_server`` is the resource (trio's shape): an async context manager, opened inside
``async with kernel``, that owns the server's task group and yields the application;
``serve`` runs Hypercorn on it until a shutdown trigger fires, with ``task_status``
started once the socket listens (its addresses are what ``started`` receives).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import sniffio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

import floe

from . import _admin, _components, _dashboard, _health, _runs, _workflows
from ._auth import Tokens
from ._catalog import Catalog
from ._config import ServerConfig
from ._health import Metrics
from ._params import EncodedSlashes
from ._problems import install_problem_handlers
from ._runtime import JSON, Runtime

__all__ = ["create_app", "open_server", "serve"]

logger = logging.getLogger("floe.server")

_DESCRIPTION = (
    "Submit, follow, resume and cancel floe runs; read components, graph jobs, schedules "
    "and workers; manage secrets. Every endpoint but /healthz and /readyz takes a bearer "
    "token (or the web dashboard's session cookie, with its CSRF token on every change); "
    "errors are problem details (RFC 9457) with floe's what, why and fix."
)


def create_app(runtime: Runtime) -> FastAPI:
    """The application serving *runtime*'s kernel and catalog."""
    app = FastAPI(
        title="floe",
        version=_version(),
        description=_DESCRIPTION,
        default_response_class=JSON,
        max_body_size=runtime.config.max_body_bytes,
    )
    app.state.runtime = runtime
    app.state.tokens = runtime.tokens
    app.state.sessions = runtime.sessions
    app.state.metrics = Metrics(runtime.kernel)
    install_problem_handlers(app)
    app.add_middleware(EncodedSlashes)  # a run id may hold a '/', sent as %2F
    for module in (_health, _workflows, _runs, _components, _admin):
        app.include_router(module.router)
    _dashboard.install(app)
    if runtime.config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(runtime.config.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"],
        )
    return app


@asynccontextmanager
async def open_server(
    config: ServerConfig,
    tokens: Tokens,
    *,
    imports: Sequence[str] = (),
    upload_dir: str | Path | None = None,
) -> AsyncIterator[FastAPI]:
    """The application on the running kernel, with the server's task group around it.

    Without a token (``tokens``) or with uploads allowed but no *upload_dir*, this is a
    :class:`floe.ConfigError` before anything starts.
    """
    tokens.require_some()
    kernel = floe.current_kernel()
    if config.allow_uploads and upload_dir is None:
        raise floe.ConfigError(
            "Uploads are allowed but have no folder",
            fix="Pass --upload-dir DIR (where uploaded workflow files are kept).",
        )
    # importing runs the modules' code, and reads files: off the event loop
    catalog, folder = await anyio.to_thread.run_sync(_catalog_of, imports, upload_dir)
    in_process = isinstance(kernel.store, floe.MemoryStore)
    if config.workers == 0 and (in_process or not kernel.store.supports_leases):
        raise floe.ConfigError(
            f"The store {kernel.store.url} has no workers to execute submitted runs",
            why="No 'floe worker' can share it (it lives in this process, or has no "
            "leases), and the server executes nothing with --workers 0.",
            fix="Start the server with --workers N, or use a SQLite or PostgreSQL store.",
        )
    async with Runtime(kernel, config, tokens, catalog, upload_dir=folder) as runtime:
        yield create_app(runtime)


def _catalog_of(
    imports: Sequence[str], upload_dir: str | Path | None
) -> tuple[Catalog, Path | None]:
    """The catalog of *imports* and of the files uploaded before (a restart keeps them)."""
    catalog = Catalog()
    for source in imports:
        catalog.import_source(source)
    if upload_dir is None:
        return catalog, None
    folder = Path(upload_dir).resolve()
    for path in sorted(folder.glob("*.py")) if folder.is_dir() else ():
        catalog.import_source(str(path))
    return catalog, folder


async def serve(
    app: FastAPI,
    config: ServerConfig,
    *,
    shutdown_trigger: Callable[[], Awaitable[Any]] | None = None,
    task_status: anyio.abc.TaskStatus[list[str]] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve *app* with Hypercorn on the running event loop until *shutdown_trigger*
    returns (default: never); ``task_status.started(addresses)`` once it listens."""
    from hypercorn.config import Config

    hypercorn = Config()
    hypercorn.bind = [
        f"[{config.host}]:{config.port}" if ":" in config.host else f"{config.host}:{config.port}"
    ]
    hypercorn.accesslog = None  # requests are not logged with their headers (tokens)
    hypercorn.errorlog = logger
    hypercorn.graceful_timeout = 5.0
    # a burst of new connections (hundreds of clients at once) waits in the listen queue
    # rather than being reset when a busy server is slow to accept (Hypercorn's default: 100)
    hypercorn.backlog = 2048
    # idle keep-alive connections are closed by the client first (httpx after 5 s, nginx
    # upstreams after 60 s): a server closing at the same moment resets a reused one
    hypercorn.keep_alive_timeout = 75.0
    served: Any = app  # Hypercorn types its apps more narrowly than ASGI's mappings
    if config.proxy_hops:  # the client, scheme and host the proxies saw (https: Secure cookies)
        from hypercorn.middleware import ProxyFixMiddleware

        served = ProxyFixMiddleware(served, mode="legacy", trusted_hops=config.proxy_hops)
    if sniffio.current_async_library() == "trio":
        from hypercorn.trio import serve as serve_trio

        # anyio's TaskStatus is trio's at run time, but not to the type checker
        trio_status: Any = task_status
        await serve_trio(
            served, hypercorn, shutdown_trigger=shutdown_trigger, task_status=trio_status
        )
        return
    from hypercorn.asyncio import serve as serve_asyncio

    # Hypercorn's asyncio server reports no addresses: it listens once it binds, and a
    # bind error ends this call; the configured address is reported
    async with anyio.create_task_group() as group:
        group.start_soon(_serve_asyncio, serve_asyncio, served, hypercorn, shutdown_trigger)
        await anyio.lowlevel.checkpoint()
        task_status.started([f"http://{config.host}:{config.port}"])


async def _serve_asyncio(
    serve_asyncio: Any, app: Any, hypercorn: Any, trigger: Callable[[], Awaitable[Any]] | None
) -> None:
    await serve_asyncio(app, hypercorn, shutdown_trigger=trigger)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("floe-server")
    except PackageNotFoundError:
        return "0"
