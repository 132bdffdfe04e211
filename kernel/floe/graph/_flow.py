"""Flows: routines wired event-to-slot, executed as durable jobs.

``flow.execute(entry_id, entry_params)`` starts a run of kind ``graph`` in the kernel's
store (the run id is the job id) and returns its :class:`JobState`; ``flow.resume(job)``
continues a paused job, or one whose process died, from its journal.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal

import attrs

from ..kernel._errors import ConfigError, NotFoundError, SequenceConflictError, StateError
from ..kernel._journal import Journal
from ..kernel._kernel import Kernel, kernel_for_call
from ..kernel._kinds import EventKind
from ..kernel._models import Run, RunStatus, check_run_id, utcnow
from ..kernel._queues import DEFAULT_QUEUE, Placement
from ..kernel._runs import active_run, request_cancel
from ..kernel._serialize import encode_value
from ._delivery import SlotDelivery
from ._engine import GRAPH_KIND, JobExecution
from ._job import ExecutionTracker, JobState
from ._jobs import JobHandle, continue_job, new_job, start_job, submit_job
from ._persist import deserialize_flow, load_flow, save_flow, serialize_flow
from ._routine import CallPlan, Routine, call_plan, plain_data
from ._strategy import ErrorHandler

__all__ = ["Connection", "ExecutionStrategy", "Flow", "cancel_job"]

ExecutionStrategy = Literal["sequential", "concurrent"]
_STRATEGIES: Final = ("sequential", "concurrent")
_SYNC_HANDLERS: Final = ("thread", "inline")
DEFAULT_MAX_CONCURRENCY: Final = 10
DEFAULT_MAX_DELIVERIES: Final = 100_000
_DEFAULT_HANDLER: Final = ErrorHandler()


def _mapping(value: Mapping[str, str] | None) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping) or not all(
        isinstance(key, str) and isinstance(name, str) and name for key, name in value.items()
    ):
        raise ConfigError(
            f"Invalid param_mapping {value!r}",
            why="A mapping renames emitted keys: {'emitted_key': 'slot_parameter'}.",
            fix="Pass a dict of strings to strings.",
        )
    return MappingProxyType(dict(value))


@attrs.frozen
class Connection:
    """Data emitted on ``source.event`` goes to ``target.slot``, keys renamed by
    *param_mapping* (a mapped key replaces the original)."""

    source: str
    event: str
    target: str
    slot: str
    param_mapping: Mapping[str, str] = attrs.field(factory=dict, converter=_mapping)

    def apply(self, data: dict[str, Any]) -> dict[str, Any]:
        """The message the slot receives for *data*."""
        mapping = self.param_mapping
        if not mapping:
            return dict(data)
        return {mapping.get(key, key): value for key, value in data.items()}


def _positive(name: str, value: Any) -> int:
    if type(value) is not int or value < 1:
        raise ConfigError(
            f"Invalid {name}={value!r}",
            fix=f"Pass {name} as a whole number >= 1.",
        )
    return value


class Flow:
    """Routines connected many-to-many; each execution is a durable job.

    *execution_strategy* ``"sequential"`` runs deliveries depth-first in connection
    order (a child's chain finishes before the next sibling); ``"concurrent"`` runs up
    to *max_concurrency* at once. *max_deliveries* bounds one execution (a runaway
    cycle fails the job with :class:`DeliveryLimitError`). *sync_handlers* says where
    sync handlers run: ``"thread"`` (a worker thread, the default: they may block) or
    ``"inline"`` (on the event loop: for quick, non-blocking handlers).
    """

    def __init__(
        self,
        flow_id: str | None = None,
        execution_strategy: ExecutionStrategy = "sequential",
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        *,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        error_handler: ErrorHandler | None = None,
        sync_handlers: Literal["thread", "inline"] = "thread",
    ) -> None:
        if flow_id is not None and (not isinstance(flow_id, str) or not flow_id.strip()):
            raise ConfigError(
                f"Invalid flow_id {flow_id!r}",
                fix="Name the flow with a non-empty string, or leave flow_id out.",
            )
        self.flow_id: str = flow_id or f"flow-{uuid.uuid4().hex[:12]}"
        self.execution_strategy: ExecutionStrategy = "sequential"
        self.max_concurrency = DEFAULT_MAX_CONCURRENCY
        self.set_execution_strategy(execution_strategy, max_concurrency)
        self.max_deliveries = _positive("max_deliveries", max_deliveries)
        if sync_handlers not in _SYNC_HANDLERS:
            raise ConfigError(
                f"Invalid sync_handlers={sync_handlers!r}",
                fix="Pass sync_handlers='thread' or 'inline'.",
            )
        self.sync_handlers = sync_handlers
        self._error_handler: ErrorHandler | None = None
        self.set_error_handler(error_handler)
        self._routines: dict[str, Routine] = {}
        self._ids: dict[int, str] = {}
        self._connections: list[Connection] = []
        self._outgoing: dict[tuple[str, str], list[Connection]] = {}
        self._plans: dict[str, CallPlan] = {}
        self._active: JobExecution | None = None
        self.job_state: JobState | None = None
        """The state of the last job this flow executed or resumed."""

    def __repr__(self) -> str:
        return (
            f"<Flow {self.flow_id!r} routines={len(self._routines)} "
            f"connections={len(self._connections)} {self.execution_strategy}>"
        )

    # -- building --------------------------------------------------------------------

    def add_routine(self, routine: Routine, routine_id: str | None = None) -> str:
        """Add *routine* under *routine_id* (default: its class name and a number)."""
        if not isinstance(routine, Routine):
            raise ConfigError(
                f"add_routine() takes a Routine, got {type(routine).__name__}",
                fix="Subclass floe.graph.Routine and add an instance.",
            )
        if not hasattr(routine, "_slots"):
            raise ConfigError(
                f"{type(routine).__name__} was not initialised as a Routine",
                fix="Call super().__init__() first in its __init__.",
            )
        if id(routine) in self._ids:
            raise ConfigError(
                f"This {type(routine).__name__} is already in flow {self.flow_id!r} as "
                f"{self._ids[id(routine)]!r}",
                fix="Add a new instance for each place in the flow.",
            )
        if routine_id is None:
            base = type(routine).__name__.lower()
            number = len(self._routines) + 1
            while f"{base}_{number}" in self._routines:
                number += 1
            routine_id = f"{base}_{number}"
        if not isinstance(routine_id, str) or not routine_id or routine_id != routine_id.strip():
            raise ConfigError(
                f"Invalid routine id {routine_id!r}",
                fix="Use a non-empty string without surrounding spaces.",
            )
        if routine_id in self._routines:
            raise ConfigError(
                f"Flow {self.flow_id!r} already has a routine {routine_id!r}",
                fix="Give each routine of a flow its own id.",
                context={"routine": routine_id},
            )
        self._routines[routine_id] = routine
        self._ids[id(routine)] = routine_id
        return routine_id

    def get_routine(self, routine_id: str) -> Routine:
        """The routine *routine_id*; an unknown id is a :class:`ConfigError`."""
        routine = self._routines.get(routine_id)
        if routine is None:
            raise ConfigError(
                f"Flow {self.flow_id!r} has no routine {routine_id!r}",
                why=f"Its routines are: {', '.join(self._routines) or 'none'}.",
                fix="Use the id add_routine() returned.",
                context={"routine": routine_id},
            )
        return routine

    @property
    def routines(self) -> dict[str, Routine]:
        """The routines by id (a copy)."""
        return dict(self._routines)

    @property
    def connections(self) -> list[Connection]:
        """The connections, in the order they were made."""
        return list(self._connections)

    def connect(
        self,
        source_id: str,
        event: str,
        target_id: str,
        slot: str,
        param_mapping: Mapping[str, str] | None = None,
    ) -> Connection:
        """Deliver what *source_id* emits on *event* to *target_id*'s *slot*.

        Connecting the same pair again replaces its *param_mapping*.
        """
        source = self.get_routine(source_id)
        target = self.get_routine(target_id)
        if source.get_event(event) is None:
            raise ConfigError(
                f"Routine {source_id!r} has no event {event!r}",
                why=f"Its events are: {', '.join(source.events) or 'none'}.",
                fix="Connect one of its events, or define the event first.",
                context={"routine": source_id, "event": event},
            )
        if target.get_slot(slot) is None:
            raise ConfigError(
                f"Routine {target_id!r} has no slot {slot!r}",
                why=f"Its slots are: {', '.join(target.slots) or 'none'}.",
                fix="Connect to one of its slots, or define the slot first.",
                context={"routine": target_id, "slot": slot},
            )
        connection = Connection(source_id, event, target_id, slot, param_mapping)
        for index, existing in enumerate(self._connections):
            if (existing.source, existing.event, existing.target, existing.slot) == (
                source_id,
                event,
                target_id,
                slot,
            ):
                self._connections[index] = connection
                break
        else:
            self._connections.append(connection)
        self._index()
        return connection

    def disconnect(self, source_id: str, event: str, target_id: str, slot: str) -> Connection:
        """Remove the connection of *source_id*'s *event* to *target_id*'s *slot*."""
        for index, existing in enumerate(self._connections):
            if (existing.source, existing.event, existing.target, existing.slot) == (
                source_id,
                event,
                target_id,
                slot,
            ):
                del self._connections[index]
                self._index()
                return existing
        raise ConfigError(
            f"Flow {self.flow_id!r} has no connection {source_id}.{event} -> {target_id}.{slot}",
            fix="Check flow.connections for the connections it has.",
            context={"source": source_id, "event": event, "target": target_id, "slot": slot},
        )

    def _index(self) -> None:
        outgoing: dict[tuple[str, str], list[Connection]] = {}
        for connection in self._connections:
            outgoing.setdefault((connection.source, connection.event), []).append(connection)
        self._outgoing = outgoing

    def set_execution_strategy(
        self, strategy: ExecutionStrategy, max_concurrency: int | None = None
    ) -> None:
        """Run deliveries ``"sequential"`` (depth-first) or ``"concurrent"``."""
        if strategy not in _STRATEGIES:
            raise ConfigError(
                f"Unknown execution strategy {strategy!r}",
                fix="Pass execution_strategy='sequential' or 'concurrent'.",
            )
        self.execution_strategy = strategy
        if max_concurrency is not None:
            self.max_concurrency = _positive("max_concurrency", max_concurrency)

    def set_error_handler(self, handler: ErrorHandler | None) -> None:
        """Handle failures of routines without a handler of their own (None: STOP)."""
        if handler is not None and not isinstance(handler, ErrorHandler):
            raise ConfigError(
                f"set_error_handler() takes an ErrorHandler, got {handler!r}",
                fix="Pass ErrorHandler(strategy=ErrorStrategy.CONTINUE) or similar.",
            )
        self._error_handler = handler

    def get_error_handler(self) -> ErrorHandler | None:
        return self._error_handler

    def error_handler_for(self, routine_id: str) -> ErrorHandler:
        """The handler that decides for *routine_id*: its own, else the flow's, else STOP."""
        own = self._routines[routine_id].get_error_handler()
        return own or self._error_handler or _DEFAULT_HANDLER

    # -- what the engine and persistence read (not for handlers) ---------------------

    @property
    def routine_table(self) -> Mapping[str, Routine]:
        """The routines by id, the flow's own table (not a copy: read it, never change it)."""
        return self._routines

    def outgoing(self, source_id: str, event: str) -> Sequence[Connection]:
        """The connections of *source_id*'s *event*, in the order they were made."""
        return self._outgoing.get((source_id, event), ())

    def id_of(self, routine: Routine) -> str:
        """The id of *routine* in this flow; a ConfigError if it is not in the flow."""
        routine_id = self._ids.get(id(routine))
        if routine_id is None:
            raise ConfigError(
                f"A {type(routine).__name__} that is not in flow {self.flow_id!r} emitted "
                "during its execution",
                fix="Add the routine to the flow, or emit from the routine that handles "
                "the delivery.",
            )
        return routine_id

    def entry_plan(self, routine_id: str, function: Any) -> CallPlan:
        """How to call *routine_id*'s ``__call__`` (*function*), worked out once."""
        plan = self._plans.get(routine_id)
        if plan is None:
            plan = self._plans[routine_id] = call_plan(function, f"{routine_id}.__call__")
        return plan

    def attach(self, execution: JobExecution | None) -> None:
        """Mark *execution* as the job this flow executes (None: the job ended)."""
        self._active = execution

    def held_state(self) -> dict[str, Any]:
        """What the routines hold as a job starts (stats, slot buffers), for a resume."""
        stats: dict[str, Any] = {}
        slots: dict[str, Any] = {}
        for routine_id, routine in self._routines.items():
            if routine.held_stats:
                stats[routine_id] = plain_data(routine.held_stats, f"the stats of {routine_id!r}")
            held: dict[str, Any] = {}
            for name, slot in routine.slots.items():
                data = slot.data
                if data:
                    held[name] = encode_value(data, where=f"slot {name!r} of {routine_id!r}")
            if held:
                slots[routine_id] = held
        return {"stats": stats, "slots": slots}

    def entry_delivery(self, entry_id: Any, params: dict[str, Any]) -> SlotDelivery:
        """The first delivery of a job: the entry routine's ``__call__`` or slot ``input``."""
        routine = self.get_routine(entry_id)
        if routine.overrides_call():
            return SlotDelivery(1, entry_id, None, params, None)
        slot = routine.get_slot("input")
        if slot is None:
            raise ConfigError(
                f"Routine {entry_id!r} cannot be an entry point",
                why="An entry routine either overrides __call__ or has a slot named 'input' "
                "that receives the entry params.",
                fix="Define slot 'input' on it, override __call__, or start at another routine.",
                context={"routine": entry_id},
            )
        return SlotDelivery(1, entry_id, "input", params, None)

    # -- executing -------------------------------------------------------------------

    def execute(
        self,
        entry_id: str,
        entry_params: Mapping[str, Any] | None = None,
        *,
        job_id: str | None = None,
    ) -> JobState:
        """Execute the flow from *entry_id* and wait for the job to end (sync code).

        Opens a kernel from the settings (see ``floe.run_sync``) for the call.
        """
        from ..kernel._sync import run_sync

        return run_sync(
            functools.partial(self.execute_async, entry_id, entry_params, job_id=job_id)
        )

    async def execute_async(
        self,
        entry_id: str,
        entry_params: Mapping[str, Any] | None = None,
        *,
        job_id: str | None = None,
    ) -> JobState:
        """Execute the flow from *entry_id* as a new job; returns when nothing is left
        to run (completed, failed, cancelled) or the job paused.

        Uses the running kernel, or opens one from the settings for the call.
        """
        if job_id is not None:
            check_run_id(job_id, kind=GRAPH_KIND)  # before anything is stored
        params = self._params(entry_params)
        self.entry_delivery(entry_id, params)  # refuses an entry it cannot call, first
        self._check_idle()
        async with kernel_for_call() as kernel:
            self._check_idle()
            run = new_job(self, entry_id, params, job_id, status=RunStatus.RUNNING)
            await kernel.store.create_run(run)
            job = await start_job(self, kernel, run)
        self.job_state = job
        return job

    def submit(
        self,
        entry_id: str,
        entry_params: Mapping[str, Any] | None = None,
        *,
        job_id: str | None = None,
        queue: str = DEFAULT_QUEUE,
        priority: int = 0,
        partition_key: str | None = None,
    ) -> JobHandle:
        """:meth:`submit_async` from sync code."""
        from ..kernel._sync import run_sync

        submit = functools.partial(
            self.submit_async,
            entry_id,
            entry_params,
            job_id=job_id,
            queue=queue,
            priority=priority,
            partition_key=partition_key,
        )
        return run_sync(submit)

    async def submit_async(
        self,
        entry_id: str,
        entry_params: Mapping[str, Any] | None = None,
        *,
        job_id: str | None = None,
        queue: str = DEFAULT_QUEUE,
        priority: int = 0,
        partition_key: str | None = None,
    ) -> JobHandle:
        """Store a new job of the flow from *entry_id* for a worker to execute, and
        return its :class:`JobHandle` at once; nothing runs in this process.

        The job records the flow as it is now (its document, see :meth:`serialize`):
        the worker builds the job's flow from it. It waits in *queue* with *priority*
        and *partition_key* as a workflow run does (see :class:`floe.Queue`). A *job_id*
        submitted again returns the handle of the job it names.
        """
        if job_id is not None:
            check_run_id(job_id, kind=GRAPH_KIND)  # before anything is stored
        placement = Placement(queue, priority, partition_key)
        return await submit_job(self, entry_id, self._params(entry_params), job_id, placement)

    def resume(self, job: JobState | str) -> JobState:
        """:meth:`resume_async` from sync code."""
        from ..kernel._sync import run_sync

        return run_sync(functools.partial(self.resume_async, job))

    async def resume_async(self, job: JobState | str) -> JobState:
        """Continue a paused job, or one whose process stopped, from its journal.

        The pending deliveries run (the entry is not called again); a finished job is
        returned as it is. *job* is a :class:`JobState` or a job (run) id.
        """
        job_id = _job_id(job)
        self._check_idle()
        async with kernel_for_call() as kernel:
            run = await self._graph_run(kernel, job_id)
            events = await kernel.store.read_events(job_id)
            if run.status.finished:
                self.job_state = JobState.from_events(run, events)
                return self.job_state
            live = active_run(kernel, job_id)
            if live is not None and not live.done.is_set():
                raise StateError(
                    f"Job {job_id!r} is already executing in this process",
                    why="Two executions of one job would both write its journal.",
                    fix="Wait for it to end, or pause or cancel it first.",
                    context={"job_id": job_id},
                )
            result = await continue_job(self, kernel, run, events)
        self.job_state = result
        return result

    def pause(self, reason: str = "", checkpoint: Any = None) -> None:
        """Stop dispatching at the next delivery boundary; the job ends ``paused``.

        Call it from a handler or from another task while the flow executes; resume
        with :meth:`resume`. *checkpoint* (a JSON value) is kept with the pause point.
        """
        active = self._require_active("pause")
        active.request_pause(str(reason), checkpoint)

    def cancel(self, reason: str = "", job: JobState | str | None = None) -> JobState | None:
        """Cancel the executing job (from a handler or another task), or the paused or
        interrupted *job* in the store (then its cancelled state is returned)."""
        active = self._active
        if active is not None and (job is None or _job_id(job) == active.run_id):
            active.request_cancel(str(reason))
            return None
        if job is None:
            raise StateError(
                f"Flow {self.flow_id!r} is not executing a job",
                fix="Pass the job (or its id) to cancel a paused or interrupted one.",
            )
        from ..kernel._sync import run_sync

        return run_sync(functools.partial(self.cancel_async, job, reason))

    async def cancel_async(self, job: JobState | str, reason: str = "") -> JobState:
        """Cancel the job *job*: executing here, or paused or interrupted in the store."""
        job_id = _job_id(job)
        active = self._active
        if active is not None and active.run_id == job_id:
            active.request_cancel(str(reason))
            await active.state.done.wait()
        async with kernel_for_call() as kernel:
            run = await self._graph_run(kernel, job_id)
            if not (run.status is RunStatus.CANCELLED and active is not None):
                run = await _cancel_stored(kernel, run, str(reason))
            return JobState.from_events(run, await kernel.store.read_events(job_id))

    async def load_job(self, job_id: str) -> JobState:
        """The state of the job *job_id* of this flow, from the store."""
        check_run_id(job_id, kind=GRAPH_KIND)
        async with kernel_for_call() as kernel:
            run = await self._graph_run(kernel, job_id)
            return JobState.from_events(run, await kernel.store.read_events(job_id))

    @property
    def execution_tracker(self) -> ExecutionTracker:
        """Performance figures of the last job (empty before the first)."""
        return ExecutionTracker([self.job_state] if self.job_state is not None else [])

    def _params(self, entry_params: Mapping[str, Any] | None) -> dict[str, Any]:
        if entry_params is not None and not isinstance(entry_params, Mapping):
            raise ConfigError(
                f"entry_params must be a mapping, got {type(entry_params).__name__}",
                fix="Pass entry_params={'name': value, ...}.",
            )
        return plain_data(dict(entry_params or {}), f"the entry params of flow {self.flow_id!r}")

    def _check_idle(self) -> None:
        if self._active is not None:
            raise StateError(
                f"Flow {self.flow_id!r} is already executing job {self._active.run_id!r}",
                why="A flow's routines hold the state of one job at a time.",
                fix="Wait for the job to end, or build a second Flow for a second job.",
                context={"job_id": self._active.run_id},
            )

    def _require_active(self, what: str) -> JobExecution:
        active = self._active
        if active is None:
            raise StateError(
                f"Flow {self.flow_id!r} cannot {what}: it is not executing a job",
                fix=f"Call flow.{what}() from a handler or a task while the flow executes.",
            )
        return active

    async def _graph_run(self, kernel: Kernel, job_id: str) -> Run:
        run = await kernel.store.get_run(job_id)
        if run is None:
            raise NotFoundError(
                f"No job {job_id!r} in the store {kernel.store.url or type(kernel.store).__name__}",
                fix="Check the job id (JobState.job_id) and the store setting.",
                context={"job_id": job_id},
            )
        if run.kind != GRAPH_KIND or run.name != self.flow_id:
            raise ConfigError(
                f"Run {job_id!r} is a {run.kind} run of {run.name!r}, not a job of flow "
                f"{self.flow_id!r}",
                fix="Resume a job with the flow that started it (the same flow_id).",
                context={"job_id": job_id},
            )
        return run

    # -- persistence ----------------------------------------------------------------

    def serialize(self) -> dict[str, Any]:
        """The flow as a versioned JSON document (see :meth:`deserialize`)."""
        return serialize_flow(self)

    @classmethod
    def deserialize(cls, data: Mapping[str, Any], *, allow: Iterable[Any] = ()) -> Flow:
        """The flow :meth:`serialize` described; routine classes are imported by path.

        The document may name the built-in routines and builtin exceptions; any other
        import path (a routine class, an exception class, a ``Transformer`` function)
        must be in *allow*: modules (``"myapp.routines"``), targets
        (``"myapp.routines:Fetch"``), scripts' paths, or the objects themselves. A path
        not allowed is an :class:`ImportNotAllowedError`, raised before anything is
        imported.
        """
        return deserialize_flow(cls, data, allow)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`serialize` to a JSON file; returns the path."""
        return save_flow(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, allow: Iterable[Any] = ()) -> Flow:
        """The flow a JSON file written by :meth:`save` describes; what it may import
        beyond the built-ins is *allow* (see :meth:`deserialize`)."""
        return load_flow(cls, path, allow)


async def cancel_job(kernel: Kernel, job_id: str, reason: str = "") -> Run:
    """Cancel the graph job *job_id* without its flow; returns its cancelled run.

    What ``floe.cancel`` and ``floe cancel`` do for a run of kind ``graph``. A job
    executing in this process stops at once and records ``run.cancelled`` itself; a
    paused or interrupted one (its process gone) is recorded cancelled in the store,
    its pending deliveries dropped. A job executing in another process is recorded
    cancelled too: that process's next write then conflicts and its execution stops.
    """
    live = active_run(kernel, job_id)
    if live is not None and not live.done.is_set():
        request_cancel(live)
        await live.done.wait()
    run = await kernel.store.get_run(job_id)
    if run is None:
        raise NotFoundError(
            f"No job {job_id!r} in the store {kernel.store.url or type(kernel.store).__name__}",
            fix="Check the job id (JobState.job_id) and the store setting.",
            context={"job_id": job_id},
        )
    if run.kind != GRAPH_KIND:
        raise ConfigError(
            f"Run {job_id!r} is a {run.kind} run, not a job of a flow",
            fix="Cancel it with floe.cancel(run_id).",
            context={"job_id": job_id},
        )
    if live is not None and run.status is RunStatus.CANCELLED:
        return run
    return await _cancel_stored(kernel, run, reason)


async def _cancel_stored(kernel: Kernel, run: Run, reason: str) -> Run:
    """Record the unfinished job *run* as cancelled (no process is needed for it)."""
    job_id = run.run_id
    if run.status.finished:
        raise StateError(
            f"Job {job_id!r} is already {run.status}; it cannot be cancelled",
            fix="Check the job's status first.",
            context={"job_id": job_id, "status": str(run.status)},
        )
    journal = Journal(kernel, job_id, run.last_seq)
    cancelled = attrs.evolve(run, status=RunStatus.CANCELLED, runnable_at=None, updated_at=utcnow())
    try:
        await journal.write(
            [(EventKind.RUN_CANCELLED, None, {"reason": reason or "cancelled"})], run=cancelled
        )
    except SequenceConflictError as error:
        raise StateError(
            f"Job {job_id!r} changed while it was being cancelled",
            why="Another process wrote to its journal at the same moment.",
            fix="Check its status and cancel it again.",
            context={"job_id": job_id},
        ) from error
    return await kernel.store.get_run(job_id) or cancelled


def _job_id(job: JobState | str) -> str:
    if isinstance(job, JobState):
        return job.job_id
    if isinstance(job, str) and job:
        return check_run_id(job, kind=GRAPH_KIND)
    raise ConfigError(
        f"Expected a JobState or a job id, got {job!r}",
        fix="Pass the JobState execute() returned, or its job_id.",
    )
