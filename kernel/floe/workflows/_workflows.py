"""``@floe.workflow``: a durable function whose task calls are journaled steps.

``await wf.run_async(...)`` (or ``wf.run(...)`` from sync code) starts a run, or — with
the ``run_id`` of an unfinished run — resumes it by replay: the body runs again from
the top, recorded steps return their recorded outcomes, and the first step without a
record runs for real. A finished or paused run is returned as it was stored, running
nothing; ``wf.resume_async(run_id, value)`` continues a paused one and
``wf.cancel_async(run_id)`` cancels a running or paused one (the saga runs first).
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import uuid
import weakref
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Generic, ParamSpec, TypeVar, overload

import anyio
import anyio.to_thread
import orjson

from ..kernel._backends import (
    Backend,
    asyncio_on_trio,
    backend_error,
    check_backend,
    running_backend,
    uses_asyncio,
)
from ..kernel._errors import (
    ConfigError,
    ImportPathError,
    NotFoundError,
    PersistenceError,
    SequenceConflictError,
    StateError,
)
from ..kernel._journal import Journal, ReplayIndex, open_pause
from ..kernel._kernel import Kernel, kernel_for_call
from ..kernel._kinds import EventKind
from ..kernel._leases import give_up_lease, lease_fields, take_lease
from ..kernel._models import ErrorInfo, Event, Run, RunQuery, RunStatus, check_run_id, utcnow
from ..kernel._queues import DEFAULT_PLACEMENT, Placement
from ..kernel._runs import active_run, executing, request_cancel
from ..kernel._sealing import Opener, is_sealed
from ..kernel._serialize import converter, encode_value
from ..kernel._targets import import_target, target_of
from ._capture import capturing
from ._deadlines import deadline_passed, start_clock, timeout_failure
from ._elsewhere import (
    cancelled_elsewhere,
    executing_elsewhere,
    no_run,
    not_cancellable,
    not_resumable,
    recall_secrets,
    shared_secrets,
)
from ._execution import Context, Execution, execution_of
from ._injection import inject, injectable_parameters, unfilled
from ._inputs import Inputs
from ._options import check_bool, check_name, check_seconds, check_unknown
from ._runtime import (
    RunState,
    UnwindReason,
    allocate_step,
    call_from_worker,
    current_run,
    in_worker_thread,
    mark_worker_thread,
    run_scope,
    unwind_reason,
)
from ._saga import roll_back_completed
from ._submit import QueuedWorkflow, RunHandle, submit
from ._subworkflows import HandDown, RunCancelledError, run_child
from ._tasks import callable_name, error_data

__all__ = [
    "Context",
    "Execution",
    "RunCancelledError",
    "Workflow",
    "cancel_run",
    "load_target",
    "workflow",
    "workflow_for",
]

logger = logging.getLogger("floe.workflows")

P = ParamSpec("P")
T = TypeVar("T")


class Workflow(Generic[P, T]):
    """A durable workflow; run it with :meth:`run_async` or :meth:`run`."""

    def __init__(
        self,
        function: Callable[P, Any],
        *,
        name: str | None = None,
        capture_output: bool = False,
        log_to_console: bool = False,
        logging_enabled: bool = True,
        backend: Backend | None = None,
        timeout: float | None = None,
    ) -> None:
        if not callable(function):
            raise ConfigError(
                f"@workflow needs a function, got {function!r}",
                fix=f"To name the workflow, write @floe.workflow(name={function!r})."
                if isinstance(function, str)
                else "Put @floe.workflow above a def or async def.",
            )
        check_name("workflow", name)
        for option, value in (
            ("capture_output", capture_output),
            ("log_to_console", log_to_console),
            ("logging_enabled", logging_enabled),
        ):
            check_bool("workflow", option, value)
        check_backend(backend)
        check_seconds("workflow", "timeout", timeout)
        self.function = function
        self.name = name or callable_name(function)
        self.capture_output = capture_output and logging_enabled
        """Whether print() and logging in the run become ``log.message`` events."""
        self.log_to_console = log_to_console
        """Whether captured output is also written to the console."""
        self.timeout = timeout
        """Seconds a run may take from its start, resumes and pauses included; None: no limit."""
        self._backend = backend
        self._backend_read = backend is not None
        self._parameters = injectable_parameters(function)
        self.is_async = inspect.iscoroutinefunction(function)
        self._inputs = Inputs.of(function, self.name)
        returns = self._inputs.hints.get("return")
        self._return_type = None if returns in (None, Any, type(None)) else returns
        self.target = target_of(function)
        """Where another process loads this workflow from (recorded in each run)."""
        _by_target[self.target] = self
        functools.update_wrapper(self, function)

    @property
    def backend(self) -> Backend | None:
        """The event loop this workflow's code needs: the ``backend`` option, else
        ``"asyncio"`` when its code refers to asyncio, else None (the settings' loop).

        The code is read on first use, when the tasks the body names are defined.
        """
        if not self._backend_read:
            self._backend_read = True
            if self._backend is None and uses_asyncio(self.function):
                self._backend = "asyncio"
        return self._backend

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise ConfigError(
            f"The workflow {self.name!r} was called like a function",
            why="A workflow runs as a durable run, started by its run methods.",
            fix=f"Run it with {self.name}.run(...) from sync code, await "
            f"{self.name}.run_async(...) from async code, or await floe.call({self.name}, ...) "
            "inside another workflow.",
        )

    def __repr__(self) -> str:
        return f"<floe workflow {self.name!r}>"

    @staticmethod
    def from_target(target: str) -> Workflow[Any, Any]:
        """The workflow *target* names, ``"package.module:name"`` or
        ``"path/to/file.py:name"``, imported as ``floe run`` imports it.

        A file's folder becomes importable; a missing file, module or name, an error while
        importing, or an object that is not a workflow is an :class:`ImportPathError`.
        """
        return load_target(target)

    # -- running -------------------------------------------------------------------------

    def run(self, *args: Any, **kwargs: Any) -> Execution:
        """Run from synchronous code: starts an event loop and a kernel (see run_sync).

        Inside a sync workflow body it is a child run, like :meth:`run_async`.
        """
        parent = current_run()
        if parent is not None and in_worker_thread():
            child = functools.partial(self.run_async, *args, **kwargs)
            return call_from_worker(parent, child)  # type: ignore[no-any-return]
        from ..kernel._sync import run_sync

        return run_sync(functools.partial(self.run_async, *args, **kwargs), backend=self.backend)

    def run_async(
        self,
        *args: Any,
        run_id: str | None = None,
        raise_on_error: bool = False,
        **kwargs: Any,
    ) -> Coroutine[Any, Any, Execution]:
        """Start a run, resume an unfinished one (*run_id*), or load a finished one.

        ``await`` the result. With ``raise_on_error=True`` a failed run re-raises the
        body's exception. Without a running kernel, one is opened from the settings for
        this call. Inside a workflow the run is a child run and a step of its parent
        (its key is taken now, at the call).
        """
        if "execution_id" in kwargs and "execution_id" not in self._inputs.signature.parameters:
            raise ConfigError(
                f"Workflow {self.name!r} has no parameter execution_id",
                why="floe names a run's id run_id (Flux's execution_id).",
                fix=f"Pass run_id=...: {self.name}.run(..., run_id={kwargs['execution_id']!r}).",
            )
        parent = current_run()
        if parent is not None:
            key, position = allocate_step(parent, self.name)
            return run_child(
                self,
                parent,
                key,
                position,
                args,
                kwargs,
                run_id=run_id,
                raise_on_error=raise_on_error,
                returns="execution",
            )
        return self._start(args, kwargs, run_id, raise_on_error=raise_on_error)

    def submit(self, *args: Any, run_id: str | None = None, **kwargs: Any) -> RunHandle[T]:
        """:meth:`submit_async` from synchronous code."""
        from ..kernel._sync import run_sync

        start = functools.partial(self.submit_async, *args, run_id=run_id, **kwargs)
        return run_sync(start, backend=self.backend)

    async def submit_async(
        self, *args: Any, run_id: str | None = None, **kwargs: Any
    ) -> RunHandle[T]:
        """Store a run for a worker to execute, and return its :class:`RunHandle` at once.

        Nothing runs here: the run is ``pending`` until a worker (``floe worker``)
        claims it. A *run_id* already stored is an idempotency key: its handle is
        returned (another input for it is a :class:`ConfigError`).
        """
        return await submit(self, args, kwargs, run_id)

    def queued(
        self, queue: str, *, priority: int = 0, partition_key: str | None = None
    ) -> QueuedWorkflow[T]:
        """This workflow to submit into *queue* (``wf.queued("emails").submit(...)``):
        claimed by the workers serving that queue, higher *priority* first; runs with
        the same *partition_key* run one at a time, in order. See :class:`floe.Queue`."""
        placement = Placement(queue, priority, partition_key)
        return QueuedWorkflow(self, placement)

    async def _start(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        run_id: str | None,
        *,
        raise_on_error: bool,
    ) -> Execution:
        async with kernel_for_call() as kernel:
            return await self._run(kernel, args, kwargs, run_id, raise_on_error=raise_on_error)

    async def _run(
        self,
        kernel: Kernel,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        run_id: str | None,
        *,
        raise_on_error: bool,
        parent: RunState | None = None,
        hand_down: HandDown | None = None,
    ) -> Execution:
        if run_id is not None:
            check_run_id(run_id)  # a reserved prefix or an unusable id: before any lookup
        existing = await kernel.store.get_run(run_id) if run_id is not None else None
        if existing is not None:
            self._check_owner(existing)
            if parent is None and (args or kwargs):
                self._check_same_input(existing, args, kwargs)
            return await self._continue(
                kernel, existing, raise_on_error=raise_on_error, parent=parent, hand_down=hand_down
            )
        state, document = await self.create_run(
            kernel, args, kwargs, run_id, parent=parent, status=RunStatus.RUNNING
        )
        await state.journal.write([(EventKind.RUN_STARTED, None, self._started(state))])
        return await self._execute(state, document, raise_on_error=raise_on_error, parent=parent)

    async def create_run(
        self,
        kernel: Kernel,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        run_id: str | None,
        *,
        parent: RunState | None,
        status: RunStatus,
        placement: Placement = DEFAULT_PLACEMENT,
    ) -> tuple[RunState, Any]:
        """Store a new run of this workflow with the input *args*, *kwargs*; return its
        state and its input document.

        A run created ``running`` is leased to this kernel, which executes it now; one
        created ``pending`` (submitted) waits, unleased, for a worker to claim it.
        """
        document = self.encode_input(args, kwargs)
        now = utcnow()
        backend = self.backend or running_backend()
        metadata: dict[str, Any] = {"target": self.target, "backend": backend}
        leased = lease_fields(kernel, now) if status is RunStatus.RUNNING else {}
        run = Run(
            run_id=run_id or uuid.uuid4().hex,
            name=self.name,
            kind="workflow",
            status=status,
            created_at=now,
            updated_at=now,
            parent_id=parent.run_id if parent is not None else None,
            input=document,
            runnable_at=now,
            metadata=metadata,
            **placement.fields(),
            **leased,
        )
        journal = Journal(kernel, run.run_id, 0)
        state = RunState(kernel, run, journal, ReplayIndex(()), secrets=shared_secrets(parent))
        # a child run's input may hold a secret of its parent's: sealed like a write
        await self._create(state, journal.sealed_run(run), chosen_id=run_id is not None)
        return state, document

    def encode_input(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The input document of a run with *args* and *kwargs*, checked against the
        workflow's parameters (a bad input is an error here, before any run exists)."""
        document = self._inputs.encode(args, kwargs)
        self._inputs.structured(document)
        return document

    def _started(self, state: RunState) -> dict[str, Any]:
        """The data of ``run.started``: the workflow, its input, its parent."""
        started: dict[str, Any] = {"workflow": self.name, "input": state.run.input}
        if state.run.parent_id is not None:
            started["parent_id"] = state.run.parent_id
        return started

    async def continue_run(
        self,
        kernel: Kernel,
        run: Run,
        *,
        raise_on_error: bool = False,
        suspend_sleeps_over: float | None = None,
    ) -> Execution:
        """Execute the stored run *run* of this workflow where its journal stands.

        A pending (submitted) run starts; an unfinished one continues by replay; a
        finished or paused one is returned as stored, running nothing. Another process
        executing it is a :class:`RunLeasedError`, before any step runs. With
        *suspend_sleeps_over*, a durable sleep longer than that many seconds suspends the
        run: the execution returns with the run still ``running``, unleased, due again
        when the sleep ends (how a worker frees its slot).
        """
        self._check_owner(run)
        return await self._continue(
            kernel,
            run,
            raise_on_error=raise_on_error,
            parent=None,
            hand_down=None,
            suspend_sleeps_over=suspend_sleeps_over,
        )

    async def _continue(
        self,
        kernel: Kernel,
        existing: Run,
        *,
        raise_on_error: bool,
        parent: RunState | None,
        hand_down: HandDown | None,
        suspend_sleeps_over: float | None = None,
    ) -> Execution:
        # a run nothing was journaled for yet (a submitted one) has nothing to read
        events = await kernel.store.read_events(existing.run_id) if existing.last_seq else []
        if existing.status.finished:
            return _stored(kernel, existing, events)
        if existing.status is RunStatus.PAUSED:
            pause = open_pause(events)
            if hand_down is None or pause is None or pause.seq != hand_down[0]:
                return _stored(kernel, existing, events)
            return await self._resume(
                kernel, existing, events, hand_down[1], raise_on_error=raise_on_error, parent=parent
            )
        live = active_run(kernel, existing.run_id)
        if live is not None and not live.done.is_set():
            raise StateError(
                f"Run {existing.run_id!r} is already executing in this process",
                why="Two executions of one run would both write its journal.",
                fix="Wait for the run to finish, or cancel it with floe.cancel(run_id).",
                context={"run_id": existing.run_id},
            )
        # another process executing it holds its lease: refused before any step runs
        existing = await take_lease(kernel, existing)
        journal = Journal(kernel, existing.run_id, existing.last_seq)
        replay = ReplayIndex(events)
        # a cancellation whose process stopped after its fence: this replay finishes it
        state = RunState(
            kernel,
            existing,
            journal,
            replay,
            secrets=shared_secrets(parent),
            cancel_requested=replay.cancelling,
        )
        state.suspend_sleeps_over = suspend_sleeps_over
        if existing.status is RunStatus.PENDING:  # submitted: this execution starts it
            running = state.evolve_run(status=RunStatus.RUNNING)
            await journal.write([(EventKind.RUN_STARTED, None, self._started(state))], run=running)
        return await self._execute(
            state, existing.input, raise_on_error=raise_on_error, parent=parent
        )

    async def run_as_child(
        self,
        kernel: Kernel,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        run_id: str,
        *,
        parent: RunState,
        hand_down: HandDown | None,
    ) -> Execution:
        """Start (or replay) the child run *run_id* of *parent*'s step; a paused child
        gets the resume value *hand_down* when it belongs to its open pause."""
        return await self._run(
            kernel,
            args,
            kwargs,
            run_id,
            raise_on_error=False,
            parent=parent,
            hand_down=hand_down,
        )

    @staticmethod
    async def _create(state: RunState, run: Run, *, chosen_id: bool) -> None:
        try:
            await state.kernel.store.create_run(run)
        except PersistenceError as error:
            # a caller-chosen id another process created since the lookup: it owns the run
            if chosen_id and await state.kernel.store.get_run(run.run_id) is not None:
                why = "Another execution created the run after this one looked it up."
                raise executing_elsewhere(run.run_id, why=why) from error
            raise

    async def _execute(
        self,
        state: RunState,
        document: Any,
        *,
        raise_on_error: bool,
        parent: RunState | None = None,
    ) -> Execution:
        if parent is not None:  # a child waits as its parent does: suspended on a worker
            state.suspend_sleeps_over = parent.suspend_sleeps_over
        try:
            return await self._execute_leased(
                state, document, raise_on_error=raise_on_error, parent=parent
            )
        finally:
            await give_up_lease(state)  # nothing to do once an outcome or a pause gave it up

    async def _execute_leased(
        self,
        state: RunState,
        document: Any,
        *,
        raise_on_error: bool,
        parent: RunState | None = None,
    ) -> Execution:
        await recall_secrets(state)
        if is_sealed(document):  # a child run's input that held a secret of its parent's
            document = state.opener().value(document, "run", None, "input")
        args, kwargs = self._decode_input(state, document)
        failure: Exception | None = None
        encoded: Any = None
        unwound: UnwindReason | None = None
        start_clock(state, self.timeout)
        scope = anyio.CancelScope(deadline=math.inf if state.deadline is None else state.deadline)
        with executing(state, parent):
            state.cancel_scopes.add(scope)
            if parent is not None and parent.stopping:
                # the parent was cancelled while this child was starting
                state.cancel_requested = state.stopping = True
                scope.cancel()
            try:
                with (
                    scope,
                    run_scope(state),
                    capturing(state, enabled=self.capture_output, echo=self.log_to_console),
                ):
                    try:
                        if self.is_async:
                            output = await self.function(*args, **kwargs)
                        else:
                            output = await _run_in_thread(self.function, args, kwargs)
                        encoded = encode_value(
                            output, where=f"the output of workflow {self.name!r}"
                        )
                    except Exception as error:
                        failure = error
                        if self.is_async and asyncio_on_trio(error):
                            failure = backend_error(f"Workflow {self.name!r}", error)
                    except BaseException as error:
                        unwound = unwind_reason(error)
                        if unwound is None:
                            raise  # cancellation: handled below, never swallowed
            except anyio.get_cancelled_exc_class():
                if not state.cancel_requested:
                    raise  # a crash or a shutdown, not floe.cancel: nothing is recorded
                # cancelled along with the run around it: record that, then let it unwind
                with anyio.CancelScope(shield=True):
                    await self._finish(
                        state, None, timeout_failure(state, self.name, self.timeout), "cancelled"
                    )
                raise
            finally:
                state.cancel_scopes.discard(scope)
            if deadline_passed(state, cut_short=scope.cancel_called or unwound == "cancelled"):
                state.timed_out = True
            if state.timed_out:
                failure, encoded, unwound = (
                    timeout_failure(state, self.name, self.timeout),
                    None,
                    None,
                )
            with anyio.CancelScope(shield=state.cancel_requested or state.timed_out):
                execution = await self._finish(state, encoded, failure, unwound)
        if execution.failed and failure is not None and raise_on_error:
            raise failure
        return execution

    async def _finish(
        self,
        state: RunState,
        encoded: Any,
        failure: Exception | None,
        unwound: UnwindReason | None,
    ) -> Execution:
        """Record how the body ended (the saga first when it failed or was cancelled)."""
        store = state.kernel.store
        try:
            state.journal.raise_if_broken()  # fenced by another writer: no saga from here
            if state.timed_out:
                await _cancel_children(state)  # a child cut off at the deadline stops too
            if (state.cancel_requested or unwound == "cancelled") and not state.timed_out:
                failure = None
                await _cancel_children(state)
                await roll_back_completed(state, "run_cancelled")
                run = state.evolve_run(status=RunStatus.CANCELLED, runnable_at=None)
                await state.journal.write([(EventKind.RUN_CANCELLED, None, {})], run=run)
            elif unwound in ("paused", "suspended"):
                pass  # recorded by the pause step, or by the timer that suspended the run
            elif failure is not None:
                await roll_back_completed(state, "run_failed")
                error = error_data(failure)
                info = converter.structure(error, ErrorInfo)
                run = state.evolve_run(status=RunStatus.FAILED, error=info, runnable_at=None)
                await state.journal.write([(EventKind.RUN_FAILED, None, {"error": error})], run=run)
            else:
                run = state.evolve_run(status=RunStatus.COMPLETED, output=encoded, runnable_at=None)
                await state.journal.write(
                    [(EventKind.RUN_COMPLETED, None, {"output": encoded})], run=run
                )
        except SequenceConflictError as conflict:
            # another process wrote first (floe cancel from elsewhere, or an executor that
            # took the run over after this one lost its lease): its outcome stands
            logger.warning(
                "Run %s was written by another process meanwhile; this execution records "
                "nothing more and drops it",
                state.run_id,
            )
            outcome = await cancelled_elsewhere(state, conflict)
            return execution_of(state, outcome, await store.read_events(state.run_id))
        # the record as this execution last wrote it, and the journal as read when it
        # started plus what it wrote since: no read back of either (a replayed
        # 100,000-step run's journal, one more round trip per run on a database)
        events = [*state.base_events, *state.journal.written]
        # the exception as raised: it is the program's own (the command line masks it)
        return execution_of(state, state.run, events, failure)

    # -- loading, resuming, cancelling -----------------------------------------------------

    async def load(self, kernel: Kernel, run_id: str) -> Execution:
        """The stored execution of the run *run_id* of this workflow, as it is now."""
        run = await kernel.store.get_run(run_id)
        if run is None:
            raise no_run(run_id, kernel)
        self._check_owner(run)
        return _stored(kernel, run, await kernel.store.read_events(run_id))

    def resume(self, run_id: str, value: Any = None, *, raise_on_error: bool = False) -> Execution:
        """:meth:`resume_async` from synchronous code."""
        from ..kernel._sync import run_sync

        return run_sync(
            functools.partial(self.resume_async, run_id, value, raise_on_error=raise_on_error),
            backend=self.backend,
        )

    async def resume_async(
        self, run_id: str, value: Any = None, *, raise_on_error: bool = False
    ) -> Execution:
        """Resume the paused run *run_id*: its pause step returns *value*.

        The run continues by replay until it finishes or pauses again; the returned
        execution says which. A run that is not paused is a :class:`StateError`.
        """
        async with kernel_for_call() as kernel:
            run = await kernel.store.get_run(run_id)
            if run is None:
                raise no_run(run_id, kernel)
            self._check_owner(run)
            if kernel.store.supports_leases and run.is_interrupted():
                return await self._recover(kernel, run, value, raise_on_error=raise_on_error)
            if run.status is not RunStatus.PAUSED:
                raise not_resumable(run)
            events = await kernel.store.read_events(run_id)
            return await self._resume(
                kernel, run, events, value, raise_on_error=raise_on_error, parent=None
            )

    async def _recover(
        self, kernel: Kernel, run: Run, value: Any, *, raise_on_error: bool
    ) -> Execution:
        """Continue the interrupted run *run* by replay (a resume that takes no value)."""
        if value is not None:
            raise ConfigError(
                f"Run {run.run_id!r} is interrupted, not paused: it takes no resume value",
                why="Its process stopped while it was running; it continues by replay from "
                "its journal, and no step waits for a value.",
                fix=f"Resume it without a value: floe resume {run.run_id}.",
                context={"run_id": run.run_id},
            )
        return await self._continue(
            kernel, run, raise_on_error=raise_on_error, parent=None, hand_down=None
        )

    async def _resume(
        self,
        kernel: Kernel,
        run: Run,
        events: list[Event],
        value: Any,
        *,
        raise_on_error: bool,
        parent: RunState | None,
    ) -> Execution:
        pause = open_pause(events)
        if pause is None:
            raise StateError(
                f"Run {run.run_id!r} is paused, but its journal has no open pause",
                fix="Inspect the run's journal (floe events RUN_ID) or cancel the run.",
                context={"run_id": run.run_id},
            )
        encoded = encode_value(value, where=f"the value resuming run {run.run_id!r}")
        run = await take_lease(kernel, run)
        journal = Journal(kernel, run.run_id, run.last_seq)
        state = RunState(kernel, run, journal, ReplayIndex(()), secrets=shared_secrets(parent))
        await recall_secrets(state)  # the value may hold one: sealed from the first write
        resumed = state.evolve_run(status=RunStatus.RUNNING, runnable_at=utcnow(), output=None)
        data = {
            key: pause.data[key]
            for key in ("task", "position", "name", "child_run_id", "child_pause")
            if key in pause.data
        }
        data["value"] = encoded
        try:
            written = await journal.write([(EventKind.RUN_RESUMED, pause.step, data)], run=resumed)
        except SequenceConflictError as error:
            raise StateError(
                f"Run {run.run_id!r} changed while it was being resumed",
                why="Another process resumed or cancelled it first.",
                fix="Check the run's status and resume it again if it is still paused.",
                context={"run_id": run.run_id},
            ) from error
        state.replay = ReplayIndex([*events, *written])
        state.base_events = events
        return await self._execute(state, run.input, raise_on_error=raise_on_error, parent=parent)

    def cancel(self, run_id: str) -> Execution:
        """:meth:`cancel_async` from synchronous code."""
        from ..kernel._sync import run_sync

        return run_sync(functools.partial(self.cancel_async, run_id), backend=self.backend)

    async def cancel_async(self, run_id: str) -> Execution:
        """Cancel the running or paused run *run_id* of this workflow (see floe.cancel)."""
        async with kernel_for_call() as kernel:
            return await cancel_run(kernel, run_id, self)

    async def _cancel(self, kernel: Kernel, run: Run) -> Execution:
        """Cancel a run that does not execute in this process: replay it in cancel mode.

        The replay stops at the first step without a record (the open pause, the timer
        not yet fired, the step in flight at a crash), then the saga runs and
        ``run.cancelled`` is recorded.
        """
        self._check_owner(run)
        events = await kernel.store.read_events(run.run_id)
        journal = Journal(kernel, run.run_id, events[-1].seq if events else run.last_seq)
        # the fence, before anything runs: once it is stored the executing process can
        # record no further step, so the saga below undoes exactly what the replay knows
        # (a step recorded since the read makes this write conflict, and the caller looks
        # again before any rollback ran)
        await journal.write([(EventKind.RUN_CANCELLING, None, {})])
        state = RunState(kernel, run, journal, ReplayIndex(events), cancel_requested=True)
        return await self._execute(state, run.input, raise_on_error=False)

    def check_resubmission(self, run: Run, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Refuse to submit *run*'s id again for another workflow or another input."""
        self._check_owner(run)
        if args or kwargs:
            self._check_same_input(run, args, kwargs)

    def _check_same_input(self, run: Run, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Refuse an input that differs from the one *run* was started with.

        Replay runs a run with its recorded input, so a different one would be ignored
        without a word; leaving the input out, or passing the same one, resumes it.
        """
        inputs = self._inputs
        if inputs.arguments(inputs.encode(args, kwargs)) == inputs.arguments(run.input):
            return
        raise ConfigError(
            f"Run {run.run_id!r} was started with another input",
            why="A run keeps the input it was started with: resuming it replays that input, "
            "so a different one would be ignored.",
            fix=f"Leave the input out to resume run {run.run_id!r} (or pass the input it "
            "started with), or start a new run with another run id.",
            context={"run_id": run.run_id},
        )

    def _check_owner(self, run: Run) -> None:
        if run.name != self.name:
            raise ConfigError(
                f"Run {run.run_id!r} belongs to workflow {run.name!r}, not {self.name!r}",
                fix="Resume a run with the workflow that started it.",
                context={"run_id": run.run_id},
            )

    # -- input and output ----------------------------------------------------------------

    def decode_output(self, encoded: Any) -> Any:
        """A recorded output as the type the workflow's return annotation names."""
        if isinstance(encoded, dict | list):
            encoded = orjson.loads(orjson.dumps(encoded))  # never the journal's own value
        if self._return_type is None:
            return encoded
        try:
            return converter.structure(encoded, self._return_type)
        except Exception:  # an annotation cattrs cannot build: the JSON value is the output
            return encoded

    def _decode_input(self, state: RunState, document: Any) -> tuple[list[Any], dict[str, Any]]:
        args, kwargs = self._inputs.structured(document)
        if self._inputs.context_type is not None:
            context = Context(input=args[0], run_id=state.run_id, workflow=self.name, state=state)
            return [context], {}
        names = unfilled(self._parameters, args, kwargs)
        if names:
            kwargs = inject(state, names, kwargs, target=self.name)
        return args, kwargs


# workflows defined in this process, by target: how floe.resume finds one without importing
_by_target: weakref.WeakValueDictionary[str, Workflow[Any, Any]] = weakref.WeakValueDictionary()


def load_target(target: str) -> Workflow[Any, Any]:
    """The workflow *target* names: ``"package.module:name"`` or ``"path/to/file.py:name"``.

    A file is loaded by path (its folder becomes importable, as when Python runs it),
    and its workflows record the file's absolute path as their target. Anything that
    goes wrong — a missing file or module, an error while importing it, a missing name,
    an object that is not a workflow — is an :class:`ImportPathError` naming the cause.
    """
    found = import_target(target)
    if not isinstance(found, Workflow):
        raise ImportPathError(
            f"The target {target!r} is a {type(found).__name__}, not a floe workflow",
            fix="Point the target at a function decorated with @floe.workflow.",
            context={"target": target},
        )
    return found


def workflow_for(run: Run) -> Workflow[Any, Any]:
    """The workflow that executes *run*: defined in this process, or loaded by its target."""
    target = run.metadata.get("target") if isinstance(run.metadata, Mapping) else None
    if not isinstance(target, str) or not target:
        raise ImportPathError(
            f"Run {run.run_id!r} does not record which workflow it runs",
            why="Its metadata has no 'target'.",
            fix="Resume or cancel it with the workflow object: wf.resume_async(run_id, value).",
            context={"run_id": run.run_id},
        )
    found = _by_target.get(target) or load_target(target)
    if found.name != run.name:
        raise ConfigError(
            f"The target {target!r} of run {run.run_id!r} is the workflow {found.name!r}, "
            f"not {run.name!r}",
            why="The code at the target changed since the run started.",
            fix="Resume the run with the code that started it.",
            context={"run_id": run.run_id, "target": target},
        )
    return found


async def cancel_run(
    kernel: Kernel, run_id: str, workflow: Workflow[Any, Any] | None = None
) -> Execution:
    """Cancel *run_id*: live in this process, or paused/interrupted in the store.

    Returns the cancelled execution. A finished run (or one that finishes before the
    cancellation lands) is a :class:`StateError`; an unknown one a :class:`NotFoundError`.
    """
    for _ in range(3):
        live = active_run(kernel, run_id)
        if live is not None and not live.done.is_set():
            if workflow is not None:
                workflow._check_owner(live.run)
            request_cancel(live)
            await live.done.wait()
            run = await kernel.store.get_run(run_id)
            if run is None:
                raise no_run(run_id, kernel)
            return await _cancelled(kernel, run)
        run = await kernel.store.get_run(run_id)
        if run is None:
            raise no_run(run_id, kernel)
        if run.status.finished:
            raise not_cancellable(run)
        owner = workflow if workflow is not None else workflow_for(run)
        try:
            execution = await owner._cancel(kernel, run)
        except SequenceConflictError:
            continue  # it moved on in another process while we replayed it: look again
        stored = await kernel.store.get_run(run_id)
        return await _cancelled(kernel, stored or run, execution)
    raise StateError(
        f"Run {run_id!r} kept changing while it was being cancelled",
        why="Another process is executing it and wrote to its journal three times over.",
        fix="Cancel it in the process that executes it, or try again.",
        context={"run_id": run_id},
    )


async def _cancel_children(state: RunState) -> None:
    """Cancel the child runs a cancelled run leaves unfinished (paused or interrupted).

    Children executing in this process were cancelled with their parent already; the
    others are found in the store by ``parent_id``, as a cancelling replay stops before
    the steps that would reach them.
    """
    kernel = state.kernel
    unfinished: list[Run] = []
    for status in (RunStatus.PAUSED, RunStatus.RUNNING, RunStatus.PENDING):
        offset = 0
        while True:
            query = RunQuery(status=status, parent_id=state.run_id, limit=500, offset=offset)
            page = await kernel.store.list_runs(query)
            unfinished.extend(page)
            if len(page) < query.limit:
                break
            offset += len(page)
    for child in unfinished:
        try:
            await cancel_run(kernel, child.run_id, workflow_for(child))
        except (StateError, NotFoundError):
            pass  # it finished meanwhile
        except ImportPathError as error:
            logger.warning(
                "run %s: cannot cancel its child run %s: %s", state.run_id, child.run_id, error
            )


async def _cancelled(kernel: Kernel, run: Run, execution: Execution | None = None) -> Execution:
    if run.status is not RunStatus.CANCELLED:
        raise StateError(
            f"Run {run.run_id!r} {run.status} before it could be cancelled",
            context={"run_id": run.run_id, "status": str(run.status)},
        )
    if execution is not None and execution.cancelled:
        return execution
    return _stored(kernel, run, await kernel.store.read_events(run.run_id))


def _stored(kernel: Kernel, run: Run, events: list[Event]) -> Execution:
    """The execution of a stored run for the program, its sealed values opened."""
    return Execution.from_run(run, events, opener=Opener(run.run_id, kernel.payload_codec))


@overload
def workflow(function: Callable[P, T], /) -> Workflow[P, T]: ...


@overload
def workflow(
    *,
    name: str | None = None,
    capture_output: bool = False,
    log_to_console: bool = False,
    logging_enabled: bool = True,
    backend: Backend | None = None,
    timeout: float | None = None,
) -> Callable[[Callable[P, T]], Workflow[P, T]]: ...


def workflow(
    function: Callable[P, Any] | None = None,
    /,
    *,
    name: str | None = None,
    capture_output: bool = False,
    log_to_console: bool = False,
    logging_enabled: bool = True,
    backend: Backend | None = None,
    timeout: float | None = None,
    **unknown: Any,
) -> Any:
    """Make *function* a workflow; use as ``@workflow`` or ``@workflow(name=..., ...)``.

    ``capture_output=True`` journals what the run prints and logs as ``log.message``
    events (see :meth:`Execution.captured_logs`); ``log_to_console=True`` also shows it;
    ``logging_enabled=False`` turns capture off. ``backend`` names the event loop the
    code needs (``"asyncio"`` for asyncio libraries; see :attr:`Workflow.backend`).
    ``timeout`` bounds a run's wall-clock time from its recorded start, in seconds: past
    it the run fails with :class:`WorkflowTimeoutError`. Every option is checked here.
    """
    check_unknown("workflow", unknown, WORKFLOW_OPTIONS, RENAMED_WORKFLOW_OPTIONS)
    make = functools.partial(
        Workflow,
        name=name,
        capture_output=capture_output,
        log_to_console=log_to_console,
        logging_enabled=logging_enabled,
        backend=backend,
        timeout=timeout,
    )
    return make(function) if function is not None else make


WORKFLOW_OPTIONS = frozenset(
    {"name", "capture_output", "log_to_console", "logging_enabled", "backend", "timeout"}
)

_RAISE = (
    "Whether a failed run raises is chosen per call: run(..., raise_on_error=True) raises "
    "the workflow's exception (floe returns the failed Execution by default)."
)
RENAMED_WORKFLOW_OPTIONS = {
    "flow_config": "OSBot's Flow_Run__Config fields are options of @floe.workflow: "
    "log_to_memory is capture_output=True, log_to_console and logging_enabled keep their "
    "names; raise_flow_error is run(..., raise_on_error=True).",
    "log_to_memory": "OSBot's log_to_memory is capture_output=True in floe.",
    "raise_flow_error": _RAISE,
    "raise_on_error": _RAISE,
    "execution_timeout": "floe's workflow option is timeout=SECONDS.",
}
"""Options under the names OSBot-Utils or others give them, with the floe spelling."""


async def _run_in_thread(
    function: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]
) -> Any:
    def body() -> Any:
        mark_worker_thread()
        return function(*args, **kwargs)

    return await anyio.to_thread.run_sync(body)
