"""Retry policies: how many attempts, and how long to wait before each.

The kernel asks ``floe_retry_policy(options)`` for a policy; the built-in answer is
:class:`ExponentialBackoff`. Task retries, bus-handler retries and routine retries all
use the policy they get from that hook, so there is one piece of backoff code.
"""

from __future__ import annotations

import random
from typing import Any, Protocol, runtime_checkable

import attrs

from ._errors import ConfigError

__all__ = ["ExponentialBackoff", "RetryOptions", "RetryPolicy"]


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
