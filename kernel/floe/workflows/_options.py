"""Checks shared by the options of ``@task`` and ``@workflow``, run when they decorate,
and the errors for names spelled as in Flux or OSBot-Utils.

A bad option fails where it is written, as a :class:`ConfigError` that names the option,
not later inside a run: a NaN timeout, a negative delay, a name that is not a string, a
single string where a list of names belongs, an option that does not exist (with the
closest real name, and the floe name of an option spelled as in Flux or OSBot-Utils).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import attrs

from ..kernel._errors import ConfigError

__all__ = [
    "check_bool",
    "check_name",
    "check_seconds",
    "check_unknown",
    "field_names",
    "names_tuple",
]


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float)


def check_seconds(
    what: str, option: str, value: Any, *, zero: bool = False, none: bool = True
) -> None:
    """*value* is a finite number of seconds, > 0 (>= 0 with *zero*), or None with *none*."""
    if value is None and none:
        return
    if _is_number(value) and math.isfinite(value) and (value > 0 or (zero and value == 0)):
        return
    bound = ">= 0" if zero else "greater than 0"
    raise ConfigError(
        f"Invalid {what} option {option}={value!r}",
        why=f"{option} is a finite number of seconds {bound} (not NaN or infinity).",
        fix=f"Pass {option} as a number such as 1.5"
        + (", or leave it out (None) for none." if none else "."),
        context={"option": option},
    )


def check_bool(what: str, option: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(
            f"Invalid {what} option {option}={value!r}",
            why=f"{option} is a switch.",
            fix=f"Pass {option}=True or {option}=False.",
            context={"option": option},
        )


def check_name(what: str, value: Any) -> None:
    """A name given to a task or workflow: a non-empty string, or None for the default."""
    if value is None or (isinstance(value, str) and value.strip()):
        return
    raise ConfigError(
        f"Invalid {what} option name={value!r}",
        why="A name is the non-empty string that the journal, the command line and the logs show.",
        fix="Pass a string such as name='fetch-orders', or leave it out to use the "
        "function's name.",
        context={"option": "name"},
    )


def names_tuple(what: str, option: str, value: Any) -> tuple[str, ...]:
    """A list of names as a tuple; a bare string (a common slip) is refused, not split."""
    example = f"{option}=[{value!r}]" if isinstance(value, str) else f"{option}=['API_KEY']"
    if isinstance(value, str) or not isinstance(value, Iterable) or isinstance(value, Mapping):
        raise ConfigError(
            f"Invalid {what} option {option}={value!r}",
            why=f"{option} is a list of names; a single string would be read letter by letter.",
            fix=f"Pass a list: {example}.",
            context={"option": option},
        )
    names = tuple(value)
    bad = [name for name in names if not isinstance(name, str) or not name]
    if bad:
        raise ConfigError(
            f"Invalid {what} option {option}={value!r}: {bad[0]!r} is not a name",
            why=f"Each entry of {option} is a non-empty string.",
            fix=f"Pass names only, e.g. {example}.",
            context={"option": option},
        )
    return names


def check_unknown(
    what: str,
    given: Iterable[str],
    known: Collection[str],
    renamed: Mapping[str, str],
) -> None:
    """Refuse an option not in *known*: the floe spelling of a *renamed* one (Flux's,
    OSBot's), else the closest known name."""
    for option in given:
        if option in known:
            continue
        if option in renamed:
            fix = renamed[option]
        else:
            close = difflib.get_close_matches(option, list(known), n=1)
            fix = f"Did you mean {close[0]}?" if close else "Correct the option's name."
        raise ConfigError(
            f"Unknown {what} option {option!r}",
            why=f"The {what} options are: {', '.join(sorted(known))}.",
            fix=fix,
            context={"option": option},
        )


def field_names(cls: type) -> frozenset[str]:
    return frozenset(field.name for field in attrs.fields(cls))
