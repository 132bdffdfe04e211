"""Composing steps: run calls side by side, chain tasks, map a task over many inputs.

Replay finds a step by the position its key was allocated at, so every helper here
allocates its keys when it is *called*, never later, in an order that does not depend on
timing:

* ``parallel(*calls)`` takes calls whose keys are already allocated (a task call takes
  its key at once, in argument order) and only awaits them;
* ``task.map(items)`` / ``task.starmap(rows)`` call the task once per item, in iteration
  order, before any call starts;
* ``pipeline(*tasks)`` takes one slot (``floe.pipeline#n``) in the caller's scope at the
  call; its stages run one after the other inside that slot
  (``floe.pipeline#1/parse#1``), so two pipelines awaited side by side cannot
  interleave their keys.

Outside a workflow the same helpers are plain concurrency: async tasks run as they are,
sync ones in worker threads.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup

from ..kernel._errors import ConfigError
from ._runtime import RunState, Scope, current_run, current_scope, in_worker_thread, step_scope
from ._tasks import Recorded, Task, TaskOptions, callable_name

__all__ = [
    "MISSING",
    "as_task",
    "call_in_scope",
    "check_max_concurrency",
    "gather",
    "map_task",
    "parallel",
    "pipeline",
    "refuse_sync_body",
    "starmap_task",
]

T = TypeVar("T")

PIPELINE_STEP = "floe.pipeline"
"""The name of the slot a pipeline takes in its caller's scope."""


class _Missing:
    def __repr__(self) -> str:
        return "<no input>"


MISSING: Any = _Missing()
"""No input given: the first task is called without arguments."""


# -- parallel ---------------------------------------------------------------------------


def parallel(
    *calls: Awaitable[T], max_concurrency: int | None = None
) -> Coroutine[Any, Any, list[T]]:
    """Await task calls side by side; their results, in call order.

    ``await floe.parallel(fetch("a"), fetch("b"), max_concurrency=None)``: each call
    already holds its step key (taken when it was called, in argument order), so the
    run replays the same way however the calls finish. At most *max_concurrency* calls
    run at once (all of them by default). The first call that fails cancels the others,
    and its exception (itself, not an exception group) is raised.

    A value that is not awaitable is taken as its own result (what a sync task returns
    when called outside a workflow).
    """
    try:
        refuse_sync_body("floe.parallel")
        limit = check_max_concurrency(max_concurrency, "floe.parallel")
        for index, call in enumerate(calls, 1):
            if not inspect.isawaitable(call) and callable(call):
                what = f"the task {call.name!r}" if isinstance(call, Task) else repr(call)
                raise ConfigError(
                    f"Argument {index} of floe.parallel is {what} itself, not a call of it",
                    why="floe.parallel awaits calls that are already made (each holds its "
                    "step key).",
                    fix="Call it: floe.parallel(fetch(1), fetch(2)); to call one task on many "
                    "inputs use fetch.map(inputs).",
                )
    except BaseException:
        _close_all(calls)
        raise
    return gather(list(calls), limit)


async def gather(calls: list[Any], limit: int | None) -> list[Any]:
    """Await *calls* in one task group, *limit* at a time; results in call order.

    Takes ownership of *calls*: each entry is dropped as it starts (so a finished call
    costs nothing but its result), and any that never started are closed. The first
    failure cancels the rest and is raised as it is.
    """
    count = len(calls)
    results: list[Any] = [None] * count
    failures: list[Exception] = []

    async def run_one(group: TaskGroup, index: int) -> None:
        call, calls[index] = calls[index], None
        try:
            results[index] = await call
        except Exception as error:
            if not failures:
                failures.append(error)
            group.cancel_scope.cancel()

    async def worker(group: TaskGroup, indices: Iterable[int]) -> None:
        # a fixed pool pulling the next index: the waiting calls cost no task each
        for index in indices:
            await run_one(group, index)
            if failures:
                return

    awaited: list[int] = []
    for index, call in enumerate(calls):
        if isinstance(call, Recorded):
            # replayed from the journal: no task needed, and a recorded failure is the
            # first failure, so nothing after it starts
            calls[index] = None
            try:
                results[index] = call.outcome()
            except Exception:
                _close_all(calls)
                raise
        elif inspect.isawaitable(call):
            awaited.append(index)
        else:
            results[index] = call
            calls[index] = None
    try:
        if awaited:
            async with anyio.create_task_group() as group:
                if limit is None or limit >= len(awaited):
                    for index in awaited:
                        group.start_soon(run_one, group, index)
                else:
                    shared = iter(awaited)
                    for _ in range(limit):
                        group.start_soon(worker, group, shared)
    finally:
        _close_all(calls)
    if failures:
        raise failures[0]
    return results


# -- pipeline ---------------------------------------------------------------------------


def pipeline(*tasks: Callable[..., Any], input: Any = MISSING) -> Coroutine[Any, Any, Any]:
    """Feed *input* to the first task, its result to the next, and so on; the last result.

    ``await floe.pipeline(load, parse, store, input=path)``. Plain functions (sync or
    async) are accepted and run as tasks named after them. Inside a workflow the
    pipeline takes one step slot (``floe.pipeline#n``) when it is called and its stages
    are steps inside it. Without *input* the first task is called with no arguments.
    """
    refuse_sync_body("floe.pipeline")
    if not tasks:
        raise ConfigError(
            "floe.pipeline needs at least one task",
            fix="Pass the tasks to chain: floe.pipeline(load, parse, input=path).",
        )
    stages = [
        as_task(stage, f"stage {index} of floe.pipeline") for index, stage in enumerate(tasks, 1)
    ]
    state = current_run()
    scope = None
    if state is not None:
        key, position = current_scope().allocate(PIPELINE_STEP)
        scope = Scope(key=key, position=position)
    return _run_pipeline(state, scope, stages, input)


async def _run_pipeline(
    state: RunState | None, scope: Scope | None, stages: Sequence[Task[..., Any]], value: Any
) -> Any:
    for stage in stages:
        arguments = () if value is MISSING else (value,)
        value = await call_in_scope(state, scope, stage, arguments, {})
    return value


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
    return gather(_make_calls(task, [(value,) for value in values], kwargs), limit)


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
    return gather(_make_calls(task, arguments, kwargs), limit)


def _make_calls(
    task: Task[..., Any], arguments: list[tuple[Any, ...]], kwargs: dict[str, Any]
) -> list[Any]:
    calls: list[Any] = []
    # a sync task outside a workflow is its plain function: run each call in a worker thread
    threaded = current_run() is None and not task.is_async
    try:
        for row in arguments:
            calls.append(_in_thread(task, row, kwargs) if threaded else task(*row, **kwargs))
    except BaseException:
        _close_all(calls)
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


def as_task(function: Any, where: str, *, name: str | None = None) -> Task[..., Any]:
    """*function* as a task: a task as it is, a plain callable wrapped in one."""
    if isinstance(function, Task):
        return function
    if inspect.isawaitable(function) or not callable(function):
        if inspect.iscoroutine(function):
            function.close()  # never awaited, and it cannot be: don't leave it dangling
        raise ConfigError(
            f"The {where} is {function!r}, which is not a task or function",
            why="Composition calls each task itself, with the input it computed.",
            fix="Pass the task or function, not a call of it (parse, not parse(x)).",
        )
    return Task(function, TaskOptions(name=name or callable_name(function)))


async def call_in_scope(
    state: RunState | None,
    scope: Scope | None,
    task: Task[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Call *task* with its step key taken from *scope*, and await the result.

    Outside a workflow (no *state*) an async task runs as it is and a sync one runs in a
    worker thread, so it cannot block the event loop.
    """
    if state is None or scope is None:
        if task.is_async:
            return await task(*args, **kwargs)
        return await _in_thread(task, args, kwargs)
    with step_scope(state, scope):
        pending = task(*args, **kwargs)
    return await pending if inspect.isawaitable(pending) else pending


async def _in_thread(task: Task[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
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


def _close_all(calls: Iterable[Any]) -> None:
    """Close coroutines that were never awaited (they would warn when collected)."""
    for call in calls:
        if inspect.iscoroutine(call):
            call.close()
