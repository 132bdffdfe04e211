"""Worker records: who serves a store, what each holds, and when it was last heard from.

A serving :class:`floe.Worker` keeps a :class:`WorkerInfo` in the store (its key-value
space, namespace ``workers``, keyed by the worker id), written when it starts and at
every heartbeat (a third of :attr:`Settings.run_lease_seconds`, the lease renewal's
pace), and deleted when it stops. ``await floe.list_workers()`` reads them: that is what
``floe workers`` and the server's ``GET /workers`` show. A worker that died deleted
nothing: its record stays, :attr:`WorkerInfo.live` turns false once its heartbeat is
older than a lease, and the next heartbeat of any worker on the store forgets it after
:data:`FORGET_AFTER`. The store holds the records; nothing else coordinates workers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Final

import attrs
import orjson

from .kernel._errors import FloeError
from .kernel._kernel import Kernel, kernel_for_call
from .kernel._leases import host_name
from .kernel._models import FORMAT_VERSION, utcnow
from .kernel._serialize import converter, decode_document, dumps

__all__ = ["FORGET_AFTER", "WorkerInfo", "WorkerRecords", "list_workers", "worker_info"]

logger = logging.getLogger("floe.worker")

FORGET_AFTER: Final = timedelta(hours=1)
"""How long the record of a worker that stopped without saying so is kept."""
_WORKERS: Final = "workers"


@attrs.frozen
class WorkerInfo:
    """One worker as it last said: where it runs, what it serves and what it holds."""

    worker_id: str
    """The owner id its leases carry (``host:pid:random``)."""
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    """When it last wrote this record."""
    stale_at: datetime
    """When the record stops counting as live if no heartbeat comes (a lease from the
    heartbeat: by then every lease it held has expired too)."""
    concurrency: int
    queues: tuple[str, ...] | None
    """The queues it claims from (None: every queue)."""
    executing: tuple[str, ...]
    """The ids of the runs it was executing at the heartbeat."""
    executed: int
    """How many executions it had finished."""
    draining: bool
    format: int = FORMAT_VERSION

    def live(self, now: datetime | None = None) -> bool:
        """Whether its last heartbeat is recent enough that it is still serving."""
        return (now or utcnow()) < self.stale_at


async def list_workers() -> list[WorkerInfo]:
    """The workers of the current kernel's store, live or not yet forgotten, by id.

    A record that cannot be read is skipped with a warning: a damaged record of one
    worker does not hide the others.
    """
    async with kernel_for_call() as kernel:
        return await WorkerRecords(kernel).read_all()


@attrs.define
class WorkerRecords:
    """Reads and writes the worker records of *kernel*'s store."""

    kernel: Kernel

    async def read_all(self) -> list[WorkerInfo]:
        store = self.kernel.store
        workers = []
        for worker_id in await store.list_keys(_WORKERS):
            document = await store.get_value(_WORKERS, worker_id)
            if document is None:  # it stopped since the keys were listed
                continue
            where = f"The worker record {worker_id!r}"
            try:
                workers.append(decode_document(orjson.loads(document), WorkerInfo, where=where))
            except (orjson.JSONDecodeError, FloeError) as error:
                why = error.what if isinstance(error, FloeError) else f"not JSON ({error})"
                logger.warning("Skipping the worker record %r: %s", worker_id, why)
        return sorted(workers, key=lambda worker: worker.worker_id)

    async def write(self, worker: WorkerInfo) -> None:
        document = dumps(converter.unstructure(worker), where="a worker record")
        await self.kernel.store.put_value(_WORKERS, worker.worker_id, document)

    async def delete(self, worker_id: str) -> None:
        await self.kernel.store.delete_value(_WORKERS, worker_id)

    async def forget_gone(self, now: datetime) -> None:
        """Delete the records of workers silent for longer than :data:`FORGET_AFTER`."""
        for worker in await self.read_all():
            if worker.stale_at + FORGET_AFTER < now:
                logger.info(
                    "Forgetting worker %s, silent since %s", worker.worker_id, worker.heartbeat_at
                )
                await self.delete(worker.worker_id)


def worker_info(
    worker_id: str,
    *,
    started_at: datetime,
    lease_seconds: float,
    concurrency: int,
    queues: Collection[str] | None,
    executing: Collection[str],
    executed: int,
    draining: bool,
) -> WorkerInfo:
    """The record of a worker of this process at this heartbeat."""
    now = utcnow()
    return WorkerInfo(
        worker_id=worker_id,
        host=host_name(),
        pid=os.getpid(),
        started_at=started_at,
        heartbeat_at=now,
        stale_at=now + timedelta(seconds=lease_seconds),
        concurrency=concurrency,
        queues=None if queues is None else tuple(sorted(queues)),
        executing=tuple(sorted(executing)),
        executed=executed,
        draining=draining,
    )
