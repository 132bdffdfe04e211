"""``floe watch``: keep a component in step with its files, from the shell."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import anyio
import click

import floe
from floe_cli import CliState, imports_project_code

from ._watch import DEFAULT_DEBOUNCE_MS, Reloaded, ReloadError, Watcher

__all__ = ["CONFIG_ENV", "watch_command"]

CONFIG_ENV = "FLOE_CONFIG"
"""The environment variable naming the component config when ``--config`` is omitted."""


@click.command("watch")
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    type=click.Path(path_type=Path),
    help=f"The component config (YAML). Default: ${CONFIG_ENV}.",
)
@click.option(
    "--rules",
    "rules_path",
    metavar="RULES_FILE",
    type=click.Path(path_type=Path),
    help="A rules file to watch too: its rules (a YAML list) replace the config's.",
)
@click.option(
    "--debounce",
    "debounce_ms",
    metavar="MS",
    type=click.IntRange(min=1),
    default=DEFAULT_DEBOUNCE_MS,
    show_default=True,
    help="Longest time, in milliseconds, over which changes are gathered into one reload.",
)
@click.pass_obj
@imports_project_code
def watch_command(
    state: CliState, config_path: Path | None, rules_path: Path | None, debounce_ms: int
) -> int:
    """Reload a component's rules and state packs whenever its files change.

    Watches the config, the rules file (--rules) and the modules of the packs and states
    the config names. On a change the component gets the new rules (journaled) and the
    new state classes, and stays in the state it is in. A broken edit (a YAML error, a
    dotted path that does not import, a config 'floe explain' calls invalid) is reported
    and ignored: the last good configuration stays active until a fixed one is saved.

    The component is the one in the store, in the state it reached (a new one is
    registered if there is none). Modules in the working directory import by name, as
    for every floe command. Ctrl-C stops watching.
    """
    path = _config_path(config_path)
    kernel = state.kernel

    async def main() -> str:
        # other processes handle the messages: each reload reads the component again
        watcher = Watcher(
            path,
            engine=floe.Engine(kernel),
            rules_path=rules_path,
            debounce_ms=debounce_ms,
            refresh=True,
        )
        component = await watcher.open()  # a bad config is an error as it is
        watched = list(watcher.files)

        def reloaded(report: Reloaded) -> None:
            click.echo(str(report))
            for file in watcher.files:
                if file not in watched:
                    click.echo(f"  now watching {file}")
                    watched.append(file)

        watcher.on_reload = reloaded
        watcher.on_error = _print_error
        try:
            with _stop_signals() as signals:
                async with anyio.create_task_group() as group:
                    await group.start(watcher.run)
                    rules = len(component.rules)
                    click.echo(
                        f"Watching component {component.name!r} in state {component.state} "
                        f"({rules} rule{'s' * (rules != 1)}); Ctrl-C stops"
                    )
                    for file in watched:
                        click.echo(f"  {file}")
                    await _first(signals)
                    group.cancel_scope.cancel()
        except BaseExceptionGroup as errors:
            only = _single_error(errors)
            if only is None:
                raise
            raise only from None
        return f"Stopped watching component {component.name!r}."

    click.echo(floe.run_sync(main, kernel=kernel))
    return floe.ExitCode.OK


def _config_path(given: Path | None) -> Path:
    if given is not None:
        return given
    from_environment = os.environ.get(CONFIG_ENV, "").strip()
    if from_environment:
        return Path(from_environment)
    raise floe.ConfigError(
        "No component config given",
        why=f"floe watch needs the component's config, from --config or ${CONFIG_ENV}.",
        fix=f"Pass --config PATH, or set {CONFIG_ENV}=PATH.",
        context={"option": "--config", "environment": CONFIG_ENV},
    )


def _print_error(error: ReloadError) -> None:
    # one block on stderr, as the command line prints every error; the watcher goes on
    click.echo(f"{click.style('Error:', fg='red', bold=True)} {error}", err=True)


def _stop_signals() -> AbstractContextManager[AsyncIterator[Any] | None]:
    """Receive SIGINT and SIGTERM, so that both stop the watcher cleanly."""
    if sys.platform == "win32":
        # no signal receivers there: Ctrl-C interrupts the command line as usual
        return nullcontext()
    return anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM)


async def _first(signals: AsyncIterator[Any] | None) -> None:
    if signals is None:
        await anyio.sleep_forever()
        return
    async for _ in signals:
        return


def _single_error(errors: BaseExceptionGroup[Any]) -> BaseException | None:
    """The one ordinary exception in a task group's *errors*; None if there are more, or a
    cancellation (which must propagate as it is)."""
    found = list(_leaves(errors.exceptions))
    if len(found) == 1 and isinstance(found[0], Exception):
        return found[0]
    return None


def _leaves(errors: Sequence[BaseException]) -> list[BaseException]:
    leaves: list[BaseException] = []
    for error in errors:
        if isinstance(error, BaseExceptionGroup):
            leaves.extend(_leaves(error.exceptions))
        else:
            leaves.append(error)
    return leaves
