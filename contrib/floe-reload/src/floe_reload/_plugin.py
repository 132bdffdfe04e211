"""The floe-reload plugin: adds ``floe watch`` to the ``floe`` command line."""

from __future__ import annotations

from typing import TYPE_CHECKING

import floe
from floe_cli import lazy_command

if TYPE_CHECKING:
    import click

__all__ = ["floe_cli"]


@floe.hookimpl
def floe_cli(cli: click.Group) -> None:
    """Add ``floe watch`` (its module, and the file watcher, load when it runs)."""
    cli.add_command(
        lazy_command(
            "watch",
            "floe_reload._command:watch_command",
            "Reload a component's rules and state packs whenever its files change.",
        )
    )
