"""A run's journal writer and its replay index.

Steps that finish at the same moment share one store transaction: the first writer
becomes the leader and flushes everything queued behind it, so concurrent steps of a
run cost one commit, and the run's sequence numbers follow the order of the calls. On
a store without transactions to share (memory), a write stores at once instead, then
checkpoints; the numbering is the same.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

import anyio
import attrs

from ._backends import Settable, loop_checkpoint, loop_checkpoints, loop_event_factory
from ._errors import FloeError, NonDeterminismError
from ._kinds import EventKind
from ._models import Event, Run, utcnow

if TYPE_CHECKING:
    from ._kernel import Kernel
    from ._secrets import KnownSecrets

__all__ = ["FINAL_STEP_EVENTS", "REPORT_EVENTS", "Deferred", "Journal", "ReplayIndex", "open_pause"]

logger = logging.getLogger("floe.journal")

REPORT_EVENTS = frozenset(
    {EventKind.ARTIFACT_CREATED, EventKind.RESULT_CREATED, EventKind.LOG_MESSAGE}
)
"""What user code reports during a run, written with the run's next write."""

FINAL_STEP_EVENTS = frozenset({EventKind.TASK_COMPLETED, EventKind.TASK_FAILED})
"""Step events that end a step: on replay the step returns (or raises) what they hold."""
_TASK_STARTED = str(EventKind.TASK_STARTED)
"""As a plain string: compared with a stored kind, it takes str's own equality."""
_TASK_COMPLETED = str(EventKind.TASK_COMPLETED)


@attrs.define
class Deferred:
    """An event waiting for the run's next write (see :meth:`Journal.defer`)."""

    kind: str
    step: str | None
    data: Any
    at: datetime = attrs.field(factory=utcnow)
    prepare: Callable[[Deferred], Awaitable[None]] | None = None
    """Awaited just before the event is numbered: may finish its data (store a body)."""


class _Write:
    """A write queued for the leader (see :meth:`Journal.write`)."""

    __slots__ = ("error", "loud", "publish", "run", "stored")

    def __init__(
        self, stored: list[Event], loud: list[Event], run: Run | None, publish: list[Event]
    ) -> None:
        self.stored = stored
        """Every event of the write, in sequence order."""
        self.loud = loud
        """What the caller asked to write (returned once stored)."""
        self.run = run
        self.publish = publish
        """What goes to the bus: the deferred events, then the loud ones."""
        self.error: BaseException | None = None


class Journal:
    """Appends a run's events in order and publishes them once they are stored.

    Through the kernel's one write path (:meth:`Kernel.record`), which stores and then
    posts; what this adds is numbering, sealing, deferred reports and group commit.
    """

    def __init__(self, kernel: Kernel, run_id: str, last_seq: int) -> None:
        self._kernel = kernel
        self.run_id = run_id
        self.last_seq = last_seq
        self._deferred: list[Deferred] = []
        self._pending: list[_Write] = []
        self._pending_done: Settable | None = None
        """Set when the writes queued behind the flushing leader are stored (or failed)."""
        self.written: list[Event] = []
        """Every event this journal stored, in sequence order."""
        self._flushing = False
        self._broken: BaseException | None = None
        self.secrets: KnownSecrets | None = None
        """The run's secrets in play (set by its RunState): fields holding one are sealed."""
        # a journal lives in one run, on one loop: its checkpoints are bound once
        self._shielded_checkpoint, self._checkpoint_if_cancelled = loop_checkpoints()
        self.checkpoint = loop_checkpoint()
        """The loop's checkpoint: a write's, after :meth:`write_nowait` (bound once)."""
        self._new_event = loop_event_factory()
        self._at_once = not kernel.groups_appends
        """Whether a write with none in flight stores at once, before its checkpoint:
        on a store that does not group appends, writers meeting gain nothing."""

    def raise_if_broken(self) -> None:
        """Raise the error of an earlier failed write, if there was one."""
        if self._broken is not None:
            raise self._broken

    def defer(self, deferred: Deferred) -> None:
        """Queue an event to be stored and published with the run's next write.

        For what user code reports from anywhere, a worker thread included, without
        waiting (artifacts, results, captured output): it becomes durable with the step
        that made it. ``list.append`` is atomic, so no lock is needed.
        """
        self._deferred.append(deferred)

    async def write(
        self,
        events: Iterable[tuple[str, str | None, Any]],
        *,
        published: Iterable[tuple[str, str | None, Any, datetime]] = (),
        run: Run | None = None,
    ) -> list[Event]:
        """Store *published* (already seen on the bus) and *events*, then publish *events*.

        *published* entries carry the time they happened (a step's start). Deferred
        events go first. Returns the stored *events* once they are durable. *run*
        updates the run record in the same transaction. After a failed write the
        journal refuses further writes with the same error: its sequence numbers can no
        longer be trusted.

        Storing and posting is the kernel's. On a store that groups appends, the first
        writer leads, yields once at :meth:`Kernel.arrive` (the write's schedule point),
        then stores in one write everything queued by then — with
        :meth:`Kernel.record_nowait` when it may, else :meth:`Kernel.record_grouped`,
        where other runs' writers share the store's transaction — and in a next one
        what was queued meanwhile. On a store that does not (the memory store), meeting
        gains nothing: a write with none in flight stores at once, then makes its
        checkpoint. Always a checkpoint; its cancel point comes after the events are
        stored: a caller cancelled meanwhile has its events stored all the same.
        """
        if self._broken is not None:
            raise self._broken
        taken: list[Deferred] = []
        if self._deferred:
            taken = await self._take_deferred()
        secrets = self.secrets
        if secrets is not None and secrets.values:
            try:
                events, published, run = self._sealed(events, published, taken, run)
            except BaseException:
                # nothing was numbered or stored: the reports wait for the next write
                self._deferred = taken + self._deferred
                raise
        stored, loud, publish, self.last_seq = self._numbered(events, published, taken, run)
        if self._at_once and not self._flushing and self._stored_at_once(stored, publish, run):
            await self.checkpoint()  # the write's one checkpoint, after its events are stored
            return loud
        write = _Write(stored, loud, run, publish)
        self._pending.append(write)
        if self._flushing:
            await self._follow()
        else:
            await self._lead()
            if write.error is None:
                # the write's cancel point, after its events are stored (the schedule
                # point was the leader's yield): a cancelled caller has them stored
                await self._checkpoint_if_cancelled()
        if write.error is not None:
            raise write.error
        return write.loud

    def write_nowait(
        self,
        events: Sequence[tuple[str, str | None, Any]],
        *,
        published: Sequence[tuple[str, str | None, Any, datetime]] = (),
    ) -> list[Event] | None:
        """The first half of :meth:`write` where it would store at once: store and
        publish *events* now, returning them, for the caller to await
        :attr:`checkpoint` next (the write's checkpoint, which :meth:`write` makes).

        None, having stored nothing, when the write needs :meth:`write`: a store that
        groups appends, a write in flight, deferred events, a secret in play (sealing),
        or a store or bus that would wait. Raises as :meth:`write` does when the store
        refuses the events. For a step's outcome: no coroutine of the journal's around
        the most frequent write.
        """
        if (
            not self._at_once
            or self._flushing
            or self._deferred
            or self._broken is not None
            or (self.secrets is not None and self.secrets.values)
        ):
            return None
        stored, loud, publish, last_seq = self._numbered(events, published, (), None)
        if not self._stored_at_once(stored, publish, None):
            return None  # nothing stored or numbered: write() does it all again
        self.last_seq = last_seq
        return loud

    def _stored_at_once(self, stored: list[Event], publish: list[Event], run: Run | None) -> bool:
        """Store *stored* and post *publish* now if neither the store nor the bus would
        wait (False: nothing stored)."""
        try:
            self._kernel.record_nowait(stored, run=run, posted=publish)
        except anyio.WouldBlock:
            return False  # the store or the bus would wait: the leader's path
        except Exception as error:
            self._broken = error  # as _fail does: the sequence numbers are in doubt
            raise
        self.written += stored
        return True

    async def _take_deferred(self) -> list[Deferred]:
        """The deferred events, each prepared, for this write."""
        taken, self._deferred = self._deferred, []
        for item in taken:
            if item.prepare is not None:
                await item.prepare(item)
                item.prepare = None
        return taken

    def _numbered(
        self,
        events: Iterable[tuple[str, str | None, Any]],
        published: Iterable[tuple[str, str | None, Any, datetime]],
        taken: Sequence[Deferred],
        run: Run | None,
    ) -> tuple[list[Event], list[Event], list[Event], int]:
        """The write's events, numbered on from the journal's last: *published* first,
        then *taken* (after the step's start, before its outcome), then *events*.

        Returns all of them in sequence order, the *events*, those to post (*taken* and
        *events*) and the last seq (the journal's once the write is accepted).
        """
        run_id, seq = self.run_id, self.last_seq
        stored: list[Event] = []
        for kind, step, data, at in published:
            seq += 1
            stored.append(Event(run_id, seq, kind, step, at, data))
        reports: list[Event] = []
        for item in taken:
            # after the step's start, before its outcome; published with the outcome
            seq += 1
            reports.append(Event(run_id, seq, item.kind, item.step, item.at, item.data))
        # one instant for the events written together, and for the run record written
        # with them: its updated_at is when they happened, as the events say
        at = utcnow() if run is None else run.updated_at
        loud: list[Event] = []
        for kind, step, data in events:
            seq += 1
            loud.append(Event(run_id, seq, kind, step, at, data))
        publish = reports + loud if reports else loud
        stored += publish
        return stored, loud, publish, seq

    async def _lead(self) -> None:
        """Flush the pending writes, and those queued meanwhile, as one store write each
        round; the first round after one yield, so that the run's tasks that are ready
        to write now (concurrent steps finishing together) share it."""
        self._flushing = True
        try:
            # other runs' writers meeting here go to the store's group commit instead
            at_once = await self._kernel.arrive(self._shielded_checkpoint)
            while self._pending:
                batch, done = self._pending, self._pending_done
                self._pending, self._pending_done = [], None
                if not (at_once and self._flush_nowait(batch)):
                    # shielded: a half-known write would leave the sequence numbers in doubt
                    with anyio.CancelScope(shield=True):
                        await self._flush(batch)
                    at_once = False  # what queued meanwhile met other writers too
                if done is not None:
                    done.set()
        finally:
            self._flushing = False

    async def _follow(self) -> None:
        """Wait until the leader has flushed the round this write is queued in; one event
        per round, shared by its writes."""
        done = self._pending_done
        if done is None:
            done = self._pending_done = self._new_event()
        await done.wait()

    def sealed_run(self, run: Run) -> Run:
        """*run* as it may be stored: fields holding a secret's value sealed."""
        if self.secrets is None or not self.secrets.values:
            return run
        from ._sealing import Sealer

        return Sealer(self._kernel, self.run_id, self.secrets).run(run)

    def _sealed(
        self,
        events: Iterable[tuple[str, str | None, Any]],
        published: Iterable[tuple[str, str | None, Any, datetime]],
        taken: list[Deferred],
        run: Run | None,
    ) -> tuple[
        list[tuple[str, str | None, Any]], list[tuple[str, str | None, Any, datetime]], Run | None
    ]:
        """This write with every field that holds a secret's value sealed (see _sealing);
        raises before anything changes when one cannot be."""
        from ._sealing import Sealer

        assert self.secrets is not None
        sealer = Sealer(self._kernel, self.run_id, self.secrets)
        sealed_events = [(k, s, sealer.event_data(k, s, d)) for k, s, d in events]
        sealed_published = [(k, s, sealer.event_data(k, s, d), at) for k, s, d, at in published]
        sealed_run = sealer.run(run) if run is not None else None
        for item in list(taken):
            try:
                item.data = sealer.event_data(item.kind, item.step, item.data)
            except FloeError as error:
                # a report sealed when it was made, holding a secret learned since: it
                # cannot be kept, and must not stop the write it rides on
                taken.remove(item)
                logger.warning("A %s of run %s was not kept: %s", item.kind, self.run_id, error)
        return sealed_events, sealed_published, sealed_run

    def _flush_nowait(self, batch: list[_Write]) -> bool:
        """Store and post *batch* at once if the store and the bus can; False if either
        would wait (then nothing is stored)."""
        stored, published, run = _merged(batch)
        try:
            self._kernel.record_nowait(stored, run=run, posted=published)
        except anyio.WouldBlock:
            return False
        except Exception as error:
            self._fail(batch, error)
            return True
        self.written += stored
        return True

    async def _flush(self, batch: list[_Write]) -> None:
        stored, published, run = _merged(batch)
        try:
            await self._kernel.record_grouped(stored, run=run, posted=published)
        except Exception as error:
            self._fail(batch, error)
            return
        self.written += stored

    def _fail(self, batch: list[_Write], error: Exception) -> None:
        """A write failed: so do *batch*, the writes queued meanwhile, and every later one."""
        self._broken = error
        for write in batch + self._pending:
            write.error = error
        self._pending, waiting, self._pending_done = [], self._pending_done, None
        if waiting is not None:
            waiting.set()


def _merged(batch: list[_Write]) -> tuple[list[Event], list[Event], Run | None]:
    """The events of *batch* to store (sequence order), those to post, and its run record."""
    if len(batch) == 1:
        write = batch[0]
        return write.stored, write.publish, write.run
    stored: list[Event] = []
    published: list[Event] = []
    run: Run | None = None
    for write in batch:
        # each write was numbered on from the one before it (see write): sequence order
        stored += write.stored
        published += write.publish
        if write.run is not None:
            run = write.run
    return stored, published, run


def open_pause(events: Sequence[Event]) -> Event | None:
    """The ``run.paused`` event of *events* that no ``run.resumed`` followed, if any.

    The same as ``ReplayIndex(events).open_pause``, without indexing the whole journal.
    """
    for event in reversed(events):
        kind = event.kind
        data = event.data
        if (
            kind in (EventKind.RUN_PAUSED, EventKind.RUN_RESUMED)
            and isinstance(data, dict)
            and "position" in data
        ):
            return event if kind == EventKind.RUN_PAUSED else None
    return None


class ReplayIndex:
    """What a run's journal recorded, by step position, for deterministic replay.

    Every step event carries the step's ``position`` and its ``task`` name (``floe.sleep``
    and ``floe.pause`` for timers and pauses, the child workflow's name for a child
    run); a step whose name at a position differs from the code's is a
    :class:`NonDeterminismError`.
    """

    def __init__(self, events: Sequence[Event]) -> None:
        self.events = list(events)
        self._final: dict[str, Event] = {}
        self._names: dict[str, str | None] = {}
        self.retries: dict[str, list[Event]] = {}
        self.timers_scheduled: dict[str, Event] = {}
        self.timers_fired: dict[str, Event] = {}
        self.pauses: dict[str, Event] = {}
        """The last ``run.paused`` or ``run.resumed`` event of each pause position."""
        self.open_pause: Event | None = None
        """The ``run.paused`` event no ``run.resumed`` followed, if any."""
        self.body_reports: dict[str, int] = {}
        """How many artifacts, results and output lines the body itself reported, by kind."""
        self.rolled_back: set[str] = set()
        """Step keys whose rollback is recorded."""
        self.rollback_steps: set[str] = set()
        """Step keys of completed steps whose task declared a rollback."""
        self.cancelling = False
        """Whether ``floe.cancel`` fenced the run (``run.cancelling``): a replay cancels it."""
        self.name_at = self._names.get
        """The step name first recorded at a position, or None (for a loop over many calls,
        which checks names itself: :meth:`check` raises the mismatch)."""
        self.final_at = self._final.get
        """The final event of the step at a position, or None, unchecked (see name_at)."""
        self._index(self.events)

    def _index(self, events: list[Event]) -> None:
        # one pass, the commonest kinds tested first: a step's start and its end are
        # nearly every event of a long journal, and each costs a few dict operations
        names = self._names
        final = self._final
        started, completed = _TASK_STARTED, _TASK_COMPLETED
        for event in events:
            data = event.data
            if isinstance(data, dict):
                position = data.get("position")
                if position is not None:
                    if position not in names:
                        names[position] = data.get("task")
                    kind = event.kind
                    if kind == completed or kind in FINAL_STEP_EVENTS:
                        final[position] = event
                        # an operator, not a call: nearly every step has no rollback
                        if "rollback" in data and data["rollback"] and event.step is not None:
                            self.rollback_steps.add(event.step)
                    elif kind != started:  # a start records only the step's name
                        self._other(event, kind, position)
                    continue
            if event.kind == EventKind.RUN_CANCELLING:
                self.cancelling = True
            elif event.step is None and event.kind in REPORT_EVENTS:
                self.body_reports[event.kind] = self.body_reports.get(event.kind, 0) + 1

    def _other(self, event: Event, kind: str, position: str) -> None:
        """Index a placed event that neither starts nor ends a step."""
        if kind == EventKind.TASK_RETRYING:
            self.retries.setdefault(position, []).append(event)
        elif kind == EventKind.TIMER_SCHEDULED:
            self.timers_scheduled[position] = event
        elif kind == EventKind.TIMER_FIRED:
            self.timers_fired[position] = event
        elif kind == EventKind.RUN_PAUSED:
            self.pauses[position] = event
            self.open_pause = event
        elif kind == EventKind.RUN_RESUMED:
            self.pauses[position] = event
            self.open_pause = None
        elif kind == EventKind.TASK_ROLLED_BACK and event.step is not None:
            self.rolled_back.add(event.step)

    def __len__(self) -> int:
        return len(self._final)

    def rollbacks_under(self, key: str) -> bool:
        """Whether a completed step nested in the step *key* declared a rollback."""
        prefix = f"{key}/"
        return any(step.startswith(prefix) for step in self.rollback_steps)

    def check(self, position: str, name: str, key: str) -> None:
        """Raise :class:`NonDeterminismError` when *position* recorded another step."""
        recorded_name = self._names.get(position)
        if recorded_name is not None and recorded_name != name:
            self._mismatch(position, recorded_name, name, key)

    def lookup(self, position: str, name: str, key: str) -> Event | None:
        """The final event of the step at *position*, checked against the code's *name*."""
        recorded_name = self._names.get(position)
        if recorded_name is not None and recorded_name != name:
            self._mismatch(position, recorded_name, name, key)
        return self._final.get(position)

    def _mismatch(self, position: str, recorded_name: str, name: str, key: str) -> NoReturn:
        run_id = self.events[0].run_id
        raise NonDeterminismError(
            f"Step {position} of run {run_id!r} was {recorded_name!r} when it ran, but the "
            f"code now calls {name!r} there",
            why="Replay returns recorded results by position; the workflow's code must call "
            "the same steps in the same order as when the run started.",
            fix="Keep the old code for runs started with it, or start a new run.",
            context={"run_id": run_id, "position": position, "step": key},
        )
