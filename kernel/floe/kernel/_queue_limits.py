"""The queues' limits, kept in the store: ``await floe.set_queue(floe.Queue(...))``.

The limits of each queue are a document in the store's key-value space (namespace
``queues``, key the queue's name), so that every worker on the store reads the same
ones; a worker reads them again at every claim (:mod:`floe.kernel._queues` says what
they mean).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import orjson

from ._errors import ConfigError, NotFoundError, PersistenceError
from ._kernel import kernel_for_call
from ._queues import Queue, check_queue_name
from ._serialize import converter, decode_document, dumps

if TYPE_CHECKING:
    from ._store import Store

__all__ = ["get_queue", "list_queues", "load_queues", "remove_queue", "set_queue"]

_QUEUES: Final = "queues"


async def set_queue(queue: Queue) -> Queue:
    """Store *queue*'s limits (replacing the queue's former ones); workers keep them
    within one poll interval."""
    if not isinstance(queue, Queue):
        raise ConfigError(
            f"set_queue() takes a floe.Queue, not {type(queue).__name__}",
            fix="Pass floe.Queue('name', concurrency=...).",
        )
    async with kernel_for_call() as kernel:
        await kernel.store.put_value(_QUEUES, queue.name, dumps(converter.unstructure(queue)))
    return queue


async def get_queue(name: str) -> Queue:
    """The limits of the queue *name*: those stored, or none (a queue with no stored
    limits exists all the same; a run names it and it is)."""
    check_queue_name(name)
    async with kernel_for_call() as kernel:
        found = await _load(kernel.store, name)
    return found if found is not None else Queue(name)


async def list_queues() -> list[Queue]:
    """Every queue with stored limits, by name."""
    async with kernel_for_call() as kernel:
        return await load_queues(kernel.store)


async def remove_queue(name: str) -> None:
    """Delete the limits of the queue *name*: its runs are claimed with no limit."""
    check_queue_name(name)
    async with kernel_for_call() as kernel:
        if not await kernel.store.delete_value(_QUEUES, name):
            raise NotFoundError(
                f"No queue named {name!r} has limits in the store",
                fix="List the queues with limits: floe queue list.",
                context={"queue": name},
            )


async def load_queues(store: Store) -> list[Queue]:
    """The queues with stored limits in *store*, by name (what a worker claims under)."""
    found = [await _load(store, name) for name in await store.list_keys(_QUEUES)]
    return [queue for queue in found if queue is not None]


async def _load(store: Store, name: str) -> Queue | None:
    raw = await store.get_value(_QUEUES, name)
    if raw is None:
        return None
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise PersistenceError(
            f"The limits of queue {name!r} are damaged: {error}",
            fix="Set them again: floe queue set NAME ...",
            context={"queue": name},
        ) from error
    queue: Queue = decode_document(document, Queue, where=f"The queue {name!r}")
    return queue
