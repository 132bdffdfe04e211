"""Output capture: print() and logging inside a run become ``log.message`` events.

A workflow declared with ``capture_output=True`` routes what its body and its tasks
write to ``sys.stdout`` / ``sys.stderr``, and the log records they emit through
:mod:`logging`, into its journal, one event per line, attributed to the step that wrote
it. While any such run executes, ``sys.stdout`` and ``sys.stderr`` are wrapped by a
proxy and the root logger holds one extra handler; both look up the current run in a
context variable (which worker threads of sync tasks inherit), so code outside a
capturing run writes to the console as before. ``log_to_console=True`` also echoes the
captured text; ``logging_enabled=False`` turns capture off.

Log records of floe's own loggers (``floe.*``) are never captured: they describe the
run, they are not its output. A record must pass its logger's level to reach any
handler, this one included (the root logger's default level is WARNING).
"""

from __future__ import annotations

import logging
import sys
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from typing import IO, TYPE_CHECKING, Any

from ..kernel._errors import FloeError
from ..kernel._journal import Deferred
from ..kernel._schema import EventKind, LogMessage, data_of
from ..kernel._secrets import known_secrets

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ._runtime import RunState

__all__ = ["OutputCapture", "capturing"]

_log = logging.getLogger("floe.capture")

_active: ContextVar[OutputCapture | None] = ContextVar("floe_output_capture", default=None)


class OutputCapture:
    """The captured output of one run: complete lines become ``log.message`` events."""

    def __init__(self, state: RunState, *, echo: bool) -> None:
        self._state = state
        self.echo = echo
        self._partial: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()  # sync tasks print from several worker threads

    def write(self, stream: str, text: str) -> None:
        from ._runtime import current_scope_key

        step = current_scope_key()
        with self._lock:
            pending = self._partial.pop((stream, step), "") + text
            *lines, rest = pending.split("\n")
            if rest:
                self._partial[(stream, step)] = rest
        for line in lines:
            self._emit(line, step, stream=stream, level="INFO" if stream == "stdout" else "ERROR")

    def log(self, record: logging.LogRecord, message: str) -> None:
        from ._runtime import current_scope_key

        self._emit(
            message,
            current_scope_key(),
            stream="logging",
            level=record.levelname,
            logger=record.name,
        )

    def close(self) -> None:
        """Report text still waiting for its end of line."""
        with self._lock:
            partial, self._partial = self._partial, {}
        for (stream, step), text in partial.items():
            self._emit(text, step, stream=stream, level="INFO" if stream == "stdout" else "ERROR")

    def _emit(
        self, message: str, step: str, *, stream: str, level: str, logger: str | None = None
    ) -> None:
        from ._artifacts import report

        line = LogMessage(
            message=message,
            stream=stream,
            level=level,
            task=step.rpartition("/")[2].rpartition("#")[0] if step else None,
            logger=logger,
        )
        try:
            report(self._state, Deferred(EventKind.LOG_MESSAGE, step or None, data_of(line)))
        except FloeError as error:
            # printing and logging must not fail: the line is not kept, and floe says why
            _log.warning("A line of output of run %s was not kept: %s", self._state.run_id, error)


class _StreamProxy:
    """Stands in for ``sys.stdout`` / ``sys.stderr`` while capturing runs execute."""

    def __init__(self, name: str, original: IO[str]) -> None:
        self._name = name
        self.original = original

    def write(self, text: str) -> int:
        capture = _active.get()
        if capture is None:
            return self.original.write(text)
        capture.write(self._name, text)
        if capture.echo:
            # the journal keeps the exact text (sealed if need be); the console shows it masked
            self.original.write(known_secrets().mask_text(text))
        return len(text)

    def flush(self) -> None:
        self.original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)  # encoding, isatty(), fileno() ...


class _LogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        capture = _active.get()
        if capture is None or record.name == "floe" or record.name.startswith("floe."):
            return
        try:
            message = self.format(record)
        except Exception:
            self.handleError(record)
            return
        capture.log(record, message)


_lock = threading.Lock()
_users = 0
_handler = _LogHandler()
_proxies: dict[str, _StreamProxy] = {}


def _install() -> None:
    global _users
    with _lock:
        _users += 1
        for name in ("stdout", "stderr"):
            current = getattr(sys, name)
            if not isinstance(current, _StreamProxy):
                proxy = _StreamProxy(name, current)
                _proxies[name] = proxy
                setattr(sys, name, proxy)
        root = logging.getLogger()
        if _handler not in root.handlers:
            root.addHandler(_handler)


def _uninstall() -> None:
    global _users
    with _lock:
        _users -= 1
        if _users > 0:
            return
        for name, proxy in list(_proxies.items()):
            if getattr(sys, name) is proxy:  # someone else may have replaced it since
                setattr(sys, name, proxy.original)
            del _proxies[name]
        logging.getLogger().removeHandler(_handler)


@contextmanager
def capturing(state: RunState, *, enabled: bool, echo: bool) -> Iterator[None]:
    """Capture the output of the code in this block into *state*'s journal (if *enabled*).

    A run that does not capture still sets the context variable (to None), so a child
    run's output is not reported in its parent's journal.
    """
    capture = OutputCapture(state, echo=echo) if enabled else None
    state.capture = capture
    if capture is not None:
        _install()
    token = _active.set(capture)
    try:
        yield
    finally:
        _active.reset(token)
        if capture is not None:
            _uninstall()
            capture.close()
