"""Log sinks for the ``floe`` logger: a console for people, JSON lines for machines.

``log_format = "console"`` writes ``time level logger [run_id=… step=…] message`` to
stderr, in colour when stderr is a terminal (and ``NO_COLOR`` is unset);
``log_format = "json"`` writes one JSON object per line with the keys ``ts``, ``level``,
``logger``, ``message``, ``run_id``, ``step``, ``component``, ``correlation_id`` and
``exc_info`` when there is an exception. A ``file`` key in the plugin's section sends the
lines to that file instead (appended to; created owner-only, ``0600``, in directories
created ``0700``, while an existing file keeps its mode)::

    [tool.floe.logging]
    file = ".floe/floe.log"

The correlation fields come from :func:`floe.bind_log_context` and from what the
programming models bind for the code they run (a workflow run its ``run_id`` and
``correlation_id``, a step its ``step``), through the filter the kernel adds to every
handler this plugin returns. Steps are logged at DEBUG on ``floe.workflows``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import floe

from ._formatters import ConsoleFormatter, JsonLinesFormatter
from ._handlers import LoggingOptions, QueuedFileHandler, build_handlers, read_options

__all__ = [
    "ConsoleFormatter",
    "JsonLinesFormatter",
    "LoggingOptions",
    "QueuedFileHandler",
    "floe_configure",
    "floe_log_handlers",
]


@floe.hookimpl
def floe_configure(settings: floe.Settings) -> None:
    """Reject a bad logging section at start-up, even while logging is off."""
    read_options(settings.section("logging"))


@floe.hookimpl
def floe_log_handlers(settings: floe.Settings) -> Sequence[logging.Handler]:
    """The console or JSON-lines sink that ``settings.log_format`` asks for."""
    return build_handlers(settings)
