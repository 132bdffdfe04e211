"""The sinks: a stream handler on stderr, or a file written by a thread of its own."""

from __future__ import annotations

import logging
import logging.handlers
import os
import queue
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, Final

import attrs

import floe
from floe.storage import create_private_file, make_private_directories

from ._formatters import ConsoleFormatter, JsonLinesFormatter

__all__ = ["LoggingOptions", "build_handlers", "read_options"]

SECTION: Final = "logging"
_KNOWN_KEYS: Final = ("file",)


@attrs.frozen
class LoggingOptions:
    """The ``[tool.floe.logging]`` section (or ``logging`` table of floe.toml)."""

    file: Path | None = None
    """Write the log lines to this file (appending) instead of stderr."""


def read_options(section: Mapping[str, Any]) -> LoggingOptions:
    """Validate the plugin's settings section; a bad key or value is a ConfigError."""
    for key in section:
        if key not in _KNOWN_KEYS:
            raise floe.ConfigError(
                f"Unknown key {key!r} in the logging settings section",
                why=f"The logging section understands: {', '.join(_KNOWN_KEYS)}.",
                fix="Correct the spelling or remove the key from [tool.floe.logging] "
                "(or the [logging] table of floe.toml).",
                context={"section": SECTION, "key": key},
            )
    file = section.get("file")
    if file is None:
        return LoggingOptions()
    if not isinstance(file, str) or not file.strip():
        raise floe.ConfigError(
            f"Invalid value {file!r} for 'file' in the logging settings section",
            why="It must be the path of the file the log lines are appended to.",
            fix='Write e.g. file = ".floe/floe.log", or remove the key to log to stderr.',
            context={"section": SECTION, "key": "file"},
        )
    return LoggingOptions(file=Path(file).absolute())


def build_handlers(settings: floe.Settings) -> list[logging.Handler]:
    """The sink for *settings*: ``log_format`` picks the form, the section the place."""
    if settings.log_format == "off":
        return []
    options = read_options(settings.section(SECTION))
    if options.file is not None:
        formatter: logging.Formatter = (
            JsonLinesFormatter() if settings.log_format == "json" else ConsoleFormatter()
        )
        return [QueuedFileHandler(options.file, formatter)]
    stream = sys.stderr
    handler = logging.StreamHandler(stream)
    if settings.log_format == "json":
        handler.setFormatter(JsonLinesFormatter())
    else:
        handler.setFormatter(ConsoleFormatter(colour=_wants_colour(stream)))
    return [handler]


def _wants_colour(stream: IO[str]) -> bool:
    # https://no-color.org: any non-empty NO_COLOR turns colour off
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class _AppendingFileHandler(logging.FileHandler):
    """A file handler that creates its file when it first writes: owner-only (``0600``),
    in directories created owner-only (``0700``), as every file floe makes.

    Log lines tell what runs did (their ids, inputs quoted in errors), so they are kept
    as private as the store. An existing file or directory keeps its mode.
    """

    def _open(self) -> Any:
        make_private_directories(Path(self.baseFilename).parent)
        create_private_file(self.baseFilename)
        return super()._open()


class _MessageOnly(logging.Formatter):
    # the queue handler has already formatted the whole line into the message
    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage()


class QueuedFileHandler(logging.handlers.QueueHandler):
    """Formats records where they are logged and appends them to *path* from a thread.

    Logging happens on the event loop; the file is opened and written by the listener
    thread, so a slow disk never stalls a run. ``close()`` writes what is queued, stops
    the thread and closes the file.
    """

    def __init__(self, path: Path, formatter: logging.Formatter) -> None:
        super().__init__(queue.SimpleQueue())
        self.path = path
        self.setFormatter(formatter)
        self._file_handler = _AppendingFileHandler(path, encoding="utf-8", delay=True)
        self._file_handler.setFormatter(_MessageOnly())
        self._listener: logging.handlers.QueueListener | None = logging.handlers.QueueListener(
            self.queue, self._file_handler
        )
        self._listener.start()

    def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()
            self._file_handler.close()
        super().close()
