"""Sync entry points: run async kernel code from ordinary functions (and notebooks)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

from ._backends import BACKENDS, check_backend
from ._kernel import Kernel, current_kernel, open_call_kernel
from ._settings import Settings, load_settings

__all__ = ["recorded_backend", "run_sync"]

T = TypeVar("T")


def _loop_running_here() -> bool:
    # only a loop library that is already imported can be running
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            return True
    trio = sys.modules.get("trio")
    return trio is not None and trio.lowlevel.in_trio_run()


def run_sync(
    function: Callable[..., Awaitable[T]],
    *args: Any,
    settings: Settings | None = None,
    kernel: Kernel | None = None,
    backend: str | None = None,
) -> T:
    """Run ``await function(*args)`` inside a kernel, from synchronous code.

    The kernel is *kernel* if given, else one built from *settings* (default: read
    from every source), with the ``floe.on`` listeners subscribed, and closed
    afterwards. The event loop is *backend* (``"trio"`` or ``"asyncio"``: a workflow's
    :attr:`~floe.Workflow.backend`), by default the settings' ``backend``. When this
    thread already runs an event loop (Jupyter, an async host), the call runs in a worker
    thread with a loop of its own.
    """
    if kernel is not None:
        settings = kernel.settings
    elif settings is None:
        settings = load_settings()
    check_backend(backend, "run_sync's backend")
    loop = backend or settings.backend

    async def main() -> T:
        active = kernel if kernel is not None else open_call_kernel(settings)
        async with active:
            return await function(*args)

    if not _loop_running_here():
        return anyio.run(main, backend=loop)

    outcome: dict[str, Any] = {}

    def in_thread() -> None:
        try:
            outcome["value"] = anyio.run(main, backend=loop)
        except BaseException as error:  # handed to the calling thread, re-raised there
            outcome["error"] = error

    worker = threading.Thread(target=in_thread, name="floe-run-sync")
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


def recorded_backend(settings: Settings, run_id: str) -> str | None:
    """The event loop the stored run *run_id* recorded that it needs, or None.

    For the command line, which starts a loop before it has read the run: a kernel of
    *settings* is opened for the read, on the settings' loop, and closed again.
    """

    async def read() -> str | None:
        run = await current_kernel().store.get_run(run_id)
        metadata = run.metadata if run is not None else None
        backend = metadata.get("backend") if isinstance(metadata, dict) else None
        return backend if backend in BACKENDS else None

    return run_sync(read, settings=settings)
