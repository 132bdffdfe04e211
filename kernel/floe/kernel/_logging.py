"""Correlation fields for log records, filled from context variables.

Every record that reaches a handler of the ``floe`` logger carries ``run_id``, ``step``,
``component`` and ``correlation_id`` (None when unbound), added by
:class:`CorrelationFilter`. The fields live in context variables, so they follow the
code: into the tasks it starts and the worker threads ``anyio.to_thread`` runs, never
into code running alongside it. :func:`bind_log_context` sets them for a block; the
programming models bind them for what they run (a workflow run binds ``run_id`` and a
``correlation_id`` for its body). Code on a hot path sets a field's variable itself
(:func:`correlation_var`), which costs a fraction of a ``with`` block, or names a
*source* for the field (:func:`set_correlation_source`), which costs nothing until a
record is logged: the workflow runtime gives ``step`` the key of the step running.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import Final

__all__ = [
    "CORRELATION_FIELDS",
    "CorrelationFilter",
    "bind_log_context",
    "correlation_var",
    "current_log_context",
    "set_correlation_source",
]

CORRELATION_FIELDS: Final = ("run_id", "step", "component", "correlation_id")

# a library's records go nowhere until the application (or a kernel) adds handlers
logging.getLogger("floe").addHandler(logging.NullHandler())

_VARS: Final[dict[str, ContextVar[str | None]]] = {
    name: ContextVar(f"floe_log_{name}", default=None) for name in CORRELATION_FIELDS
}


class bind_log_context:
    """Set correlation fields for every record logged inside the block (task-local).

    ``with bind_log_context(component="orders", run_id=...):``. A class rather than a
    generator-based context manager: components bind for every message they handle, and
    this costs a fraction of ``contextlib.contextmanager``'s machinery.
    """

    __slots__ = ("_fields", "_tokens")

    def __init__(self, **fields: str | None) -> None:
        for name in fields:
            if name not in _VARS:
                unknown = sorted(set(fields) - set(CORRELATION_FIELDS))
                raise TypeError(f"unknown correlation fields: {', '.join(unknown)}")
        self._fields = fields
        self._tokens: list[tuple[ContextVar[str | None], Token[str | None]]] = []

    def __enter__(self) -> None:
        self._tokens = [
            (_VARS[name], _VARS[name].set(value)) for name, value in self._fields.items()
        ]

    def __exit__(self, *exc_info: object) -> None:
        for var, token in reversed(self._tokens):
            var.reset(token)


def correlation_var(name: str) -> ContextVar[str | None]:
    """The context variable behind the correlation field *name*.

    For code that binds a field on a hot path, where a ``with`` block would cost too
    much: ``token = var.set(value)`` then ``var.reset(token)``, as
    :func:`bind_log_context` does. An unknown *name* is a :class:`KeyError`.
    """
    _check_field(name)
    return _VARS[name]


def _check_field(name: str) -> None:
    if name not in _VARS:
        known = ", ".join(CORRELATION_FIELDS)
        raise KeyError(f"unknown correlation field {name!r} (the fields are: {known})")


def set_correlation_source(name: str, source: Callable[[], str | None] | None) -> None:
    """Fill the field *name* from ``source()`` wherever nothing binds it.

    *source* is called for each record logged (and by :func:`current_log_context`) in
    the context the record is logged in; it must be cheap and never raise. One source
    per field, for the process: a second call replaces the first, None removes it. An
    unknown *name* is a :class:`KeyError`.
    """
    _check_field(name)
    if source is None:
        _SOURCES.pop(name, None)
    else:
        _SOURCES[name] = source


_SOURCES: Final[dict[str, Callable[[], str | None]]] = {}


def _field(name: str, var: ContextVar[str | None]) -> str | None:
    value = var.get()
    if value is None:
        source = _SOURCES.get(name)
        if source is not None:
            return source()
    return value


def current_log_context() -> dict[str, str | None]:
    """The correlation fields here and now."""
    return {name: _field(name, var) for name, var in _VARS.items()}


class CorrelationFilter(logging.Filter):
    """Adds ``run_id``, ``step``, ``component`` and ``correlation_id`` to every record.

    A field the record already has (given with ``extra=``) is left as it is.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _VARS.items():
            if not hasattr(record, name):
                setattr(record, name, _field(name, var))
        return True
