"""Correlation fields for log records, filled from context variables the kernel sets."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Final

__all__ = ["CORRELATION_FIELDS", "CorrelationFilter", "bind_log_context", "current_log_context"]

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


def current_log_context() -> dict[str, str | None]:
    return {name: var.get() for name, var in _VARS.items()}


class CorrelationFilter(logging.Filter):
    """Adds ``run_id``, ``step``, ``component`` and ``correlation_id`` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _VARS.items():
            if not hasattr(record, name):
                setattr(record, name, var.get())
        return True
