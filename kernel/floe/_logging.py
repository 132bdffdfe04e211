"""Correlation fields for log records, filled from context variables.

Every record that reaches a handler of the ``floe`` logger carries ``run_id``, ``step``,
``component`` and ``correlation_id`` (None when unbound), added by
:class:`CorrelationFilter`. The fields live in context variables, so they follow the
code: into the tasks it starts and the worker threads ``anyio.to_thread`` runs, never
into code running alongside it. :func:`bind_log_context` sets them for a block; the
programming models bind them for what they run (a workflow run binds ``run_id`` and a
``correlation_id``, each of its steps binds ``step``). Code on a hot path sets a field's
variable itself (:func:`correlation_var`), which costs a fraction of a ``with`` block.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Final

__all__ = [
    "CORRELATION_FIELDS",
    "CorrelationFilter",
    "bind_log_context",
    "correlation_var",
    "current_log_context",
]

CORRELATION_FIELDS: Final = ("run_id", "step", "component", "correlation_id")

# a library's records go nowhere until the application (or a kernel) adds handlers
logging.getLogger("floe").addHandler(logging.NullHandler())

_VARS: Final[dict[str, ContextVar[str | None]]] = {
    name: ContextVar(f"floe_log_{name}", default=None) for name in CORRELATION_FIELDS
}


@contextlib.contextmanager
def bind_log_context(**fields: str | None) -> Iterator[None]:
    """Set correlation fields for every record logged inside the block (task-local)."""
    unknown = set(fields) - set(CORRELATION_FIELDS)
    if unknown:
        raise TypeError(f"unknown correlation fields: {', '.join(sorted(unknown))}")
    tokens = [(_VARS[name], _VARS[name].set(value)) for name, value in fields.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def correlation_var(name: str) -> ContextVar[str | None]:
    """The context variable behind the correlation field *name*.

    For code that binds a field on a hot path, where a ``with`` block would cost too
    much: ``token = var.set(value)`` then ``var.reset(token)``, as
    :func:`bind_log_context` does. An unknown *name* is a :class:`KeyError`.
    """
    return _VARS[name]


def current_log_context() -> dict[str, str | None]:
    """The correlation fields bound here and now."""
    return {name: var.get() for name, var in _VARS.items()}


class CorrelationFilter(logging.Filter):
    """Adds ``run_id``, ``step``, ``component`` and ``correlation_id`` to every record.

    A field the record already has (given with ``extra=``) is left as it is.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _VARS.items():
            if not hasattr(record, name):
                setattr(record, name, var.get())
        return True
