"""The state of a running workflow: its journal, replay index and step scopes.

Step keys are allocated synchronously, in program order, when a task is *called* (not
when it starts), so ``parallel`` and ``map`` get the same keys in every process. A key
is the task's name and a per-name counter (``fetch#2``); nested calls extend their
parent's key (``pipeline#1/parse#1``). Replay identifies a step by its *position*
(``3``, ``3.2``), which also catches code that calls different steps than it did.

A body stops early in two ways that are not errors: a pause and a cancellation. Both
unwind it with :class:`Unwind`, a ``BaseException`` so that a user's ``except
Exception`` cannot swallow it; the workflow runner tells them apart from real
cancellation, which it never catches.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.from_thread
import anyio.lowlevel
import attrs

from ..kernel._errors import FloeError
from ..kernel._journal import Journal, ReplayIndex
from ..kernel._logging import bind_log_context, correlation_var, set_correlation_source
from ..kernel._models import Run
from ..kernel._runs import ActiveRun
from ..kernel._secrets import KnownSecrets

if TYPE_CHECKING:
    from ..kernel._kernel import Kernel
    from ._capture import OutputCapture
    from ._tasks import Task

__all__ = [
    "CANCEL_IDLE",
    "Registered",
    "Replayed",
    "RunState",
    "Scope",
    "Unwind",
    "allocate_step",
    "call_from_worker",
    "current_run",
    "current_scope_key",
    "enter_scope",
    "in_worker_thread",
    "leave_scope",
    "outside_run",
    "scope_now",
    "step_key",
    "step_position",
    "stop_for_cancel",
    "unwind_reason",
]

UnwindReason = Literal["paused", "cancelled", "suspended"]


class Unwind(BaseException):
    """Unwinds a workflow body that paused, was cancelled, or was suspended (a worker's
    run that waits for a durable timer, to be claimed again when it is due).

    A ``BaseException``, like cancellation, so that ``except Exception`` in user code
    lets it through; the workflow runner catches it, nothing else should.
    """

    def __init__(self, reason: UnwindReason) -> None:
        super().__init__(reason)
        self.reason: UnwindReason = reason


def unwind_reason(error: BaseException) -> UnwindReason | None:
    """Why *error* unwinds a body, or None when it is something else (re-raise it).

    A pause or cancellation inside a task group arrives wrapped in an exception group;
    it counts only when everything in the group is an :class:`Unwind`.
    """
    if isinstance(error, Unwind):
        return error.reason
    if isinstance(error, BaseExceptionGroup):
        matched, rest = error.split(Unwind)
        if matched is None or rest is not None:
            return None
        reasons = {leaf.reason for leaf in _leaves(matched)}
        for reason in ("cancelled", "paused"):  # what a branch recorded outranks a wait
            if reason in reasons:
                return reason
        return "suspended"
    return None


def _leaves(group: BaseExceptionGroup[Unwind]) -> Iterator[Unwind]:
    for item in group.exceptions:
        if isinstance(item, BaseExceptionGroup):
            yield from _leaves(item)
        else:
            yield item


class Replayed:
    """An awaitable whose outcome the journal already holds.

    Composition (``floe.parallel``, ``task.map``) reads its :meth:`outcome` instead of
    starting a task for it, so a replayed fan-out of 100,000 steps spawns nothing.
    """

    __slots__ = ()

    def outcome(self) -> Any:
        """The recorded result; raises the recorded failure."""
        raise NotImplementedError


class Scope:
    """Allocates step keys and positions for the calls made in one body.

    A plain class with slots: one is made for every step (its body's scope). It also
    holds the run it belongs to (set when it becomes current), so a task call finds
    both with one context variable read.
    """

    __slots__ = ("_token", "counters", "key", "next_position", "position", "state")

    def __init__(self, key: str = "", position: str = "", state: RunState | None = None) -> None:
        self.key = key
        self.position = position
        self.state = state
        self.counters: dict[str, int] = {}
        self.next_position = 1

    def __repr__(self) -> str:
        return f"Scope(key={self.key!r}, position={self.position!r})"

    def __enter__(self) -> None:
        # the scope of the calls made in the block (a step's body)
        self._token = _scope.set(self)

    def __exit__(self, *exc_info: object) -> None:
        _scope.reset(self._token)

    def allocate(self, name: str) -> tuple[str, str]:
        count = self.counters.get(name, 0) + 1
        self.counters[name] = count
        position = self.next_position
        self.next_position = position + 1
        return step_key(self.key, name, count), step_position(self.position, position)


def step_key(outer: str, name: str, count: int) -> str:
    """The key of the *count*-th call of *name* in the scope whose key is *outer*
    (``fetch#2``, ``pipeline#1/parse#2``): journals on disk hold it."""
    return f"{outer}/{name}#{count}" if outer else f"{name}#{count}"


def step_position(prefix: str, number: int) -> str:
    """The position of the *number*-th call in the scope at position *prefix* (``3``,
    ``2.1``): journals on disk hold it."""
    return f"{prefix}.{number}" if prefix else str(number)


@attrs.frozen
class Registered:
    """A step whose task declared a rollback, as it was called (for the saga)."""

    task: Task[Any, Any]
    position: str
    args: Sequence[Any]
    kwargs: dict[str, Any]


class RunState(ActiveRun):
    """A workflow run executing in this process: what each of its steps needs to know."""

    def __init__(
        self,
        kernel: Kernel,
        run: Run,
        journal: Journal,
        replay: ReplayIndex,
        *,
        cancel_requested: bool = False,
        secrets: KnownSecrets | None = None,
    ) -> None:
        super().__init__(
            kernel, run, journal, replay, cancel_requested=cancel_requested, secrets=secrets
        )
        self.executed: list[str] = []
        """Step keys that ran (not replayed) in this process, in completion order."""
        self.started = time.monotonic()
        self.data: dict[str, Any] = {}
        """Values shared by the whole run (``flow_data``)."""
        self.rollbacks: dict[str, Registered] = {}
        """Steps called in this execution whose task has a rollback, by step key."""
        self.steps_called = 0
        self.capture: OutputCapture | None = None
        """Where print() and logging go while the run executes, if it captures output."""
        self.deadline: float | None = None
        """When the run's timeout ends, on the event loop's clock (None: no timeout)."""
        self.timed_out = False
        """The run went past its timeout: it fails with a WorkflowTimeoutError."""
        self.suspend_sleeps_over: float | None = None
        """A durable sleep or a retry backoff longer than this many seconds suspends the
        run rather than wait in this process (set for a worker's top-level runs; None:
        never)."""
        self._body_reports: dict[str, int] = {}

    def suspend_if_long(self, seconds: float) -> None:
        """Suspend the run for a wait of *seconds* (a durable sleep, a retry's backoff)
        when it executes on a worker that lets it: the body unwinds without an outcome,
        the run gives its lease (and its worker's slot) up, and it is claimed again when
        its ``runnable_at``, the end of the wait, is due."""
        limit = self.suspend_sleeps_over
        if limit is not None and seconds > limit:
            raise Unwind("suspended")

    def reported_before(self, kind: str) -> bool:
        """Count a report (artifact, result, output) of the body itself; True when the
        journal already holds that many, so this one is a replay's repeat."""
        count = self._body_reports.get(kind, 0) + 1
        self._body_reports[kind] = count
        return count <= self.replay.body_reports.get(kind, 0)

    def register_rollback(
        self,
        key: str,
        task: Task[Any, Any],
        position: str,
        args: Sequence[Any],
        kwargs: dict[str, Any],
    ) -> None:
        self.rollbacks[key] = Registered(task, position, args, kwargs)

    def rollbacks_known(self) -> bool:
        """Whether every recorded step that declared a rollback was called again here."""
        return self.replay.rollback_steps.issubset(self.rollbacks)


_log_correlation = correlation_var("correlation_id")
_scope: ContextVar[Scope | None] = ContextVar("floe_scope", default=None)
"""The scope of the body running now; its ``state`` is the run (None: outside any run)."""
_worker: ContextVar[bool] = ContextVar("floe_worker_thread", default=False)


def current_run() -> RunState | None:
    """The run this code executes in, or None outside any workflow."""
    scope = _scope.get()
    return None if scope is None else scope.state


scope_now = _scope.get
"""The scope of the body running now, or None outside any run (the context variable's
own ``get``: a task call reads it first, and a Python function around it would cost
more than the read)."""
enter_scope = _scope.set
"""Make a scope current; returns the token for :data:`leave_scope` (what ``with scope:``
does, without two calls of Python methods around every step's body)."""
leave_scope = _scope.reset


def current_scope() -> Scope:
    scope = _scope.get()
    if scope is None:
        raise FloeError(
            "No step scope is active",
            why="Steps are allocated inside a workflow run.",
            fix="Call tasks from a workflow body.",
        )
    return scope


def current_scope_key() -> str:
    """The step key of the code running now: ``""`` in a workflow body or outside a run."""
    scope = _scope.get()
    return "" if scope is None else scope.key


def _step_of_the_record() -> str | None:
    scope = _scope.get()
    return scope.key or None if scope is not None else None


# a log record's step is the key of the step running where it is logged, read when it
# is logged: binding it for every step would cost the step path more than any record
set_correlation_source("step", _step_of_the_record)


def allocate_step(state: RunState, name: str) -> tuple[str, str]:
    """The step key and position of the next call of *name* in the current scope."""
    state.steps_called += 1
    return current_scope().allocate(name)


in_worker_thread = _worker.get
"""True inside a sync task or workflow body, which runs in a worker thread (the context
variable's own ``get``: every task call asks)."""


@contextmanager
def run_scope(state: RunState) -> Iterator[None]:
    """Make *state* the current run, with a fresh root scope.

    Log records inside carry the run's id and no step (a child run's body is not its
    parent's step); the correlation id, unless one is bound already (a request's, or
    the parent run's), is the run's id, so a run and its child runs share one.
    """
    scope_token = _scope.set(Scope(state=state))
    fields: dict[str, str | None] = {"run_id": state.run_id, "step": None}
    if _log_correlation.get() is None:
        fields["correlation_id"] = state.run_id
    try:
        with bind_log_context(**fields):
            yield
    finally:
        _scope.reset(scope_token)


@contextmanager
def outside_run() -> Iterator[None]:
    """Code in this block is not part of a run: its task calls are plain calls."""
    scope_token = _scope.set(None)
    worker_token = _worker.set(False)
    try:
        yield
    finally:
        _worker.reset(worker_token)
        _scope.reset(scope_token)


def mark_worker_thread() -> None:
    """Called first thing in a worker thread that runs user code of a run."""
    _worker.set(True)


def call_from_worker(state: RunState, function: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """Run ``await function(*args)`` on the event loop for a sync body's worker thread.

    The coroutine runs outside the body's cancel scope (the portal starts it), so it
    gets a scope of its own that cancelling the run cancels too; the worker thread then
    sees an :class:`Unwind`, not a bare cancellation.
    """

    async def scoped() -> Any:
        _worker.set(False)  # the portal copies the thread's context: this is the loop's thread
        deadline = math.inf if state.deadline is None else state.deadline
        with anyio.CancelScope(deadline=deadline) as scope:
            state.cancel_scopes.add(scope)
            if state.stopping:
                scope.cancel()
            try:
                return await function(*args)
            finally:
                state.cancel_scopes.discard(scope)
        raise Unwind("cancelled")

    return anyio.from_thread.run(scoped)


CANCEL_IDLE = 0.05
"""Seconds without a new step after which a cancelling replay stops waiting for branches."""


async def stop_for_cancel(state: RunState) -> None:
    """Unwind a body whose run is being cancelled, at a step that has no record.

    Unwinding cancels the branches running alongside this one (``parallel``, ``map``),
    and the saga needs to know every completed step that declared a rollback, which a
    branch only tells by calling it again. So first wait while some such step is still
    unknown and the branches keep calling steps; a replay between steps is quick, so a
    pause of :data:`CANCEL_IDLE` without a new step means they all stand still.
    """
    while not state.rollbacks_known():
        before = state.steps_called
        await anyio.sleep(CANCEL_IDLE)
        if state.steps_called == before:
            break
    raise Unwind("cancelled")
