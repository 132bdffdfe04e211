"""The ``floe`` command line, itself a plugin: other plugins add commands through ``floe_cli``.

Every kernel loads this module (it is an entry point like any other plugin), so it
imports nothing heavy: click and the commands are imported only when the command line
runs or the ``floe_cli`` hook is called.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import floe

from ._project import import_named_module, imports_project_code
from ._state import CliState

if TYPE_CHECKING:
    import click

__all__ = ["CliState", "floe_cli", "import_named_module", "imports_project_code", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``floe`` command line on *argv* (default: ``sys.argv[1:]``).

    Returns the process exit code, a :class:`floe.ExitCode`: errors are printed, never
    raised.
    """
    from ._app import run

    return run(argv)


@floe.hookimpl
def floe_cli(cli: click.Group) -> None:
    """Add the command line's own commands (``floe plugins``, the component commands)."""
    from ._commands import plugins_command
    from ._component_commands import COMMANDS
    from ._queue_commands import queue_group
    from ._schedule_commands import schedule_group
    from ._secret_commands import secrets_command
    from ._worker_commands import COMMANDS as WORKER_COMMANDS
    from ._workflow_commands import COMMANDS as WORKFLOW_COMMANDS

    cli.add_command(plugins_command)
    cli.add_command(secrets_command)
    cli.add_command(schedule_group)
    cli.add_command(queue_group)
    for command in COMMANDS:
        cli.add_command(command)
    for command in (*WORKFLOW_COMMANDS, *WORKER_COMMANDS):
        cli.add_command(command)
