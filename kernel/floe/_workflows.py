"""``@floe.workflow``: a durable function whose task calls are journaled steps.

``await wf.run_async(...)`` (or ``wf.run(...)`` from sync code) starts a run, or — with
the ``run_id`` of an unfinished run — resumes it by replay: the body runs again from
the top, recorded steps return their recorded outcomes, and the first step without a
record runs for real. A finished run is returned as it was stored, running nothing.
"""

from __future__ import annotations

import functools
import inspect
import typing
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Generic, ParamSpec, TypeVar, overload

import anyio
import anyio.to_thread
import attrs

from ._errors import ConfigError, FloeError
from ._journal import FINAL_STEP_EVENTS, Journal, ReplayIndex
from ._kernel import Kernel, _current, open_kernel
from ._models import ErrorInfo, Event, Run, RunStatus, utcnow
from ._runtime import RunState, mark_worker_thread, run_scope
from ._serialize import converter, encode_value
from ._tasks import callable_name

__all__ = ["Context", "Execution", "Workflow", "workflow"]

P = ParamSpec("P")
T = TypeVar("T")


@attrs.frozen
class Context(Generic[T]):
    """What a workflow body declared as ``ctx: floe.Context[T]`` receives."""

    input: T
    run_id: str
    workflow: str
    _state: RunState = attrs.field(repr=False, alias="state")

    @property
    def events(self) -> list[Event]:
        """The run's journal as recorded when this execution started."""
        return list(self._state.replay.events)


@attrs.frozen
class Execution:
    """The outcome of a run: its status, output or error, and its journal."""

    run_id: str
    workflow: str
    status: RunStatus
    output: Any
    error: ErrorInfo | None
    events: tuple[Event, ...]
    created_at: datetime
    updated_at: datetime
    exception: BaseException | None = attrs.field(default=None, eq=False, repr=False)
    """The exception the body raised, when it ran in this process."""

    @property
    def finished(self) -> bool:
        return self.status.finished

    @property
    def succeeded(self) -> bool:
        return self.status is RunStatus.COMPLETED

    @property
    def failed(self) -> bool:
        return self.status is RunStatus.FAILED

    @property
    def paused(self) -> bool:
        return self.status is RunStatus.PAUSED

    @property
    def cancelled(self) -> bool:
        return self.status is RunStatus.CANCELLED

    @property
    def duration(self) -> float:
        """Seconds from the run's creation to its last update."""
        return (self.updated_at - self.created_at).total_seconds()

    @property
    def executed_tasks(self) -> list[str]:
        """Step keys of every finished step, in journal order."""
        return [e.step for e in self.events if e.kind in FINAL_STEP_EVENTS and e.step]

    @classmethod
    def from_run(
        cls, run: Run, events: list[Event], exception: BaseException | None = None
    ) -> Execution:
        return cls(
            run_id=run.run_id,
            workflow=run.name,
            status=run.status,
            output=run.output,
            error=run.error,
            events=tuple(events),
            created_at=run.created_at,
            updated_at=run.updated_at,
            exception=exception,
        )


class Workflow(Generic[P, T]):
    """A durable workflow; run it with :meth:`run_async` or :meth:`run`."""

    def __init__(self, function: Callable[P, Any], *, name: str | None = None) -> None:
        if not callable(function):
            raise ConfigError(f"@workflow needs a function, got {function!r}")
        self.function = function
        self.name = name or callable_name(function)
        self.is_async = inspect.iscoroutinefunction(function)
        self._signature = inspect.signature(function)
        self._hints = _type_hints(function)
        self._context_type = _context_parameter(self._signature, self._hints)
        functools.update_wrapper(self, function)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"<floe workflow {self.name!r}>"

    def run(self, *args: Any, **kwargs: Any) -> Execution:
        """Run from synchronous code: starts an event loop and a kernel (see run_sync)."""
        from ._sync import run_sync

        return run_sync(functools.partial(self.run_async, *args, **kwargs))

    async def run_async(
        self,
        *args: Any,
        run_id: str | None = None,
        raise_on_error: bool = False,
        **kwargs: Any,
    ) -> Execution:
        """Start a run, resume an unfinished one (*run_id*), or load a finished one.

        With ``raise_on_error=True`` a failed run re-raises the body's exception.
        Without a running kernel, one is opened from the settings for this call.
        """
        kernel = _current.get()
        if kernel is None:
            async with open_kernel() as opened:
                return await self._run(opened, args, kwargs, run_id, raise_on_error)
        return await self._run(kernel, args, kwargs, run_id, raise_on_error)

    async def _run(
        self,
        kernel: Kernel,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        run_id: str | None,
        raise_on_error: bool,
    ) -> Execution:
        store = kernel.store
        existing = await store.get_run(run_id) if run_id is not None else None
        if existing is not None:
            if existing.name != self.name:
                raise ConfigError(
                    f"Run {existing.run_id!r} belongs to workflow {existing.name!r}, "
                    f"not {self.name!r}",
                    fix="Resume a run with the workflow that started it.",
                    context={"run_id": existing.run_id},
                )
            events = await store.read_events(existing.run_id)
            if existing.status.finished:
                return Execution.from_run(existing, events)
            journal = Journal(kernel, existing.run_id, existing.last_seq)
            state = RunState(kernel, existing, journal, ReplayIndex(events))
            document = existing.input
        else:
            document = self._encode_input(args, kwargs)
            now = utcnow()
            run = Run(
                run_id=run_id or uuid.uuid4().hex,
                name=self.name,
                kind="workflow",
                status=RunStatus.RUNNING,
                created_at=now,
                updated_at=now,
                input=document,
                runnable_at=now,
                metadata={"target": _target(self.function)},
            )
            await store.create_run(run)
            state = RunState(kernel, run, Journal(kernel, run.run_id, 0), ReplayIndex(()))
            await state.journal.write(
                [("run.started", None, {"workflow": self.name, "input": document})]
            )
        return await self._execute(state, document, raise_on_error)

    async def _execute(self, state: RunState, document: Any, raise_on_error: bool) -> Execution:
        args, kwargs = self._decode_input(state, document)
        failure: Exception | None = None
        with run_scope(state):
            try:
                if self.is_async:
                    output = await self.function(*args, **kwargs)
                else:
                    output = await _run_in_thread(self.function, args, kwargs)
                encoded = encode_value(output, where=f"the output of workflow {self.name!r}")
            except Exception as error:
                failure = error
        now = utcnow()
        if failure is None:
            run = attrs.evolve(
                state.run,
                status=RunStatus.COMPLETED,
                output=encoded,
                updated_at=now,
                runnable_at=None,
            )
            await state.journal.write([("run.completed", None, {"output": encoded})], run=run)
        else:
            info = ErrorInfo.from_exception(failure)
            run = attrs.evolve(
                state.run, status=RunStatus.FAILED, error=info, updated_at=now, runnable_at=None
            )
            await state.journal.write(
                [("run.failed", None, {"error": converter.unstructure(info)})], run=run
            )
        stored = await state.kernel.store.get_run(state.run_id)
        events = await state.kernel.store.read_events(state.run_id)
        execution = Execution.from_run(stored or run, events, exception=failure)
        if failure is not None and raise_on_error:
            raise failure
        return execution

    # -- input --------------------------------------------------------------------------

    def _encode_input(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            if self._context_type is None:
                self._signature.bind(*args, **kwargs)
            elif len(args) + len(kwargs) > 1 or (kwargs and "input" not in kwargs):
                raise TypeError("a Context workflow takes one input, positional or input=")
        except TypeError as error:
            raise ConfigError(
                f"Workflow {self.name!r} cannot take these arguments: {error}",
                fix=f"Call it as {self.name}{self._signature}.",
            ) from None
        return encode_value(
            {"args": list(args), "kwargs": kwargs}, where=f"the input of workflow {self.name!r}"
        )

    def _decode_input(self, state: RunState, document: Any) -> tuple[list[Any], dict[str, Any]]:
        raw_args = list(document.get("args", [])) if isinstance(document, Mapping) else []
        raw_kwargs = dict(document.get("kwargs", {})) if isinstance(document, Mapping) else {}
        if self._context_type is not None:
            value = raw_args[0] if raw_args else raw_kwargs.get("input")
            context = Context(
                input=_structure(value, self._context_type),
                run_id=state.run_id,
                workflow=self.name,
                state=state,
            )
            return [context], {}
        bound = self._signature.bind_partial(*raw_args, **raw_kwargs)
        for name, value in list(bound.arguments.items()):
            annotation = self._hints.get(name)
            if annotation is not None:
                bound.arguments[name] = _structure(value, annotation)
        return list(bound.args), dict(bound.kwargs)


@overload
def workflow(function: Callable[P, T], /) -> Workflow[P, T]: ...


@overload
def workflow(*, name: str | None = None) -> Callable[[Callable[P, T]], Workflow[P, T]]: ...


def workflow(function: Callable[P, Any] | None = None, /, *, name: str | None = None) -> Any:
    """Make *function* a workflow; use as ``@workflow`` or ``@workflow(name=...)``."""
    if function is not None:
        return Workflow(function, name=name)
    return lambda fn: Workflow(fn, name=name)


async def _run_in_thread(
    function: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]
) -> Any:
    def body() -> Any:
        mark_worker_thread()
        return function(*args, **kwargs)

    return await anyio.to_thread.run_sync(body)


def _type_hints(function: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function)
    except Exception:  # unresolvable annotations: inputs stay plain JSON values
        return {}


def _context_parameter(signature: inspect.Signature, hints: dict[str, Any]) -> Any:
    """The T of a first parameter annotated ``Context[T]``, ``Any`` for a bare Context."""
    parameters = list(signature.parameters.values())
    if not parameters:
        return None
    annotation = hints.get(parameters[0].name)
    if annotation is Context:
        return Any
    if typing.get_origin(annotation) is Context:
        return typing.get_args(annotation)[0]
    return None


def _structure(value: Any, annotation: Any) -> Any:
    if annotation is Any:
        return value
    try:
        return converter.structure(value, annotation)
    except Exception as error:
        raise FloeError(
            f"The workflow input {value!r} does not fit its annotation {annotation!r}",
            fix="Pass an input matching the parameter's type.",
        ) from error


def _target(function: Callable[..., Any]) -> str:
    return f"{getattr(function, '__module__', '?')}:{getattr(function, '__qualname__', '?')}"
