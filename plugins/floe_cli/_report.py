"""How the command line tells people what went wrong: one block on stderr, then an exit code."""

from __future__ import annotations

import os
import sys
import traceback

import click

import floe

# 128 + SIGINT, what shells report for a command stopped with Ctrl-C
_INTERRUPTED_EXIT = 130


def report_floe_error(error: floe.FloeError, *, show_traceback: bool) -> int:
    """Print *error* as one block (what / Why / Fix / Context); return its exit code."""
    if show_traceback:
        _print_traceback(error)
    _print_block("Error:", "red", str(error))
    return int(error.exit_code)


def report_usage_error(error: click.UsageError) -> int:
    """Print click's complaint about the arguments as the same one block; return 2."""
    context = error.ctx
    command = context.command_path if context is not None else "floe"
    details: dict[str, str] = {"command": command}
    param = getattr(error, "param", None)
    if isinstance(param, click.Option):
        details["option"] = max(param.opts, key=len)
    elif isinstance(param, click.Parameter):
        details[param.param_type_name] = param.human_readable_name
    elif isinstance(error, click.NoSuchOption):
        details["option"] = error.option_name
    block = floe.ConfigError(
        error.format_message(),
        why=f"'{command}' cannot take these arguments, so nothing ran.",
        fix=f"See '{command} --help' for the arguments and options it takes.",
        context=details,
    )
    _print_block("Error:", "red", str(block))
    return floe.ExitCode.USAGE


def report_internal_error(error: Exception, *, show_traceback: bool) -> int:
    """Print an unexpected exception briefly; the traceback only on request."""
    if show_traceback:
        _print_traceback(error)
    detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    lines = [
        detail,
        "Why: this is a bug in floe or in one of its plugins, not a problem with your input.",
    ]
    if show_traceback:
        lines.append("Fix: report it with the traceback above.")
    else:
        lines.append(
            "Fix: rerun with --traceback (or FLOE_DEBUG=1) to see where it happened, and report it."
        )
    _print_block("Internal error:", "red", "\n".join(lines))
    return floe.ExitCode.INTERNAL


def report_plugin_warning(message: str, plugin_traceback: str | None) -> None:
    """Print a skipped plugin's error as a warning block (with its traceback, if given)."""
    if plugin_traceback:
        click.echo(plugin_traceback.rstrip("\n"), err=True)
    _print_block("Warning:", "yellow", message)


def interrupted() -> int:
    click.echo("Aborted.", err=True)
    return _INTERRUPTED_EXIT


def silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _print_block(label: str, colour: str, text: str) -> None:
    # click.echo drops the colour when stderr is not a terminal
    click.echo(f"{click.style(label, fg=colour, bold=True)} {floe.mask(text)}", err=True)


def _print_traceback(error: BaseException) -> None:
    # the exception is the program's own, secrets and all: people see it masked
    text = "".join(traceback.format_exception(error)).rstrip("\n")
    click.echo(floe.mask(text), err=True)
