"""A registered component's journal: how its steps are written to, and read from, the store.

A component's run (kind ``component``, run id ``component:<name>``) holds every handled
message, every transition and every change of rules as journal events; the run record
keeps a checkpoint of the component every :data:`CHECKPOINT_EVERY` events, so a restore
reads at most that many events. :class:`Binding` does the writing for one registered
component, with the component's message lock held; :class:`View` folds a journal back
into a component's state, rules and metadata. :class:`MessageLock` is that lock.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import anyio
import attrs

from ..kernel._backends import loop_checkpoint
from ..kernel._errors import PersistenceError, SequenceConflictError, StateError
from ..kernel._kinds import EventKind
from ..kernel._logging import bind_log_context
from ..kernel._models import RESERVED_RUN_ID_PREFIXES, Event, Run, RunStatus, utcnow
from ..kernel._serialize import encode_value
from ..kernel._states import Message, State
from ._state_machine import Transitioned

if TYPE_CHECKING:
    from ..kernel._kernel import Kernel
    from ._components import Component

__all__ = [
    "CHANGED",
    "CHECKPOINT_EVERY",
    "COMPONENT_KIND",
    "COMPONENT_RUN_ID_PREFIX",
    "MAX_REBASES",
    "MESSAGE_RECEIVED",
    "REGISTERED",
    "RULES_UPDATED",
    "Binding",
    "MessageLock",
    "View",
    "check_kind",
    "component_run_id",
]

logger = logging.getLogger("floe.components")

COMPONENT_KIND: Final = "component"
"""The ``kind`` of a component's run."""
COMPONENT_RUN_ID_PREFIX: Final = next(
    prefix for prefix, owner in RESERVED_RUN_ID_PREFIXES.items() if owner == COMPONENT_KIND
)
"""What a component's run id starts with: the prefix reserved for components, so that no
other kind of run can take a component's journal."""
REGISTERED: Final = EventKind.COMPONENT_REGISTERED
MESSAGE_RECEIVED: Final = EventKind.COMPONENT_MESSAGE_RECEIVED
CHANGED: Final = EventKind.STATE_CHANGED
RULES_UPDATED: Final = EventKind.COMPONENT_RULES_UPDATED

CHECKPOINT_EVERY: Final = 256
"""Journal events between two checkpoints of the component in its run record, so that a
restore reads at most this many events (plus the checkpoint) however long the history."""
MAX_REBASES: Final = 10
"""Times a blind write (registration, rules) is rebased onto a newer journal before the
conflict is reported."""
_PLAIN: Final = (str, int, bool, type(None))


class MessageLock:
    """A component's message lock: fair (first come, first served) and taken without
    yielding when it is free, so messages are handled in the order they were sent.

    A release hands the lock straight to the longest waiter, which then owns it even
    before it runs; a waiter cancelled at that moment passes it on.
    """

    __slots__ = ("_waiters", "held")

    def __init__(self) -> None:
        self.held = False
        self._waiters: deque[anyio.Event] = deque()

    def try_acquire(self) -> bool:
        """Take the lock if it is free (no waiting); whether it was taken."""
        if self.held:
            return False
        self.held = True
        return True

    async def acquire(self) -> None:
        """Take the lock, waiting behind those that asked for it first."""
        if not self.held:
            self.held = True
            return
        waiter = anyio.Event()
        self._waiters.append(waiter)
        try:
            await waiter.wait()
        except BaseException:
            if waiter.is_set():
                self.release()  # handed over just as the wait was cancelled: pass it on
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Give the lock to the longest waiter, or free it."""
        if self._waiters:
            self._waiters.popleft().set()
        else:
            self.held = False


def component_run_id(name: str) -> str:
    """The run id of the component called *name*: ``component:<name>``."""
    return f"{COMPONENT_RUN_ID_PREFIX}{name}"


def _encoded_message(message: Message, name: str) -> dict[str, Any]:
    # the journal keeps what JSON can hold; checking here makes the memory store refuse
    # what SQLite would, before the state has run
    if not message.fields and type(message.content) in _PLAIN:
        return {"type": message.type, "content": message.content}
    encoded: dict[str, Any] = encode_value(
        message.to_dict(), where=f"the {message.type!r} message to component {name!r}"
    )
    return encoded


@attrs.define
class View:
    """A component as its journal tells it: folded from a checkpoint and later events."""

    state: str
    rules: list[Any]
    metadata: dict[str, Any]
    seq: int

    @classmethod
    def from_run(cls, run: Run) -> View:
        checkpoint = run.metadata.get(COMPONENT_KIND) if isinstance(run.metadata, Mapping) else None
        if (
            not isinstance(checkpoint, Mapping)
            or not isinstance(checkpoint.get("state"), str)
            or not isinstance(checkpoint.get("rules"), list)
            or not isinstance(checkpoint.get("metadata"), Mapping)
            or type(checkpoint.get("seq")) is not int
        ):
            raise PersistenceError(
                f"The run record of component {run.name!r} holds no valid checkpoint",
                why=f"Its metadata is {run.metadata!r}; a component's run keeps "
                "{'component': {'seq', 'state', 'rules', 'metadata'}} there.",
                fix="Restore the store from a backup, or register the component again.",
                context={"component": run.name, "run_id": run.run_id},
            )
        return cls(
            state=checkpoint["state"],
            rules=list(checkpoint["rules"]),
            metadata=dict(checkpoint["metadata"]),
            seq=checkpoint["seq"],
        )

    def fold(self, events: Iterable[Event]) -> None:
        for event in events:
            self.apply(event.kind, event.data)
            self.seq = event.seq

    def apply(self, kind: str, data: Any) -> None:
        if not isinstance(data, Mapping):
            return
        if kind == CHANGED:
            self.state = data.get("to_state", self.state)
        elif kind == RULES_UPDATED:
            self.rules = list(data.get("rules", self.rules))
        elif kind == REGISTERED:
            self.state = data.get("state", self.state)
            self.rules = list(data.get("rules", self.rules))
            self.metadata = dict(data.get("metadata", self.metadata))

    def checkpoint(self) -> dict[str, Any]:
        return {
            COMPONENT_KIND: {
                "seq": self.seq,
                "state": self.state,
                "rules": self.rules,
                "metadata": self.metadata,
            }
        }


class Binding:
    """A registered component's link to the kernel: its run, journal position and the
    writes that sync methods left to do. Used with the component's lock held."""

    __slots__ = (
        "checkpoint",
        "flush_scheduled",
        "in_doubt",
        "kernel",
        "last_seq",
        "pending",
        "run",
        "run_id",
    )

    def __init__(self, kernel: Kernel, run_id: str, run: Run | None = None) -> None:
        self.kernel = kernel
        self.checkpoint: Callable[[], Awaitable[None]] | None = (
            None if kernel.groups_appends else loop_checkpoint()
        )
        """A message's checkpoint where writers gain nothing from meeting (a store that
        does not group appends): the loop's own, without :meth:`Kernel.arrive`'s count
        of the writers in it. None: the message arrives through the kernel."""
        self.run_id = run_id
        self.run = run
        self.last_seq = run.last_seq if run is not None else 0
        self.pending: list[tuple[str, dict[str, Any]]] = []
        self.flush_scheduled = False
        self.in_doubt: tuple[int, list[Event]] | None = None
        """The first seq and the events of a write whose outcome is unknown."""

    def _view(self, component: Component, seq: int) -> View:
        return View(
            state=component.state_machine.current_state_name,
            rules=list(component.rules),
            metadata=component.metadata,
            seq=seq,
        )

    # -- blind writes, done in the background -------------------------------------------

    def defer(self, component: Component, kind: str, data: dict[str, Any]) -> None:
        self.pending.append((kind, data))
        if not self.flush_scheduled:
            self.kernel.task_group.start_soon(
                self._flush_in_background, component, name=f"journal {self.run_id}"
            )
            self.flush_scheduled = True

    async def _flush_in_background(self, component: Component) -> None:
        with bind_log_context(component=component.name, run_id=self.run_id):
            await self._flush_pending_or_log(component)

    async def _flush_pending_or_log(self, component: Component) -> None:
        try:
            await component.message_lock.acquire()
            try:
                self.flush_scheduled = False
                await self.flush_pending(component)
            finally:
                component.message_lock.release()
        except Exception as error:
            # kept pending: the next message or flush() tries again and raises
            logger.error(
                "Could not journal %d change(s) of component %r; they are retried with "
                "its next message: %s",
                len(self.pending),
                component.name,
                error,
                exc_info=error,
            )

    async def flush_pending(self, component: Component) -> None:
        for _ in range(MAX_REBASES):
            await self._open(component)  # first: settling may find the batch stored
            batch = list(self.pending)
            if not batch:
                return
            try:
                await self._write(component, batch, checkpoint=True)
            except SequenceConflictError:
                await self._reload(component)
                # blind writes: they hold their whole value, so they apply on top
                view = self._view(component, self.last_seq)
                for kind, data in batch:
                    view.apply(kind, data)
                component.apply_view(view)
                continue
            del self.pending[: len(batch)]
            return
        raise SequenceConflictError(
            f"Could not journal the changes of component {component.name!r}",
            why=f"Other writers kept appending to {self.run_id!r} ({MAX_REBASES} attempts).",
            fix="Make one process the writer of this component.",
            context={"component": component.name, "run_id": self.run_id},
        )

    # -- messages -----------------------------------------------------------------------

    async def handle(
        self, component: Component, message: Message, *, at_once: bool, delivery: str | None
    ) -> Transitioned | None:
        """Decide *message*, journal and post what it did, then move the component.

        Called after the message's checkpoint (:meth:`Kernel.arrive`, which said
        *at_once*), with the lock held: a state that decides without waiting and a
        store that appends at once make this a plain call."""
        if self.pending:
            await self.flush_pending(component)
        elif self.run is None or self.in_doubt is not None:
            await self._open(component)
        name = component.name
        # encoded first: a message the journal cannot hold is refused before the state runs
        received = {"component": name, "message": _encoded_message(message, name)}
        if delivery is not None:  # the message run a worker delivers it for
            received["delivery"] = delivery
        machine = component.state_machine
        previous = machine.current_state_name
        target = await machine.decide(message, component)
        run_id = self.run_id
        first = self.last_seq + 1
        now = utcnow()
        events = [Event(run_id, first, MESSAGE_RECEIVED, None, now, received)]
        # rule changes the state made while deciding go into the same write
        deferred = len(self.pending)
        for kind, data in self.pending:
            events.append(Event(run_id, first + len(events), kind, None, now, data))
        entered: State | None = None
        if target is not None:
            # made before anything is stored: a state that cannot be built leaves no trace
            entered = machine.registry.get(target)()
            changed = {"component": name, "from_state": previous, "to_state": target}
            events.append(Event(run_id, first + len(events), CHANGED, None, now, changed))
        record = self._record_for(component, len(events), now, target, deferred > 0)
        try:
            await self._store(events, record, at_once=at_once)
        except SequenceConflictError as error:
            raise await self._conflict(component, message, error) from error
        del self.pending[:deferred]
        if target is None or entered is None:
            return None
        machine.current_state = entered
        machine.current_state_name = target
        return Transitioned(previous, target)

    async def _conflict(
        self, component: Component, message: Message, error: SequenceConflictError
    ) -> SequenceConflictError:
        """Reload after another writer's events, and say why *message* was not recorded."""
        before = self.last_seq
        await self._reload(component)
        name = component.name
        return SequenceConflictError(
            f"Component {name!r} was changed by another writer; "
            f"the {message.type!r} message was not recorded",
            why=f"Its journal moved on from seq {before} to {self.last_seq} elsewhere "
            "(another process or engine handles this component too).",
            fix=f"The component was reloaded and is now in "
            f"{component.state_machine.current_state_name!r}; "
            "send the message again if it still applies.",
            context={"component": name, "run_id": self.run_id, "message": message.type},
        )

    # -- the journal --------------------------------------------------------------------

    async def _open(self, component: Component) -> None:
        if self.run is not None:
            if self.in_doubt is not None:
                await self._settle(component)
            return
        store = self.kernel.store
        run = await store.get_run(self.run_id)
        if run is None:
            run = Run(
                run_id=self.run_id,
                name=component.name,
                kind=COMPONENT_KIND,
                status=RunStatus.RUNNING,
                metadata=self._view(component, 0).checkpoint(),
            )
            try:
                await store.create_run(run)
            except PersistenceError:
                # another writer created it first: continue its journal
                found = await store.get_run(self.run_id)
                if found is None:
                    raise
                run = found
        check_kind(run)
        self.run = run
        self.last_seq = run.last_seq

    async def _write(
        self,
        component: Component,
        items: list[tuple[str, dict[str, Any]]],
        *,
        checkpoint: bool = False,
    ) -> None:
        first = self.last_seq + 1
        now = utcnow()
        run_id = self.run_id
        events = [
            Event(run_id, first + offset, kind, None, now, data)
            for offset, (kind, data) in enumerate(items)
        ]
        # the write's checkpoint (a message has made its own): cancelled here, the
        # changes stay pending
        at_once = await self.kernel.arrive()
        record = self._record_for(component, len(events), now, None, checkpoint)
        await self._store(events, record, at_once=at_once)

    def _record_for(
        self,
        component: Component,
        count: int,
        now: datetime,
        state_after: str | None,
        checkpoint: bool,
    ) -> Run | None:
        """The run record to write with the next *count* events, or None: it changes
        only at a checkpoint, not with every message."""
        previous = self.last_seq
        last = previous + count
        if not checkpoint and last // CHECKPOINT_EVERY == previous // CHECKPOINT_EVERY:
            return None
        view = self._view(component, last)
        if state_after is not None:
            view.state = state_after
        assert self.run is not None
        return attrs.evolve(self.run, updated_at=now, metadata=view.checkpoint())

    async def _store(self, events: list[Event], record: Run | None, *, at_once: bool) -> None:
        """Store and post *events* (and *record*): at once when :meth:`Kernel.arrive`
        said so and neither the store nor the bus would wait, else in the group commit."""
        if not (at_once and self._store_nowait(events, record)):
            await self._store_awaited(events, record)

    def _store_nowait(self, events: list[Event], record: Run | None) -> bool:
        try:
            self.kernel.record_nowait(events, run=record)
        except anyio.WouldBlock:
            return False
        except SequenceConflictError:
            raise  # nothing was stored
        except BaseException:
            # failed half-way: whether the events were stored is known only once the
            # journal is read again, before the next write
            self.in_doubt = (self.last_seq + 1, events)
            raise
        self._stored(events, record)
        return True

    async def _store_awaited(self, events: list[Event], record: Run | None) -> None:
        try:
            await self.kernel.record_grouped(events, run=record)
        except SequenceConflictError:
            raise  # nothing was stored
        except BaseException:
            # cancelled (or failed) half-way: as in _store_nowait
            self.in_doubt = (self.last_seq + 1, events)
            raise
        self._stored(events, record)

    def _stored(self, events: list[Event], record: Run | None) -> None:
        self.last_seq += len(events)
        if record is not None:
            self.run = record

    async def _settle(self, component: Component) -> None:
        """Find out whether the write in doubt was stored, and catch up with the journal."""
        assert self.in_doubt is not None
        first, events = self.in_doubt
        stored = await self.kernel.store.read_events(
            self.run_id, after_seq=first - 1, limit=len(events)
        )
        landed = [(e.seq, e.kind, e.data) for e in stored] == [
            (e.seq, e.kind, e.data) for e in events
        ]
        written = [(e.kind, e.data) for e in events if e.kind in (REGISTERED, RULES_UPDATED)]
        if landed and self.pending[: len(written)] == written:
            del self.pending[: len(written)]  # deferred changes that were stored
        self.in_doubt = None
        await self._reload(component)

    async def _reload(self, component: Component) -> None:
        """Fold in the events other writers appended since ours."""
        store = self.kernel.store
        events = await store.read_events(self.run_id, after_seq=self.last_seq)
        run = await store.get_run(self.run_id)
        if run is not None:
            self.run = run
        if events:
            view = self._view(component, self.last_seq)
            view.fold(events)
            component.apply_view(view)
            self.last_seq = view.seq


def check_kind(run: Run) -> None:
    if run.kind != COMPONENT_KIND:
        raise StateError(
            f"The run id {run.run_id!r} belongs to a {run.kind} run, not a component",
            fix="Rename the component.",
            context={"run_id": run.run_id},
        )
