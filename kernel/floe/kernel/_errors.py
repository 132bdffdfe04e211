"""The error hierarchy: every public entry point raises a :class:`FloeError`.

A ``FloeError`` answers four questions for the person reading it: *what* went wrong,
*why*, how to *fix* it, and the *context* (the run, file, key, plugin ...). Each
subclass also derives from the builtin exception it resembles, so ``except ValueError``
in existing code keeps working.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

if TYPE_CHECKING:
    from ._models import ErrorInfo

__all__ = [
    "ConfigError",
    "ExitCode",
    "FloeError",
    "ImportPathError",
    "NonDeterminismError",
    "NotFoundError",
    "PersistenceError",
    "PluginError",
    "RenamedError",
    "RunLeasedError",
    "SequenceConflictError",
    "SerializationError",
    "StateError",
    "TaskFailedError",
    "TaskTimeoutError",
    "WorkflowTimeoutError",
    "public_name",
    "rebuild_error",
    "renamed_attribute",
]

E = TypeVar("E", bound=type[BaseException])

_BY_PUBLIC_NAME: dict[str, type[BaseException]] = {}
"""floe's own exception classes by the name a journal records them under."""


def public_name(name: str, *, formerly: str | None = None) -> Callable[[E], E]:
    """Give a floe exception class the public *name* (``floe.ConfigError``) it is
    recorded and shown under, whichever module defines it.

    A stored error names its type, and replay rebuilds it by that name; so the name must
    outlive the module layout (as trio's public classes report ``trio``). *formerly* is the
    name earlier releases recorded, still rebuilt from journals they wrote.
    """

    def rename(cls: E) -> E:
        cls.__module__, _, qualname = name.rpartition(".")
        if qualname != cls.__qualname__:
            raise ValueError(f"{name!r} does not end in the class name {cls.__qualname__!r}")
        _BY_PUBLIC_NAME[name] = cls
        if formerly is not None:
            _BY_PUBLIC_NAME[formerly] = cls
        return cls

    return rename


class ExitCode(enum.IntEnum):
    """Process exit codes of the ``floe`` command line."""

    OK = 0
    """Success."""
    RUN_FAILED = 1
    """The command ran, but what it ran failed (a workflow raised, a message was rejected)."""
    USAGE = 2
    """Bad arguments, settings or configuration: nothing was run."""
    INTERNAL = 3
    """An unexpected error inside floe or a plugin."""


@public_name("floe.FloeError", formerly="floe._errors.FloeError")
class FloeError(Exception):
    """Base class of every error floe raises on purpose.

    ``str(error)`` is the *what* line, followed by ``Why:``, ``Fix:`` and ``Context:``
    lines for the parts that are present.
    """

    exit_code: ClassVar[ExitCode] = ExitCode.INTERNAL

    def __init__(
        self,
        what: str,
        *,
        why: str | None = None,
        fix: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(what)
        self.what = what
        self.why = why
        self.fix = fix
        self.context: dict[str, Any] = dict(context or {})

    def __str__(self) -> str:
        lines = [self.what]
        if self.why:
            lines.append(f"Why: {self.why}")
        if self.fix:
            lines.append(f"Fix: {self.fix}")
        if self.context:
            details = ", ".join(f"{key}={value!r}" for key, value in self.context.items())
            lines.append(f"Context: {details}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.what!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # keyword-only arguments are lost by the default exception pickling
        return (_rebuild, (type(self), self.what, self.why, self.fix, self.context))


def _rebuild(
    cls: type[FloeError], what: str, why: str | None, fix: str | None, context: dict[str, Any]
) -> FloeError:
    return cls(what, why=why, fix=fix, context=context)


@public_name("floe.ConfigError", formerly="floe._errors.ConfigError")
class ConfigError(FloeError, ValueError):
    """Settings or a configuration file hold a value floe cannot use."""

    exit_code = ExitCode.USAGE


@public_name("floe.PluginError", formerly="floe._errors.PluginError")
class PluginError(FloeError, RuntimeError):
    """A plugin failed to import, register or validate."""

    exit_code = ExitCode.USAGE


@public_name("floe.ImportPathError", formerly="floe._errors.ImportPathError")
class ImportPathError(FloeError, ImportError):
    """A dotted path (``package.module:name``) does not resolve."""

    exit_code = ExitCode.USAGE


@public_name("floe.StateError", formerly="floe._errors.StateError")
class StateError(FloeError, LookupError):
    """A state, component or machine is unknown or used in a way it does not allow."""

    exit_code = ExitCode.USAGE


@public_name("floe.RunLeasedError")
class RunLeasedError(StateError):
    """Another process holds the run's lease: it is executing the run (exit code 2)."""


@public_name("floe.NotFoundError", formerly="floe._errors.NotFoundError")
class NotFoundError(FloeError, LookupError):
    """A run, snapshot or other stored record does not exist."""

    exit_code = ExitCode.USAGE


@public_name("floe.PersistenceError", formerly="floe._errors.PersistenceError")
class PersistenceError(FloeError, ValueError):
    """A store cannot read or write what it was asked to (corrupt data, newer format ...)."""


@public_name("floe.SequenceConflictError", formerly="floe._errors.SequenceConflictError")
class SequenceConflictError(PersistenceError):
    """Another writer appended to the run's journal first (optimistic concurrency)."""


@public_name("floe.SerializationError", formerly="floe._errors.SerializationError")
class SerializationError(FloeError, TypeError):
    """A value cannot be turned into JSON by floe's converter (or back)."""

    exit_code = ExitCode.USAGE


@public_name("floe.NonDeterminismError", formerly="floe._errors.NonDeterminismError")
class NonDeterminismError(FloeError, RuntimeError):
    """Replay met a step whose recorded name differs from the code's."""

    exit_code = ExitCode.RUN_FAILED


@public_name("floe.TaskTimeoutError", formerly="floe._errors.TaskTimeoutError")
class TaskTimeoutError(FloeError, TimeoutError):
    """A task attempt ran past its timeout."""

    exit_code = ExitCode.RUN_FAILED


@public_name("floe.WorkflowTimeoutError", formerly="floe._errors.WorkflowTimeoutError")
class WorkflowTimeoutError(FloeError, TimeoutError):
    """A workflow run ran past its timeout (``@workflow(timeout=...)``), counted from its start."""

    exit_code = ExitCode.RUN_FAILED


@public_name("floe.RenamedError", formerly="floe._errors.RenamedError")
class RenamedError(FloeError, AttributeError):
    """An attribute spelled as another workflow library spells it; the fix names floe's."""

    exit_code = ExitCode.USAGE


@public_name("floe.TaskFailedError", formerly="floe._errors.TaskFailedError")
class TaskFailedError(FloeError, RuntimeError):
    """A recorded failure replayed, when its exception type cannot be rebuilt here.

    ``recorded_type`` is the original type as recorded (``module.QualifiedName``) and
    ``recorded_message`` its message; the *what* line shows both.
    """

    exit_code = ExitCode.INTERNAL

    def __init__(
        self, what: str, *, recorded_type: str = "", recorded_message: str = "", **details: Any
    ) -> None:
        super().__init__(what, **details)  # why, fix, context
        self.recorded_type = recorded_type
        self.recorded_message = recorded_message

    def __reduce__(self) -> tuple[Any, ...]:
        details = {"why": self.why, "fix": self.fix, "context": self.context}
        recorded = {"recorded_type": self.recorded_type, "recorded_message": self.recorded_message}
        return (_rebuild_task_failed, (self.what, {**details, **recorded}))


def _rebuild_task_failed(what: str, keywords: dict[str, Any]) -> TaskFailedError:
    return TaskFailedError(what, **keywords)


def rebuild_error(info: ErrorInfo) -> BaseException:
    """The exception a stored :class:`ErrorInfo` records, built without importing anything.

    A stored record is data: the type it names is looked up only in modules this process
    has already imported (builtins, floe, the workflow's own modules ...), through their
    namespaces, so naming a module never runs it. The type is rebuilt when it is such an
    ``Exception`` subclass and its recorded arguments (or message) give back the recorded
    message; anything else becomes a :class:`TaskFailedError` keeping the type and message.
    """
    kind = _loaded_exception_type(info.type)
    if kind is not None:
        try:
            rebuilt = kind(*info.args) if info.args is not None else kind(info.message)
            if str(rebuilt) == info.message:
                return rebuilt
        except Exception:  # not constructible from what was recorded
            pass
    return TaskFailedError(
        f"{info.type}: {info.message}",
        why="The failure was recorded when the run first executed; replay raises it "
        "again. Its type is rebuilt only from modules already imported (floe never "
        "imports a module that stored data names) and only when its message comes back.",
        fix="Import the module that defines the exception before replaying to get that "
        "type back, or catch floe.TaskFailedError (recorded_type, recorded_message).",
        recorded_type=info.type,
        recorded_message=info.message,
    )


def _loaded_exception_type(name: str) -> type[Exception] | None:
    """The ``Exception`` subclass *name* (``module.Qualified.Name``) from ``sys.modules``.

    Only namespaces are read (``vars``), so no module ``__getattr__``, descriptor or
    import runs; the longest imported module prefix wins.
    """
    own = _BY_PUBLIC_NAME.get(name)
    if own is not None:
        return own if issubclass(own, Exception) else None
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:split]))
        if module is None:
            continue
        target: Any = module
        for part in parts[split:]:
            try:
                target = vars(target).get(part)
            except TypeError:  # an object without a namespace
                target = None
            if target is None:
                break
        if isinstance(target, type) and issubclass(target, Exception):
            return target
        return None
    return None


def renamed_attribute(owner: object, name: str, renamed: Mapping[str, str]) -> AttributeError:
    """The error for a missing attribute *name* of *owner*: a :class:`RenamedError`
    naming floe's spelling when *renamed* knows it (an ``AttributeError`` all the same,
    so ``hasattr`` and ``getattr(..., default)`` keep working)."""
    kind = type(owner).__name__
    if name not in renamed:
        return AttributeError(f"{kind!r} object has no attribute {name!r}")
    return RenamedError(
        f"{kind} has no attribute {name!r}",
        why="That is the name another workflow library gives it; floe spells it differently.",
        fix=renamed[name],
        context={"attribute": name},
    )
