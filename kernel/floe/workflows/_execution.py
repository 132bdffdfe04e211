"""What a run gives back: the :class:`Execution` of a workflow run, and its :class:`Context`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs

from ..kernel._errors import renamed_attribute
from ..kernel._journal import FINAL_STEP_EVENTS, open_pause
from ..kernel._models import ErrorInfo, Event, Run, RunStatus
from ..kernel._schema import EventKind, LogMessage, RunPaused, payload_of
from ..kernel._sealing import Opener
from ._artifacts import Artifact, Result, artifacts_of, results_of
from ._runtime import RunState

__all__ = ["Context", "Execution", "execution_of"]

T = TypeVar("T")


@attrs.frozen
class Context(Generic[T]):
    """What a workflow body declared as ``ctx: floe.Context[T]`` receives."""

    input: T
    run_id: str
    workflow: str
    _state: RunState = attrs.field(repr=False, alias="state")

    def __getattr__(self, name: str) -> Any:
        raise renamed_attribute(self, name, _FLUX_CONTEXT)

    @property
    def events(self) -> list[Event]:
        """The run's journal so far: what was recorded before this execution started
        (on a resume) and every event it recorded since, the latest included."""
        state = self._state
        return [*state.base_events, *state.journal.written]


@attrs.frozen
class Execution:
    """The outcome of a run: its status, output or error, and its journal.

    ``output``, ``error``, ``artifacts``, ``results`` and ``captured_logs()`` are the
    exact values, secrets included: they are your program's own (show them with
    ``floe.mask``). ``events`` is the journal as stored: a field that held a secret's
    value is a sealed envelope there.
    """

    run_id: str
    workflow: str
    status: RunStatus
    output: Any
    error: ErrorInfo | None
    events: tuple[Event, ...]
    created_at: datetime
    updated_at: datetime
    exception: BaseException | None = attrs.field(default=None, eq=False, repr=False)
    """The exception the body raised, when it ran in this process (exactly as raised)."""
    opener: Opener | None = attrs.field(default=None, eq=False, repr=False)
    """Opens the sealed fields of ``events`` (None: they are shown as stored)."""

    def __getattr__(self, name: str) -> Any:
        raise renamed_attribute(self, name, _FLUX_EXECUTION)

    @property
    def finished(self) -> bool:
        return self.status.finished

    @property
    def succeeded(self) -> bool:
        return self.status is RunStatus.COMPLETED

    @property
    def failed(self) -> bool:
        return self.status is RunStatus.FAILED

    @property
    def paused(self) -> bool:
        return self.status is RunStatus.PAUSED

    @property
    def cancelled(self) -> bool:
        return self.status is RunStatus.CANCELLED

    @property
    def duration(self) -> float:
        """Seconds from the run's creation to its last update."""
        return (self.updated_at - self.created_at).total_seconds()

    @property
    def pause_name(self) -> str | None:
        """The name of the pause a paused run waits at (``floe.pause(name)``), else None."""
        if self.status is not RunStatus.PAUSED:
            return None
        pause = open_pause(self.events)
        paused = payload_of(pause) if pause is not None else None
        return paused.name if isinstance(paused, RunPaused) else None

    @property
    def executed_tasks(self) -> list[str]:
        """Step keys of every finished step, in journal order."""
        return [e.step for e in self.events if e.kind in FINAL_STEP_EVENTS and e.step]

    @property
    def artifacts(self) -> list[Artifact]:
        """The artifacts the run recorded (``this_flow.add_artifact``), in order."""
        return artifacts_of(self.events, self.opener)

    @property
    def results(self) -> list[Result]:
        """The named results the run recorded (``this_flow.add_result``), in order."""
        return results_of(self.events, self.opener)

    def captured_logs(self) -> list[str]:
        """The lines the run printed or logged, when it captured its output."""
        opener = self.opener
        return [
            line.message
            for event in self.events
            if event.kind == EventKind.LOG_MESSAGE
            for line in (payload_of(event, opener),)
            if isinstance(line, LogMessage)
        ]

    @classmethod
    def from_run(
        cls,
        run: Run,
        events: list[Event],
        exception: BaseException | None = None,
        opener: Opener | None = None,
    ) -> Execution:
        """The execution of *run* as stored; with *opener*, its sealed values opened."""
        if opener is not None:
            run = opener.run(run)
        return cls(
            run_id=run.run_id,
            workflow=run.name,
            status=run.status,
            output=run.output,
            error=run.error,
            events=tuple(events),
            created_at=run.created_at,
            updated_at=run.updated_at,
            exception=exception,
            opener=opener,
        )


def execution_of(
    state: RunState, run: Run, events: list[Event], exception: BaseException | None = None
) -> Execution:
    """The execution of *run* for the program, its sealed values opened (see _sealing)."""
    return Execution.from_run(run, events, exception, state.opener())


_FLUX_CONTEXT = {
    "execution_id": "A run's id is ctx.run_id in floe (Flux's ctx.execution_id).",
    "output": "A run's output is execution.output, on the Execution that run() returns.",
}
_FLUX_EXECUTION = {
    "has_finished": "Use execution.finished (Flux's ctx.has_finished).",
    "has_succeeded": "Use execution.succeeded (Flux's ctx.has_succeeded).",
    "has_failed": "Use execution.failed (Flux's ctx.has_failed).",
    "execution_id": "Use execution.run_id (Flux's ctx.execution_id).",
    "input": "The run's input is in its run.started event: execution.events[0].data['input'].",
}
"""Flux's ``ExecutionContext`` attributes that floe spells differently, with the fix."""
