"""Executing a flow as a durable run: deliveries, the journal, pause, cancel and resume.

Every delivery (a message to a slot, or the entry call) has a number, allocated when
the delivery is created; its journal record is written in one piece when it ends:
``routine.slot_received`` (handled) or ``routine.failed``, with the message, then a
``routine.emitted`` per emitted event (naming the deliveries it created). Records of
consecutive deliveries share one store write (group commit): a batch is written when it
is large, after a slow delivery, a few milliseconds after the previous write, and before
anything that waits (a retry's backoff, a pause, the end). A process that dies loses at
most the records not yet written; resuming runs those deliveries again (at-least-once execution) and
never a delivery whose record was stored (exactly-once recording).

On resume (``_resume``) the journal tells everything: the deliveries created and not finished (run
depth-first in the order they would have run, or first-in first-out when concurrent),
the routines' stats, what each slot holds (its messages merged again in journal order),
and the retries already spent with the time the next attempt is due.
"""

from __future__ import annotations

import collections
import functools
import logging
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

import anyio
import anyio.from_thread
import anyio.to_thread

from ..kernel._errors import ConfigError
from ..kernel._kinds import EventKind
from ..kernel._leases import give_up_lease
from ..kernel._logging import bind_log_context, correlation_var
from ..kernel._models import ErrorInfo, Event, Run, RunStatus, utcnow
from ..kernel._runs import ActiveRun, executing, sleep_until
from ..kernel._serialize import converter
from ._delivery import SlotDelivery, outcome_of
from ._gate import Gate
from ._job import EMITTED, FAILED, RETRYING, SLOT_RECEIVED, JobFold, JobState
from ._resume import restore
from ._routine import Outbox, Routine, arguments, current_outbox, plain_data
from ._strategy import DeliveryLimitError, ErrorHandler, ErrorStrategy

if TYPE_CHECKING:
    from ..kernel._kernel import Kernel
    from ._flow import Flow

__all__ = ["GRAPH_KIND", "JobExecution"]

GRAPH_KIND: Final = "graph"
"""The ``kind`` of a flow execution's run."""
FLUSH_EVENTS: Final = 512
"""Journal events of finished deliveries that trigger a store write."""
FLUSH_EVENTS_MAX: Final = 4 * FLUSH_EVENTS
"""While a store write is under way, deliveries go on until this many events wait
(the write after it takes them all); then they wait for the store."""
CHECK_EVERY: Final = 64
"""Deliveries run back to back between checks for a cancellation (when handlers
never wait for anything, nothing else would notice one)."""
FLUSH_SECONDS: Final = 0.002
"""A delivery whose handler took this long is written at once (slow handlers are
recorded one by one, so a crash costs little work); faster ones wait for the flusher,
which writes them at most this long after the previous write."""
_NO_STATS: Final[dict[str, Any]] = {}
_STEP: Final = correlation_var("step")
_CORRELATION: Final = correlation_var("correlation_id")
logger: Final = logging.getLogger("floe.graph")
"""Each delivery is logged at DEBUG as it ends, with the job id as ``run_id`` and the
delivery's key (``routine.slot#number``, the ``step`` of its journal records) as ``step``."""


class JobExecution:
    """One execution (or resumption) of a flow's job in this process."""

    def __init__(self, flow: Flow, kernel: Kernel, state: ActiveRun, fold: JobFold) -> None:
        self.flow = flow
        self.routines = flow.routine_table
        """The flow's routines by id (its live table: read on every delivery)."""
        self.fold = fold
        """The job's state, kept up to date record by record (the journal stays the truth)."""
        self.epoch = time.time() - time.perf_counter()
        """Adds to ``time.perf_counter()`` to give the wall-clock time, in one call."""
        self.kernel = kernel
        self.state = state
        self.journal = state.journal
        self.sequential = flow.execution_strategy == "sequential"
        self.max_concurrency = flow.max_concurrency
        self.max_deliveries = flow.max_deliveries
        self.inline_sync = flow.sync_handlers == "inline"
        self.stack: list[SlotDelivery] = []
        self.queue: collections.deque[SlotDelivery] = collections.deque()
        self.next_number = 2
        self.outbox: list[tuple[str, str | None, Any]] = []
        self.last_flush = time.monotonic()
        self.dirty = anyio.Event()
        """Set when records wait in the outbox for the flusher."""
        self.dirty_set = False
        self.flush_error: Exception | None = None
        self.writing: anyio.Event | None = None
        """Set when the write under way ends (None: no write under way)."""
        self.tasks_scope: anyio.CancelScope | None = None
        self.last_stats: dict[str, dict[str, Any]] = {
            routine_id: dict(routine.held_stats)
            for routine_id, routine in flow.routine_table.items()
        }
        """The stats last recorded per routine: a delivery records them when they changed."""
        self.busy = 0
        """Deliveries running (concurrent strategy)."""
        self.workers = 0
        self.idle: list[anyio.Event] = []
        """What wakes each worker waiting for a delivery (concurrent strategy)."""
        self.group: Any = None
        self.pause_reason: str | None = None
        self.pause_checkpoint: Any = None
        self.cancel_reason: str | None = None
        self.failure: BaseException | None = None
        self.failed_delivery: str | None = None
        self.scope = anyio.CancelScope()
        self.group_scope: anyio.CancelScope | None = None
        self.loop_thread = threading.get_ident()
        self.gates: dict[str, Gate] = {}
        """One per routine that is not reentrant (concurrent strategy): its deliveries
        run one at a time, in the order they were taken from the queue."""
        if not self.sequential:
            for routine_id, routine in flow.routine_table.items():
                if not routine.reentrant:
                    self.gates[routine_id] = Gate()

    @property
    def run_id(self) -> str:
        return self.state.run_id

    # -- requests from the flow (any task, or a handler's worker thread) ---------------

    def request_pause(self, reason: str, checkpoint: Any) -> None:
        self.pause_reason = reason
        self.pause_checkpoint = checkpoint

    def request_cancel(self, reason: str) -> None:
        self.cancel_reason = reason
        self.state.cancel_requested = True
        if threading.get_ident() == self.loop_thread:
            self.scope.cancel()
        else:
            anyio.from_thread.run_sync(self.scope.cancel)

    def _stopping(self) -> bool:
        return (
            self.pause_reason is not None or self.failure is not None or self.state.cancel_requested
        )

    # -- running -------------------------------------------------------------------

    def start_with(self, entry: SlotDelivery) -> None:
        self.schedule([entry])

    async def run(self) -> JobState:
        """Dispatch until nothing is pending (or a pause, failure or cancel), then record
        how the job ended and return its state."""
        state = self.state
        interrupted = False
        fields = {"run_id": self.run_id}
        if _CORRELATION.get() is None:  # a request's id, if one is bound, stays
            fields["correlation_id"] = self.run_id
        with executing(state, None), bind_log_context(**fields):
            state.cancel_scopes.add(self.scope)
            self.flow.attach(self)
            try:
                with self.scope:
                    await self._dispatch_and_flush()
            except anyio.get_cancelled_exc_class():
                # a shutdown or a crash, not a cancel of this job: keep what finished
                interrupted = True
                with anyio.CancelScope(shield=True):
                    await self._flush()
                raise
            finally:
                state.cancel_scopes.discard(self.scope)
                self.flow.attach(None)
                try:
                    if not interrupted:
                        with anyio.CancelScope(shield=True):
                            await self._finish()
                finally:
                    # a job stopped here (a drain's deadline, a crash inside it) frees its
                    # worker's lease at once; nothing to do once its outcome gave it up
                    await give_up_lease(state)
        run = await self.kernel.store.get_run(self.run_id) or state.run
        return self.fold.result(run)

    async def _dispatch_and_flush(self) -> None:
        """Dispatch, while a flusher writes records no delivery's end has written yet."""
        failure: Exception | None = None
        async with anyio.create_task_group() as tasks:
            self.tasks_scope = tasks.cancel_scope
            tasks.start_soon(self._flusher)
            try:
                if self.sequential:
                    await self._run_sequential()
                else:
                    await self._run_concurrent()
            except Exception as error:  # raised as it is, not in an exception group
                failure = error
            finally:
                tasks.cancel_scope.cancel()
        if failure is not None:
            raise failure
        if self.flush_error is not None:
            raise self.flush_error

    async def _flusher(self) -> None:
        """Write waiting records at most FLUSH_SECONDS after the last write."""
        try:
            while True:
                await self.dirty.wait()
                self.dirty = anyio.Event()
                self.dirty_set = False
                wait = self.last_flush + FLUSH_SECONDS - time.monotonic()
                if wait > 0:
                    await anyio.sleep(wait)
                if self.outbox:
                    await self._flush()
        except Exception as error:  # the store failed: the dispatcher sees it at its end
            self.flush_error = error
            if self.tasks_scope is not None:
                self.tasks_scope.cancel()

    async def _run_sequential(self) -> None:
        stack = self.stack
        deliver = self._deliver
        state = self.state
        countdown = CHECK_EVERY
        while (
            stack
            and self.pause_reason is None
            and self.failure is None
            and not state.cancel_requested
        ):
            await deliver(stack.pop())
            countdown -= 1
            if not countdown:
                countdown = CHECK_EVERY
                await anyio.lowlevel.checkpoint_if_cancelled()

    async def _run_concurrent(self) -> None:
        """Up to max_concurrency workers take deliveries first-in first-out. A delivery
        that waits gets a worker (an idle one woken, or a new one); a flow whose
        handlers never wait runs on one worker."""
        async with anyio.create_task_group() as group:
            self.group_scope = group.cancel_scope
            self.group = group
            self._add_workers(len(self.queue))

    def _add_workers(self, wanted: int) -> None:
        idle = self.idle
        while wanted > 0 and idle:
            idle.pop().set()
            wanted -= 1
        while wanted > 0 and self.workers < self.max_concurrency and not self._stopping():
            self.workers += 1
            self.group.start_soon(self._worker)
            wanted -= 1

    async def _worker(self) -> None:
        queue = self.queue
        deliver = self._deliver
        countdown = CHECK_EVERY
        try:
            while True:
                while queue and not self._stopping():
                    self.busy += 1
                    try:
                        await deliver(queue.popleft())
                    finally:
                        self.busy -= 1
                    countdown -= 1
                    if not countdown:
                        countdown = CHECK_EVERY
                        await anyio.lowlevel.checkpoint_if_cancelled()
                if not self.busy or self._stopping():
                    # nothing runs that could create a delivery: the job is drained
                    for waiting in self.idle:
                        waiting.set()
                    self.idle.clear()
                    return
                wake = anyio.Event()
                self.idle.append(wake)
                try:
                    await wake.wait()
                finally:
                    if wake in self.idle:
                        self.idle.remove(wake)
        finally:
            self.workers -= 1

    def schedule(self, deliveries: Sequence[SlotDelivery]) -> None:
        if self.sequential:
            if len(deliveries) == 1:
                self.stack.append(deliveries[0])
            else:
                self.stack.extend(reversed(deliveries))
        else:
            self.queue.extend(deliveries)
            if self.group is not None:
                # called as a delivery ends: its worker takes the first one itself
                self._add_workers(len(self.queue) - 1)

    @property
    def pending(self) -> int:
        return len(self.stack) + len(self.queue)

    # -- one delivery ----------------------------------------------------------------

    async def _deliver(self, delivery: SlotDelivery) -> None:
        """Run *delivery* and record it; its records are written now (a slow handler, a
        failure, many records waiting) or soon, by the flusher.

        The usual delivery (an async handler, its first attempt, no gate, no retry due)
        runs in this one coroutine: every coroutine between the dispatcher and the
        handler costs each delivery. Anything else goes through :meth:`_handle`.
        """
        key = delivery.key  # built once: the step of its records and of its log lines
        step = _STEP.set(key)  # what the handler logs names its delivery
        try:
            routine = self.routines[delivery.routine_id]
            slot = routine.get_slot(delivery.slot) if delivery.slot is not None else None
            plan = slot.plan if slot is not None else None
            if (
                slot is None
                or plan is None
                or not plan.is_async
                or delivery.wake_at is not None
                or (self.gates and delivery.routine_id in self.gates)
            ):
                flush = await self._handle(delivery, key, routine)
            else:
                clock = time.perf_counter()
                started = self.epoch + clock
                outbox = Outbox()
                attempt = delivery.attempt
                try:
                    args, kwargs = arguments(plan, slot.merge(delivery.data), delivery.where)
                except Exception as error:  # a merge or signature problem: no retry helps
                    flush = self._failed(
                        delivery, error, outbox, attempt, started, clock, handled=False
                    )
                else:
                    function = slot.handler
                    failure: Exception | None = None
                    token = current_outbox.set(outbox)
                    try:
                        await function(*args, **kwargs)  # type: ignore[misc]
                    except Exception as error:
                        failure = error
                    finally:
                        current_outbox.reset(token)
                    if failure is None:
                        flush = self._handled(
                            delivery, key, routine, outbox, attempt, started, clock
                        )
                    else:
                        call = (function, args, kwargs, True)
                        flush = await self._retried(
                            delivery, key, routine, call, outbox, failure, started, clock
                        )
        finally:
            _STEP.reset(step)
        if flush:
            await self._flush()
        elif not self.dirty_set:
            self.dirty_set = True
            self.dirty.set()

    async def _handle(self, delivery: SlotDelivery, key: str, routine: Routine) -> bool:
        """Run *delivery* under its gate (concurrent strategy) and record it; returns
        whether the records are written at once.

        The stages: the call worked out from the message, the wait for a retry a
        previous process left due, the attempts, and the record (handled or failed).
        """
        gate = self.gates.get(delivery.routine_id)
        if gate is None:
            return await self._run(delivery, key, routine)
        await gate.enter()
        try:
            return await self._run(delivery, key, routine)
        finally:
            gate.leave()

    async def _run(self, delivery: SlotDelivery, key: str, routine: Routine) -> bool:
        clock = time.perf_counter()
        started = self.epoch + clock
        try:
            function, args, kwargs, is_async = self._call_of(routine, delivery)
        except Exception as error:  # a merge or signature problem: retrying cannot help
            outbox, attempt = Outbox(), delivery.attempt
            return self._failed(delivery, error, outbox, attempt, started, clock, handled=False)
        if delivery.wake_at is not None:
            await sleep_until(delivery.wake_at)
        outbox = Outbox()
        failure = await self._call(function, args, kwargs, is_async, outbox)
        if failure is None:
            return self._handled(delivery, key, routine, outbox, delivery.attempt, started, clock)
        call = (function, args, kwargs, is_async)
        return await self._retried(delivery, key, routine, call, outbox, failure, started, clock)

    async def _retried(
        self,
        delivery: SlotDelivery,
        key: str,
        routine: Routine,
        call: tuple[Callable[..., Any] | None, tuple[Any, ...], dict[str, Any], bool],
        outbox: Outbox,
        failure: Exception,
        started: float,
        clock: float,
    ) -> bool:
        """After the first attempt failed: the retries its error handler allows, then
        the record (handled, or failed)."""
        function, args, kwargs, is_async = call
        outbox, attempt, error = await self._attempts(
            delivery, function, args, kwargs, is_async, outbox, failure
        )
        if error is not None:
            return self._failed(delivery, error, outbox, attempt, started, clock, handled=True)
        return self._handled(delivery, key, routine, outbox, attempt, started, clock)

    async def _call(
        self,
        function: Callable[..., Any] | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        is_async: bool,
        outbox: Outbox,
    ) -> Exception | None:
        """One attempt: the handler called with *outbox* collecting what it emits (a
        sync one inline or in a worker thread, which runs in a copy of the context);
        returns its failure."""
        if function is None:
            return None
        token = current_outbox.set(outbox)
        try:
            if is_async:
                await function(*args, **kwargs)
            elif self.inline_sync:
                function(*args, **kwargs)
            else:
                await anyio.to_thread.run_sync(functools.partial(function, *args, **kwargs))
        except Exception as error:
            return error
        finally:
            current_outbox.reset(token)
        return None

    def _call_of(
        self, routine: Routine, delivery: SlotDelivery
    ) -> tuple[Callable[..., Any] | None, tuple[Any, ...], dict[str, Any], bool]:
        """The handler of *delivery* (None: its slot has none), its arguments (the
        message merged into the slot) and whether it is awaited."""
        slot = routine.get_slot(delivery.slot) if delivery.slot is not None else None
        if slot is not None and slot.plan is not None:
            # the usual delivery, worked out here rather than in _prepare
            args, kwargs = arguments(slot.plan, slot.merge(delivery.data), delivery.where)
            return slot.handler, args, kwargs, slot.is_async
        return self._prepare(routine, delivery)

    async def _attempts(
        self,
        delivery: SlotDelivery,
        function: Callable[..., Any] | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        is_async: bool,
        outbox: Outbox,
        error: Exception,
    ) -> tuple[Outbox, int, Exception | None]:
        """After the first attempt failed with *error*, call the handler again until it
        returns, or fails where its error handler retries no more; returns what the
        last attempt emitted, the attempt it ended at and its failure."""
        attempt = delivery.attempt
        policy = None
        while True:
            handler = self.flow.error_handler_for(delivery.routine_id)
            if handler.strategy is not ErrorStrategy.RETRY:
                return outbox, attempt, error
            if policy is None:
                policy = self.kernel.retry_policy(handler.retry_options())
            delay = policy.next_delay(attempt, error)
            if delay is None:
                return outbox, attempt, error
            await self._retrying(delivery, attempt, delay, error)
            attempt += 1
            outbox = Outbox()
            failure = await self._call(function, args, kwargs, is_async, outbox)
            if failure is None:
                return outbox, attempt, None
            error = failure

    def _handled(
        self,
        delivery: SlotDelivery,
        key: str,
        routine: Routine,
        outbox: Outbox,
        attempt: int,
        started: float,
        clock: float,
    ) -> bool:
        """Record a delivery its handler took, schedule the deliveries it emitted, and
        say whether to write the records now (a slow handler, or many records waiting)."""
        routine_id = delivery.routine_id
        try:
            records: list[tuple[str, str | None, Any]] | None = None
            children: list[SlotDelivery] | None = None
            if outbox:
                records, children = self._emitted(delivery, outbox, key)
            stats: dict[str, Any] | None = None
            held = routine.held_stats
            if held != self.last_stats.get(routine_id, _NO_STATS):
                stats = self._stats_record(routine_id, held)
        except Exception as error:
            return self._failed(delivery, error, Outbox(), attempt, started, clock, handled=False)
        duration = time.perf_counter() - clock
        done: dict[str, Any] = {
            "data": delivery.data,
            "duration": duration,
            "attempts": attempt,
            "routine": routine_id,
            "slot": delivery.slot,
            "delivery": delivery.number,
            "parent": delivery.parent,
            "started": started,
        }
        if stats is not None:
            done["stats"] = stats
        if outbox.cleared:
            done["cleared"] = self._cleared(outbox)
        self.fold.handled(routine_id, delivery.number, started, duration, stats, done, records)
        waiting = self.outbox
        waiting.append((SLOT_RECEIVED, key, done))
        if records:
            waiting.extend(records)
        if children:
            if len(children) == 1 and self.sequential:
                self.stack.append(children[0])
            else:
                self.schedule(children)
        if logger.isEnabledFor(logging.DEBUG):
            message = "Delivery %s handled in %.6fs (attempt %d, %d emitted)"
            logger.debug(message, key, duration, attempt, len(outbox))
        return duration >= FLUSH_SECONDS or (
            len(waiting) >= FLUSH_EVENTS
            and (self.writing is None or len(waiting) >= FLUSH_EVENTS_MAX)
        )

    def _prepare(
        self, routine: Routine, delivery: SlotDelivery
    ) -> tuple[Callable[..., Any] | None, tuple[Any, ...], dict[str, Any], bool]:
        if delivery.slot is None:
            function = routine.__call__
            plan = self.flow.entry_plan(delivery.routine_id, function)
            return function, (), dict(delivery.data), plan.is_async
        slot = routine.get_slot(delivery.slot)
        if slot is None:
            raise ConfigError(
                f"Routine {delivery.routine_id!r} has no slot {delivery.slot!r} any more",
                fix="Resume the job with the flow definition that started it.",
                context={"routine": delivery.routine_id, "slot": delivery.slot},
            )
        merged = slot.merge(delivery.data)
        if slot.handler is None:
            return None, (), {}, False
        args, kwargs = slot.call_arguments(merged, delivery.where)
        return slot.handler, args, kwargs, slot.is_async

    def _emitted(
        self, delivery: SlotDelivery, outbox: Outbox, key: str
    ) -> tuple[list[tuple[str, str | None, Any]], list[SlotDelivery]]:
        records: list[tuple[str, str | None, Any]] = []
        children: list[SlotDelivery] = []
        flow = self.flow
        parent = delivery.number
        routine_id = delivery.routine_id
        routine = self.routines[routine_id]
        number = self.next_number
        limit = self.max_deliveries
        for emitter, event, data in outbox:
            source = routine_id if emitter is routine else flow.id_of(emitter)
            # lists, as every store gives them back (JSON arrays): the memory store keeps
            # the record as it is, and a reader must see the same value on every store
            targets: list[list[Any]] = []
            for connection in flow.outgoing(source, event):
                if number > limit:
                    self.next_number = number
                    self._allocate()  # raises DeliveryLimitError
                mapping = connection.param_mapping
                target, slot = connection.target, connection.slot
                if mapping:
                    # a new message per mapped connection; unmapped ones share the
                    # emitted data, which no merge changes in place
                    payload = {mapping.get(name, name): value for name, value in data.items()}
                    targets.append([target, slot, number, dict(mapping)])
                else:
                    payload = data
                    targets.append([target, slot, number])
                children.append(SlotDelivery(number, target, slot, payload, parent))
                number += 1
            self.next_number = number
            record = {
                "event": event,
                "data": data,
                "targets": targets,
                "routine": source,
                "delivery": parent,
            }
            records.append((EMITTED, key, record))
        return records, children

    def _cleared(self, outbox: Outbox) -> list[list[str]]:
        return [[self.flow.id_of(slot.routine), slot.name] for slot in outbox.cleared]

    def _allocate(self) -> int:
        number = self.next_number
        if number > self.max_deliveries:
            raise DeliveryLimitError(
                f"Flow {self.flow.flow_id!r} reached max_deliveries={self.max_deliveries} "
                f"in job {self.run_id!r}",
                why="Each execution may create at most max_deliveries deliveries; a cycle "
                "in the connections that never stops would otherwise run forever.",
                fix="Give the cycle a condition that ends it, or raise max_deliveries "
                "(Flow(max_deliveries=...)).",
                context={"job_id": self.run_id, "max_deliveries": self.max_deliveries},
            )
        self.next_number = number + 1
        return number

    def _stats_record(self, routine_id: str, stats: Mapping[str, Any]) -> dict[str, Any] | None:
        if stats == self.last_stats.get(routine_id):
            return None
        recorded = plain_data(stats, f"the stats of routine {routine_id!r}")
        self.last_stats[routine_id] = dict(stats)
        return recorded

    async def _retrying(
        self, delivery: SlotDelivery, attempt: int, delay: float, error: Exception
    ) -> None:
        wake = utcnow() + timedelta(seconds=delay)
        data = {
            "routine": delivery.routine_id,
            "slot": delivery.slot,
            "delivery": delivery.number,
            "attempt": attempt,
            "delay": delay,
            "wake_at": wake.isoformat(),
            "at": time.time(),
            "error": converter.unstructure(ErrorInfo.from_exception(error)),
        }
        self.outbox.append((RETRYING, delivery.key, data))
        self.fold.retrying(data)
        await self._flush()  # the wait is durable: a crash resumes with the next attempt
        await anyio.sleep(delay)

    def _failed(
        self,
        delivery: SlotDelivery,
        error: Exception,
        outbox: Outbox,
        attempts: int,
        started: float,
        clock: float,
        *,
        handled: bool,
    ) -> bool:
        """Record a failed delivery as its error handler decides: the job stops, goes on
        (what the handler emitted is delivered, when the failure came from the handler:
        *handled*) or skips it. Returns True: a failure is written at once."""
        handler = self.flow.error_handler_for(delivery.routine_id)
        outcome = outcome_of(handler, error)
        records: list[tuple[str, str | None, Any]] = []
        children: list[SlotDelivery] = []
        if outcome == "continued" and handled:
            try:
                records, children = self._emitted(delivery, outbox, delivery.key)
            except DeliveryLimitError as limit:
                error, outcome = limit, "stopped"
        data = self._failure_data(delivery, error, handler, outcome, attempts, started, clock)
        if handled and outbox.cleared:
            data["cleared"] = self._cleared(outbox)
        self.outbox.append((FAILED, delivery.key, data))
        message = data["error"]["message"]
        logger.debug(
            "Delivery %s failed (%s, attempt %d): %s", delivery.key, outcome, attempts, message
        )
        self.fold.delivered(FAILED, data)
        for record in records:
            self.fold.emitted(record[2])
        self.outbox.extend(records)
        if outcome == "stopped":
            self._stop(delivery, error)
        else:
            self.schedule(children)
        return True

    def _failure_data(
        self,
        delivery: SlotDelivery,
        error: Exception,
        handler: ErrorHandler,
        outcome: str,
        attempts: int,
        started: float,
        clock: float,
    ) -> dict[str, Any]:
        """The ``routine.failed`` record: the message, the error with its traceback, the
        outcome, and the routine's stats when they changed (and JSON can hold them)."""
        info = ErrorInfo.from_exception(error, traceback="".join(traceback.format_exception(error)))
        data: dict[str, Any] = {
            "data": delivery.data,
            "error": converter.unstructure(info),
            "outcome": outcome,
            "strategy": handler.strategy.value,
            "critical": handler.is_critical,
            "attempts": attempts,
            "duration": time.perf_counter() - clock,
            "routine": delivery.routine_id,
            "slot": delivery.slot,
            "delivery": delivery.number,
            "parent": delivery.parent,
            "started": started,
        }
        routine = self.flow.routine_table[delivery.routine_id]
        try:
            stats = self._stats_record(delivery.routine_id, routine.held_stats)
        except Exception:  # stats JSON cannot hold are not recorded with a failure
            stats = None
        if stats is not None:
            data["stats"] = stats
        return data

    def _stop(self, delivery: SlotDelivery, error: Exception) -> None:
        """End the job with *error* (the first failure that stops it is the one kept);
        under the concurrent strategy, the deliveries in flight are cancelled."""
        if self.failure is None:
            self.failure = error
            self.failed_delivery = delivery.key
        if self.group_scope is not None:
            self.group_scope.cancel()

    # -- the journal -------------------------------------------------------------------

    async def _flush(
        self, events: Sequence[tuple[str, str | None, Any]] = (), run: Run | None = None
    ) -> None:
        """Write the waiting records (and *events*); returns once they are stored.

        One write at a time: a caller that comes while a write is under way waits for
        it (so deliveries cannot run far ahead of the store), then writes everything
        that waited meanwhile in one go, unless another caller already took it.
        """
        while self.writing is not None:
            await self.writing.wait()
        batch = self.outbox
        self.outbox = []
        batch.extend(events)
        if batch or run is not None:
            writing = self.writing = anyio.Event()
            try:
                stored = await self.journal.write(batch, run=run)
            finally:
                self.writing = None
                writing.set()
            if events:  # how the run went on: the records were folded as they were made
                for event in stored[len(stored) - len(events) :]:
                    self.fold.event(event)
        self.last_flush = time.monotonic()

    async def _finish(self) -> None:
        state = self.state
        await self._flush()
        if state.cancel_requested:
            run = state.evolve_run(status=RunStatus.CANCELLED, runnable_at=None)
            reason = self.cancel_reason or "cancelled"
            await self._flush(
                [(EventKind.RUN_CANCELLED, None, {"reason": reason, "pending": self.pending})], run
            )
        elif self.failure is not None:
            info = ErrorInfo.from_exception(self.failure)
            run = state.evolve_run(status=RunStatus.FAILED, error=info, runnable_at=None)
            data = {"error": converter.unstructure(info), "step": self.failed_delivery}
            await self._flush([(EventKind.RUN_FAILED, None, data)], run)
        elif self.pause_reason is not None and self.pending:
            encoded = plain_data({"checkpoint": self.pause_checkpoint}, "the pause checkpoint")
            run = state.evolve_run(status=RunStatus.PAUSED, runnable_at=None)
            data = {"reason": self.pause_reason, "pending": self.pending, **encoded}
            await self._flush([(EventKind.RUN_PAUSED, None, data)], run)
        else:
            run = state.evolve_run(status=RunStatus.COMPLETED, runnable_at=None)
            await self._flush(
                [(EventKind.RUN_COMPLETED, None, {"deliveries": self.next_number - 1})], run
            )

    # -- resuming ------------------------------------------------------------------------

    def restore(self, run: Run, events: Sequence[Event]) -> None:
        """Rebuild the pending deliveries, stats and slot buffers from the journal."""
        restore(self, run, events)
