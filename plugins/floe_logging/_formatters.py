"""Turning log records into console lines and JSON lines.

Records reach these formatters through the kernel's ``CorrelationFilter``, which sets
``run_id``, ``step``, ``component`` and ``correlation_id`` (None when unbound).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any, Final

import orjson

__all__ = ["CORRELATION_FIELDS", "ConsoleFormatter", "JsonLinesFormatter"]

CORRELATION_FIELDS: Final = ("run_id", "step", "component", "correlation_id")

# attributes every LogRecord has, so that whatever else a record carries came from
# `extra=` and belongs in the JSON line
_RECORD_ATTRIBUTES: Final = frozenset(
    {
        *vars(logging.LogRecord("", logging.INFO, "", 0, "", (), None)),
        "message",
        "asctime",
        "taskName",
        *CORRELATION_FIELDS,
    }
)

_RESET: Final = "\x1b[0m"
_DIM: Final = "\x1b[2m"
_CYAN: Final = "\x1b[36m"
_LEVEL_COLOURS: Final = {
    logging.DEBUG: "\x1b[2m",
    logging.INFO: "\x1b[32m",
    logging.WARNING: "\x1b[33m",
    logging.ERROR: "\x1b[31m",
    logging.CRITICAL: "\x1b[1;31m",
}


class ConsoleFormatter(logging.Formatter):
    """``12:04:05.123 INFO     floe.runs [run_id=r1 step=fetch] message``, colour optional."""

    def __init__(self, *, colour: bool = False) -> None:
        super().__init__()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        stamp = f"{clock}.{int(record.msecs):03d}"
        level = f"{record.levelname:<8}"
        fields = " ".join(
            f"{name}={value}"
            for name in CORRELATION_FIELDS
            if (value := getattr(record, name, None)) is not None
        )
        context = f"[{fields}]" if fields else ""
        if self.colour:
            stamp = f"{_DIM}{stamp}{_RESET}"
            level = f"{_level_colour(record.levelno)}{level}{_RESET}"
            context = f"{_CYAN}{context}{_RESET}" if context else ""
        parts = [stamp, level, record.name]
        if context:
            parts.append(context)
        parts.append(record.getMessage())
        line = " ".join(parts)
        details = _exception_text(self, record)
        if record.stack_info:
            details.append(self.formatStack(record.stack_info))
        return "\n".join([line, *details])


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record, without newlines inside.

    Keys: ``ts`` (UTC, RFC 3339), ``level``, ``logger``, ``message``, the correlation
    fields (null when unbound), ``exc_info`` and ``stack_info`` when present, then any
    ``extra=`` attributes (values JSON cannot hold are written as their ``str()``).
    """

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CORRELATION_FIELDS:
            payload[name] = getattr(record, name, None)
        details = _exception_text(self, record)
        if details:
            payload["exc_info"] = details[0]
        if record.stack_info:
            payload["stack_info"] = self.formatStack(record.stack_info)
        extras = {
            key: value
            for key, value in vars(record).items()
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_") and key not in payload
        }
        try:
            return _dumps(payload | extras)
        except orjson.JSONEncodeError:
            # an extra orjson refuses even with default=str (an int past 64 bits, a
            # dict with non-string keys): a log line must still be written
            return _dumps(payload | {key: str(value) for key, value in extras.items()})


def _dumps(payload: dict[str, Any]) -> str:
    return orjson.dumps(payload, default=str, option=orjson.OPT_UTC_Z).decode()


def _exception_text(formatter: logging.Formatter, record: logging.LogRecord) -> list[str]:
    # cached on the record like logging.Formatter does, so several sinks format it once
    if record.exc_info and not record.exc_text:
        record.exc_text = formatter.formatException(record.exc_info)
    return [record.exc_text] if record.exc_text else []


def _level_colour(level: int) -> str:
    for threshold in (logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO):
        if level >= threshold:
            return _LEVEL_COLOURS[threshold]
    return _LEVEL_COLOURS[logging.DEBUG]
