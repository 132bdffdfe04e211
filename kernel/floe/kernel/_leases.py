"""Run ownership: the process executing a run holds a lease on it, kept by heartbeats.

A run executing in this process carries the kernel's :attr:`Kernel.owner_id` in its
record (``lease_owner``) until ``lease_expires_at``. A new run is created with the lease;
an existing one is taken with :meth:`Store.acquire_lease`, which refuses a run whose
lease another process holds (:class:`RunLeasedError`, before any step runs). While the
run executes, :func:`keep_leases` (a kernel service) renews the lease every third of
:attr:`Settings.run_lease_seconds`; a run that stops running (it finishes or pauses)
gives it up in the same write (:meth:`ActiveRun.evolve_run`). A process that dies
renews nothing: its runs' leases expire, and the runs can be executed again. The
journal's sequence check stays the fence behind the lease: a stale executor's next
write is refused.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
import attrs
from anyio.abc import TaskStatus

from ._errors import FloeError
from ._models import Run, utcnow
from ._runs import ActiveRun, active_runs

if TYPE_CHECKING:
    from ._kernel import Kernel

__all__ = [
    "give_up_lease",
    "host_name",
    "keep_leases",
    "lease_fields",
    "new_owner_id",
    "take_lease",
]

logger = logging.getLogger("floe.leases")


def host_name() -> str:
    """This machine's name, as lease owners and worker records give it."""
    uname = getattr(os, "uname", None)  # not on Windows
    return uname().nodename if uname is not None else os.environ.get("COMPUTERNAME", "host")


def new_owner_id() -> str:
    """This kernel's name as a lease owner: host, process, and a random part (two
    kernels of one process are two owners)."""
    return f"{host_name()}:{os.getpid()}:{os.urandom(3).hex()}"


def lease_fields(kernel: Kernel, now: datetime) -> dict[str, Any]:
    """The lease fields of a run this kernel creates to execute it (none where the store
    has no leases)."""
    if not kernel.store.supports_leases:
        return {}
    expires = now + timedelta(seconds=kernel.settings.run_lease_seconds)
    return {"lease_owner": kernel.owner_id, "lease_expires_at": expires}


async def take_lease(kernel: Kernel, run: Run) -> Run:
    """*run* leased to this kernel, to execute it; :class:`RunLeasedError` when another
    process holds its lease. Where the store has no leases, or the run is leased to this
    kernel already (a worker's claim just leased it), *run* as it is."""
    store = kernel.store
    if not store.supports_leases:
        return run
    expires = run.lease_expires_at
    if run.lease_owner == kernel.owner_id and expires is not None and expires > utcnow():
        return run  # leased to this kernel already: a worker's claim just took it
    return await store.acquire_lease(
        run.run_id, kernel.owner_id, lease_seconds=kernel.settings.run_lease_seconds
    )


async def keep_leases(kernel: Kernel, *, task_status: TaskStatus[None]) -> None:
    """Renew the lease of every run this kernel is executing, every third of its length.

    A renewal the store fails is logged and tried again at the next beat: an outage
    shorter than two beats loses no lease, and a longer one ends as any lost lease does
    (the journal's fence refuses this execution's next write)."""
    seconds = kernel.settings.run_lease_seconds
    task_status.started()
    while True:
        await anyio.sleep(seconds / 3)
        for state in active_runs(kernel):
            if state.run.lease_owner != kernel.owner_id:
                continue  # a run of a store without leases, or one that gave its lease up
            now = utcnow()
            try:
                renewed = await kernel.store.renew_lease(
                    state.run_id, kernel.owner_id, lease_seconds=seconds
                )
            except FloeError as error:
                # the store is unreachable for now (a lost connection, a locked file): a
                # missed beat costs nothing while the lease lasts, and the next one retries
                logger.warning("The lease of run %s was not renewed: %s", state.run_id, error.what)
                continue
            if renewed:
                # later writes of the record carry the renewed lease, not the old one
                state.run = attrs.evolve(
                    state.run, lease_expires_at=now + timedelta(seconds=seconds)
                )
            else:
                logger.warning(
                    "Run %s is no longer leased to this process (%s): another process may "
                    "be executing it; this execution's next write will be refused",
                    state.run_id,
                    kernel.owner_id,
                )


async def give_up_lease(state: ActiveRun) -> None:
    """Release the lease of a run whose execution here ended without giving it up (a
    crash inside this process, a shutdown, a fenced-out writer), so that the run can be
    executed again at once rather than when the lease runs out. Best effort: the error
    that ended the execution is the one that matters."""
    kernel = state.kernel
    if state.run.lease_owner != kernel.owner_id:
        return  # given up with the run's last write (finished, paused), or never held
    state.run = attrs.evolve(state.run, lease_owner=None, lease_expires_at=None)
    with anyio.CancelScope(shield=True):
        try:
            await kernel.store.release_lease(state.run_id, kernel.owner_id)
        except Exception as error:  # the store may be what failed
            logger.warning("The lease of run %s was not released: %s", state.run_id, error)
