"""Rollbacks (the saga): undoing what completed steps did, newest first.

A task may declare ``rollback=fn``; ``fn`` is called with the task's arguments. It runs
when the task fails for good (no fallback saved it), and, for every completed step of a
run that fails or is cancelled, in reverse completion order. Each one is journaled as
``task.rolled_back``, so a replay never runs a recorded rollback twice. A rollback that
raises is recorded with its error and the others still run.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

import anyio.to_thread

from ..kernel._models import ErrorInfo
from ..kernel._schema import EventKind, TaskCompleted, TaskRolledBack, data_of, payload_of
from ..kernel._serialize import converter
from ._runtime import RunState, outside_run

__all__ = ["RollbackReason", "call_rollback", "roll_back_completed", "rolled_back_data"]

RollbackReason = Literal["task_failed", "run_failed", "run_cancelled"]

logger = logging.getLogger("floe.workflows")


async def call_rollback(
    function: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]
) -> Exception | None:
    """Call a rollback with the task's arguments; return what it raised, if anything.

    A sync rollback runs in a worker thread. Cancellation is not caught.
    """
    try:
        # not a step of the run: a replay does not run it again, so it must not take keys
        with outside_run():
            if inspect.iscoroutinefunction(function):
                await function(*args, **kwargs)
            else:
                result = await anyio.to_thread.run_sync(lambda: function(*args, **kwargs))
                if inspect.isawaitable(result):  # e.g. a floe task wrapping an async function
                    await result
    except Exception as error:
        logger.warning("rollback %r failed: %r", getattr(function, "__qualname__", function), error)
        return error
    return None


def rolled_back_data(
    task_name: str, position: str, reason: RollbackReason, error: Exception | None
) -> dict[str, Any]:
    """The data of a ``task.rolled_back`` event."""
    info = None if error is None else converter.unstructure(ErrorInfo.from_exception(error))
    return data_of(TaskRolledBack(task=task_name, position=position, reason=reason, error=info))


async def roll_back_completed(state: RunState, reason: RollbackReason) -> None:
    """Run the rollbacks of the run's completed steps, newest first, each journaled once.

    Completion order is the journal's. Steps answered from the cache did no work in this
    run and are not rolled back.
    """
    if not state.rollbacks and not state.replay.rollback_steps:
        return
    events = await state.kernel.store.read_events(state.run_id)
    rolled_back = {e.step for e in events if e.kind == EventKind.TASK_ROLLED_BACK}
    completed = [
        event.step
        for event in events
        if event.kind == EventKind.TASK_COMPLETED and event.step is not None
        for step in (payload_of(event),)
        if isinstance(step, TaskCompleted) and step.rollback and not step.cached
    ]
    for key in reversed(completed):
        if key in rolled_back:
            continue
        registered = state.rollbacks.get(key)
        if registered is None:
            # a concurrent branch never got back to this step before the run unwound
            logger.warning(
                "run %s: the rollback of step %s cannot run: the replay did not reach it",
                state.run_id,
                key,
            )
            continue
        rollback = registered.task.options.rollback
        assert rollback is not None  # only tasks with a rollback are registered
        error = await call_rollback(rollback, registered.args, registered.kwargs)
        data = rolled_back_data(registered.task.name, registered.position, reason, error)
        await state.journal.write([(EventKind.TASK_ROLLED_BACK, key, data)])
        rolled_back.add(key)
