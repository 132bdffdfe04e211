"""Argument checks the commands share, so that a bad value is a usage error (exit code 2).

click checks them while parsing, before any store is opened: a value a store cannot take
(a limit beyond a 64-bit integer, an empty run id) never reaches it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any, Final

import click

import floe

from ._state import CliState

__all__ = ["COUNT", "MAX_COUNT", "checked_run_id", "kernel_for_store", "store_option"]

MAX_COUNT: Final = 1_000_000_000
"""The largest count an option takes (``--limit``): far beyond any listing, within every store."""

COUNT: Final = click.IntRange(min=1, max=MAX_COUNT)
"""A number of things to list or keep: a whole number from 1 to :data:`MAX_COUNT`."""


def checked_run_id(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """The callback of a run id argument or option: text without control characters or
    surrounding spaces (a run id, or the start of one)."""
    if value is None:
        return None
    if not value.strip():
        raise click.BadParameter("a run id cannot be empty", ctx, param)
    if value != value.strip():
        raise click.BadParameter(f"{value!r} starts or ends with a space", ctx, param)
    if any(unicodedata.category(character) == "Cc" for character in value):
        raise click.BadParameter(f"{value!r} holds a control character", ctx, param)
    return value


def store_option(function: Callable[..., Any]) -> Callable[..., Any]:
    """The ``--store URL`` option of a command that opens the store."""
    return click.option(
        "--store",
        metavar="URL",
        help="Store URL (overrides FLOE_STORE, the config files and 'floe --store').",
    )(function)


def kernel_for_store(state: CliState, store: str | None) -> floe.Kernel:
    """The command line's kernel, or one built on *store* when the command names one."""
    if store is None:
        return state.kernel
    return floe.Kernel(floe.load_settings(store=store))
