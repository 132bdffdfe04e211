"""Sync entry points: run async kernel code from ordinary functions (and notebooks)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

from ._kernel import Kernel, open_call_kernel
from ._settings import Settings, load_settings

__all__ = ["run_sync"]

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
) -> T:
    """Run ``await function(*args)`` inside a kernel, from synchronous code.

    The kernel is *kernel* if given, else one built from *settings* (default: read
    from every source), with the ``floe.on`` listeners subscribed, and closed
    afterwards. The event loop is the settings' ``backend``. When this thread already
    runs an event loop (Jupyter, an async host), the call runs in a worker thread with
    a loop of its own.
    """
    if kernel is not None:
        settings = kernel.settings
    elif settings is None:
        settings = load_settings()

    async def main() -> T:
        active = kernel if kernel is not None else open_call_kernel(settings)
        async with active:
            return await function(*args)

    if not _loop_running_here():
        return anyio.run(main, backend=settings.backend)

    outcome: dict[str, Any] = {}

    def in_thread() -> None:
        try:
            outcome["value"] = anyio.run(main, backend=settings.backend)
        except BaseException as error:  # handed to the calling thread, re-raised there
            outcome["error"] = error

    worker = threading.Thread(target=in_thread, name="floe-run-sync")
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]
