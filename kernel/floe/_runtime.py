"""The state of a running workflow: its journal, replay index and step scopes.

Step keys are allocated synchronously, in program order, when a task is *called* (not
when it starts), so ``parallel`` and ``map`` get the same keys in every process. A key
is the task's name and a per-name counter (``fetch#2``); nested calls extend their
parent's key (``pipeline#1/parse#1``). Replay identifies a step by its *position*
(``3``, ``3.2``), which also catches code that calls different steps than it did.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import attrs

from ._errors import FloeError
from ._journal import Journal, ReplayIndex
from ._models import Run

if TYPE_CHECKING:
    from ._kernel import Kernel

__all__ = ["RunState", "Scope", "current_run", "in_worker_thread", "step_scope"]


@attrs.define
class Scope:
    """Allocates step keys and positions for the calls made in one body."""

    key: str = ""
    position: str = ""
    counters: dict[str, int] = attrs.field(factory=dict)
    next_position: int = 1

    def allocate(self, name: str) -> tuple[str, str]:
        count = self.counters.get(name, 0) + 1
        self.counters[name] = count
        position = self.next_position
        self.next_position += 1
        key = f"{name}#{count}"
        return (
            f"{self.key}/{key}" if self.key else key,
            f"{self.position}.{position}" if self.position else str(position),
        )


class RunState:
    """Everything a step needs to know about the run it belongs to."""

    def __init__(self, kernel: Kernel, run: Run, journal: Journal, replay: ReplayIndex) -> None:
        self.kernel = kernel
        self.run = run
        self.journal = journal
        self.replay = replay
        self.executed: list[str] = []
        """Step keys that ran (not replayed) in this process, in completion order."""
        self.started = time.monotonic()
        self.data: dict[str, Any] = {}
        """Values shared by the whole run (``flow_data``)."""

    @property
    def run_id(self) -> str:
        return self.run.run_id


_run: ContextVar[RunState | None] = ContextVar("floe_run", default=None)
_scope: ContextVar[Scope | None] = ContextVar("floe_scope", default=None)
_worker: ContextVar[bool] = ContextVar("floe_worker_thread", default=False)


def current_run() -> RunState | None:
    """The run this code executes in, or None outside any workflow."""
    return _run.get()


def current_scope() -> Scope:
    scope = _scope.get()
    if scope is None:
        raise FloeError(
            "No step scope is active",
            why="Steps are allocated inside a workflow run.",
            fix="Call tasks from a workflow body.",
        )
    return scope


def in_worker_thread() -> bool:
    """True inside a sync task or workflow body, which runs in a worker thread."""
    return _worker.get()


@contextmanager
def run_scope(state: RunState) -> Iterator[None]:
    """Make *state* the current run, with a fresh root scope."""
    run_token = _run.set(state)
    scope_token = _scope.set(Scope())
    try:
        yield
    finally:
        _scope.reset(scope_token)
        _run.reset(run_token)


@contextmanager
def step_scope(state: RunState, scope: Scope) -> Iterator[None]:
    """Run a step's body with *scope* as the scope of the calls it makes."""
    run_token = _run.set(state)
    scope_token = _scope.set(scope)
    try:
        yield
    finally:
        _scope.reset(scope_token)
        _run.reset(run_token)


def mark_worker_thread() -> None:
    """Called first thing in a worker thread that runs user code of a run."""
    _worker.set(True)
