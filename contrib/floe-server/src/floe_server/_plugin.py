"""The floe-server plugin: adds ``floe server`` to the ``floe`` command line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import floe

if TYPE_CHECKING:
    import click

__all__ = ["floe_cli"]


@floe.hookimpl
def floe_cli(cli: click.Group) -> None:
    """Add ``floe server``."""
    from ._command import server_command

    cli.add_command(server_command)
