"""Recovering runs whose process is gone: ``await floe.recover()``.

A run is *interrupted* when it is running but nobody holds a live lease on it
(:meth:`Run.is_interrupted`): its process died, or stopped without finishing it.
:func:`recover` continues every interrupted top-level run of the store by replay, in
this process and at once (a run's child runs are continued by its own replay); a step
that completed never runs again, the one in flight at the crash runs again. A worker
does the same on its own: it claims interrupted runs like submitted ones.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import anyio
import attrs

from ..kernel._errors import ConfigError, FloeError, RunLeasedError
from ..kernel._kernel import Kernel, kernel_for_call
from ..kernel._models import Run, RunQuery, RunStatus, utcnow
from ._execution import Execution
from ._workflows import workflow_for

__all__ = ["Recovered", "interrupted_runs", "recover"]

logger = logging.getLogger("floe.recovery")

_PAGE = 500


@attrs.frozen
class Recovered:
    """What :func:`recover` did with one interrupted run."""

    run: Run
    """The run as it was found, interrupted."""
    execution: Execution | None = None
    """Its execution by replay here (finished, paused, or failed), when it ran."""
    error: FloeError | None = None
    """Why it did not run here: its workflow cannot be loaded, or another process took
    it first (:class:`RunLeasedError`)."""


async def recover(*, older_than: float = 0.0) -> list[Recovered]:
    """Continue every interrupted run of the store by replay, in this process.

    *older_than* (seconds) leaves out the runs interrupted less long ago than that: a
    run whose lease ran out only just may have an executor that is merely slow. Runs
    execute concurrently (a durable sleep waits out only what is left of it); the call
    returns when every one has finished, paused or failed, one :class:`Recovered` each,
    oldest first.
    """
    if isinstance(older_than, bool) or not isinstance(older_than, int | float) or older_than < 0:
        raise ConfigError(
            f"Invalid older_than={older_than!r}",
            why="It is how long ago (in seconds) a run must have been interrupted.",
            fix="Pass a number of seconds >= 0, e.g. older_than=60.",
        )
    async with kernel_for_call() as kernel:
        runs = await interrupted_runs(kernel, utcnow() - timedelta(seconds=older_than))
        recovered: dict[str, Recovered] = {}

        async def one(run: Run) -> None:
            recovered[run.run_id] = await _recover_one(kernel, run)

        async with anyio.create_task_group() as group:
            for run in runs:
                group.start_soon(one, run)
        return [recovered[run.run_id] for run in runs]


async def interrupted_runs(kernel: Kernel, before: datetime) -> list[Run]:
    """The interrupted top-level runs of the store, interrupted at *before* or earlier
    (their lease ran out then, or, unleased, they were last written then), oldest first."""
    if not kernel.store.supports_leases:
        return []  # without leases, no process can tell that another one is gone
    found: list[Run] = []
    query = RunQuery(status=RunStatus.RUNNING, limit=_PAGE)
    while True:
        page = await kernel.store.list_runs(query)
        found.extend(run for run in page if run.parent_id is None and _since(run, before))
        if len(page) < query.limit:
            break
        query = attrs.evolve(query, offset=query.offset + len(page))
    return sorted(found, key=lambda run: run.created_at)


def _since(run: Run, before: datetime) -> bool:
    if not run.is_interrupted(before):
        return False
    return (run.lease_expires_at or run.updated_at) <= before


async def _recover_one(kernel: Kernel, run: Run) -> Recovered:
    try:
        workflow = workflow_for(run)
        execution = await workflow.continue_run(kernel, run)
    except RunLeasedError as error:
        return Recovered(run, error=error)  # another process took it over meanwhile
    except FloeError as error:
        logger.warning("Run %s was not recovered: %s", run.run_id, error)
        return Recovered(run, error=error)
    return Recovered(run, execution=execution)
