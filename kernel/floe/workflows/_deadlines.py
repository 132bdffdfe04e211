"""A workflow run's timeout: its deadline, counted from the recorded start across resumes.

``@workflow(timeout=...)`` is Temporal's execution timeout: the wall-clock time since the
run started (as its journal records it), across resumes, pauses and crashes. Past it, a
run replays only up to its first step without a record, then fails.
"""

from __future__ import annotations

import itertools
from datetime import datetime

import anyio

from ..kernel._errors import WorkflowTimeoutError
from ..kernel._kinds import EventKind
from ..kernel._models import utcnow
from ._runtime import RunState

__all__ = ["deadline_passed", "start_clock", "timeout_failure"]


def start_clock(state: RunState, timeout: float | None) -> None:
    """Set the run's deadline from its recorded start; past it, the run replays only
    up to its first step without a record, then fails with the timeout."""
    if timeout is None:
        return
    elapsed = (utcnow() - _started_at(state)).total_seconds()
    state.deadline = anyio.current_time() + timeout - elapsed
    if elapsed >= timeout and not state.cancel_requested:
        state.timed_out = state.cancel_requested = True


def timeout_failure(
    state: RunState, workflow: str, timeout: float | None
) -> WorkflowTimeoutError | None:
    """The failure of a run that went past its *timeout*, or None."""
    if not state.timed_out or timeout is None:
        return None
    return WorkflowTimeoutError(
        f"Run {state.run_id!r} of workflow {workflow!r} ran past its timeout of {timeout:g} s",
        why="A workflow's timeout counts the wall-clock time since the run started, "
        "across resumes, pauses and crashes.",
        fix="Raise the workflow's timeout (@floe.workflow(timeout=...)), or start a new run.",
        context={"run_id": state.run_id, "timeout": timeout},
    )


def _started_at(state: RunState) -> datetime:
    """When the run started, as its journal records it."""
    for event in itertools.islice(itertools.chain(state.base_events, state.journal.written), 1):
        if event.kind == EventKind.RUN_STARTED:
            return event.at
    return state.run.created_at


def deadline_passed(state: RunState, *, cut_short: bool) -> bool:
    """Whether a body *cut_short* by a cancellation was cut short by the run's deadline."""
    return (
        cut_short
        and state.deadline is not None
        and not state.cancel_requested
        and anyio.current_time() >= state.deadline
    )
