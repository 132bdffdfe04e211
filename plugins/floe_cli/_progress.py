"""What ``floe run`` shows while a run executes, built from the kernel's bus events.

On a terminal a live table of steps (rich); otherwise one plain line per event on
stderr, so that stdout carries only the run's output and pipes (``floe run ... | jq``)
stay clean. Both read the same events: ``run.*`` and ``task.*``, as the journal records
them. rich is imported only when the live display is used.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from datetime import datetime
from itertools import islice
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Final, Protocol, Self

import attrs
import click
import orjson

import floe
from floe.storage import utcnow

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.live import Live
    from rich.spinner import Spinner

__all__ = [
    "LiveProgress",
    "PlainProgress",
    "Progress",
    "elapsed",
    "format_error",
    "format_run_duration",
    "format_seconds",
    "open_progress",
    "run_seconds",
]

_OWNER: Final = "floe-cli-progress"
_PATTERNS: Final = ("run.*", "task.*")
_RUN_ENDS: Final = frozenset(
    {
        floe.EventKind.RUN_COMPLETED,
        floe.EventKind.RUN_FAILED,
        floe.EventKind.RUN_CANCELLED,
        floe.EventKind.RUN_PAUSED,
    }
)
_STEP_ENDS: Final = frozenset({floe.EventKind.TASK_COMPLETED, floe.EventKind.TASK_FAILED})
_VISIBLE_STEPS: Final = 12
"""Finished steps the live table shows (older ones fold into one line), and running ones."""
_DETAIL_WIDTH: Final = 80

# (symbol, rich style) per step status
_MARKS: Final = {
    "running": ("", "cyan"),
    "retrying": ("↻", "yellow"),
    "completed": ("✓", "green"),
    "fallback": ("✓", "yellow"),
    "failed": ("✗", "red"),
}


def open_progress(
    run_id: str,
    *,
    workflow: str = "",
    interactive: bool,
    quiet: bool = False,
    stream: IO[str] | None = None,
) -> Progress:
    """The display for the run *run_id* of *workflow*: live on a terminal, else plain lines.

    *stream* is where plain lines go (default: stderr); the live display draws on stdout,
    the terminal the person is watching.
    """
    if quiet:
        return Progress(run_id, workflow)
    if interactive:
        return LiveProgress(run_id, workflow)
    return PlainProgress(run_id, workflow, stream)


@attrs.define
class _Step:
    key: str
    status: str = "running"
    started: datetime | None = None
    finished: datetime | None = None
    detail: str = ""
    spinner: Spinner | None = None

    def seconds(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return elapsed(self.started, self.finished)


class Progress:
    """Follows one run's events on a kernel's bus; shows nothing (``--quiet``).

    Use it as ``with progress.following(kernel.bus): ...`` around the kernel's whole
    life: the kernel delivers every queued event before it closes, so the display ends
    with the run's last event. The board keeps the running steps and the last few
    finished ones, so a run of 100,000 steps costs no more to show than one of ten.
    """

    listens = False
    """Whether it subscribes to the bus at all."""

    def __init__(self, run_id: str, workflow: str = "") -> None:
        self.run_id = run_id
        self.workflow = workflow
        """The workflow's name, for the display (known once the run is found)."""
        # the live display reads the board from rich's refresh thread
        self._lock = threading.Lock()
        self._active: dict[str, _Step] = {}
        self._recent: deque[_Step] = deque(maxlen=_VISIBLE_STEPS)
        self._total = 0
        self._finished_count = 0
        self._failed_count = 0
        self._run_status = "starting"
        self._run_started: datetime | None = None
        self._run_ended: datetime | None = None

    def following(self, bus: floe.EventBus) -> _Following:
        return _Following(self, bus)

    def follow(self, run: floe.Run) -> None:
        """Follow the stored *run* (a resumed or replayed one): its id, name and start."""
        with self._lock:
            self.run_id, self.workflow = run.run_id, run.name
            self._run_started = run.created_at

    def ended(self, execution: floe.Execution) -> floe.Execution:
        """Time the run as its record does, once it ended or paused; return *execution*.

        Called before the display stops, so that its last line or frame gives the
        duration 'floe status' and 'floe runs' give.
        """
        if execution.run_id == self.run_id and not _going(execution.status):
            with self._lock:
                self._run_started, self._run_ended = execution.created_at, execution.updated_at
        return execution

    # -- what the subclasses draw ---------------------------------------------------------

    def start(self) -> None:
        """Called before the first event."""

    def stop(self) -> None:
        """Called after the last event."""

    def show(self, event: floe.Event, step: _Step | None) -> None:
        """Called after *event* updated the board (*step*: the step it concerns)."""

    # -- the board ------------------------------------------------------------------------

    def on_event(self, event: Any) -> None:
        if not isinstance(event, floe.Event):
            return
        with self._lock:
            step = self._update(event)
        self.show(event, step)

    def _update(self, event: floe.Event) -> _Step | None:
        payload = _payload(event)
        kind = event.kind
        if event.run_id == self.run_id and self._run_started is None:
            # a replayed or resumed run has no run.started here: time it from its first event
            self._run_started = event.at
        if kind.startswith("run."):
            if event.run_id == self.run_id:
                status = kind.removeprefix("run.")
                self._run_status = "running" if status in {"started", "resumed"} else status
                if isinstance(payload, floe.RunStarted):
                    self.workflow = payload.workflow
                elif kind in _RUN_ENDS:
                    self._run_ended = event.at
            return None
        if not event.step:
            return None
        key = self._label(event)
        step = self._active.get(key)
        if step is None:
            step = self._active[key] = _Step(key=key)
            self._total += 1
        if isinstance(payload, floe.TaskStarted):
            step.status, step.started, step.finished = "running", event.at, None
            attempt = payload.attempt
            step.detail = f"attempt {attempt}" if isinstance(attempt, int) and attempt > 1 else ""
        elif isinstance(payload, floe.TaskRetrying):
            step.status = "retrying"
            step.detail = (
                f"attempt {payload.attempt} failed ({format_error(payload.error)}); "
                f"next in {format_seconds(payload.delay)}"
            )
        elif isinstance(payload, floe.TaskFallback):
            step.status = "fallback"
        elif isinstance(payload, floe.TaskCompleted):
            if payload.cached:
                step.status, step.detail = "completed", "cached"
            elif payload.fallback or step.status == "fallback":
                step.status, step.detail = "fallback", "fallback"
            else:
                step.status, step.detail = "completed", ""
            self._finish(step, event)
        elif isinstance(payload, floe.TaskFailed):
            step.status = "failed"
            step.detail = format_error(payload.error)
            self._finish(step, event)
        return step

    def _finish(self, step: _Step, event: floe.Event) -> None:
        step.finished = event.at
        step.spinner = None
        del self._active[step.key]
        self._recent.append(step)
        self._finished_count += 1
        if step.status == "failed":
            self._failed_count += 1

    def _label(self, event: floe.Event) -> str:
        # steps of child runs (subworkflows) are told apart by their run
        step = event.step or ""
        return step if event.run_id == self.run_id else f"{_short(event.run_id)}:{step}"


def _payload(event: floe.Event) -> floe.Payload | None:
    """The event's payload; None for one the board cannot read (it shows what it can)."""
    try:
        return floe.payload_of(event)
    except floe.PersistenceError:
        return None


class _Following:
    def __init__(self, progress: Progress, bus: floe.EventBus) -> None:
        self._progress = progress
        self._bus = bus
        self._handles: list[floe.SubscriptionHandle] = []

    def __enter__(self) -> Self:
        if not self._progress.listens:
            return self
        self._progress.start()
        for pattern in _PATTERNS:
            # inline: updating the board never blocks, so no worker thread per event
            handle = self._bus.subscribe(pattern, _OWNER, self._progress.on_event, inline=True)
            self._handles.append(handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._progress.listens:
            return
        for handle in self._handles:
            self._bus.unsubscribe(handle)
        self._progress.stop()


class PlainProgress(Progress):
    """One line per event, for logs and pipes: ``task.completed  greet#1  (2 ms)``."""

    listens = True

    def __init__(self, run_id: str, workflow: str = "", stream: IO[str] | None = None) -> None:
        super().__init__(run_id, workflow)
        self._stream = stream
        self._end: floe.Event | None = None

    def show(self, event: floe.Event, step: _Step | None) -> None:
        if event.kind in _RUN_ENDS and event.run_id == self.run_id:
            self._end = event  # its line comes last, timed by the run's record (ended())
            return
        self._print(self._line(event, step))

    def stop(self) -> None:
        if self._end is not None:
            end, self._end = self._end, None
            self._print(self._line(end, None))

    def _print(self, line: str | None) -> None:
        if line is not None:
            click.echo(line, file=self._stream or sys.stderr)

    def _line(self, event: floe.Event, step: _Step | None) -> str | None:
        kind = event.kind
        if step is not None:
            seconds = step.seconds() if kind in _STEP_ENDS else None
            parts = [f"{kind:<15}", step.key]
            if step.detail and kind != floe.EventKind.TASK_FALLBACK:
                parts.append(step.detail)
            if seconds is not None:
                parts.append(f"({format_seconds(seconds)})")
            return "  ".join(parts)
        if event.run_id != self.run_id:
            return None
        if kind == floe.EventKind.RUN_STARTED:
            return f"{kind:<15}  {self.workflow}  run {self.run_id}"
        line = f"{kind:<15}  {self.workflow}"
        if self._run_ended is not None and self._run_started is not None:
            line += f"  ({format_seconds(elapsed(self._run_started, self._run_ended))})"
        return line


class LiveProgress(Progress):
    """A live table of steps on the terminal (rich), redrawn as events arrive."""

    listens = True

    def __init__(self, run_id: str, workflow: str = "") -> None:
        super().__init__(run_id, workflow)
        self._live: Live | None = None

    def start(self) -> None:
        from rich.console import Console
        from rich.live import Live

        console = Console(file=sys.stdout)
        self._live = Live(
            console=console,
            get_renderable=self._render,
            refresh_per_second=10,
            transient=False,
        )
        self._live.start()

    def stop(self) -> None:
        if self._live is not None:
            live, self._live = self._live, None
            live.refresh()
            live.stop()

    def _render(self) -> RenderableType:
        from rich.console import Group
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        with self._lock:
            header = self._header()
            recent = list(self._recent)
            active = list(islice(self._active.values(), _VISIBLE_STEPS))
            more_active = len(self._active) - len(active)
            for step in active:
                if step.spinner is None:
                    step.spinner = Spinner("dots", style="cyan")
            earlier = self._finished_count - len(recent)
        table = Table.grid(padding=(0, 1))
        table.add_column(width=1)
        table.add_column(no_wrap=True)
        table.add_column(justify="right", style="dim")
        table.add_column(overflow="ellipsis", no_wrap=True, max_width=_DETAIL_WIDTH)
        if earlier:
            table.add_row("", Text(f"… {earlier} earlier steps", style="dim"), "", "")
        for step in [*recent, *active]:
            symbol, style = _MARKS.get(step.status, ("?", "white"))
            seconds = step.seconds()
            mark: RenderableType = step.spinner or Text(symbol, style)
            table.add_row(
                mark,
                Text(step.key, style="bold" if step.finished is None else ""),
                format_seconds(seconds) if seconds is not None else "",
                Text(step.detail, style=style if step.status != "completed" else "dim"),
            )
        if more_active:
            table.add_row("", Text(f"… {more_active} more running", style="dim"), "", "")
        return Group(header, table)

    def _header(self) -> RenderableType:
        from rich.text import Text

        status = self._run_status
        style = {
            "completed": "green",
            "failed": "red",
            "cancelled": "red",
            "paused": "yellow",
        }.get(status, "cyan")
        started = self._run_started
        seconds = elapsed(started, self._run_ended or utcnow()) if started else 0.0
        counts = f"{self._finished_count}/{self._total} steps done"
        if self._failed_count:
            counts += f", {self._failed_count} failed"
        header = Text()
        header.append(self.workflow or "workflow", style="bold")
        header.append(f"  run {self.run_id}  ", style="dim")
        header.append(status, style=style)
        header.append(f"  {format_seconds(seconds)}  {counts}", style="dim")
        return header


def _short(run_id: str) -> str:
    return run_id[:8]


class _Timed(Protocol):
    """What a run's duration is computed from: a run's record, or an execution of it."""

    @property
    def created_at(self) -> datetime: ...
    @property
    def updated_at(self) -> datetime: ...
    @property
    def status(self) -> floe.RunStatus: ...


def elapsed(start: datetime, end: datetime) -> float:
    """Seconds from *start* to *end*: every duration the command line shows is one."""
    return (end - start).total_seconds()


def run_seconds(run: _Timed, now: datetime | None = None) -> float:
    """A run's duration: from its creation to its last update once it ended or paused,
    to *now* (default: the current time) while it is still going."""
    end = (now or utcnow()) if _going(run.status) else run.updated_at
    return elapsed(run.created_at, end)


def format_run_duration(run: _Timed, now: datetime | None = None) -> str:
    """:func:`run_seconds` as text: ``18 ms``, or ``4.2 s so far`` for a run still going."""
    text = format_seconds(run_seconds(run, now))
    return f"{text} so far" if _going(run.status) else text


def _going(status: floe.RunStatus) -> bool:
    return status in (floe.RunStatus.PENDING, floe.RunStatus.RUNNING)


def format_seconds(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "?"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes:.0f} min {rest:.0f} s"
    hours, rest = divmod(seconds, 3600)
    if hours < 24:
        return f"{hours:.0f} h {rest // 60:.0f} min"
    days, hours = divmod(hours, 24)
    return f"{days:.0f} d {hours:.0f} h"


def format_error(error: Any) -> str:
    error = floe.mask(error)  # a sealed error shows as ***
    if isinstance(error, str):
        return error
    if isinstance(error, dict):
        kind = str(error.get("type", "error")).rpartition(".")[2]
        message = error.get("message")
        return f"{kind}: {message}" if message else kind
    return orjson.dumps(error).decode() if error is not None else "error"
