"""Workers: processes that claim runnable runs from a shared store and execute them.

``floe worker`` (or ``await Worker(kernel).serve()``) claims runs with
:meth:`Store.claim_runs` under the kernel's owner id — submitted runs nobody started,
and interrupted ones whose executor is gone, the longest due first — up to
*concurrency* at a time. Each is executed by replay of its journal, with the workflow
imported by the target the run recorded; the kernel's lease service renews its lease
while it runs. The store is the only coordinator: its claim hands each run to one
worker, and the journal's sequence check fences out a worker that lost its lease.

While it serves, it keeps its record (:mod:`floe._worker_records`: what it holds, its
last heartbeat) in the store, for ``floe.list_workers()``; it deletes it when it stops.

Each time it looks for work (every *poll_seconds* at most) it also fires the store's due
schedules (:mod:`floe._schedules`): every worker does, and each tick makes one run.

A durable sleep or a retry backoff longer than *suspend_sleeps_over* suspends its run:
the worker's slot is free while it waits, and the run is claimed again, by any worker,
when the wait ends.

A submitted graph job (``flow.submit_async``) is executed the same way, its flow built
from the document the job recorded, importing only the built-in routines and what the
worker allows (*allow*, ``floe worker --allow``). A run whose workflow or flow cannot be
loaded here fails with that error recorded; the worker goes on serving the others.
:meth:`Worker.drain` stops claiming and lets the runs held finish within a grace
period; what is still running then is cancelled here, and its lease released, so that
another worker continues it at once.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from typing import Any, Final

import anyio
import anyio.abc

from ._schedules import fire_due
from ._worker_records import WorkerRecords, worker_info
from .components._components import Engine
from .components._config import ComponentConfig
from .components._mailbox import MESSAGE_KIND, deliver_claimed
from .graph._allow import Allowed
from .graph._engine import GRAPH_KIND
from .graph._flow import Flow
from .graph._job import JobState
from .graph._jobs import execute_claimed, flow_of_job
from .kernel._errors import (
    ConfigError,
    FloeError,
    PersistenceError,
    RunLeasedError,
    SequenceConflictError,
)
from .kernel._kernel import Kernel
from .kernel._kinds import EventKind
from .kernel._logging import bind_log_context
from .kernel._models import Event, Run, RunStatus, utcnow
from .kernel._queue_limits import load_queues
from .kernel._queues import Queue, check_queue_name
from .kernel._runs import fail_leased_run
from .workflows._execution import Execution
from .workflows._workflows import workflow_for

__all__ = ["Worker"]

logger = logging.getLogger("floe.worker")

_WORKFLOW: Final = "workflow"
_EXECUTED: Final = frozenset({_WORKFLOW, GRAPH_KIND, MESSAGE_KIND})
"""The kinds of run a worker executes."""


class Worker:
    """Claims runnable runs from *kernel*'s store and executes them, *concurrency* at once.

    ``async with floe.open_kernel() as kernel: await Worker(kernel).serve()`` serves
    until :meth:`drain` is called (or the task is cancelled). *poll_seconds* is how long
    an idle worker waits before it looks for work again. A run's durable sleep or
    retry backoff longer than *suspend_sleeps_over* seconds suspends it: the worker's
    slot is free meanwhile, and the run is claimed again (by any worker) when the wait
    ends. *queues* names
    the queues it claims from (None: every queue); the limits of :class:`floe.Queue`
    stored for them hold across all workers. *allow* is what the flow documents of
    submitted graph jobs may import beyond the built-in routines (modules, targets or
    the objects themselves, as for ``Flow.load``).
    """

    def __init__(
        self,
        kernel: Kernel,
        *,
        concurrency: int = 4,
        poll_seconds: float = 0.5,
        suspend_sleeps_over: float | None = 5.0,
        queues: Collection[str] | None = None,
        allow: Iterable[Any] = (),
        configs: Iterable[ComponentConfig] = (),
    ) -> None:
        if type(concurrency) is not int or concurrency < 1:
            raise ConfigError(
                f"Invalid worker concurrency {concurrency!r}",
                why="It is how many runs the worker executes at once.",
                fix="Pass a whole number >= 1, e.g. concurrency=4.",
            )
        if isinstance(poll_seconds, bool) or not isinstance(poll_seconds, int | float):
            poll_seconds = -1
        if not 0.001 <= poll_seconds <= 3600:
            raise ConfigError(
                f"Invalid worker poll interval {poll_seconds!r}",
                fix="Pass poll_seconds as a number of seconds from 0.001 to 3600.",
            )
        if suspend_sleeps_over is not None and (
            isinstance(suspend_sleeps_over, bool)
            or not isinstance(suspend_sleeps_over, int | float)
            or not 0 <= suspend_sleeps_over <= 86400
        ):
            raise ConfigError(
                f"Invalid worker suspend_sleeps_over={suspend_sleeps_over!r}",
                why="It is the longest durable sleep a run waits out in its worker slot.",
                fix="Pass a number of seconds from 0 to 86400, or None never to suspend.",
            )
        if queues is not None:
            if isinstance(queues, str) or not queues:
                raise ConfigError(
                    f"Invalid worker queues {queues!r}",
                    why="A worker serves the queues of a non-empty collection of names, or "
                    "every queue (None).",
                    fix=f"Pass queues=[{queues!r}]"
                    if isinstance(queues, str)
                    else "Leave queues out to serve every queue.",
                )
            queues = frozenset(check_queue_name(name) for name in queues)
        if not kernel.store.supports_leases:
            raise ConfigError(
                f"The store {kernel.store.url} cannot be served by workers",
                why="Workers claim runs with leases, and this store has none.",
                fix="Use the SQLite store (sqlite:///PATH) or another store with leases.",
                context={"store": kernel.store.url},
            )
        entries: Any = allow
        if isinstance(entries, Iterable) and not isinstance(entries, str | bytes):
            entries = tuple(entries)
        Allowed(entries)  # a bad entry (or one string) is refused now, not at the first job
        self.configs: dict[str, ComponentConfig] = _configs_by_name(configs)
        """The component configs this worker restores components with, by name."""
        self.kernel = kernel
        self.allow: tuple[Any, ...] = tuple(entries)
        """What a submitted job's flow document may import beyond the built-in routines."""
        self.concurrency = concurrency
        self.poll_seconds = float(poll_seconds)
        self.suspend_sleeps_over = suspend_sleeps_over
        self.queues: frozenset[str] | None = queues
        """The queues this worker claims from (None: every queue)."""
        self.executing: set[str] = set()
        """The ids of the runs this worker is executing now."""
        self.executed = 0
        """How many executions this worker has finished: a run that ended, paused, failed
        or was suspended (one suspended and claimed again counts each time)."""
        self._draining = anyio.Event()
        self._wake = anyio.Event()
        self._executions: anyio.abc.TaskGroup | None = None
        self._next_firing = -math.inf
        self._queue_limits: list[Queue] = []
        self._limits_due = -math.inf  # when the stored queue limits are read again
        self._started_at = utcnow()

    @property
    def draining(self) -> bool:
        """Whether :meth:`drain` was called: the worker claims no more runs."""
        return self._draining.is_set()

    @property
    def worker_id(self) -> str:
        """The owner id its leases carry: the kernel's."""
        return self.kernel.owner_id

    async def serve(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Claim and execute runs until :meth:`drain` is called; then return once the runs
        held have finished (or been cancelled at the end of the grace period)."""
        logger.info(
            "Worker %s serving %s (%s), %d at once",
            self.worker_id,
            self.kernel.store.url,
            "every queue" if self.queues is None else ", ".join(sorted(self.queues)),
            self.concurrency,
            extra={"worker": self.worker_id},
        )
        self._started_at = utcnow()
        records = WorkerRecords(self.kernel)
        await self._heartbeat(records)  # listed from the start
        try:
            async with anyio.create_task_group() as heartbeats:
                heartbeats.start_soon(self._keep_heartbeats, records)
                await self._serve_claims(task_status)
                heartbeats.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):  # a cancelled worker is unlisted too
                await self._unlist(records)
        logger.info("Worker %s stopped", self.worker_id, extra={"worker": self.worker_id})

    async def _serve_claims(self, task_status: anyio.abc.TaskStatus[None]) -> None:
        async with anyio.create_task_group() as executions:
            self._executions = executions
            task_status.started()
            while not self._draining.is_set():
                # made before looking for work: a run that ends (or a drain) meanwhile
                # sets this very event, so the wait below ends at once instead of polling
                self._wake = anyio.Event()
                await self._fire_schedules()
                free = self.concurrency - len(self.executing)
                claimed = await self._claim(free) if free > 0 else []
                for run in claimed:
                    self.executing.add(run.run_id)
                    executions.start_soon(self._execute, run)
                if free > 0 and len(claimed) == free:
                    continue  # there may be more waiting: claim again at once
                await self._idle()
        self._executions = None

    async def _keep_heartbeats(self, records: WorkerRecords) -> None:
        while True:  # at the lease renewal's pace: a record outlives no lease it shows
            await anyio.sleep(self.kernel.settings.run_lease_seconds / 3)
            await self._heartbeat(records)

    async def _heartbeat(self, records: WorkerRecords) -> None:
        lease_seconds = self.kernel.settings.run_lease_seconds
        info = worker_info(
            self.worker_id,
            started_at=self._started_at,
            lease_seconds=lease_seconds,
            concurrency=self.concurrency,
            queues=self.queues,
            executing=self.executing,
            executed=self.executed,
            draining=self.draining,
        )
        try:
            await records.write(info)
            await records.forget_gone(info.heartbeat_at)
        except FloeError as error:  # the store is unavailable for now: the next beat tries
            logger.warning("Worker %s could not write its record: %s", self.worker_id, error)

    async def _unlist(self, records: WorkerRecords) -> None:
        try:
            await records.delete(self.worker_id)
        except FloeError as error:  # the record goes stale, and is forgotten later
            logger.warning("Worker %s could not delete its record: %s", self.worker_id, error)

    def drain(self, grace_seconds: float = math.inf) -> None:
        """Stop claiming; cancel what still runs *grace_seconds* from now (default: never).

        The runs cancelled here are not recorded as cancelled: their leases are released
        and another worker continues them by replay.
        """
        self._draining.set()
        self._wake.set()
        if self._executions is not None and grace_seconds != math.inf:
            scope = self._executions.cancel_scope
            scope.deadline = min(scope.deadline, anyio.current_time() + grace_seconds)

    async def _fire_schedules(self) -> None:
        """Make the runs of the schedules' due ticks, once per poll interval at most."""
        now = anyio.current_time()
        if now < self._next_firing:
            return
        self._next_firing = now + self.poll_seconds
        try:
            await fire_due(self.kernel)
        except FloeError as error:  # the store is unavailable for now: try again later
            logger.warning("Worker %s could not fire schedules: %s", self.worker_id, error)

    async def _claim(self, limit: int) -> list[Run]:
        settings = self.kernel.settings
        try:
            return await self.kernel.store.claim_runs(
                self.worker_id,
                limit=limit,
                lease_seconds=settings.run_lease_seconds,
                queues=self.queues,
                queue_limits=await self._limits(),
            )
        except FloeError as error:  # the store is unavailable for now: try again later
            logger.warning("Worker %s could not claim runs: %s", self.worker_id, error)
            return []

    async def _limits(self) -> list[Queue]:
        """The stored queue limits, read again once per poll interval: a change made with
        'floe queue set' holds for every worker within that interval, and a busy worker,
        which claims whenever a run ends, does not read them once per run."""
        now = anyio.current_time()
        if now >= self._limits_due:
            self._queue_limits = await load_queues(self.kernel.store)
            self._limits_due = now + self.poll_seconds
        return self._queue_limits

    async def _idle(self) -> None:
        """Wait for a slot to free (or for drain), or for the store to say a run may be
        claimable, or for the next poll: whichever comes first."""
        async with anyio.create_task_group() as waits:
            waits.start_soon(self._until_woken, waits.cancel_scope)
            if len(self.executing) < self.concurrency:  # a free slot: new runs matter
                waits.start_soon(self._until_notified, waits.cancel_scope)
            await anyio.sleep(self.poll_seconds)  # cancelled with the group by either wait
            waits.cancel_scope.cancel()

    async def _until_woken(self, scope: anyio.CancelScope) -> None:
        await self._wake.wait()
        scope.cancel()

    async def _until_notified(self, scope: anyio.CancelScope) -> None:
        try:
            await self.kernel.store.wait_for_runnable()
        except FloeError as error:  # the store is unavailable for now: poll instead
            logger.warning("Worker %s: %s", self.worker_id, error)
            return
        scope.cancel()

    async def _execute(self, run: Run) -> None:
        extra: dict[str, Any] = {"worker": self.worker_id}
        try:
            with bind_log_context(run_id=run.run_id):
                await self._execute_run(run, extra)
        finally:
            self.executing.discard(run.run_id)
            self.executed += 1
            self._wake.set()

    async def _execute_run(self, run: Run, extra: dict[str, Any]) -> None:
        if run.kind not in _EXECUTED:  # a kind only its own process executes
            logger.error("Run %s is a %s; workers do not execute it", run.run_id, run.kind)
            await self.kernel.store.release_lease(run.run_id, self.worker_id)
            return
        try:
            execute = self._executor(run)
        except FloeError as error:
            fix = f" Fix: {error.fix}" if error.fix else ""
            logger.error("Run %s fails: %s.%s", run.run_id, error.what, fix, extra=extra)
            await fail_leased_run(self.kernel, run, error)
            return
        logger.info("Executing run %s of %s", run.run_id, run.name, extra=extra)
        try:
            outcome = await execute()
        except RunLeasedError:
            logger.info("Run %s was taken over by another worker", run.run_id, extra=extra)
        except SequenceConflictError:
            # this worker lost the run (stalled past its lease): the new owner's stands
            logger.warning(
                "Run %s was written by another worker meanwhile; this worker drops it",
                run.run_id,
                extra=extra,
            )
        except PersistenceError as error:
            # the store failed under the run (a lost connection, a full disk): what it
            # committed stands, and the run is claimed again, here or elsewhere, by replay
            logger.warning(
                "Run %s stopped: the store failed (%s); it is executed again by replay",
                run.run_id,
                error.what,
                extra=extra,
            )
        except Exception:
            logger.exception("Run %s stopped with an error of floe's", run.run_id, extra=extra)
        else:
            if isinstance(outcome, Execution) and outcome.status is RunStatus.RUNNING:
                due = _wake_at(outcome.events)  # suspended in a sleep or a backoff
                logger.info("Run %s waits until %s, suspended", run.run_id, due, extra=extra)
            else:
                logger.info("Run %s %s", run.run_id, outcome.status, extra=extra)

    def _executor(self, run: Run) -> Callable[[], Awaitable[Execution | JobState | Run]]:
        """How this worker executes *run* (a workflow run, a graph job or a message); a
        :class:`FloeError` when its code does not load here: the run is recorded failed."""
        kernel = self.kernel
        if run.kind == _WORKFLOW:
            workflow = workflow_for(run)
            return functools.partial(
                workflow.continue_run, kernel, run, suspend_sleeps_over=self.suspend_sleeps_over
            )
        if run.kind == MESSAGE_KIND:
            config = self.configs.get(run.name)
            return functools.partial(deliver_claimed, Engine(kernel), run, config)
        flow = flow_of_job(Flow, run, self.allow)
        return functools.partial(execute_claimed, kernel, run, flow)


def _wake_at(events: Sequence[Event]) -> str:
    """When the wait a suspended run is in (a durable sleep, a retry's backoff) ends, as
    its journal recorded it."""
    for event in reversed(events):
        if event.kind in _WAITS and isinstance(event.data, dict):
            return str(event.data.get("wake_at"))
    return "it is due"


_WAITS: Final = frozenset({EventKind.TIMER_SCHEDULED, EventKind.TASK_RETRYING})


def _configs_by_name(configs: Iterable[ComponentConfig]) -> dict[str, ComponentConfig]:
    if isinstance(configs, str | bytes) or not isinstance(configs, Iterable):
        configs = [configs]  # refused below, with what it is
    found: dict[str, ComponentConfig] = {}
    for config in configs:
        if not isinstance(config, ComponentConfig):
            raise ConfigError(
                f"Invalid worker config {config!r}",
                why="A worker restores components with the ComponentConfig objects it is given.",
                fix="Pass configs=[floe.load_config(PATH)], or --config PATH to floe worker.",
            )
        found[config.name] = config
    return found
