"""Retry policies: how many attempts, and how long to wait before each.

The kernel asks ``floe_retry_policy(options)`` for a policy; the built-in answer is
:class:`ExponentialBackoff`. Task retries, bus-handler retries, routine retries and the
:func:`retry` decorator all use the policy they get from that hook, so there is one
piece of backoff code.
"""

from __future__ import annotations

import functools
import inspect
import logging
import random
import time
from collections.abc import Callable
from typing import Any, ParamSpec, Protocol, TypeVar, overload, runtime_checkable

import anyio
import attrs

from ._errors import ConfigError, FloeError

__all__ = ["ExponentialBackoff", "RetryOptions", "RetryPolicy", "policy_for", "retry"]


def _non_negative(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(
            f"Invalid retry option {attribute.name}={value!r}",
            why=f"{attribute.name} must be a number >= 0.",
            fix=f"Pass {attribute.name} as a non-negative number of seconds or a factor.",
        )


def _attempts(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is not int or value < 1:
        raise ConfigError(
            f"Invalid retry option max_attempts={value!r}",
            why="max_attempts counts every attempt, the first included, so it is at least 1.",
            fix="Pass max_attempts as a whole number >= 1 (1 means no retries).",
        )


def _backoff(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1:
        raise ConfigError(
            f"Invalid retry option backoff={value!r}",
            why="Each delay is the previous one times backoff, so backoff is at least 1.",
            fix="Pass backoff=1 for constant delays or 2 to double them.",
        )


def _fraction(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigError(
            f"Invalid retry option jitter={value!r}",
            why="jitter is the fraction by which a delay may vary, from 0 to 1.",
            fix="Pass jitter=0 for exact delays or e.g. 0.1 for +/-10%.",
        )


def _exception_types(value: Any) -> tuple[type[BaseException], ...]:
    items = value if isinstance(value, tuple | list) else (value,)
    if not items or not all(isinstance(t, type) and issubclass(t, BaseException) for t in items):
        raise ConfigError(
            f"Invalid retry option retry_on={value!r}",
            why="retry_on lists the exception types worth another attempt.",
            fix="Pass an exception class or a tuple of them, e.g. retry_on=(TimeoutError,).",
        )
    return tuple(items)


@attrs.frozen
class RetryOptions:
    """What a task, handler or routine asks of its retries; validated when built."""

    max_attempts: int = attrs.field(default=1, validator=_attempts)
    base_delay: float = attrs.field(default=0.0, validator=_non_negative)
    backoff: float = attrs.field(default=1.0, validator=_backoff)
    max_delay: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(_non_negative)
    )
    jitter: float = attrs.field(default=0.0, validator=_fraction)
    retry_on: tuple[type[BaseException], ...] = attrs.field(
        default=(Exception,), converter=_exception_types
    )


@runtime_checkable
class RetryPolicy(Protocol):
    """Decides, after a failed attempt, whether and when to try again."""

    def next_delay(self, attempt: int, error: BaseException) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None to give up.

        *attempt* is the 1-based number of the attempt that just failed.
        """
        ...


@attrs.frozen
class ExponentialBackoff:
    """Delays ``base_delay * backoff ** (attempt - 1)``, capped by ``max_delay``, with
    optional jitter; gives up after ``max_attempts`` or on an error not in ``retry_on``.
    Cancellation is never retried."""

    options: RetryOptions
    random: random.Random = attrs.field(factory=random.Random, eq=False, repr=False)

    def next_delay(self, attempt: int, error: BaseException) -> float | None:
        options = self.options
        if attempt >= options.max_attempts or not isinstance(error, Exception):
            return None
        if not isinstance(error, options.retry_on):
            return None
        delay = options.base_delay * options.backoff ** (attempt - 1)
        if options.max_delay is not None:
            delay = min(delay, options.max_delay)
        if options.jitter:
            delay *= 1 + self.random.uniform(-options.jitter, options.jitter)
        return max(delay, 0.0)


# -- the retry decorator ----------------------------------------------------------------

P = ParamSpec("P")
R = TypeVar("R")

logger = logging.getLogger("floe.retry")


def policy_for(options: RetryOptions) -> RetryPolicy:
    """The policy for *options*: the running kernel's ``floe_retry_policy`` answer, or,
    outside a kernel, the kernel's own default (:class:`ExponentialBackoff`)."""
    from ._current import current_kernel

    try:
        kernel = current_kernel()
    except FloeError:
        return ExponentialBackoff(options)
    return kernel.retry_policy(options)


@overload
def retry(function: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def retry(
    *,
    max_attempts: int = 3,
    base_delay: float = 0.1,
    max_delay: float | None = None,
    backoff: float = 2.0,
    jitter: float = 0.0,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def retry(
    function: Callable[..., Any] | None = None,
    /,
    *,
    max_attempts: int = 3,
    base_delay: float = 0.1,
    max_delay: float | None = None,
    backoff: float = 2.0,
    jitter: float = 0.0,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
) -> Any:
    """Retry a function when it raises, waiting longer before each new attempt.

    ``@floe.retry`` or ``@floe.retry(max_attempts=5, base_delay=0.5, retry_on=OSError)``
    on an async function, a plain function or a bus handler. *max_attempts* counts every
    attempt (the first included); the wait before attempt ``n + 1`` is ``base_delay *
    backoff ** (n - 1)``, at most *max_delay*, varied by up to *jitter* (a fraction).
    Only errors in *retry_on* are retried; the last one propagates. Cancellation is never
    retried. The options are checked here (a bad value is a :class:`~floe.ConfigError`).

    The waits come from the retry policy the running kernel's plugins choose
    (``floe_retry_policy``), the same as for tasks; outside a kernel from
    :class:`ExponentialBackoff`. A plain function waits with ``time.sleep``: call it in
    a worker thread (as the bus does for sync handlers), not on the event loop.
    """
    if function is not None and not callable(function):
        raise ConfigError(
            f"retry() was given {function!r} where a function or keyword options belong",
            fix="Use @floe.retry or @floe.retry(max_attempts=3, base_delay=0.1, ...).",
        )
    options = RetryOptions(
        max_attempts=max_attempts,
        base_delay=base_delay,
        backoff=backoff,
        max_delay=max_delay,
        jitter=jitter,
        retry_on=retry_on,
    )
    if function is not None:
        return _decorate(function, options)
    return functools.partial(_decorate, options=options)


def _decorate(function: Callable[..., Any], options: RetryOptions) -> Callable[..., Any]:
    if not callable(function):
        raise ConfigError(
            f"@retry can only wrap a function, not {function!r}",
            fix="Put @floe.retry(...) directly above a def or async def.",
        )
    if inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function):
        raise ConfigError(
            f"@retry cannot wrap the generator function {_name(function)}",
            why="A generator has already handed out values when it fails; running it "
            "again would repeat them.",
            fix="Retry the function that produces each value, or collect the values first.",
        )
    if inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004 - async callable objects
    ):

        @functools.wraps(function)
        async def retrying(*args: Any, **kwargs: Any) -> Any:
            policy = policy_for(options)
            attempt = 1
            while True:
                try:
                    return await function(*args, **kwargs)
                except Exception as error:  # cancellation is a BaseException: never retried
                    delay = _next_delay(policy, function, attempt, error)
                await anyio.sleep(delay)
                attempt += 1

        wrapper: Callable[..., Any] = retrying
    else:

        @functools.wraps(function)
        def retrying_sync(*args: Any, **kwargs: Any) -> Any:
            policy = policy_for(options)
            attempt = 1
            while True:
                try:
                    return function(*args, **kwargs)
                except Exception as error:
                    delay = _next_delay(policy, function, attempt, error)
                time.sleep(delay)
                attempt += 1

        wrapper = retrying_sync
    wrapper.retry_options = options  # type: ignore[attr-defined]
    return wrapper


def _next_delay(
    policy: RetryPolicy, function: Callable[..., Any], attempt: int, error: Exception
) -> float:
    """The wait before the next attempt; re-raises *error* when the policy gives up."""
    delay = policy.next_delay(attempt, error)
    if delay is None:
        raise error
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not delay >= 0:
        raise ConfigError(
            f"The retry policy {policy!r} returned the delay {delay!r}",
            why="next_delay() returns seconds to wait (a number >= 0) or None to give up.",
            fix="Fix the floe_retry_policy plugin that made this policy.",
        ) from error
    logger.info(
        "%s failed (attempt %d): %r; retrying in %.3g s", _name(function), attempt, error, delay
    )
    return float(delay)


def _name(function: Callable[..., Any]) -> str:
    return getattr(function, "__qualname__", None) or repr(function)
