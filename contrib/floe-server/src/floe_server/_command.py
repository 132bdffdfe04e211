"""``floe server``: serve the HTTP API on a store until SIGTERM or Ctrl-C.

Exit codes: 0 after a clean stop, 2 for a bad option, a missing token, or a store the
server cannot serve (nothing was started).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.abc
import click

import floe
from floe_cli import CliState, freeze_start_up_objects, imports_project_code

from ._config import DEFAULT_MAX_BODY_BYTES, ServerConfig

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["server_command"]

_SIGNALS = (signal.SIGINT,) if sys.platform == "win32" else (signal.SIGTERM, signal.SIGINT)


@click.command("server")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="The TCP port (0: a free one, printed at start).",
)
@click.option("--store", metavar="URL", help="Store URL (overrides FLOE_STORE and the config).")
@click.option(
    "--workers",
    type=click.IntRange(0, 1024),
    default=0,
    show_default=True,
    help="Runs this process executes at once besides serving (0: leave them to 'floe worker').",
)
@click.option(
    "--import",
    "imports",
    metavar="MODULE|FILE",
    multiple=True,
    help="A module or .py file whose workflows the API offers (repeatable).",
)
@click.option(
    "--token-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A TOML file of [[tokens]] (name, role, token_sha256 or token, read_secrets).",
)
@click.option(
    "--allow-uploads",
    is_flag=True,
    help="Let admins upload workflow files (POST /workflows): runs their code here.",
)
@click.option(
    "--upload-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where uploaded workflow files are kept (needed with --allow-uploads).",
)
@click.option(
    "--sync-timeout",
    type=click.FloatRange(min=0.001, max=3600),
    default=30.0,
    show_default=True,
    help="Seconds run/sync waits before it answers with the run's id instead.",
)
@click.option(
    "--max-body-bytes",
    type=click.IntRange(1, 1024**3),
    default=DEFAULT_MAX_BODY_BYTES,
    show_default=True,
    help="The largest request body accepted.",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    metavar="ORIGIN",
    multiple=True,
    help="A web origin (scheme://host[:port]) allowed to call the API (repeatable; default: none).",
)
@click.option(
    "--proxy-hops",
    type=click.IntRange(0, 10),
    default=0,
    show_default=True,
    help="How many reverse proxies stand in front: trust their X-Forwarded-* headers.",
)
@click.pass_obj
@imports_project_code
def server_command(
    state: CliState,
    host: str,
    port: int,
    store: str | None,
    workers: int,
    imports: tuple[str, ...],
    token_file: Path | None,
    allow_uploads: bool,
    upload_dir: Path | None,
    sync_timeout: float,
    max_body_bytes: int,
    cors_origins: tuple[str, ...],
    proxy_hops: int,
) -> None:
    """Serve the HTTP API (and /docs) on the store until SIGTERM or Ctrl-C.

    Clients authenticate with a bearer token: FLOE_API_TOKEN (role admin) or the
    --token-file's. Submitted runs are executed by 'floe worker' processes on the same
    store, or here with --workers N.
    """
    # the application (FastAPI) loads only when a server starts, not with every command
    from ._app import open_server
    from ._auth import Tokens

    config = ServerConfig(
        host=host,
        port=port,
        workers=workers,
        allow_uploads=allow_uploads,
        sync_timeout=sync_timeout,
        max_body_bytes=max_body_bytes,
        cors_origins=cors_origins,
        proxy_hops=proxy_hops,
    )
    tokens = Tokens.load(token_file)
    tokens.require_some()
    kernel = state.kernel
    if store is not None:
        kernel = floe.Kernel(floe.load_settings(store=store))

    async def main(kernel: floe.Kernel) -> None:
        opened = open_server(config, tokens, imports=imports, upload_dir=upload_dir)
        async with opened as app, anyio.create_task_group() as group:
            stop = anyio.Event()
            await group.start(_stop_on_signal, stop)
            freeze_start_up_objects()
            addresses = await group.start(_serve, app, config, stop)
            for address in addresses:
                click.echo(f"floe server listening on {address}", err=True)
            await stop.wait()
        click.echo("floe server stopped", err=True)

    floe.run_sync(main, kernel, kernel=kernel)


async def _serve(
    app: FastAPI,
    config: ServerConfig,
    stop: anyio.Event,
    *,
    task_status: anyio.abc.TaskStatus[list[str]] = anyio.TASK_STATUS_IGNORED,
) -> None:
    from ._app import serve

    await serve(app, config, shutdown_trigger=stop.wait, task_status=task_status)


async def _stop_on_signal(
    stop: anyio.Event, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    with anyio.open_signal_receiver(*_SIGNALS) as signals:
        task_status.started()
        async for _ in signals:
            stop.set()
            return
