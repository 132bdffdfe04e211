"""Child runs: a workflow run inside another workflow is a step of its parent.

``await child.run_async(...)`` or ``await floe.call(child, ...)`` in a workflow starts a
child run with its own journal, ``parent_id`` set and the run id
``"{parent_run_id}:{step_key}"``, so a replayed parent reattaches to the same child (and
resumes it when it was interrupted). The parent journals the child's result or failure
as its step. A child that pauses pauses its parent: resuming the parent hands the value
down to the child's pause.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, NoReturn

import attrs

from ..kernel._errors import ExitCode, FloeError, StateError, public_name
from ..kernel._journal import open_pause
from ..kernel._models import ErrorInfo, Event, RunStatus, utcnow
from ..kernel._schema import (
    EventKind,
    RunPaused,
    RunResumed,
    TaskCompleted,
    TaskFailed,
    TaskStarted,
    data_of,
    payload_of,
)
from ..kernel._serialize import converter
from ._runtime import RunState, Unwind, stop_for_cancel
from ._tasks import rebuild_error

if TYPE_CHECKING:
    from ._workflows import Execution, Workflow

__all__ = ["HandDown", "RunCancelledError", "run_child"]

Returns = Literal["execution", "output"]

_RESULT: Final = attrs.fields(TaskCompleted).result.name
_ERROR: Final = attrs.fields(TaskFailed).error.name

HandDown = tuple[int, Any]
"""A resume value for a paused child: ``(seq of the child's run.paused, value)``."""


@public_name("floe.RunCancelledError", formerly="floe._subworkflows.RunCancelledError")
class RunCancelledError(FloeError, RuntimeError):
    """A child run was cancelled, so the step of its parent that ran it failed."""

    exit_code = ExitCode.RUN_FAILED


async def run_child(
    child: Workflow[Any, Any],
    parent: RunState,
    key: str,
    position: str,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    *,
    run_id: str | None,
    raise_on_error: bool,
    returns: Returns,
) -> Any:
    """Run (or replay) *child* as the step *key* of *parent*.

    *returns* ``"output"`` (``floe.call``): the child's output, its error raised;
    ``"execution"`` (``child.run_async``): its :class:`Execution`.
    """
    kernel = parent.kernel
    child_id = run_id or f"{parent.run_id}:{key}"
    recorded = parent.replay.lookup(position, child.name, key)
    if recorded is not None:
        return await _replayed(
            child, parent, recorded, child_id, raise_on_error=raise_on_error, returns=returns
        )
    if parent.cancel_requested:
        await stop_for_cancel(parent)  # the child is cancelled after the parent unwinds
    step = TaskStarted(task=child.name, position=position, attempt=1, child_run_id=child_id)
    kind = EventKind.TASK_STARTED
    started = (kind, key, data_of(step), utcnow())
    await kernel.bus.post(
        kind,
        Event(run_id=parent.run_id, seq=0, kind=kind, step=key, at=started[3], data=started[2]),
    )
    last = parent.replay.pauses.get(position)
    hand_down: HandDown | None = None
    resumed = payload_of(last) if last is not None else None
    if isinstance(resumed, RunResumed) and resumed.child_pause is not None:
        hand_down = (resumed.child_pause, resumed.value)
    execution = await child.run_as_child(
        kernel, tuple(args), dict(kwargs), child_id, parent=parent, hand_down=hand_down
    )
    status = execution.status
    if status is RunStatus.COMPLETED:
        done = TaskCompleted(
            task=child.name, position=position, child_run_id=child_id, result=execution.output
        )
        await parent.journal.write([(done.kind, key, data_of(done))], published=[started])
        parent.executed.append(key)
        return child.decode_output(execution.output) if returns == "output" else execution
    if status is RunStatus.PAUSED:
        await _pause_parent(parent, key, position, child, child_id, execution)
    if status is RunStatus.RUNNING:
        await _suspend_parent(parent, child_id)
    if status is RunStatus.CANCELLED and parent.cancel_requested:
        raise Unwind("cancelled")  # cancelled together with its parent
    error = _child_error(child, child_id, execution)
    raised = returns == "output" or raise_on_error
    failed = TaskFailed(
        task=child.name,
        position=position,
        attempt=1,
        error=converter.unstructure(ErrorInfo.from_exception(error)),
        raised=raised,
        child_run_id=child_id,
    )
    await parent.journal.write([(failed.kind, key, data_of(failed))], published=[started])
    parent.executed.append(key)
    if raised:
        raise error
    return execution


async def _suspend_parent(parent: RunState, child_id: str) -> NoReturn:
    """The child suspended itself in a long wait (a worker's): the parent suspends too,
    due when the child is, and its replay then continues the child where it waits."""
    child = await parent.kernel.store.get_run(child_id)
    due = child.runnable_at if child is not None else None
    await parent.journal.write([], run=parent.evolve_run(runnable_at=due or utcnow()))
    raise Unwind("suspended")


async def _replayed(
    child: Workflow[Any, Any],
    parent: RunState,
    recorded: Event,
    child_id: str,
    *,
    raise_on_error: bool,
    returns: Returns,
) -> Any:
    step = payload_of(recorded)
    assert isinstance(step, TaskCompleted | TaskFailed)  # the replay's step outcomes
    if returns == "output":
        opener = parent.opener()
        if isinstance(step, TaskCompleted):
            return child.decode_output(
                opener.value(step.result, recorded.kind, recorded.step, _RESULT)
            )
        error = opener.value(step.error, recorded.kind, recorded.step, _ERROR)
        raise rebuild_error(converter.structure(error, ErrorInfo))
    run_id = step.child_run_id or child_id
    execution = await child.load(parent.kernel, run_id)
    if execution.failed and raise_on_error:
        raise _child_error(child, run_id, execution)
    return execution


def _child_error(child: Workflow[Any, Any], child_id: str, execution: Execution) -> Exception:
    if execution.status is RunStatus.FAILED:
        if isinstance(execution.exception, Exception):
            return execution.exception
        if execution.error is not None:
            rebuilt = rebuild_error(execution.error)
            if isinstance(rebuilt, Exception):
                return rebuilt
    if execution.status is RunStatus.CANCELLED:
        return RunCancelledError(
            f"Child run {child_id!r} of workflow {child.name!r} was cancelled",
            why="Its parent's step waits for the child's output, and there is none.",
            fix="Catch floe.RunCancelledError in the parent to carry on without it.",
            context={"run_id": child_id},
        )
    return FloeError(
        f"Child run {child_id!r} of workflow {child.name!r} ended {execution.status}",
        context={"run_id": child_id},
    )


async def _pause_parent(
    parent: RunState,
    key: str,
    position: str,
    child: Workflow[Any, Any],
    child_id: str,
    execution: Execution,
) -> NoReturn:
    """The child paused: pause the parent at this step, remembering the child's pause."""
    pause = open_pause(execution.events)
    if pause is None:
        raise StateError(
            f"Child run {child_id!r} is paused, but its journal has no open pause",
            fix="Inspect the child's journal (floe events RUN_ID).",
            context={"run_id": child_id},
        )
    child_pause = payload_of(pause)
    assert isinstance(child_pause, RunPaused)
    paused = RunPaused(
        task=child.name,
        position=position,
        name=child_pause.name,
        output=execution.output,
        child_run_id=child_id,
        child_pause=pause.seq,
    )
    run = parent.evolve_run(status=RunStatus.PAUSED, runnable_at=None, output=execution.output)
    await parent.journal.write([(paused.kind, key, data_of(paused))], run=run)
    raise Unwind("paused")
