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

import inspect
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from ..kernel._errors import ConfigError
from ._fanout import check_max_concurrency, close_all, gather, in_thread, refuse_sync_body
from ._runtime import RunState, Scope, current_run, current_scope
from ._tasks import Task, TaskOptions, callable_name

__all__ = ["MISSING", "as_task", "call_in_scope", "parallel", "pipeline"]

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
        close_all(calls)
        raise
    return gather(list(calls), limit)


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


# -- shared helpers ---------------------------------------------------------------------


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
        return await in_thread(task, args, kwargs)
    scope.state = state
    with scope:
        pending = task(*args, **kwargs)
    return await pending if inspect.isawaitable(pending) else pending
