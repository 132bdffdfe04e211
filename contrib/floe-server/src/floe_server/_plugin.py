"""The floe-server plugin: adds ``floe server`` to the ``floe`` command line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import floe
from floe_cli import lazy_command

if TYPE_CHECKING:
    import click

__all__ = ["floe_cli"]


@floe.hookimpl
def floe_cli(cli: click.Group) -> None:
    """Add ``floe server`` (its module, and anything of the server's, load when it runs)."""
    cli.add_command(
        lazy_command(
            "server",
            "floe_server._command:server_command",
            "Serve the HTTP API (and /docs) on the store until SIGTERM or Ctrl-C.",
        )
    )
