"""How a flow's job runs, here or on a worker: ``flow.submit_async(entry_id, params)``
stores a pending job that a worker (``floe worker``, :class:`floe.Worker`) claims.

A submitted job records its flow as a document (:meth:`Flow.serialize`) in its
metadata. The worker builds the job's flow from that document, so it needs the routine
classes but not the code that wired them, and each job gets a flow of its own: a worker
executes several jobs of one flow at once. Loading the document imports only what a
flow document may (the trust model): the built-in routines and what the worker allows
(``Worker(allow=...)``, ``floe worker --allow``), every path checked before any import.
A job whose document names anything else fails with that error recorded; the worker
goes on with the others.

:func:`start_job` and :func:`continue_job` are the two ways every job executes:
``Flow.execute_async`` and ``Flow.resume_async`` call them in the caller's process,
:func:`execute_claimed` on a worker (a first claim starts the job; a claim after its
worker died continues it from its journal, as a resume does).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar

import attrs

from ..kernel._errors import (
    ConfigError,
    PersistenceError,
    SequenceConflictError,
    StateError,
)
from ..kernel._handles import StoredHandle
from ..kernel._journal import Journal, ReplayIndex
from ..kernel._kernel import Kernel, kernel_for_call
from ..kernel._kinds import EventKind
from ..kernel._models import Event, Run, RunStatus, utcnow
from ..kernel._queues import DEFAULT_PLACEMENT, Placement
from ..kernel._runs import ActiveRun
from ._allow import ImportNotAllowedError
from ._engine import GRAPH_KIND, JobExecution
from ._job import JobFold, JobState
from ._persist import deserialize_flow, serialize_flow

if TYPE_CHECKING:
    from ._flow import Flow

F = TypeVar("F", bound="Flow")

__all__ = [
    "FLOW_DOCUMENT",
    "JobHandle",
    "continue_job",
    "execute_claimed",
    "flow_of_job",
    "new_job",
    "start_job",
    "submit_job",
]

FLOW_DOCUMENT: Final = "flow"
"""The metadata key of a submitted job's flow document."""


def new_job(
    flow: Flow,
    entry_id: str,
    params: dict[str, Any],
    job_id: str | None,
    *,
    status: RunStatus,
    placement: Placement = DEFAULT_PLACEMENT,
    document: dict[str, Any] | None = None,
) -> Run:
    """The record of a new job of *flow*: executing here (``running``, not claimable) or
    submitted for a worker (``pending``, due at once, with its flow *document*)."""
    now = utcnow()
    metadata: dict[str, Any] = {
        "execution_strategy": flow.execution_strategy,
        "routines": {rid: _class_path(routine) for rid, routine in flow.routines.items()},
    }
    if document is not None:
        metadata[FLOW_DOCUMENT] = document
    return Run(
        run_id=job_id or uuid.uuid4().hex,
        name=flow.flow_id,
        kind=GRAPH_KIND,
        status=status,
        created_at=now,
        updated_at=now,
        input={"entry": entry_id, "params": params},
        metadata=metadata,
        runnable_at=now if status is RunStatus.PENDING else None,
        **placement.fields(),
    )


async def start_job(flow: Flow, kernel: Kernel, run: Run) -> JobState:
    """Execute the new job *run* of *flow* from its entry (``run.started`` first)."""
    document = run.input
    entry = flow.entry_delivery(document["entry"], dict(document["params"]))
    state = ActiveRun(kernel, run, Journal(kernel, run.run_id, run.last_seq), ReplayIndex(()))
    started = {
        "flow": flow.flow_id,
        "entry": document["entry"],
        "params": document["params"],
        "execution_strategy": flow.execution_strategy,
        **flow.held_state(),
    }
    # a claimed job was pending: it is running from this write on (its lease is the claim's)
    pending = run.status is not RunStatus.RUNNING
    running = state.evolve_run(status=RunStatus.RUNNING) if pending else None
    fold = JobFold(run)
    for event in await state.journal.write([(EventKind.RUN_STARTED, None, started)], run=running):
        fold.event(event)
    execution = JobExecution(flow, kernel, state, fold)
    execution.start_with(entry)
    return await execution.run()


async def continue_job(flow: Flow, kernel: Kernel, run: Run, events: Sequence[Event]) -> JobState:
    """Execute the pending deliveries of the paused or interrupted job *run* (its journal
    is *events*), after recording ``run.resumed``; the entry is not called again."""
    job_id = run.run_id
    state = ActiveRun(kernel, run, Journal(kernel, job_id, run.last_seq), ReplayIndex(()))
    fold = JobFold(run)
    for event in events:
        fold.event(event)
    execution = JobExecution(flow, kernel, state, fold)
    execution.restore(run, events)
    reason = "paused" if run.status is RunStatus.PAUSED else "interrupted"
    resumed = state.evolve_run(status=RunStatus.RUNNING)
    data = {"after": reason, "pending": execution.pending}
    try:
        for event in await state.journal.write([(EventKind.RUN_RESUMED, None, data)], run=resumed):
            fold.event(event)
    except SequenceConflictError as error:
        raise StateError(
            f"Job {job_id!r} changed while it was being resumed",
            why="Another process resumed or cancelled it first.",
            fix="Check the job's status and resume it again if it is still paused.",
            context={"job_id": job_id},
        ) from error
    return await execution.run()


def flow_of_job(flow_class: type[F], run: Run, allow: Iterable[Any]) -> F:
    """The flow (a *flow_class*) of the claimed job *run*, built from the document it
    recorded, importing only the built-in routines and *allow*: a :class:`FloeError`
    when it cannot be (the caller records the job failed, having written nothing
    else)."""
    document = _flow_document(run)
    try:
        return deserialize_flow(flow_class, document, allow, f"the flow of job {run.run_id!r}")
    except ImportNotAllowedError as error:
        module = str(error.context.get("path", "")).partition(":")[0] or "MODULE"
        raise ImportNotAllowedError(
            error.what,
            why=error.why,
            fix=f"If you trust the code that submits these jobs, let the worker import it: "
            f"floe worker --allow {module} (floe.Worker(kernel, allow=[{module!r}])).",
            context=error.context,
        ) from None


async def execute_claimed(kernel: Kernel, run: Run, flow: Flow) -> JobState:
    """Execute the job *run* a worker of *kernel* claimed, with its *flow*
    (:func:`flow_of_job`): a first claim starts it, a later one continues it.

    An execution this process stops (a drain's deadline, a crash inside it) releases
    the lease (see ``JobExecution.run``), for another worker to continue the job at once.
    """
    if run.status is RunStatus.PENDING:
        return await start_job(flow, kernel, run)
    return await continue_job(flow, kernel, run, await kernel.store.read_events(run.run_id))


def _flow_document(run: Run) -> Mapping[str, Any]:
    document = run.metadata.get(FLOW_DOCUMENT) if isinstance(run.metadata, Mapping) else None
    if not isinstance(document, Mapping):
        raise PersistenceError(
            f"Job {run.run_id!r} of flow {run.name!r} records no flow document",
            why="A worker builds a job's flow from the document its submission recorded; "
            "this job was started in a process (flow.execute) and never submitted.",
            fix="Resume it with its flow: await flow.resume_async(job_id).",
            context={"job_id": run.run_id},
        )
    return document


async def submit_job(
    flow: Flow,
    entry_id: str,
    params: dict[str, Any],
    job_id: str | None,
    placement: Placement,
) -> JobHandle:
    """Store a pending job of *flow* for a worker; its handle. A *job_id* already stored
    is an idempotency key: its handle, when it is a job of this flow with this input."""
    document = serialize_flow(flow)  # refuses a flow a worker could not build, first
    flow.entry_delivery(entry_id, params)  # and an entry it could not call
    async with kernel_for_call() as kernel:
        existing = await kernel.store.get_run(job_id) if job_id is not None else None
        if existing is None:
            run = new_job(
                flow,
                entry_id,
                params,
                job_id,
                status=RunStatus.PENDING,
                placement=placement,
                document=document,
            )
            try:
                await kernel.store.create_run(run)
            except PersistenceError:
                # the same id submitted at once by another caller: theirs is the job
                existing = await kernel.store.get_run(run.run_id)
                if existing is None:
                    raise
            else:
                return JobHandle(flow.flow_id, run.run_id)
        _check_resubmission(flow, existing, entry_id, params)
        return JobHandle(flow.flow_id, existing.run_id)


def _check_resubmission(flow: Flow, run: Run, entry_id: str, params: dict[str, Any]) -> None:
    if run.kind != GRAPH_KIND or run.name != flow.flow_id:
        raise ConfigError(
            f"Run {run.run_id!r} is a {run.kind} run of {run.name!r}, not a job of flow "
            f"{flow.flow_id!r}",
            why="A job id submitted again names the job it made.",
            fix="Choose another job id.",
            context={"job_id": run.run_id},
        )
    if run.input != {"entry": entry_id, "params": params}:
        raise ConfigError(
            f"Job {run.run_id!r} was submitted with another entry or other params",
            why="A job id submitted again is the same job: it cannot take another input.",
            fix="Choose another job id, or submit the same entry and params.",
            context={"job_id": run.run_id},
        )


@attrs.frozen
class JobHandle(StoredHandle):
    """A job submitted to be executed by a worker: ``flow.submit(...)`` returns one.

    Every method reads the store, so a handle works from any process that opens the
    same store, for as long as the job is kept (``JobHandle(flow_id, job_id)``):
    ``status()`` and ``wait()``, and their async twins.
    """

    noun: ClassVar[str] = "job"
    flow_id: str
    job_id: str

    @property
    def stored_id(self) -> str:
        return self.job_id

    def described(self) -> str:
        return f"Job {self.job_id!r} of flow {self.flow_id!r}"

    async def wait_async(self) -> JobState:
        """The job's state once it has finished or paused, as long as that takes (bound
        it with ``anyio.fail_after``, or use :meth:`wait` with a timeout)."""
        async with kernel_for_call() as kernel:
            run = await self.settled(kernel)
            return JobState.from_events(run, await kernel.store.read_events(self.job_id))

    def wait(self, timeout: float | None = None) -> JobState:
        """:meth:`wait_async` from synchronous code: waiting longer than *timeout*
        seconds (None: no limit) is a :class:`WorkflowTimeoutError`; the job goes on."""
        state: JobState = self.sync_within(self.wait_async, timeout)
        return state


def _class_path(routine: Any) -> str:
    kind = type(routine)
    return f"{kind.__module__}:{kind.__qualname__}"
