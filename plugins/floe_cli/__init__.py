"""The ``floe`` command line, itself a plugin: other plugins add commands through ``floe_cli``.

Every kernel loads this module (it is an entry point like any other plugin), so it
imports nothing heavy: click is imported only when the command line runs or the
``floe_cli`` hook is called, and a command's module only when that command runs (see
:func:`lazy_command`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import floe

from ._catalog import COMMANDS, HIDDEN_COMMANDS
from ._process import freeze_start_up_objects
from ._project import import_named_module, imports_project_code
from ._state import CliState

if TYPE_CHECKING:
    import click

__all__ = [
    "CliState",
    "floe_cli",
    "freeze_start_up_objects",
    "import_named_module",
    "imports_project_code",
    "lazy_command",
    "main",
]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``floe`` command line on *argv* (default: ``sys.argv[1:]``).

    Returns the process exit code, a :class:`floe.ExitCode`: errors are printed, never
    raised.
    """
    from ._app import run

    return run(argv)


def lazy_command(name: str, target: str, summary: str, *, hidden: bool = False) -> click.Command:
    """A stand-in for the command at *target* (``package.module:attribute``), for
    ``cli.add_command`` in a ``floe_cli`` hook.

    ``floe --help`` lists it by *name* with *summary* (the first sentence of the
    command's help); the module is imported only when the command runs, shows its own
    help or completes its arguments. A module that fails to import then is an error
    naming the command and *target*.
    """
    from ._group import LazyCommand

    return LazyCommand(name, target, summary, hidden=hidden)


@floe.hookimpl
def floe_cli(cli: click.Group) -> None:
    """Add the command line's own commands (``floe plugins``, the component commands)."""
    for name, target, summary in COMMANDS:
        cli.add_command(lazy_command(name, f"{__name__}.{target}", summary))
    for name, target in HIDDEN_COMMANDS:
        cli.add_command(lazy_command(name, f"{__name__}.{target}", "", hidden=True))
