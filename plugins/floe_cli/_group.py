"""The root command's group: commands listed by name and summary, imported when they run.

``floe --help`` shows each command's name and one line, nothing more; a command's module
(and everything it imports) is needed only when the command runs, shows its own help or
completes its arguments. A :class:`LazyCommand` holds the name, the line and where the
command is; :class:`RootGroup` lists it as it is and puts the real command in its place
when click resolves the name.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

import floe

__all__ = ["TRACEBACK_HELP", "LazyCommand", "RootGroup", "finish_command"]

TRACEBACK_HELP = "Print the traceback of an error (also: FLOE_DEBUG=1)."


class LazyCommand(click.Command):
    """A command of the root group known by name and summary until it is resolved."""

    def __init__(self, name: str, target: str, summary: str, *, hidden: bool = False) -> None:
        module, _, attribute = target.partition(":")
        if not module or not attribute:
            raise ValueError(f"the target of command {name!r} is {target!r}, not 'module:name'")
        super().__init__(name, short_help=summary, hidden=hidden)
        self.target = target
        """Where the command is: ``package.module:attribute``."""
        self._command: click.Command | None = None

    def load(self) -> click.Command:
        """The real command, imported on first use; a :class:`floe.PluginError` if not."""
        if self._command is None:
            self._command = _import_command(self.name or "", self.target)
        return self._command

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        # reached only from a group other than RootGroup (which resolves the name to the
        # real command first): the real command still parses and runs
        return self.load().make_context(info_name, args, parent, **extra)


class RootGroup(click.Group):
    """The ``floe`` group: lists :class:`LazyCommand` entries without importing them."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        # the one path to running a command (and to completing its arguments); listing
        # the commands (--help) reads their summaries through get_command instead
        name, command, rest = super().resolve_command(ctx, args)
        if isinstance(command, LazyCommand) and name is not None:
            command = command.load()
            finish_command(command)
            self.commands[name] = command
        return name, command, rest


def finish_command(command: click.Command) -> None:
    """Give every command, plugins' included, ``--traceback`` and an uncut summary line.

    ``--traceback`` is read ahead of click (see ``_app._global_options``); each command
    declares it so that click accepts it after the command name too. click shortens a
    command's first sentence with "..." to fit the list of commands; the whole sentence,
    wrapped, says more. A :class:`LazyCommand` is finished when it is resolved.
    """
    if isinstance(command, LazyCommand):
        return
    if not any("--traceback" in getattr(param, "opts", ()) for param in command.params):
        command.params.append(
            click.Option(["--traceback"], is_flag=True, expose_value=False, help=TRACEBACK_HELP)
        )
    if command.short_help is None and command.help and not command.deprecated:
        command.short_help = command.get_short_help_str(limit=sys.maxsize)
    if isinstance(command, click.Group):
        for subcommand in command.commands.values():
            finish_command(subcommand)


def _import_command(name: str, target: str) -> click.Command:
    module_name, _, attribute = target.partition(":")
    try:
        command = getattr(importlib.import_module(module_name), attribute)
    except Exception as error:
        raise floe.PluginError(
            f"Command {name!r} ({target}) failed to load",
            why=f"{type(error).__name__}: {error}",
            fix="Fix or reinstall the plugin that adds the command ('floe plugins' lists "
            "them), or block that plugin with FLOE_DISABLE_PLUGINS.",
            context={"command": name, "target": target},
        ) from error
    if not isinstance(command, click.Command):
        raise floe.PluginError(
            f"Command {name!r} ({target}) is not a click command",
            why=f"{target} is a {type(command).__name__}.",
            fix="Point the lazy command at a click.Command.",
            context={"command": name, "target": target},
        )
    return command
