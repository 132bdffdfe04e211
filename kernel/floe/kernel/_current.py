"""The kernel running in this task: :func:`current_kernel`.

Kept apart from ``_kernel`` so that what the kernel itself loads (retry policies, the
state registry) can ask for the running kernel without importing the kernel's module.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import TYPE_CHECKING

from ._errors import FloeError

if TYPE_CHECKING:
    from ._kernel import Kernel

__all__ = ["current_kernel", "enter_kernel", "leave_kernel", "running_kernel"]

_current: ContextVar[Kernel | None] = ContextVar("floe_current_kernel", default=None)


def running_kernel() -> Kernel | None:
    """The kernel running in this task, or None."""
    return _current.get()


def current_kernel() -> Kernel:
    """The kernel running in this task (set inside ``async with kernel``)."""
    kernel = _current.get()
    if kernel is None:
        raise FloeError(
            "No floe kernel is running here",
            why="This call needs a kernel's store, bus and plugins.",
            fix="Run it inside 'async with floe.open_kernel() as kernel:' "
            "or through a sync entry point that starts one.",
        )
    return kernel


def enter_kernel(kernel: Kernel) -> Token[Kernel | None]:
    """Make *kernel* the current one in this task; hand the token to :func:`leave_kernel`."""
    return _current.set(kernel)


def leave_kernel(token: Token[Kernel | None]) -> None:
    _current.reset(token)
