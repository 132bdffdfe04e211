"""``@floe.task``: a function whose calls inside a workflow are durable steps.

Inside a workflow run, calling a task allocates its step key at once and returns an
awaitable (from async code) or the result (from a sync workflow body). The step runs
with its options (retries, timeout, fallback, cache), and its outcome is journaled; on
replay the recorded outcome is returned without running the function again. Outside a
workflow a task is its plain function: no journal, no retries.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import math
import string
import time
import typing
from collections.abc import Callable, Generator, Iterable, Sequence
from datetime import timedelta
from typing import Any, Generic, ParamSpec, TypeVar, overload

import anyio
import anyio.lowlevel
import anyio.to_thread
import attrs
import orjson

from ..kernel._backends import asyncio_on_trio, backend_error
from ..kernel._errors import ConfigError, TaskTimeoutError, rebuild_error
from ..kernel._models import CacheEntry, ErrorInfo, Event, utcnow
from ..kernel._retry import RetryOptions, RetryPolicy
from ..kernel._runs import sleep_until
from ..kernel._sealing import Sealer
from ..kernel._secrets import SEALED, Secrets, check_maskable, mask
from ..kernel._serialize import converter, encode_value
from ._fanout import map_task, starmap_task
from ._injection import inject, injectable_parameters, unfilled
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
    allocate_step,
    call_from_worker,
    current_run,
    in_worker_thread,
    mark_worker_thread,
    step_scope,
    stop_for_cancel,
)
from ._saga import call_rollback, rolled_back_data

__all__ = ["Recorded", "Task", "TaskOptions", "rebuild_error", "task"]

P = ParamSpec("P")
R = TypeVar("R")

logger = logging.getLogger("floe.workflows")
"""Steps starting, retrying and ending, at DEBUG (checked first: the step path is hot)."""


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
        self._parameters = injectable_parameters(function)
        self._name_template = "{" in self.name
        if self._name_template:
            _check_template(self.name, function)
        self.is_async = inspect.iscoroutinefunction(function)
        self._return_type = _return_annotation(function)
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
        state = current_run()
        if state is None:
            return self.function(*args, **kwargs)
        key, position = allocate_step(state, self.step_name(args, kwargs))
        if self.options.rollback is not None:
            # at the call, not when the step runs: a cancelled replay may never start it
            state.register_rollback(key, self, position, args, kwargs)
        if in_worker_thread():
            return call_from_worker(state, run_step, state, self, args, kwargs, key, position)
        recorded = state.replay.lookup(position, self.name, key)
        if recorded is not None:
            # a replayed step needs no task of its own: map and parallel take it at once
            return Recorded(self, recorded, state)
        return run_step(state, self, args, kwargs, key, position)


class Recorded(Replayed):
    """The awaitable a call returns when the journal already holds its outcome.

    Awaiting it returns the recorded result (or raises the recorded failure) without
    running anything; one await in :data:`CHECKPOINT_EVERY` checkpoints, so a long
    replay still lets other tasks run and cancellation in.
    """

    __slots__ = ("_event", "_state", "_task")
    _count = 0

    def __init__(self, task: Task[Any, Any], event: Event, state: RunState) -> None:
        self._task = task
        self._event = event
        self._state = state

    def outcome(self) -> Any:
        """The recorded result; raises the recorded failure."""
        return _replay(self._task, self._event, self._state)

    def __await__(self) -> Generator[Any, None, Any]:
        Recorded._count += 1
        if Recorded._count % CHECKPOINT_EVERY == 0:
            yield from anyio.lowlevel.checkpoint().__await__()
        return self.outcome()

    def close(self) -> None:
        """Nothing to release (a coroutine's ``close``, for callers that never await it)."""


CHECKPOINT_EVERY = 256
"""Replayed steps awaited between two checkpoints."""


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
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
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


# -- running a step -------------------------------------------------------------------------


async def run_step(
    state: RunState,
    task: Task[Any, Any],
    args: Sequence[Any],
    kwargs: dict[str, Any],
    key: str,
    position: str,
) -> Any:
    """Run (or replay) one call of *task* as the step *key* at *position*."""
    recorded = state.replay.lookup(position, task.name, key)
    if recorded is not None:
        return _replay(task, recorded, state)
    if state.cancel_requested and not state.replay.rollbacks_under(key):
        # (a task with completed steps inside that declared rollbacks runs on, replaying
        # them so the saga knows them, and stops at its first step without a record)
        await stop_for_cancel(state)
    where = f"task {task.name!r}"
    options = task.options
    debug = logger.isEnabledFor(logging.DEBUG)
    cache_key = _cache_key(task, args, kwargs) if options.cache else None
    if cache_key is not None:
        entry = await state.kernel.store.get_cached(cache_key)
        if entry is not None:
            if debug:
                _debug("Step %s answered from the cache", key, task, 1)
            value = state.opener().cached(cache_key, entry.value)
            await state.journal.write(
                [
                    ("task.cache_hit", key, {"task": task.name, "position": position}),
                    ("task.completed", key, _completed(task, position, value, cached=True)),
                ]
            )
            return _decode(task, value)

    policy: RetryPolicy | None = None  # built on the first failure: most steps never fail
    retried = state.replay.retries.get(position, ())
    attempt = len(retried) + 1
    if retried:
        # a crash during a backoff wait: the next attempt starts when it was due
        if debug:
            _debug(
                "Step %s resumes at attempt %d when its backoff ends", key, task, attempt, attempt
            )
        await sleep_until(retried[-1].data.get("wake_at"))
    started = (
        "task.started",
        key,
        {"task": task.name, "position": position, "attempt": attempt},
        utcnow(),
    )
    bus = state.kernel.bus
    if bus.wants("task.started"):
        # live now, journaled with the step's outcome (seq 0: not stored yet)
        await bus.post(
            "task.started",
            Event(
                run_id=state.run_id,
                seq=0,
                kind=started[0],
                step=key,
                at=started[3],
                data=started[2],
            ),
        )
    failure: Exception | None = None
    secrets: Secrets | None = None
    if options.secrets:
        try:
            secrets = await _secrets_of(state, task)
        except Exception as error:  # a missing secret fails the step, without retries
            failure = error
    names = unfilled(task._parameters, args, kwargs)
    task_data: dict[str, Any] = {}
    began = time.monotonic() if debug else 0.0
    while failure is None:
        if debug:
            _debug("Step %s started: task %r, attempt %d", key, task, attempt, task.name, attempt)
        try:
            call_kwargs = kwargs
            if names:
                call_kwargs = inject(
                    state,
                    names,
                    kwargs,
                    target=task.name,
                    step=key,
                    position=position,
                    attempt=attempt,
                    task_data=task_data,
                    secrets=secrets,
                    metadata=options.metadata,
                )
            result = await _invoke(state, task, args, call_kwargs, key, position)
            encoded = encode_value(result, where=f"the result of {where}")
        except Exception as error:
            if policy is None:
                policy = state.kernel.retry_policy(task.retry)
            delay = policy.next_delay(attempt, error)
            if delay is None:
                failure = error
                break
            wake = utcnow() + timedelta(seconds=delay)
            if debug:
                message = "Step %s attempt %d failed (%s); retrying in %.3g s"
                _debug(message, key, task, attempt, attempt, _shown(error), delay)
            await state.journal.write(
                [
                    (
                        "task.retrying",
                        key,
                        {
                            "task": task.name,
                            "position": position,
                            "attempt": attempt,
                            "delay": delay,
                            "wake_at": wake.isoformat(),
                            "error": error_data(error),
                        },
                    )
                ]
            )
            await anyio.sleep(delay)
            attempt += 1
            continue
        if cache_key is not None:
            expires = utcnow() + timedelta(seconds=options.cache_ttl) if options.cache_ttl else None
            cached = encoded
            if state.secrets.values:
                sealer = Sealer(state.kernel, state.run_id, state.secrets)
                cached = sealer.cached(cache_key, encoded, step=key)
            await state.kernel.store.put_cached(
                CacheEntry(key=cache_key, value=cached, expires_at=expires)
            )
        await state.journal.write(
            [("task.completed", key, _completed(task, position, encoded))], published=[started]
        )
        state.executed.append(key)
        if debug:
            _debug("Step %s completed in %.1f ms", key, task, attempt, _ms_since(began))
        return _decode(task, encoded)

    if options.fallback is not None:
        fallback_value = await _call(options.fallback, args, kwargs)
        encoded = encode_value(fallback_value, where=f"the fallback result of {where}")
        await state.journal.write(
            [
                ("task.fallback", key, {"task": task.name, "position": position}),
                ("task.completed", key, _completed(task, position, encoded, fallback=True)),
            ],
            published=[started],
        )
        state.executed.append(key)
        if debug:
            shown = _shown(failure)
            _debug("Step %s failed (%s); its fallback answered", key, task, attempt, shown)
        return _decode(task, encoded)

    assert failure is not None  # the loop ends with a failure or returns
    events: list[tuple[str, str | None, Any]] = [
        (
            "task.failed",
            key,
            {
                "task": task.name,
                "position": position,
                "attempt": attempt,
                "error": error_data(failure),
                "raised": options.raise_on_error,
            },
        )
    ]
    if options.rollback is not None:
        # before the failure is recorded: a crash in between runs the step again,
        # which is at-least-once like any step, instead of never rolling it back
        rollback_error = await call_rollback(options.rollback, args, kwargs)
        events.append(
            (
                "task.rolled_back",
                key,
                rolled_back_data(task.name, position, "task_failed", rollback_error),
            )
        )
    await state.journal.write(events, published=[started])
    state.executed.append(key)
    if debug:
        message = "Step %s failed after %d attempt(s), %.1f ms: %s"
        _debug(message, key, task, attempt, attempt, _ms_since(began), _shown(failure))
    if options.raise_on_error:
        raise failure
    return None


def _debug(message: str, key: str, task: Task[Any, Any], attempt: int, *args: Any) -> None:
    """A DEBUG record about the step *key*; the step's task and attempt as extra fields."""
    logger.debug(message, key, *args, extra={"step": key, "task": task.name, "attempt": attempt})


def _ms_since(began: float) -> float:
    return (time.monotonic() - began) * 1000


def _shown(error: BaseException) -> str:
    """``repr(error)`` for a log record, every secret value known to the process masked."""
    return mask(repr(error))


async def _secrets_of(state: RunState, task: Task[Any, Any]) -> Secrets:
    """The secrets *task* declared, from the kernel's secret store; sealed in the run."""
    values = await resolve_secrets(state, task.options.secrets)
    return Secrets(values)


async def resolve_secrets(state: RunState, names: Sequence[str]) -> dict[str, str]:
    """The values of the secrets *names* from the kernel's secret store, now in play.

    A value too short to mask safely is a :class:`ConfigError` naming the secret.
    """
    wanted = list(dict.fromkeys(names))
    store = state.kernel.secrets
    values = await store.get_secrets(wanted)
    resolved = {name: values[name] for name in wanted}
    source = state.kernel.settings.secrets or type(store).__name__
    for name, value in resolved.items():
        check_maskable(name, value, source=f"the secret store {source}")
    state.add_secrets(resolved)
    return resolved


def error_data(error: BaseException) -> Any:
    """The journal form of *error* (an :class:`ErrorInfo`), exactly (sealed if need be)."""
    return converter.unstructure(ErrorInfo.from_exception(error))


async def _invoke(
    state: RunState,
    task: Task[Any, Any],
    args: Sequence[Any],
    kwargs: dict[str, Any],
    key: str,
    position: str,
) -> Any:
    scope = Scope(key=key, position=position)
    timeout = task.options.timeout
    try:
        if timeout is None:
            with step_scope(state, scope):
                if task.is_async:
                    return await task.function(*args, **kwargs)
                return await _in_thread(task.function, args, kwargs, abandon=False)
        with anyio.fail_after(timeout), step_scope(state, scope):
            if task.is_async:
                return await task.function(*args, **kwargs)
            return await _in_thread(task.function, args, kwargs, abandon=True)
    except (RuntimeError, TypeError) as error:
        if task.is_async and asyncio_on_trio(error):
            raise backend_error(f"Task {task.name!r}", error) from error
        raise
    except TimeoutError as error:
        if isinstance(error, TaskTimeoutError):
            raise
        raise TaskTimeoutError(
            f"Task {task.name!r} timed out after {timeout} s",
            why="Every attempt of the task has this timeout; a blocking sync task is abandoned "
            "at the deadline (its thread finishes in the background).",
            fix="Raise the task's timeout, or make the task faster.",
            context={"step": key},
        ) from None


async def _in_thread(
    function: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any], *, abandon: bool
) -> Any:
    def body() -> Any:
        mark_worker_thread()
        return function(*args, **kwargs)

    return await anyio.to_thread.run_sync(body, abandon_on_cancel=abandon)


async def _call(function: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    if inspect.iscoroutinefunction(function):
        return await function(*args, **kwargs)
    return await _in_thread(function, args, kwargs, abandon=False)


def _completed(
    task: Task[Any, Any],
    position: str,
    encoded: Any,
    *,
    cached: bool = False,
    fallback: bool = False,
) -> dict[str, Any]:
    data: dict[str, Any] = {"task": task.name, "position": position, "result": encoded}
    if task.options.rollback is not None:
        data["rollback"] = True
    if cached:
        data["cached"] = True
    if fallback:
        data["fallback"] = True
    return data


def _decode(task: Task[Any, Any], encoded: Any) -> Any:
    if isinstance(encoded, dict | list):
        # the journal holds this very value (the memory store keeps its events as they
        # are): the caller gets its own copy, so changing it cannot change the record
        encoded = orjson.loads(orjson.dumps(encoded))
    if task._return_type is None:
        return encoded
    try:
        return converter.structure(encoded, task._return_type)
    except Exception:  # an annotation cattrs cannot build: the JSON value is the result
        return encoded


def _replay(task: Task[Any, Any], recorded: Event, state: RunState) -> Any:
    data = recorded.data
    if recorded.kind == "task.completed":
        result = data.get("result")
        if type(result) is dict and SEALED in result:
            result = state.opener().value(result, recorded.kind, recorded.step, "result")
        return _decode(task, result)
    if not data.get("raised", True):
        return None
    error = state.opener().value(data["error"], recorded.kind, recorded.step, "error")
    raise rebuild_error(converter.structure(error, ErrorInfo))


def _cache_key(task: Task[Any, Any], args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    canonical = encode_value(
        {"args": list(args), "kwargs": kwargs}, where=f"the arguments of task {task.name!r}"
    )
    digest = hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"task:{task.name}:{digest}"
