"""Submitting a run without waiting for it: ``handle = await wf.submit_async(...)``.

A submitted run is stored ``pending``, unleased and due at once, with its input and its
workflow's target; no step runs in the submitting process. A worker (``floe worker``,
:class:`floe.Worker`) claims it, imports the workflow by its target and executes it.
The :class:`RunHandle` returned looks the run up in the store: ``status()``, ``wait()``
(until it finishes or pauses) and ``result()`` (its output, or its error raised).

A caller-chosen ``run_id`` is an idempotency key: submitting it again returns the handle
of the run it names (with the same input; another input is a :class:`ConfigError`).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from ..kernel._errors import (
    ConfigError,
    FloeError,
    NotFoundError,
    PersistenceError,
    StateError,
    rebuild_error,
)
from ..kernel._handles import StoredHandle
from ..kernel._kernel import Kernel, kernel_for_call
from ..kernel._models import Run, RunStatus, check_run_id
from ..kernel._queues import DEFAULT_PLACEMENT, Placement
from ..kernel._sealing import Opener
from ._elsewhere import no_run
from ._execution import Execution
from ._runtime import current_run
from ._subworkflows import RunCancelledError

if TYPE_CHECKING:
    from ._workflows import Workflow

__all__ = ["QueuedWorkflow", "RunHandle", "submit"]

T = TypeVar("T")


@attrs.frozen
class RunHandle(StoredHandle, Generic[T]):
    """A run submitted to be executed by a worker: ``wf.submit(...)`` returns one.

    Every method reads the store, so a handle works from any process that opens the
    same store, for as long as the run is kept (``RunHandle(workflow, run_id)``):
    ``status()``, ``wait()`` and ``result()``, and their async twins.
    """

    workflow: Workflow[..., T] = attrs.field(repr=lambda workflow: repr(workflow.name))
    run_id: str

    @property
    def stored_id(self) -> str:
        return self.run_id

    def described(self) -> str:
        return f"Run {self.run_id!r} of workflow {self.workflow.name!r}"

    def backend(self) -> str | None:
        return self.workflow.backend

    def missing(self, kernel: Kernel) -> NotFoundError:
        return no_run(self.run_id, kernel)

    async def wait_async(self) -> Execution:
        """The run's execution once it has finished or paused.

        It waits as long as that takes; bound it with ``anyio.fail_after``, or use
        :meth:`wait` with a timeout.
        """
        async with kernel_for_call() as kernel:
            run = await self.settled(kernel)
            events = await kernel.store.read_events(run.run_id)
            opener = Opener(run.run_id, kernel.payload_codec)
            return Execution.from_run(run, events, opener=opener)

    def wait(self, timeout: float | None = None) -> Execution:
        """:meth:`wait_async` from synchronous code: waiting longer than *timeout*
        seconds (None: no limit) is a :class:`WorkflowTimeoutError`, and the run goes
        on regardless."""
        execution: Execution = self.sync_within(self.wait_async, timeout)
        return execution

    async def result_async(self) -> T:
        """The run's output once it completed; its error raised when it failed.

        A cancelled run raises :class:`RunCancelledError`, a paused one
        :class:`StateError` (resume it first). It waits as :meth:`wait_async` does.
        """
        execution = await self.wait_async()
        if execution.succeeded:
            output: T = self.workflow.decode_output(execution.output)
            return output
        raise _outcome_error(self.workflow.name, execution)

    def result(self, timeout: float | None = None) -> T:
        """:meth:`result_async` from synchronous code, with *timeout* as for :meth:`wait`."""
        output: T = self.sync_within(self.result_async, timeout)
        return output


async def submit(
    workflow: Workflow[..., T],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    run_id: str | None,
    placement: Placement = DEFAULT_PLACEMENT,
) -> RunHandle[T]:
    """Store a pending run of *workflow* for a worker to execute, in *placement*'s
    queue; its handle."""
    if current_run() is not None:
        raise StateError(
            f"Workflow {workflow.name!r} was submitted from inside a run",
            why="A submission is a side effect a replay would repeat: the run it makes is "
            "not a step of the run around it.",
            fix="Call the workflow as a child run (floe.call or wf.run_async), or submit "
            "from outside the workflow.",
            context={"workflow": workflow.name},
        )
    if "<" in workflow.target:  # '<locals>', '<lambda>': no worker can import it
        raise ConfigError(
            f"Workflow {workflow.name!r} cannot be submitted: a worker could not import "
            f"its target {workflow.target!r}",
            why="A worker loads a submitted run's workflow by the target it recorded; a "
            "workflow defined inside a function has none another process can import.",
            fix="Define the workflow at the top level of a module or file.",
            context={"workflow": workflow.name, "target": workflow.target},
        )
    if run_id is not None:
        check_run_id(run_id)
    async with kernel_for_call() as kernel:
        existing = await kernel.store.get_run(run_id) if run_id is not None else None
        if existing is None:
            try:
                state, _ = await workflow.create_run(
                    kernel,
                    args,
                    kwargs,
                    run_id,
                    parent=None,
                    status=RunStatus.PENDING,
                    placement=placement,
                )
            except FloeError as error:
                # the same id submitted at once by another caller: theirs is the run
                existing = await _submitted_meanwhile(kernel, run_id, error)
            else:
                return RunHandle(workflow, state.run_id)
        workflow.check_resubmission(existing, args, kwargs)
        return RunHandle(workflow, existing.run_id)


@attrs.frozen
class QueuedWorkflow(Generic[T]):
    """*workflow* submitted to a queue: ``wf.queued("emails", priority=5).submit(...)``.

    The queue, priority and partition key are the run's (see :class:`floe.Queue`); the
    workflow's own parameters stay free to have any name.
    """

    workflow: Workflow[..., T] = attrs.field(repr=lambda workflow: repr(workflow.name))
    placement: Placement

    def submit(self, *args: Any, run_id: str | None = None, **kwargs: Any) -> RunHandle[T]:
        """:meth:`submit_async` from synchronous code."""
        from ..kernel._sync import run_sync

        start = functools.partial(self.submit_async, *args, run_id=run_id, **kwargs)
        return run_sync(start, backend=self.workflow.backend)

    async def submit_async(
        self, *args: Any, run_id: str | None = None, **kwargs: Any
    ) -> RunHandle[T]:
        """:meth:`Workflow.submit_async` into this queue."""
        return await submit(self.workflow, args, kwargs, run_id, self.placement)


async def _submitted_meanwhile(kernel: Kernel, run_id: str | None, error: FloeError) -> Run:
    found = await kernel.store.get_run(run_id) if run_id is not None else None
    if found is None or not isinstance(error.__cause__, PersistenceError):
        raise error
    return found


def _outcome_error(workflow: str, execution: Execution) -> Exception:
    """What :meth:`RunHandle.result` raises for a run that did not complete."""
    run_id = execution.run_id
    if execution.failed and execution.error is not None:
        rebuilt = rebuild_error(execution.error)
        if isinstance(rebuilt, Exception):
            return rebuilt
    if execution.cancelled:
        return RunCancelledError(
            f"Run {run_id!r} of workflow {workflow!r} was cancelled",
            why="It has no output.",
            fix="Check the run's journal for who cancelled it: floe events RUN_ID.",
            context={"run_id": run_id},
        )
    if execution.paused:
        return StateError(
            f"Run {run_id!r} of workflow {workflow!r} is paused at "
            f"{execution.pause_name!r}; it has no output yet",
            fix=f"Resume it (floe resume {run_id} --input JSON), then wait again.",
            context={"run_id": run_id},
        )
    return FloeError(f"Run {run_id!r} ended {execution.status}", context={"run_id": run_id})
