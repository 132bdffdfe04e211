"""Running one call of a task as a durable step, stage by stage.

:func:`run_step` reads top to bottom: the journal's record of the step (replay), then
:func:`execute_step`: a cancel request, the cache, the task's secrets, the attempts
(injection, timeout, retries and their backoff), the fallback, and the record of how
the step ended. Each
stage is a function of its own below; the stages a step does not use cost nothing but
an ``if``, since the step path is hot. For the same reason the first attempt is made in
:func:`execute_step` itself, and the usual outcome is journaled at once
(:meth:`Journal.write_nowait`) before the step's one checkpoint: no coroutine of a
stage's around either.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import orjson

from ..kernel._backends import asyncio_on_trio, backend_error
from ..kernel._errors import TaskTimeoutError, rebuild_error
from ..kernel._kinds import EventKind
from ..kernel._models import CacheEntry, ErrorInfo, Event, utcnow
from ..kernel._runs import sleep_until
from ..kernel._sealing import Sealer
from ..kernel._secrets import SEALED, Secrets, check_maskable, mask
from ..kernel._serialize import converter, encode_value
from ._injection import inject, unfilled
from ._runtime import (
    RunState,
    Scope,
    enter_scope,
    leave_scope,
    mark_worker_thread,
    stop_for_cancel,
)
from ._saga import call_rollback, rolled_back_data

if TYPE_CHECKING:
    from ._tasks import Task

__all__ = [
    "decode",
    "error_data",
    "execute_step",
    "replayed",
    "replayed_into",
    "resolve_secrets",
    "run_step",
]

logger = logging.getLogger("floe.workflows")
"""Steps starting, retrying and ending, at DEBUG (checked first: the step path is hot)."""

Encoded = Any
"""A result in its journal form (what :func:`encode_value` returns)."""

_SCALARS = frozenset({int, float, str, bool})
"""JSON values that are already what a task annotated with their type returns."""


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
        return replayed(task, recorded, state)
    return await execute_step(state, task, args, kwargs, key, position)


async def execute_step(
    state: RunState,
    task: Task[Any, Any],
    args: Sequence[Any],
    kwargs: dict[str, Any],
    key: str,
    position: str,
) -> Any:
    """Run one call of *task* as the step *key* at *position*, which the journal does
    not hold (the caller looked: a task call does, to replay without a coroutine)."""
    if state.cancel_requested:
        await _stop_if_cancelled(state, key)
    step = StepCall(state, task, args, kwargs, key, position)
    options = task.options
    cache_key: str | None = None
    if options.cache:
        cache_key = _cache_key(task, args, kwargs)
        entry = await state.kernel.store.get_cached(cache_key)
        if entry is not None:
            return await _answer_from_cache(step, cache_key, entry)
    if position in state.replay.retries:
        await _resume_backoff(step)
    live = _start_record(step)
    if live is not None:
        await state.kernel.bus.post(EventKind.TASK_STARTED, live)
    secrets: Secrets | None = None
    failure: Exception | None = None
    if options.secrets:
        secrets, failure = await _secrets_for(step)
    if failure is None:
        # a call that passes every parameter itself (the usual one) has nothing to inject
        filled = not kwargs and task.filled_by is not None and len(args) >= task.filled_by
        names = None if filled or not task.injectable else _to_inject(step)
        if step.debug:
            step.began = time.monotonic()
            step.log("Step %s started: task %r, attempt %d", task.name, step.attempt)
        # the first attempt is made here, not in a stage's coroutine: the step path is hot
        try:
            call_kwargs = kwargs if names is None else _injected(step, names, secrets)
            if task.direct:  # async, without a timeout: awaited as _invoke would
                token = enter_scope(Scope(key, position, state))
                try:
                    result = await task.function(*args, **call_kwargs)
                finally:
                    leave_scope(token)
            else:
                result = await _invoke(step, call_kwargs)
            encoded = encode_value(result, where=task.result_origin)
        except Exception as error:
            encoded = None
            failure = _on_the_wrong_loop(task, error) if task.direct else error  # as _invoke
        if failure is not None:
            encoded, failure = await _retried(step, names, secrets, failure)
        if failure is None:
            if cache_key is not None:
                await _put_cached(step, cache_key, encoded)
            if _completed_now(step, encoded):
                await state.journal.checkpoint()  # the write's, after its events are stored
            else:
                await state.journal.write(
                    _completed_events(step, encoded), published=step.published()
                )
            return _completed_value(step, encoded)
    if options.fallback is not None:
        return await _fall_back(step, failure)
    return await _record_failed(step, failure)


class StepCall:
    """One call of a task run as a step: what its stages share, its attempt counted."""

    __slots__ = (
        "args",
        "attempt",
        "began",
        "debug",
        "key",
        "kwargs",
        "position",
        "started_at",
        "started_data",
        "state",
        "task",
        "task_data",
    )

    started_data: dict[str, Any]
    """The data of the step's ``task.started``, posted live and journaled with the
    step's outcome (made before the first attempt, by :func:`_start_record`)."""
    started_at: datetime

    def __init__(
        self,
        state: RunState,
        task: Task[Any, Any],
        args: Sequence[Any],
        kwargs: dict[str, Any],
        key: str,
        position: str,
    ) -> None:
        self.state = state
        self.task = task
        self.args = args
        self.kwargs = kwargs
        self.key = key
        self.position = position
        self.attempt = 1
        self.debug = logger.isEnabledFor(logging.DEBUG)
        self.began = 0.0
        """``time.monotonic()`` when the attempts began (with DEBUG on, for the log)."""
        self.task_data: dict[str, Any] | None = None
        """What providers keep for this step across its attempts (made when one is
        injected)."""

    def log(self, message: str, *args: Any) -> None:
        """A DEBUG record about this step; its task and attempt as extra fields."""
        extra = {"step": self.key, "task": self.task.name, "attempt": self.attempt}
        logger.debug(message, self.key, *args, extra=extra)

    def published(self) -> tuple[tuple[str, str, dict[str, Any], datetime]]:
        """The step's ``task.started``, already posted live, for its outcome's write (a
        tuple made then, not kept: a thousand steps side by side hold nothing more)."""
        return ((EventKind.TASK_STARTED, self.key, self.started_data, self.started_at),)

    async def write(self, events: list[tuple[str, str | None, Any]]) -> None:
        """Journal how the step ended (with its ``task.started``); count it executed."""
        await self.state.journal.write(events, published=self.published())
        self.state.executed.append(self.key)


# -- before the first attempt -------------------------------------------------------------


async def _stop_if_cancelled(state: RunState, key: str) -> None:
    """Unwind the body at this step, which has no record, if its run is being cancelled.

    A task with completed steps inside that declared rollbacks runs on instead,
    replaying them so the saga knows them, and stops at its first step without a record.
    """
    if not state.replay.rollbacks_under(key):
        await stop_for_cancel(state)


async def _answer_from_cache(step: StepCall, cache_key: str, entry: CacheEntry) -> Any:
    """Answer the step with a cached result, journaled as a cache hit."""
    state, task = step.state, step.task
    if step.debug:
        step.log("Step %s answered from the cache")
    value = state.opener().cached(cache_key, entry.value)
    await state.journal.write(
        [
            (EventKind.TASK_CACHE_HIT, step.key, {"task": task.name, "position": step.position}),
            (
                EventKind.TASK_COMPLETED,
                step.key,
                _completed(task, step.position, value, cached=True),
            ),
        ]
    )
    return decode(task, value)


async def _resume_backoff(step: StepCall) -> None:
    """After a crash during a backoff wait, start the next attempt when it was due."""
    retried = step.state.replay.retries[step.position]
    step.attempt = len(retried) + 1
    if step.debug:
        step.log("Step %s resumes at attempt %d when its backoff ends", step.attempt)
    wake_at = retried[-1].data.get("wake_at")
    if wake_at:
        step.state.suspend_if_long((datetime.fromisoformat(wake_at) - utcnow()).total_seconds())
    await sleep_until(wake_at)


def _start_record(step: StepCall) -> Event | None:
    """Make the step's ``task.started`` record; returns it as an event to post live when
    the bus has a subscriber for it.

    It is journaled with the step's outcome, in the same write (seq 0: not stored yet).
    """
    state = step.state
    data = {"task": step.task.name, "position": step.position, "attempt": step.attempt}
    step.started_data = data
    at = step.started_at = utcnow()
    if not state.kernel.bus.wants(EventKind.TASK_STARTED):
        return None
    return Event(
        run_id=state.run_id, seq=0, kind=EventKind.TASK_STARTED, step=step.key, at=at, data=data
    )


async def _secrets_for(step: StepCall) -> tuple[Secrets | None, Exception | None]:
    """The secrets the task declared, or the error that fails the step without retries."""
    try:
        values = await resolve_secrets(step.state, step.task.options.secrets)
    except Exception as error:  # a missing secret fails the step, without retries
        return None, error
    return Secrets(values), None


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


# -- the attempts -------------------------------------------------------------------------


def _to_inject(step: StepCall) -> list[str] | None:
    """The parameters of the call a provider may fill, or None when there are none."""
    return unfilled(step.task.injectable, step.args, step.kwargs) or None


async def _retried(
    step: StepCall, names: list[str] | None, secrets: Secrets | None, error: Exception
) -> tuple[Encoded, Exception | None]:
    """After a failed attempt (*error*), call the task again until an attempt succeeds
    or the retry policy gives up.

    Returns the encoded result and None, or None and the last attempt's failure. A
    retry's backoff is journaled (``task.retrying``, with when it ends) before its wait.
    """
    task = step.task
    policy = step.state.kernel.retry_policy(task.retry)  # made on a failure: most never fail
    while True:
        delay = policy.next_delay(step.attempt, error)
        if delay is None:
            return None, error
        await _back_off(step, error, delay)
        step.attempt += 1
        if step.debug:
            step.log("Step %s started: task %r, attempt %d", task.name, step.attempt)
        try:
            kwargs = step.kwargs if names is None else _injected(step, names, secrets)
            result = await _invoke(step, kwargs)
            return encode_value(result, where=task.result_origin), None
        except Exception as failed:
            error = failed


def _injected(step: StepCall, names: list[str], secrets: Secrets | None) -> dict[str, Any]:
    """The call's keyword arguments, plus a value for each parameter a provider serves."""
    if step.task_data is None:
        step.task_data = {}
    return inject(
        step.state,
        names,
        step.kwargs,
        target=step.task.name,
        step=step.key,
        position=step.position,
        attempt=step.attempt,
        task_data=step.task_data,
        secrets=secrets,
        metadata=step.task.options.metadata,
    )


async def _invoke(step: StepCall, kwargs: dict[str, Any]) -> Any:
    """One attempt: the task's function in the step's scope, under its timeout.

    A sync function runs in a worker thread, abandoned at the deadline if it blocks.
    """
    task, args = step.task, step.args
    scope = Scope(step.key, step.position, step.state)
    timeout = task.options.timeout
    try:
        if timeout is None:
            with scope:
                if task.is_async:
                    return await task.function(*args, **kwargs)
                return await _in_thread(task.function, args, kwargs, abandon=False)
        with anyio.fail_after(timeout), scope:
            if task.is_async:
                return await task.function(*args, **kwargs)
            return await _in_thread(task.function, args, kwargs, abandon=True)
    except (RuntimeError, TypeError) as error:
        if task.is_async:
            converted = _on_the_wrong_loop(task, error)
            if converted is not error:
                raise converted from error
        raise
    except TimeoutError as error:
        if isinstance(error, TaskTimeoutError):
            raise
        raise TaskTimeoutError(
            f"Task {task.name!r} timed out after {timeout} s",
            why="Every attempt of the task has this timeout; a blocking sync task is abandoned "
            "at the deadline (its thread finishes in the background).",
            fix="Raise the task's timeout, or make the task faster.",
            context={"step": step.key},
        ) from None


def _on_the_wrong_loop(task: Task[Any, Any], error: Exception) -> Exception:
    """The ConfigError saying what to set, for asyncio code of an async task failing on
    trio; *error* itself otherwise."""
    if isinstance(error, RuntimeError | TypeError) and asyncio_on_trio(error):
        return backend_error(f"Task {task.name!r}", error)
    return error


async def _back_off(step: StepCall, error: Exception, delay: float) -> None:
    """Journal that the attempt failed and when the next one starts, then wait for it."""
    wake = utcnow() + timedelta(seconds=delay)
    if step.debug:
        message = "Step %s attempt %d failed (%s); retrying in %.3g s"
        step.log(message, step.attempt, _shown(error), delay)
    data = {
        "task": step.task.name,
        "position": step.position,
        "attempt": step.attempt,
        "delay": delay,
        "wake_at": wake.isoformat(),
        "error": error_data(error),
    }
    state = step.state
    # due again when the backoff ends: a worker claims it then, should this one stop
    run = state.evolve_run(runnable_at=wake)
    await state.journal.write([(EventKind.TASK_RETRYING, step.key, data)], run=run)
    state.suspend_if_long(delay)
    await anyio.sleep(delay)


async def _in_thread(
    function: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any], *, abandon: bool
) -> Any:
    def body() -> Any:
        mark_worker_thread()
        return function(*args, **kwargs)

    return await anyio.to_thread.run_sync(body, abandon_on_cancel=abandon)


# -- how the step ended -------------------------------------------------------------------


def _completed_events(step: StepCall, encoded: Encoded) -> list[tuple[str, str | None, Any]]:
    """The record of a step that completed: ``task.completed`` with its result."""
    return [(EventKind.TASK_COMPLETED, step.key, _completed(step.task, step.position, encoded))]


def _completed_now(step: StepCall, encoded: Encoded) -> bool:
    """Journal the step's completion (with its start) at once, where the journal may
    (:meth:`Journal.write_nowait`); the caller then makes the write's checkpoint.

    A plain call: what the write holds is gone before the step waits at its checkpoint,
    with a thousand others when they run side by side.
    """
    events = _completed_events(step, encoded)
    return step.state.journal.write_nowait(events, published=step.published()) is not None


def _completed_value(step: StepCall, encoded: Encoded) -> Any:
    """After the record is stored: count the step executed, and return its result decoded."""
    step.state.executed.append(step.key)
    if step.debug:
        step.log("Step %s completed in %.1f ms", _ms_since(step.began))
    return decode(step.task, encoded)


async def _put_cached(step: StepCall, cache_key: str, encoded: Encoded) -> None:
    """Store the result under *cache_key* (sealed when secrets are in play)."""
    state, options = step.state, step.task.options
    expires = utcnow() + timedelta(seconds=options.cache_ttl) if options.cache_ttl else None
    cached = encoded
    if state.secrets.values:
        sealer = Sealer(state.kernel, state.run_id, state.secrets)
        cached = sealer.cached(cache_key, encoded, step=step.key)
    await state.kernel.store.put_cached(CacheEntry(key=cache_key, value=cached, expires_at=expires))


async def _fall_back(step: StepCall, failure: Exception) -> Any:
    """Answer the failed step with the task's fallback, journaled as its result."""
    task, position = step.task, step.position
    assert task.options.fallback is not None
    value = await _call(task.options.fallback, step.args, step.kwargs)
    encoded = encode_value(value, where=f"the fallback result of task {task.name!r}")
    await step.write(
        [
            (EventKind.TASK_FALLBACK, step.key, {"task": task.name, "position": position}),
            (
                EventKind.TASK_COMPLETED,
                step.key,
                _completed(task, position, encoded, fallback=True),
            ),
        ]
    )
    if step.debug:
        step.log("Step %s failed (%s); its fallback answered", _shown(failure))
    return decode(task, encoded)


async def _record_failed(step: StepCall, failure: Exception) -> None:
    """Roll the step back if the task declares it, journal the failure, and raise it
    (or return None, with ``raise_on_error=False``)."""
    task, options = step.task, step.task.options
    data = {
        "task": task.name,
        "position": step.position,
        "attempt": step.attempt,
        "error": error_data(failure),
        "raised": options.raise_on_error,
    }
    events: list[tuple[str, str | None, Any]] = [(EventKind.TASK_FAILED, step.key, data)]
    if options.rollback is not None:
        # before the failure is recorded: a crash in between runs the step again,
        # which is at-least-once like any step, instead of never rolling it back
        rollback_error = await call_rollback(options.rollback, step.args, step.kwargs)
        rolled_back = rolled_back_data(task.name, step.position, "task_failed", rollback_error)
        events.append((EventKind.TASK_ROLLED_BACK, step.key, rolled_back))
    await step.write(events)
    if step.debug:
        message = "Step %s failed after %d attempt(s), %.1f ms: %s"
        step.log(message, step.attempt, _ms_since(step.began), _shown(failure))
    if options.raise_on_error:
        raise failure


async def _call(function: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    if inspect.iscoroutinefunction(function):
        return await function(*args, **kwargs)
    return await _in_thread(function, args, kwargs, abandon=False)


def _completed(
    task: Task[Any, Any],
    position: str,
    encoded: Encoded,
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


# -- results and records --------------------------------------------------------------------


def decode(task: Task[Any, Any], encoded: Encoded) -> Any:
    """The caller's value of a result in its journal form (built as the task's return
    annotation says, where cattrs can)."""
    kind = type(encoded)
    return_type = task.return_type
    if kind in _SCALARS and (return_type is kind or return_type is None):
        return encoded  # the usual result (see _as_stored), without a call: the path is hot
    if kind is dict or kind is list:
        # the journal holds this very value (the memory store keeps its events as they
        # are): the caller gets its own copy, so changing it cannot change the record
        encoded = orjson.loads(orjson.dumps(encoded))
    if return_type is None or _as_stored(return_type, encoded):
        return encoded
    try:
        return converter.structure(encoded, task.return_type)
    except Exception:  # an annotation cattrs cannot build: the JSON value is the result
        return encoded


def replayed(task: Task[Any, Any], recorded: Event, state: RunState) -> Any:
    """The recorded outcome of a step: its result, or its failure raised again."""
    data = recorded.data
    if recorded.kind == EventKind.TASK_COMPLETED:
        result = data.get("result")
        if type(result) is dict and SEALED in result:
            result = state.opener().value(result, recorded.kind, recorded.step, "result")
        return decode(task, result)
    if not data.get("raised", True):
        return None
    error = state.opener().value(data["error"], recorded.kind, recorded.step, "error")
    raise rebuild_error(converter.structure(error, ErrorInfo))


def replayed_into(
    task: Task[Any, Any], state: RunState, calls: list[Any], results: list[Any]
) -> None:
    """Replace every recorded event in *calls* (see ``Task._map_calls``) with None, its result
    going to *results* at its index; raises the first recorded failure.

    :func:`replayed` for each, the common case (a completed step whose result is a JSON
    scalar of the annotated type, or unannotated) without a call per step.
    """
    completed = EventKind.TASK_COMPLETED
    return_type = task.return_type
    for index, call in enumerate(calls):
        if not isinstance(call, Event):  # a call that runs
            continue
        calls[index] = None
        result = call.data.get("result") if call.kind == completed else None
        if result is not None and _as_stored(return_type, result, unannotated=True):
            results[index] = result
        else:
            results[index] = replayed(task, call, state)


def _as_stored(return_type: Any, encoded: Any, *, unannotated: bool = False) -> bool:
    """Whether *encoded*, a JSON scalar, already is the value of the annotated
    *return_type* that cattrs would build (or, with *unannotated*, there is none)."""
    kind = type(encoded)
    return kind in _SCALARS and (return_type is kind or (unannotated and return_type is None))


def error_data(error: BaseException) -> Any:
    """The journal form of *error* (an :class:`ErrorInfo`), exactly (sealed if need be)."""
    return converter.unstructure(ErrorInfo.from_exception(error))


def _cache_key(task: Task[Any, Any], args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    canonical = encode_value(
        {"args": list(args), "kwargs": kwargs}, where=f"the arguments of task {task.name!r}"
    )
    digest = hashlib.sha256(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"task:{task.name}:{digest}"


def _ms_since(began: float) -> float:
    return (time.monotonic() - began) * 1000


def _shown(error: BaseException) -> str:
    """``repr(error)`` for a log record, every secret value known to the process masked."""
    return mask(repr(error))
