"""``@floe.task``: a function whose calls inside a workflow are durable steps.

Inside a workflow run, calling a task allocates its step key at once and returns an
awaitable (from async code) or the result (from a sync workflow body). The step runs
with its options (retries, timeout, fallback, cache), and its outcome is journaled; on
replay the recorded outcome is returned without running the function again. Outside a
workflow a task is its plain function: no journal, no retries.
"""

from __future__ import annotations

import functools
import inspect
import math
import string
import typing
from collections.abc import Callable, Generator, Iterable, Sequence
from typing import Any, Generic, ParamSpec, TypeVar, overload

import anyio.lowlevel
import attrs

from ..kernel._errors import ConfigError, rebuild_error
from ..kernel._models import Event
from ..kernel._retry import RetryOptions
from ._fanout import close_all, map_task, starmap_task
from ._injection import injectable_parameters
from ._options import (
    check_bool,
    check_name,
    check_seconds,
    check_unknown,
    field_names,
    names_tuple,
)
from ._runtime import (
    Replayed,
    RunState,
    Scope,
    call_from_worker,
    in_worker_thread,
    scope_now,
    step_key,
    step_position,
)
from ._step import error_data, execute_step, replayed, resolve_secrets, run_step

__all__ = [
    "Recorded",
    "Task",
    "TaskOptions",
    "error_data",
    "rebuild_error",
    "resolve_secrets",
    "run_step",
    "task",
]

P = ParamSpec("P")
R = TypeVar("R")


def _optional_callable(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not callable(value):
        raise ConfigError(
            f"Task option {attribute.name}={value!r} is not callable",
            fix=f"Pass a function as {attribute.name}, or leave it out.",
            context={"option": attribute.name},
        )


def _seconds(*, zero: bool = False, none: bool = True) -> Callable[..., None]:
    def validate(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        check_seconds("task", attribute.name, value, zero=zero, none=none)

    return validate


def _switch(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_bool("task", attribute.name, value)


def _name(_instance: object, _attribute: attrs.Attribute[Any], value: Any) -> None:
    check_name("task", value)


def _retries(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is not int or value < 0:
        raise ConfigError(
            f"Invalid task option retries={value!r}",
            why="retries counts the extra attempts after the first.",
            fix="Pass retries as a whole number >= 0.",
            context={"option": "retries"},
        )


def _factor(low: float, high: float, why: str) -> Callable[..., None]:
    def validate(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        number = not isinstance(value, bool) and isinstance(value, int | float)
        if not number or not low <= value <= high or not math.isfinite(value):
            upto = f"from {low:g} to {high:g}" if math.isfinite(high) else f">= {low:g}, finite"
            raise ConfigError(
                f"Invalid task option {attribute.name}={value!r}",
                why=why,
                fix=f"Pass {attribute.name} as a number {upto}.",
                context={"option": attribute.name},
            )

    return validate


def _secret_names(value: Any) -> tuple[str, ...]:
    return names_tuple("task", "secrets", value)


def _retry_on(value: Any) -> tuple[type[BaseException], ...]:
    return RetryOptions(retry_on=value).retry_on


@attrs.frozen
class TaskOptions:
    """The options of a task, validated when the task is defined."""

    name: str | None = attrs.field(default=None, validator=_name)
    retries: int = attrs.field(default=0, validator=_retries)
    retry_delay: float = attrs.field(default=0.0, validator=_seconds(zero=True, none=False))
    retry_backoff: float = attrs.field(
        default=1.0,
        validator=_factor(1, math.inf, "Each delay is the previous one times retry_backoff."),
    )
    retry_max_delay: float | None = attrs.field(default=None, validator=_seconds(zero=True))
    retry_jitter: float = attrs.field(
        default=0.0,
        validator=_factor(0, 1, "retry_jitter is the fraction by which a delay may vary."),
    )
    retry_on: tuple[type[BaseException], ...] = attrs.field(
        default=(Exception,), converter=_retry_on
    )
    timeout: float | None = attrs.field(default=None, validator=_seconds())
    fallback: Callable[..., Any] | None = attrs.field(default=None, validator=_optional_callable)
    rollback: Callable[..., Any] | None = attrs.field(default=None, validator=_optional_callable)
    cache: bool = attrs.field(default=False, validator=_switch)
    cache_ttl: float | None = attrs.field(default=None, validator=_seconds())
    secrets: tuple[str, ...] = attrs.field(default=(), converter=_secret_names)
    metadata: bool = attrs.field(default=False, validator=_switch)
    raise_on_error: bool = attrs.field(default=True, validator=_switch)

    def retry_options(self) -> RetryOptions:
        return RetryOptions(
            max_attempts=self.retries + 1,
            base_delay=self.retry_delay,
            backoff=self.retry_backoff,
            max_delay=self.retry_max_delay,
            jitter=self.retry_jitter,
            retry_on=self.retry_on,
        )


class Task(Generic[P, R]):
    """A task: call it inside a workflow to run it as a durable step."""

    def __init__(self, function: Callable[P, Any], options: TaskOptions) -> None:
        if not callable(function):
            raise ConfigError(
                f"@task needs a function, got {function!r}",
                fix=f"To name the task, write @floe.task(name={function!r})."
                if isinstance(function, str)
                else "Put @floe.task above a def or async def.",
            )
        self.function = function
        self.options = options
        self.retry = options.retry_options()  # validates the retry options now
        self.name = options.name or callable_name(function)
        self.result_origin = f"the result of task {self.name!r}"
        """What an error about a result of this task calls it (made once: the step path
        is hot)."""
        self.injectable = injectable_parameters(function)
        """The parameters a provider may fill (see floe.inject)."""
        positions = [index for _, index in self.injectable if index is not None]
        keyword_only = len(positions) < len(self.injectable)
        self.filled_by = None if keyword_only else max(positions, default=-1) + 1
        """How many positional arguments leave no parameter to inject, when a call passes
        no keyword arguments (None: a keyword-only parameter may always be injected)."""
        self._name_template = "{" in self.name
        if self._name_template:
            _check_template(self.name, function)
        self.is_async = inspect.iscoroutinefunction(function)
        self.direct = self.is_async and options.timeout is None
        """Whether an attempt awaits the function itself, in the step's scope (an async
        task without a timeout, the usual one): no coroutine of the step's around it."""
        self.return_type = _return_annotation(function)
        """What a result is built as on the way back (None: the JSON value itself)."""
        functools.update_wrapper(self, function)

    def __repr__(self) -> str:
        return f"<floe task {self.name!r}>"

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        # methods: bind like a function, keep the task behaviour
        if instance is None:
            return self
        bound: Callable[..., Any] = self.function.__get__(instance, owner)
        return Task(bound, self.options)

    def map(
        self, items: Iterable[Any], /, *, max_concurrency: int | None = None, **kwargs: Any
    ) -> Any:
        """Call the task once per item, side by side (see floe.parallel); results in order."""
        return map_task(self, items, max_concurrency=max_concurrency, **kwargs)

    def starmap(
        self,
        rows: Iterable[Sequence[Any]],
        /,
        *,
        max_concurrency: int | None = None,
        **kwargs: Any,
    ) -> Any:
        """Like map, each row unpacked as the positional arguments of one call."""
        return starmap_task(self, rows, max_concurrency=max_concurrency, **kwargs)

    def step_name(self, args: Sequence[Any], kwargs: dict[str, Any]) -> str:
        """The name of a call's step: the task's name, its template filled from the call."""
        if not self._name_template:
            return self.name
        bound = inspect.signature(self.function).bind_partial(*args, **kwargs)
        try:
            return self.name.format_map(bound.arguments)
        except (KeyError, IndexError, ValueError, AttributeError) as error:
            raise ConfigError(
                f"The name template {self.name!r} of task {callable_name(self.function)!r} "
                f"cannot be filled from this call: {error!r}",
                fix="Name only parameters the call passes, e.g. name='fetch-{url}'.",
            ) from None

    def with_options(self, **changes: Any) -> Task[P, R]:
        """A variant of this task with some options changed (checked as in ``@task``)."""
        return Task(self.function, task_options(changes, self.options))

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        scope = scope_now()
        state = None if scope is None else scope.state
        if state is None:
            return self.function(*args, **kwargs)
        assert scope is not None  # a run's code always has a scope
        name = self.step_name(args, kwargs) if self._name_template else self.name
        state.steps_called += 1
        key, position = scope.allocate(name)
        if self.options.rollback is not None:
            # at the call, not when the step runs: a cancelled replay may never start it
            state.register_rollback(key, self, position, args, kwargs)
        if in_worker_thread():
            return call_from_worker(state, run_step, state, self, args, kwargs, key, position)
        recorded = state.replay.lookup(position, self.name, key)
        if recorded is not None:
            # a replayed step needs no task of its own: map and parallel take it at once
            return Recorded(self, recorded, state)
        return execute_step(state, self, args, kwargs, key, position)

    def _map_calls(
        self,
        state: RunState,
        scope: Scope,
        rows: list[Any],
        kwargs: dict[str, Any],
        *,
        single: bool = False,
    ) -> list[Any]:
        """``[self(*row, **kwargs) for row in rows]`` on the event loop's thread of *state*'s
        run, as ``map`` makes them: the same keys, positions and checks, with what every
        call shares looked up once. With *single*, each row is the call's one argument.

        A call the journal holds is its recorded event itself (see :func:`gather`'s
        *replay*): a replayed map of 100,000 steps makes no object per step.
        """
        calls: list[Any] = []
        try:
            if self._name_template or self.options.rollback is not None:
                tuples = [(row,) for row in rows] if single else rows
                calls.extend(self(*row, **kwargs) for row in tuples)
            elif rows:
                self._map_loop(state, scope, rows, kwargs, calls.append, single)
        except BaseException:
            close_all(calls)
            raise
        return calls

    def _map_loop(
        self,
        state: RunState,
        scope: Scope,
        rows: list[Any],
        kwargs: dict[str, Any],
        append: Callable[[Any], None],
        single: bool,
    ) -> None:
        """What :meth:`Scope.allocate` and ``__call__`` do for each row, with the counters
        in locals (written back even when a check raises, as the calls one by one do);
        keys and positions are :func:`step_key` and :func:`step_position`'s."""
        name, replay = self.name, state.replay
        prefix, outer, counters = scope.position, scope.key, scope.counters
        recorded_name = replay.name_at
        final = replay.final_at
        count = counters.get(name, 0)
        number = scope.next_position
        try:
            for row in rows:
                count += 1
                position = step_position(prefix, number)
                number += 1
                recorded = recorded_name(position)
                if recorded is not None and recorded != name:
                    replay.check(position, name, step_key(outer, name, count))
                event = final(position)
                if event is not None:
                    append(event)
                else:
                    key = step_key(outer, name, count)
                    args = (row,) if single else row
                    append(execute_step(state, self, args, kwargs, key, position))
        finally:
            state.steps_called += number - scope.next_position
            counters[name] = count
            scope.next_position = number


class Recorded(Replayed):
    """The awaitable a call returns when the journal already holds its outcome.

    Awaiting it returns the recorded result (or raises the recorded failure) without
    running anything; one await in :data:`REPLAY_CHECKPOINT_EVERY` checkpoints, so a long
    replay still lets other tasks run and cancellation in. (A checkpoint at every await
    made a sequential replay of 100,000 steps half as slow again on trio.)
    """

    __slots__ = ("_event", "_state", "_task")
    _count = 0

    def __init__(self, task: Task[Any, Any], event: Event, state: RunState) -> None:
        self._task = task
        self._event = event
        self._state = state

    def outcome(self) -> Any:
        """The recorded result; raises the recorded failure."""
        return replayed(self._task, self._event, self._state)

    def __await__(self) -> Generator[Any, None, Any]:
        Recorded._count += 1
        if Recorded._count % REPLAY_CHECKPOINT_EVERY == 0:
            yield from anyio.lowlevel.checkpoint().__await__()
        return self.outcome()

    def close(self) -> None:
        """Nothing to release (a coroutine's ``close``, for callers that never await it)."""


REPLAY_CHECKPOINT_EVERY = 256
"""Replayed steps awaited between two checkpoints of the event loop (the components'
CHECKPOINT_EVERY is another thing: journal events between two snapshots)."""


@overload
def task(function: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(*, name: str | None = None, **options: Any) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(function: Callable[P, R] | None = None, /, **options: Any) -> Any:
    """Make *function* a task; use as ``@task`` or ``@task(retries=3, timeout=10, ...)``.

    Every option is checked here, when the task is defined: a bad one is a
    :class:`ConfigError` naming it.
    """
    built = task_options(options)
    if function is not None:
        return Task(function, built)
    return lambda fn: Task(fn, built)


TASK_OPTIONS = field_names(TaskOptions)

RENAMED_TASK_OPTIONS = {
    "retry_max_attempts": "Flux's retry_max_attempts is retries in floe, the attempts after "
    "the first: retry_max_attempts=3 becomes retries=3.",
    "max_attempts": "floe counts the attempts after the first: max_attempts=N becomes retries=N-1.",
    "secret_requests": "Flux's secret_requests is secrets in floe: secrets=['API_KEY'], "
    "read as secrets['API_KEY'].reveal().",
}
"""Options under the names Flux or OSBot-Utils give them, with the floe spelling."""


def task_options(options: dict[str, Any], base: TaskOptions | None = None) -> TaskOptions:
    """*options* checked and built (over *base*, for ``with_options``)."""
    check_unknown("task", options, TASK_OPTIONS, RENAMED_TASK_OPTIONS)
    return TaskOptions(**options) if base is None else attrs.evolve(base, **options)


def _with_options(**_options: Any) -> Any:
    raise ConfigError(
        "floe.task has no with_options(...): the decorator takes the options itself",
        why="Flux's @task.with_options(...) is spelled @floe.task(...) in floe; an existing "
        "task's variant is some_task.with_options(...).",
        fix="Write @floe.task(name=..., retries=..., timeout=...) above the function.",
    )


task.with_options = _with_options  # type: ignore[attr-defined]


def _check_template(template: str, function: Callable[..., Any]) -> None:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    except ValueError as error:  # an unmatched brace: not a template str.format can fill
        raise ConfigError(
            f"The task name template {template!r} is not a valid template: {error}",
            why="A task name with braces is a str.format template of the call's arguments.",
            fix="Double a brace meant literally ('{{' or '}}'), or close the field: '{order_id}'.",
        ) from None
    known = {name for name, _ in injectable_parameters(function)}
    unknown = sorted({name.split(".")[0].split("[")[0] for name in names} - known)
    if unknown:
        raise ConfigError(
            f"The task name template {template!r} names {unknown[0]!r}, which is not a "
            f"parameter of {callable_name(function)!r}",
            fix="Use only the function's parameter names in the template.",
        )


def callable_name(function: Callable[..., Any]) -> str:
    """A function's qualified name without the ``<locals>`` of enclosing functions."""
    qualname = getattr(function, "__qualname__", None) or getattr(function, "__name__", None)
    if not qualname:
        return repr(function)
    return str(qualname).rpartition("<locals>.")[2]


def _return_annotation(function: Callable[..., Any]) -> Any:
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # unresolvable annotations: replay returns plain JSON values
        return None
    annotation = hints.get("return")
    return None if annotation in (None, Any, type(None)) else annotation
