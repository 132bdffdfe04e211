"""Error strategies: what a failing handler means for the rest of the job.

A routine's :class:`ErrorHandler` decides, else the flow's, else ``STOP``. The strategy
applies to every delivery of the routine, the entry call included.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs

from ..kernel._errors import ConfigError, FloeError, ImportPathError, public_name
from ..kernel._retry import RetryOptions

__all__ = ["DeliveryLimitError", "ErrorHandler", "ErrorStrategy"]


@public_name("floe.graph.DeliveryLimitError", formerly="floe.graph._strategy.DeliveryLimitError")
class DeliveryLimitError(FloeError, RuntimeError):
    """An execution reached its ``max_deliveries``: most likely a cycle that never ends."""


class ErrorStrategy(enum.StrEnum):
    """What happens when a routine's handler raises."""

    STOP = "stop"
    """The job fails; pending deliveries are cancelled."""
    CONTINUE = "continue"
    """The error is recorded; what the handler emitted before it is delivered; the job goes on."""
    RETRY = "retry"
    """The handler is called again under the shared retry policy; when the retries run
    out a critical routine fails the job and any other continues."""
    SKIP = "skip"
    """The delivery is marked skipped: its emits are dropped and the job goes on."""


def _strategy(value: Any) -> ErrorStrategy:
    try:
        return ErrorStrategy(value.value if isinstance(value, ErrorStrategy) else value)
    except ValueError:
        raise ConfigError(
            f"Unknown error strategy {value!r}",
            why=f"The strategies are: {', '.join(s.value for s in ErrorStrategy)}.",
            fix="Pass an ErrorStrategy member, e.g. ErrorStrategy.CONTINUE.",
            context={"strategy": value},
        ) from None


def _retries(_instance: object, _attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is not int or value < 0:
        raise ConfigError(
            f"Invalid max_retries={value!r}",
            why="max_retries counts the attempts after the first one.",
            fix="Pass a whole number >= 0.",
        )


def _exceptions(value: Any) -> tuple[type[BaseException], ...]:
    return RetryOptions(retry_on=value).retry_on


@attrs.frozen
class ErrorHandler:
    """How a routine (or a whole flow) handles a handler's exception.

    *max_retries*, *retry_delay* (seconds before the first retry), *retry_backoff* (the
    factor between two waits) and *retryable_exceptions* matter for ``RETRY``;
    *is_critical* says whether running out of retries fails the job.
    """

    strategy: ErrorStrategy = attrs.field(default=ErrorStrategy.STOP, converter=_strategy)
    max_retries: int = attrs.field(default=3, validator=_retries)
    retry_delay: float = 1.0
    retry_backoff: float = 2.0
    retryable_exceptions: tuple[type[BaseException], ...] = attrs.field(
        default=(Exception,), converter=_exceptions
    )
    is_critical: bool = False

    def __attrs_post_init__(self) -> None:
        self.retry_options()  # validates delay and backoff now, not at the first failure

    def retry_options(self) -> RetryOptions:
        """The options handed to the kernel's retry policy."""
        return RetryOptions(
            max_attempts=self.max_retries + 1 if self.strategy is ErrorStrategy.RETRY else 1,
            base_delay=self.retry_delay,
            backoff=self.retry_backoff,
            retry_on=self.retryable_exceptions,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON document of this handler (exception types by import path)."""
        return {
            "strategy": self.strategy.value,
            "max_retries": self.max_retries,
            "retry_delay": self.retry_delay,
            "retry_backoff": self.retry_backoff,
            "retryable_exceptions": [_type_path(kind) for kind in self.retryable_exceptions],
            "is_critical": self.is_critical,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorHandler:
        """The handler :meth:`to_dict` described."""
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"An error handler is described by a mapping, got {type(data).__name__}",
                fix="Pass what ErrorHandler.to_dict() returned.",
            )
        known = {field.name for field in attrs.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(
                f"Unknown error handler field {sorted(unknown)[0]!r}",
                why=f"The fields are: {', '.join(sorted(known))}.",
                fix="Remove or correct the field.",
            )
        values = dict(data)
        if "retryable_exceptions" in values:
            values["retryable_exceptions"] = tuple(
                _import_type(path) for path in values["retryable_exceptions"]
            )
        return cls(**values)


def _type_path(kind: type[BaseException]) -> str:
    return f"{kind.__module__}:{kind.__qualname__}"


def _import_type(path: Any) -> type[BaseException]:
    import importlib

    if not isinstance(path, str) or ":" not in path:
        raise ImportPathError(
            f"Malformed exception path {path!r}",
            fix="Write the exception class as 'module:QualifiedName', e.g. 'builtins:OSError'.",
        )
    module_name, _, qualname = path.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as error:
        raise ImportPathError(
            f"Cannot import the exception class {path!r}: {error}",
            fix="Make the module importable where the flow is loaded.",
            context={"exception": path},
        ) from None
    if not (isinstance(found, type) and issubclass(found, BaseException)):
        raise ImportPathError(
            f"{path!r} is not an exception class",
            fix="Name an exception class.",
            context={"exception": path},
        )
    return found
