"""A run executing in this process, as every programming model executes one.

:class:`ActiveRun` holds what the durable core needs while a run executes here: its
record, its journal writer and replay index, the secrets in play (sealed in every
write), and how a cancellation reaches it (its cancel scopes and child runs). A
workflow run extends it with step scopes and rollbacks (``floe.workflows``); a graph's
job uses it as it is. :func:`executing` registers it for :func:`active_run`, so that
``floe.cancel`` finds a run executing in this process.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
import attrs

from ._journal import Journal, ReplayIndex
from ._kinds import EventKind
from ._models import ErrorInfo, Event, Run, RunStatus, utcnow
from ._secrets import KnownSecrets, known_secrets
from ._serialize import converter

if TYPE_CHECKING:
    from ._kernel import Kernel
    from ._sealing import Opener

__all__ = [
    "ActiveRun",
    "active_run",
    "active_runs",
    "executing",
    "fail_leased_run",
    "request_cancel",
    "sleep_until",
]


class ActiveRun:
    """A run executing in this process: its record, journal, replay index and secrets."""

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
        self.kernel = kernel
        self.run = run
        self.journal = journal
        self.replay = replay
        self.cancel_requested = cancel_requested
        """Set by ``floe.cancel``: no new step starts, the run unwinds."""
        self.stopping = False
        """Cancelled while executing in this process: its cancel scopes are cancelled."""
        self.cancel_scopes: set[anyio.CancelScope] = set()
        """Scopes that a cancellation cancels: the body's, and steps run for a sync body."""
        self.children: set[ActiveRun] = set()
        """Child runs executing inside this run's steps, cancelled with it."""
        self.done = anyio.Event()
        """Set once the execution in this process has recorded its outcome."""
        self.base_events: Sequence[Event] = replay.events
        """The journal as read before this execution wrote to it."""
        self.secrets = secrets if secrets is not None else KnownSecrets()
        """The secret values in play: received by a task of this run (or of its parent or
        children, which share them) or read back from a sealed payload. Every field of
        the run's writes that holds one is sealed (see _sealing)."""
        journal.secrets = self.secrets

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def add_secrets(self, values: dict[str, str]) -> None:
        """Seal *values* (name → value) in every later write, and mask them when shown."""
        for name, value in values.items():
            self.secrets.add(name, value)
            known_secrets().add(name, value)

    def opener(self) -> Opener:
        """Opens what this run's records hold sealed (replay, resume values, outcomes)."""
        from ._sealing import Opener

        return Opener(self.run_id, self.kernel.payload_codec, self.secrets)

    def evolve_run(self, **changes: Any) -> Run:
        """The run record with *changes*, kept as the current one for later writes."""
        if self.secrets.values:
            # the names, so that a resume in another process knows them before it writes
            recorded = self.run.metadata.get("secrets") or ()
            names = self.secrets.names
            if not names.issubset(recorded):
                metadata = {**self.run.metadata, "secrets": sorted(names.union(recorded))}
                changes.setdefault("metadata", metadata)
        status = changes.get("status")
        if status is not None and status is not RunStatus.RUNNING and self.run.lease_owner:
            # a run that stops running here is given up in the same write (see _leases)
            changes.setdefault("lease_owner", None)
            changes.setdefault("lease_expires_at", None)
        self.run = attrs.evolve(self.run, updated_at=utcnow(), **changes)
        return self.run


# keyed by kernel: two kernels of one process may hold different runs under one id
_active: weakref.WeakKeyDictionary[Kernel, dict[str, ActiveRun]] = weakref.WeakKeyDictionary()


@contextmanager
def executing(state: ActiveRun, parent: ActiveRun | None) -> Iterator[None]:
    """Mark *state* as executing in this process (for ``cancel``) until the block ends."""
    runs = _active.setdefault(state.kernel, {})
    previous = runs.get(state.run_id)
    runs[state.run_id] = state
    if parent is not None:
        parent.children.add(state)
    try:
        yield
    finally:
        if parent is not None:
            parent.children.discard(state)
        if runs.get(state.run_id) is state:
            if previous is not None and not previous.done.is_set():
                runs[state.run_id] = previous
            else:
                del runs[state.run_id]
        state.done.set()


def active_run(kernel: Kernel, run_id: str) -> ActiveRun | None:
    """The execution of *run_id* in progress in this process under *kernel*, if any."""
    runs = _active.get(kernel)
    return runs.get(run_id) if runs else None


def active_runs(kernel: Kernel) -> list[ActiveRun]:
    """Every run executing in this process under *kernel*."""
    runs = _active.get(kernel)
    return list(runs.values()) if runs else []


async def fail_leased_run(kernel: Kernel, run: Run, error: BaseException) -> Run:
    """Record that *run*, leased to this kernel, fails with *error* (its code cannot be
    loaded here, or a message's state raised), so that it does not wait for ever:
    ``run.failed`` with the error, the run ``failed`` and its lease given up in the same
    write. Returns the failed run."""
    info = ErrorInfo.from_exception(error)
    failed = attrs.evolve(
        run,
        status=RunStatus.FAILED,
        error=info,
        runnable_at=None,
        lease_owner=None,
        lease_expires_at=None,
        updated_at=utcnow(),
    )
    journal = Journal(kernel, run.run_id, run.last_seq)
    data: dict[str, Any] = {"error": converter.unstructure(info)}
    await journal.write([(EventKind.RUN_FAILED, None, data)], run=failed)
    return failed


def request_cancel(state: ActiveRun) -> None:
    """Cancel a run executing in this process, and the child runs inside it."""
    state.cancel_requested = True
    state.stopping = True
    for scope in list(state.cancel_scopes):
        scope.cancel()
    for child in list(state.children):
        request_cancel(child)


async def sleep_until(wake_at: str | None) -> None:
    """Sleep until the ISO time *wake_at* (no time at all when it has passed)."""
    if not wake_at:
        await anyio.lowlevel.checkpoint()
        return
    remaining = (datetime.fromisoformat(wake_at) - utcnow()).total_seconds()
    await anyio.sleep(max(remaining, 0))
