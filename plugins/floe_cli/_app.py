"""Building and running the root command: kernel first, then plugins' commands, then click."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence

import click

import floe

from ._group import TRACEBACK_HELP, RootGroup, finish_command
from ._report import (
    interrupted,
    report_floe_error,
    report_internal_error,
    report_plugin_warning,
    report_usage_error,
    silence_stdout,
)
from ._state import CliState

_HELP = """\
floe: durable workflows, components and routine graphs on structured concurrency.

Commands come from plugins: 'floe plugins' lists every plugin and the hooks it
implements. Settings are read from pyproject.toml [tool.floe], floe.toml and FLOE_*
environment variables in the working directory.
"""

_DEBUG_VALUES = frozenset({"1", "true", "yes", "on"})


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line; print any error; return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    wants_traceback, store = _global_options(args)
    show_traceback = wants_traceback or _debug_from_environment()
    try:
        return _run(args, store=store, show_traceback=show_traceback)
    except click.UsageError as error:
        return report_usage_error(error)
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except (click.Abort, KeyboardInterrupt):
        return interrupted()
    except floe.FloeError as error:
        return report_floe_error(error, show_traceback=show_traceback)
    except BrokenPipeError:
        # the reader went away (`floe plugins | head`): not an error of ours
        silence_stdout()
        return floe.ExitCode.OK
    except Exception as error:
        return report_internal_error(error, show_traceback=show_traceback)


def _run(args: list[str], *, store: str | None, show_traceback: bool) -> int:
    settings = floe.load_settings(store=store)
    kernel = _load_kernel(settings, show_traceback=show_traceback)
    group = _root_group()
    kernel.hooks.cli(group)
    finish_command(group)
    result = group.main(
        args,
        prog_name="floe",
        standalone_mode=False,
        obj=CliState(kernel=kernel, show_traceback=show_traceback),
    )
    # click returns the exit code of ctx.exit(code) (and of --help); a command may
    # also return a floe.ExitCode; anything else a command returns means success
    if isinstance(result, int) and not isinstance(result, bool):
        return result
    return floe.ExitCode.OK


def _load_kernel(settings: floe.Settings, *, show_traceback: bool) -> floe.Kernel:
    # outside strict mode a broken plugin is a warning; print it as a block like an
    # error instead of the warnings module's "file:line: PluginWarning: ..." format
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", floe.PluginWarning)
        kernel = floe.Kernel(settings)
    tracebacks = {info.error: info.traceback for info in kernel.plugins if info.error}
    for warning in caught:
        if isinstance(warning.message, floe.PluginWarning):
            message = str(warning.message)
            report_plugin_warning(message, tracebacks.get(message) if show_traceback else None)
        else:
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return kernel


def _root_group() -> click.Group:
    @click.group(
        name="floe",
        cls=RootGroup,
        help=_HELP,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    @click.version_option(floe.__version__, "--version", prog_name="floe")
    @click.option(
        "--store",
        metavar="URL",
        help="Store URL for this command (overrides FLOE_STORE and the config files).",
    )
    @click.option("--traceback", is_flag=True, help=TRACEBACK_HELP)
    def floe_group(store: str | None, traceback: bool) -> None:
        # both options were read before the kernel was built (see _global_options);
        # they are declared here for --help and so that click accepts them
        del store, traceback

    return floe_group


def _global_options(args: Sequence[str]) -> tuple[bool, str | None]:
    """Read ``--traceback`` and ``--store`` ahead of click.

    The kernel, which loads the plugins that add commands, must exist before click
    parses anything, and it is built with the store in effect. ``--store`` is read like
    click reads the root's options, up to the first argument that is not an option (the
    command name); ``--traceback`` anywhere before a ``--``, as every command takes it.
    """
    options = args[: args.index("--")] if "--" in args else args
    wants_traceback = "--traceback" in options
    store: str | None = None
    position = 0
    while position < len(args):
        argument = args[position]
        if argument == "--" or not argument.startswith("-"):
            break
        if argument == "--store" and position + 1 < len(args):
            position += 1
            store = args[position]
        elif argument.startswith("--store="):
            store = argument.partition("=")[2]
        position += 1
    return wants_traceback, store


def _debug_from_environment() -> bool:
    return os.environ.get("FLOE_DEBUG", "").strip().lower() in _DEBUG_VALUES
