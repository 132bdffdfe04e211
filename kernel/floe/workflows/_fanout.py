"""Calls side by side: awaiting many task calls in one task group, and ``task.map``.

What every fan-out shares, below both ``Task`` (whose ``map`` and ``starmap`` are here)
and ``floe.parallel``: :func:`gather` awaits calls a bounded number at a time, reads a
call the journal already holds (a :class:`~floe.workflows._runtime.Replayed`) without
starting a task for it, and raises the first failure as it is.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Coroutine, Iterable, Sequence
from types import CoroutineType
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread

from ..kernel._backends import Spawner, open_task_group
from ..kernel._errors import ConfigError
from ._runtime import Replayed, current_run, in_worker_thread, scope_now
from ._step import replayed_into

if TYPE_CHECKING:
    from ._runtime import RunState
    from ._tasks import Task

__all__ = [
    "check_max_concurrency",
    "close_all",
    "gather",
    "in_thread",
    "map_task",
    "refuse_sync_body",
    "starmap_task",
]

T = TypeVar("T")


async def gather(
    calls: list[Any],
    limit: int | None,
    replay: tuple[Task[..., Any], RunState] | None = None,
) -> list[Any]:
    """Await *calls* in one task group, *limit* at a time; results in call order.

    Takes ownership of *calls*: each entry is dropped as it starts (so a finished call
    costs nothing but its result), and any that never started are closed. The first
    failure cancels the rest and is raised as it is. With *replay* (a task and its run),
    an entry that is an :class:`~floe.Event` is that task's recorded outcome
    (``Task._map_calls``).
    """
    count = len(calls)
    results: list[Any] = [None] * count
    failures: list[Exception] = []

    async def run_one(group: Spawner, index: int) -> None:
        call, calls[index] = calls[index], None
        try:
            results[index] = await call
        except Exception as error:
            if not failures:
                failures.append(error)
            group.cancel_scope.cancel()

    async def worker(group: Spawner, indices: Iterable[int]) -> None:
        # a fixed pool pulling the next index: the waiting calls cost no task each
        for index in indices:
            await run_one(group, index)
            if failures:
                return

    if replay is not None:
        try:
            replayed_into(replay[0], replay[1], calls, results)
        except Exception:  # a recorded failure is the first failure: nothing starts
            close_all(calls)
            raise
    awaited: list[int] = []
    for index, call in enumerate(calls):
        if type(call) is CoroutineType:  # the usual call: a task's coroutine
            awaited.append(index)
        elif call is None:  # replayed above
            continue
        elif isinstance(call, Replayed):
            # replayed from the journal: no task needed, and a recorded failure is the
            # first failure, so nothing after it starts
            calls[index] = None
            try:
                results[index] = call.outcome()
            except Exception:
                close_all(calls)
                raise
        elif inspect.isawaitable(call):
            awaited.append(index)
        else:
            results[index] = call
            calls[index] = None
    try:
        if awaited:
            async with open_task_group() as group:
                if limit is None or limit >= len(awaited):
                    for index in awaited:
                        group.start_soon(run_one, group, index)
                else:
                    shared = iter(awaited)
                    for _ in range(limit):
                        group.start_soon(worker, group, shared)
    finally:
        close_all(calls)
    if failures:
        raise failures[0]
    return results


# -- map --------------------------------------------------------------------------------


def map_task(
    task: Task[..., T],
    items: Iterable[Any],
    /,
    *,
    max_concurrency: int | None = None,
    **kwargs: Any,
) -> Coroutine[Any, Any, list[T]]:
    """Call *task* once per item (plus the fixed keyword arguments *kwargs*), side by side.

    ``await fetch.map(urls, max_concurrency=10, timeout=5)`` is ``[await fetch(url,
    timeout=5) for url in urls]`` run concurrently: every call takes its step key now, in
    iteration order, before any starts. Results come in item order; the first failure
    cancels the rest and is raised.
    """
    where = f"{task.name}.map"
    refuse_sync_body(where)
    limit = check_max_concurrency(max_concurrency, where)
    values = _materialize(items, where)
    if values:
        _check_arguments(task, (values[0],), kwargs, where)
    return _gather_calls(task, values, kwargs, limit, single=True)


def starmap_task(
    task: Task[..., T],
    rows: Iterable[Sequence[Any]],
    /,
    *,
    max_concurrency: int | None = None,
    **kwargs: Any,
) -> Coroutine[Any, Any, list[T]]:
    """Like :func:`map_task`, each row unpacked as the positional arguments of one call.

    ``await add.starmap([(1, 2), (3, 4)])`` calls ``add(1, 2)`` and ``add(3, 4)``.
    """
    where = f"{task.name}.starmap"
    refuse_sync_body(where)
    limit = check_max_concurrency(max_concurrency, where)
    arguments: list[tuple[Any, ...]] = []
    checked: set[int] = set()
    for index, row in enumerate(_materialize(rows, where)):
        if not isinstance(row, tuple | list):
            raise ConfigError(
                f"Item {index} of {where} is {row!r}, not a tuple of arguments",
                why="starmap unpacks each item as the positional arguments of one call.",
                fix=f"Pass tuples, e.g. {task.name}.starmap([(1, 2), (3, 4)]); for one argument "
                f"per call use {task.name}.map(items).",
            )
        row = tuple(row)
        if len(row) not in checked:  # one check per shape, not per row
            _check_arguments(task, row, kwargs, f"{where} (item {index})")
            checked.add(len(row))
        arguments.append(row)
    return _gather_calls(task, arguments, kwargs, limit)


def _gather_calls(
    task: Task[..., Any],
    arguments: list[Any],
    kwargs: dict[str, Any],
    limit: int | None,
    *,
    single: bool = False,
) -> Coroutine[Any, Any, list[Any]]:
    """Make the calls now (their step keys are taken in item order), await them later.

    *arguments* holds a tuple of positional arguments per call, or with *single* the one
    argument of each call (a replayed map then makes no tuple per item).
    """
    scope = scope_now()
    state = None if scope is None else scope.state
    if scope is None or state is None:
        rows = [(value,) for value in arguments] if single else arguments
        return gather(_make_calls(task, rows, kwargs), limit)
    # refuse_sync_body saw to it that this is the event loop's thread
    calls = task._map_calls(state, scope, arguments, kwargs, single=single)
    arguments.clear()
    return gather(calls, limit, (task, state))


def _make_calls(
    task: Task[..., Any], arguments: list[tuple[Any, ...]], kwargs: dict[str, Any]
) -> list[Any]:
    calls: list[Any] = []
    # a sync task outside a workflow is its plain function: run each call in a worker thread
    threaded = current_run() is None and not task.is_async
    try:
        for row in arguments:
            calls.append(in_thread(task, row, kwargs) if threaded else task(*row, **kwargs))
    except BaseException:
        close_all(calls)
        raise
    arguments.clear()
    return calls


# -- shared helpers ---------------------------------------------------------------------


def check_max_concurrency(value: Any, where: str) -> int | None:
    """*value* as a concurrency limit: None (no limit) or a whole number >= 1."""
    if value is None:
        return None
    if type(value) is not int or value < 1:
        raise ConfigError(
            f"Invalid max_concurrency={value!r} for {where}",
            why="max_concurrency is how many calls may run at once.",
            fix="Pass a whole number >= 1, or None for no limit.",
        )
    return value


async def in_thread(task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return await anyio.to_thread.run_sync(functools.partial(task, *args, **kwargs))


def refuse_sync_body(where: str) -> None:
    if in_worker_thread():
        raise ConfigError(
            f"{where} cannot be used in a sync workflow or task body",
            why="In a sync body every task call runs to completion before it returns, so "
            "there is nothing to run side by side, and no event loop to await on.",
            fix="Make the workflow (or task) an async function and await the composition, "
            "or call the tasks one by one.",
        )


def _materialize(items: Any, where: str) -> list[Any]:
    if isinstance(items, str | bytes) or not isinstance(items, Iterable):
        raise ConfigError(
            f"{where} needs an iterable of items, got {type(items).__name__}",
            why="A string or a single value would be split into one call per character, or "
            "cannot be iterated at all.",
            fix="Pass a list (or other iterable) with one item per call.",
        )
    return list(items)


def _check_arguments(
    task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], where: str
) -> None:
    """Refuse calls that could never bind, before any is made (injected names may be left out)."""
    try:
        signature = inspect.signature(task.function)
    except (TypeError, ValueError):  # a builtin without a signature: the calls will tell
        return
    try:
        signature.bind_partial(*args, **kwargs)
    except TypeError as error:
        raise ConfigError(
            f"The calls of {where} do not fit {task.name}{signature}: {error}",
            fix="Pass items (and fixed keyword arguments) that match the task's parameters.",
        ) from None


def close_all(calls: Iterable[Any]) -> None:
    """Close coroutines that were never awaited (they would warn when collected)."""
    for call in calls:
        if call is not None and inspect.iscoroutine(call):  # most are None: taken or done
            call.close()
