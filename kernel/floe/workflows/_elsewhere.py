"""A run that another process executes, cancels, or executed before this one.

A run has one writer at a time; the journal's sequence check fences a second one out.
What that second execution then says and does lives here: the error naming the owner,
and the wait for a cancellation from elsewhere (``run.cancelling``, then the saga, then
``run.cancelled``) so that it returns the cancelled run, never a half-cancelled one; and
the secrets a run used before, recalled before a resume in another process writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from ..kernel._errors import FloeError, NotFoundError, SequenceConflictError, StateError
from ..kernel._kinds import EventKind
from ..kernel._models import RunStatus
from ._tasks import resolve_secrets

if TYPE_CHECKING:
    from ..kernel._kernel import Kernel
    from ..kernel._models import Run
    from ._runtime import RunState

__all__ = [
    "cancelled_elsewhere",
    "executing_elsewhere",
    "no_run",
    "not_cancellable",
    "recall_secrets",
    "shared_secrets",
]


async def cancelled_elsewhere(state: RunState, conflict: SequenceConflictError) -> Run:
    """The finished run another process's write fenced this execution out for.

    A ``floe.cancel`` from elsewhere fences first (``run.cancelling``), then runs the saga
    and records ``run.cancelled``: this execution waits for that outcome as long as that
    journal keeps moving, so it returns the cancelled run, never a half-cancelled one.
    """
    store = state.kernel.store
    progress, delay = -1, 0.01
    deadline = anyio.current_time() + _CANCEL_STALLED
    while True:
        stored = await store.get_run(state.run_id)
        if stored is not None and stored.status.finished:
            return stored
        if stored is None or not await _cancelling(state):
            raise executing_elsewhere(state.run_id) from conflict
        if stored.last_seq != progress:  # a rollback was recorded: the canceller is alive
            progress, deadline = stored.last_seq, anyio.current_time() + _CANCEL_STALLED
        elif anyio.current_time() >= deadline:
            raise executing_elsewhere(state.run_id) from conflict
        await anyio.sleep(delay)
        delay = min(delay * 2, 1.0)


_CANCEL_STALLED = 60.0
"""Seconds a cancellation from elsewhere may record nothing before the fenced-out
execution stops waiting for it (its process may have died mid-saga)."""


async def _cancelling(state: RunState) -> bool:
    """Whether another writer's events since this execution's last hold ``run.cancelling``."""
    known = state.journal.written or state.base_events
    after = known[-1].seq if known else 0
    newer = await state.kernel.store.read_events(state.run_id, after_seq=after)
    return any(event.kind == EventKind.RUN_CANCELLING for event in newer)


def executing_elsewhere(run_id: str, *, why: str | None = None) -> SequenceConflictError:
    return SequenceConflictError(
        f"Run {run_id!r} is being executed by another process",
        why=why
        or "It recorded a step of the run while this execution was executing it too; a "
        "run has one writer, so this execution stopped without recording more.",
        fix="Let the other execution finish (wf.run_async(run_id=...) then returns the "
        "stored outcome), or cancel the run with floe.cancel(run_id).",
        context={"run_id": run_id},
    )


def not_cancellable(run: Run) -> StateError:
    return StateError(
        f"Run {run.run_id!r} is already {run.status}; it cannot be cancelled",
        why="Only a running or paused run can be cancelled.",
        fix="Check the run's status with 'floe status RUN_ID'.",
        context={"run_id": run.run_id, "status": str(run.status)},
    )


def not_resumable(run: Run) -> StateError:
    """The error of resuming a run that is neither paused nor interrupted."""
    context = {"run_id": run.run_id, "status": str(run.status)}
    if run.status is RunStatus.PENDING:
        why = "It was submitted and waits for a worker to start it."
        fix = (
            "Start a worker on its store ('floe worker'), or run it here with "
            "'floe run TARGET --run-id RUN_ID'."
        )
    elif run.status is RunStatus.RUNNING:
        owner = run.lease_owner or "another process"
        why = f"{owner} is executing it; only a paused run waits for a value to resume with."
        fix = (
            "Check the run's status with 'floe status RUN_ID'; if that process is gone, "
            "resume it once its lease has run out."
        )
        context["owner"] = owner
    else:
        why = "A finished run never runs again."
        fix = "Check the run's status with 'floe status RUN_ID'; start a new run instead."
    return StateError(
        f"Run {run.run_id!r} is {run.status}, not paused or interrupted",
        why=why,
        fix=fix,
        context=context,
    )


def no_run(run_id: str, kernel: Kernel) -> NotFoundError:
    return NotFoundError(
        f"No run {run_id!r} in the store {kernel.store.url or type(kernel.store).__name__}",
        fix="Check the run id ('floe runs' lists them) and the store setting.",
        context={"run_id": run_id},
    )


def shared_secrets(parent: RunState | None) -> Any:
    """The secrets in play of a child run: its parent's, shared (None for a top run)."""
    return parent.secrets if parent is not None else None


async def recall_secrets(state: RunState) -> None:
    """Resolve the secrets the run used before (its record names them), before it writes.

    A resume in another process knows no secret of the run yet; a later write holding
    one's value must be sealed all the same.
    """
    recorded = state.run.metadata.get("secrets")
    if not recorded:
        return
    known = state.secrets.names
    missing = [name for name in recorded if isinstance(name, str) and name not in known]
    if not missing:
        return
    try:
        await resolve_secrets(state, missing)
    except FloeError as error:
        raise type(error)(
            f"Run {state.run_id!r} used the secret{'s' * (len(missing) > 1)} "
            f"{', '.join(missing)}, which cannot be read now: {error.what}",
            why="floe needs the values of a run's secrets to seal them in what it stores "
            "from here on; nothing was written.",
            fix=error.fix,
            context={**error.context, "run_id": state.run_id},
        ) from None
