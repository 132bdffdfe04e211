"""What every handle of a run executed elsewhere shares: :class:`StoredHandle`.

A workflow run submitted for a worker (``RunHandle``), a graph job (``JobHandle``) and a
message sent to a component (``MessageHandle``) are each a run in the store that a
worker executes. Their handles read the run by id, so they work from any process that
opens the same store: its status now, and the run once it has finished or paused (read
again soon at first, then less and less often), with or without a time limit.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Final

import anyio

from ._errors import ConfigError, NotFoundError, WorkflowTimeoutError
from ._kernel import Kernel, kernel_for_call
from ._models import Run, RunStatus

__all__ = ["StoredHandle"]

_FIRST_POLL: Final = 0.01
_LONGEST_POLL: Final = 0.5


class StoredHandle:
    """The base of a handle on a run a worker executes; a subclass names the run."""

    noun: ClassVar[str] = "run"
    """What the handle calls its run ("run", "job", "message"): in errors and context."""

    @property
    def stored_id(self) -> str:
        """The id of the run in the store."""
        raise NotImplementedError

    def described(self) -> str:
        """The run as errors name it, e.g. ``Job 'j-1' of flow 'etl'``."""
        raise NotImplementedError

    def backend(self) -> str | None:
        """The event loop the sync methods run on (None: the settings')."""
        return None

    async def status_async(self) -> RunStatus:
        """The status as stored now."""
        async with kernel_for_call() as kernel:
            return (await self.stored(kernel)).status

    def status(self) -> RunStatus:
        """:meth:`status_async` from synchronous code."""
        status: RunStatus = self.sync(self.status_async)
        return status

    async def stored(self, kernel: Kernel) -> Run:
        """The run as stored now; :class:`NotFoundError` when there is none."""
        run = await kernel.store.get_run(self.stored_id)
        if run is None:
            raise self.missing(kernel)
        return run

    async def settled(self, kernel: Kernel) -> Run:
        """The run once it has finished or paused, as long as that takes."""
        pause = _FIRST_POLL
        while True:
            run = await self.stored(kernel)
            if run.status.finished or run.status is RunStatus.PAUSED:
                return run
            await anyio.sleep(pause)
            pause = min(pause * 2, _LONGEST_POLL)

    def missing(self, kernel: Kernel) -> NotFoundError:
        noun = self.noun
        return NotFoundError(
            f"No {noun} {self.stored_id!r} in the store "
            f"{kernel.store.url or type(kernel.store).__name__}",
            fix=f"Check the {noun} id and the store setting.",
            context={f"{noun}_id": self.stored_id},
        )

    def sync(self, method: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """``await method(*args)`` from synchronous code."""
        from ._sync import run_sync

        return run_sync(functools.partial(method, *args), backend=self.backend())

    def sync_within(self, method: Callable[[], Awaitable[Any]], timeout: Any) -> Any:
        """``await method()`` from synchronous code, for at most *timeout* seconds (None:
        no limit); longer is a :class:`WorkflowTimeoutError`, and the run goes on."""
        return self.sync(self._within, method, _seconds(timeout))

    async def _within(self, method: Callable[[], Awaitable[Any]], limit: float) -> Any:
        with anyio.move_on_after(limit):
            return await method()
        status = await self.status_async()
        raise WorkflowTimeoutError(
            f"{self.described()} did not finish within {limit:g} seconds",
            why=f"It is {status}: no worker has finished it yet (is one running on this store?).",
            fix="Wait longer, start a worker ('floe worker'), or look at it with "
            f"'floe status {self.stored_id}'.",
            context={f"{self.noun}_id": self.stored_id, "status": str(status)},
        )


def _seconds(timeout: Any) -> float:
    if timeout is None:
        return math.inf
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ConfigError(
            f"Invalid timeout={timeout!r}",
            why="A handle waits a number of seconds > 0, or without a limit (None).",
            fix="Pass timeout as a positive number of seconds, or leave it out.",
        )
    return float(timeout)
