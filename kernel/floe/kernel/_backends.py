"""Which event loop a workflow's runs need: ``@workflow(backend=...)``, or found from its code.

floe runs on trio by default, but most of Python's async libraries are written for
asyncio, which cannot run on a trio loop. A workflow names the loop its code needs with
``backend="asyncio"`` (or ``"trio"``); without it, a workflow whose body, or a task or
function the body calls, refers to the :mod:`asyncio` module (``asyncio.sleep``, ``from
asyncio import gather``) needs asyncio, found by reading the code, not by running it.
Entry points that start an event loop themselves (``wf.run``, ``wf.resume``,
``wf.cancel``, ``floe run``, ``floe resume``, ``floe cancel``) start that loop; the run
records it in its metadata.

A run awaited on a loop that floe did not start keeps that loop; asyncio code that then
meets trio fails with a :class:`ConfigError` saying what to set instead of asyncio's
bare ``RuntimeError: no running event loop``.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol, get_args

import anyio.lowlevel

from ._errors import ConfigError

__all__ = [
    "Backend",
    "asyncio_on_trio",
    "backend_error",
    "check_backend",
    "loop_checkpoint",
    "loop_checkpoints",
    "loop_event_factory",
    "open_task_group",
    "running_backend",
    "uses_asyncio",
]

Backend = Literal["trio", "asyncio"]
BACKENDS: tuple[str, ...] = get_args(Backend)

_DEPTH = 4
"""How many calls deep the code of a workflow is read for asyncio."""


def check_backend(value: Any, what: str = "workflow option backend") -> None:
    if value is not None and value not in BACKENDS:
        raise ConfigError(
            f"Invalid {what}={value!r}",
            why="backend names the event loop the workflow's code needs: 'trio' or 'asyncio'.",
            fix="Pass backend='asyncio' for code that uses asyncio libraries, backend='trio', "
            "or leave it out to let floe read it from the code.",
            context={"option": "backend"},
        )


def running_backend() -> str | None:
    """The event loop running in this thread, or None (only a loaded library can run)."""
    trio = sys.modules.get("trio")
    if trio is not None and trio.lowlevel.in_trio_run():
        return "trio"
    asyncio = sys.modules.get("asyncio")
    if asyncio is not None and asyncio._get_running_loop() is not None:
        return "asyncio"
    return None


Checkpoint = Callable[[], Awaitable[None]]


def loop_checkpoint() -> Checkpoint:
    """``checkpoint`` for the loop running now: trio's own on trio (see
    :func:`loop_checkpoints`), anyio's elsewhere."""
    if running_backend() == "trio":
        import trio

        return trio.lowlevel.checkpoint
    return anyio.lowlevel.checkpoint


def loop_checkpoints() -> tuple[Checkpoint, Checkpoint]:
    """``(cancel_shielded_checkpoint, checkpoint_if_cancelled)`` for the loop running now.

    On trio, trio's own: anyio's finds the backend again at every call, which costs a
    hot path (a durable step checkpoints once) about as much as the checkpoint itself.
    anyio's on asyncio (its cancel scopes are anyio's) and outside any loop. Bind them
    where the loop cannot change: an object that lives inside one run or one kernel.
    """
    if running_backend() == "trio":
        import trio

        return trio.lowlevel.cancel_shielded_checkpoint, trio.lowlevel.checkpoint_if_cancelled
    return anyio.lowlevel.cancel_shielded_checkpoint, anyio.lowlevel.checkpoint_if_cancelled


class Settable(Protocol):
    def set(self) -> None: ...

    async def wait(self) -> Any: ...


def loop_event_factory() -> Callable[[], Settable]:
    """What makes an event for the loop running now: trio's own ``Event`` on trio
    (anyio's wraps it: another call on every wait), ``anyio.Event`` elsewhere."""
    if running_backend() == "trio":
        import trio

        return trio.Event
    return anyio.Event


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Spawner(Protocol):
    """What :func:`open_task_group` yields: a trio nursery or an anyio task group."""

    @property
    def cancel_scope(self) -> Cancellable: ...

    def start_soon(self, func: Any, /, *args: Any, name: Any = None) -> Any: ...


def open_task_group() -> AbstractAsyncContextManager[Spawner]:
    """A task group for the tasks a fan-out starts, one per call: a trio nursery on trio.

    anyio's task group gives every task it starts a cancel scope and an event of its
    own (to hand back its result), which more than doubles what starting a task costs
    trio; a fan-out of plain calls needs neither. Same semantics for what floe uses:
    ``start_soon``, ``cancel_scope.cancel()``, failures raised as an exception group.
    """
    if running_backend() == "trio":
        import trio

        return trio.open_nursery()
    return anyio.create_task_group()


def uses_asyncio(function: Callable[..., Any]) -> bool:
    """Whether *function*, or a task or function it names, refers to asyncio."""
    return _refers_to_asyncio(function, _DEPTH, set())


def _refers_to_asyncio(function: Any, depth: int, seen: set[int]) -> bool:
    function = getattr(function, "function", function)  # a floe Task: its function
    function = getattr(function, "__func__", function)  # a bound method
    code = getattr(function, "__code__", None)
    if not isinstance(code, types.CodeType) or id(function) in seen or depth < 0:
        return False
    seen.add(id(function))
    namespace: dict[str, Any] = dict(getattr(function, "__globals__", {}))
    cells = getattr(function, "__closure__", None) or ()
    for name, cell in zip(code.co_freevars, cells, strict=False):
        try:
            namespace[name] = cell.cell_contents
        except ValueError:  # a cell not filled yet
            continue
    for name in _names(code):
        value = namespace.get(name)
        if value is None:
            continue
        if _is_asyncio(value):
            return True
        if _is_code(value) and _refers_to_asyncio(value, depth - 1, seen):
            return True
    return False


def _names(code: types.CodeType) -> Iterator[str]:
    """The global and free names *code* and the code nested in it (lambdas, inner
    functions, comprehensions) load."""
    yield from code.co_names
    yield from code.co_freevars
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _names(constant)


def _is_asyncio(value: Any) -> bool:
    if isinstance(value, types.ModuleType):
        name = value.__name__
    else:
        name = getattr(value, "__module__", None) or ""
        if not isinstance(name, str):
            return False
    return name == "asyncio" or name.startswith("asyncio.")


def _is_code(value: Any) -> bool:
    function = getattr(value, "function", value)
    return isinstance(getattr(function, "__code__", None), types.CodeType)


def asyncio_on_trio(error: BaseException) -> bool:
    """Whether *error* is asyncio code failing on a trio loop (no asyncio loop runs)."""
    if running_backend() != "trio":
        return False
    message = str(error)
    if isinstance(error, RuntimeError):
        return message in ("no running event loop", "There is no current event loop")
    return isinstance(error, TypeError) and message.startswith(
        "trio.run received unrecognized yield message"
    )


def backend_error(what: str, error: BaseException) -> ConfigError:
    """The error that replaces *error*, raised by asyncio code in *what* on trio."""
    failure = ConfigError(
        f"{what} uses asyncio, but the run executes on a trio event loop",
        why=f"asyncio code cannot run on trio: {type(error).__name__}: {error}.",
        fix="Declare the workflow @floe.workflow(backend='asyncio') and start it with "
        "wf.run(...) or 'floe run', which then start an asyncio loop; in an async program, "
        "run floe on asyncio: anyio.run(main, backend='asyncio'), or the setting "
        "FLOE_BACKEND=asyncio.",
    )
    failure.__cause__ = error
    return failure
