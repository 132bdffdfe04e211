"""The event bus: the live view of what the journal records.

Handlers subscribe to an event name or a glob pattern (``task.*``, ``*``) with a
priority from 1 (first) to 5 (last); ties keep subscription order. ``publish`` delivers
to the handlers subscribed at the moment it is called, sequentially or concurrently,
and either reports failures as ``event.handler.failed`` or raises the first one.
``publish_nowait`` is its sync twin, for handlers that run on the event loop: it calls
them at once, with no checkpoint, and costs one lookup when nobody listens. What each
event is delivered to is planned once, when first published, and kept until the next
subscription change.

Events the kernel emits about runs go through :meth:`EventBus.post`: a bounded, lossless
queue drained by one task the kernel owns, so a slow observer never stalls a run and
every subscriber sees those events in the order they were posted. Everything floe
publishes, the bus's own ``event.handler.failed`` included, is a :class:`~floe.Event`.

:func:`on` (in ``_listeners``, re-exported here) registers handlers for the kernels floe
opens on a caller's behalf, for synchronous code that never holds a kernel.
"""

from __future__ import annotations

import inspect
import itertools
import logging
from collections.abc import Awaitable, Callable, Sequence
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

import anyio
import anyio.lowlevel
import attrs

if TYPE_CHECKING:
    from anyio.abc import TaskStatus
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._errors import ConfigError, FloeError
from ._kinds import EventKind
from ._listeners import Listener, check_subscription, on, subscribe_listeners
from ._models import Event

__all__ = [
    "BusStatistics",
    "EventBus",
    "Handler",
    "HandlerFilter",
    "Listener",
    "SubscriptionHandle",
    "on",
    "subscribe_listeners",
]

Handler = Callable[[Any], Awaitable[object] | object]
"""A bus handler: ``handler(data)``, sync or async."""
HandlerFilter = Callable[[str, Any], bool]
"""``filter(event_name, data) -> bool``: whether the handler sees this event."""

Delivery = Literal["sequential", "concurrent"]
OnError = Literal["continue", "raise"]

HANDLER_FAILED: Final = EventKind.HANDLER_FAILED
_SEQUENTIAL: Final = "sequential"
_CONCURRENT: Final = "concurrent"
_CONTINUE: Final = "continue"
_RAISE: Final = "raise"
_GLOB_CHARS: Final = frozenset("*?[")

_NOBODY: Final[list[Event]] = []
"""What :meth:`EventBus.wanted_nowait` returns when no event is wanted (shared, never changed:
most journal writes have no subscriber, and need no list of their own)."""
_Queued: TypeAlias = "tuple[str, Any] | list[Event]"
"""One slot of the kernel's queue: a posted ``(event, data)``, or journal events in order."""

logger = logging.getLogger("floe.bus")


@attrs.frozen(eq=False)
class SubscriptionHandle:
    """What :meth:`EventBus.subscribe` returns; pass it to :meth:`EventBus.unsubscribe`."""

    event: str
    owner: str
    priority: int
    id: int


@attrs.frozen
class BusStatistics:
    """Counters of one bus since it was created."""

    subscriptions: int
    published: int
    delivered: int
    failed: int
    queued: int
    """Events posted to the kernel queue and not yet delivered."""
    queue_capacity: int
    queue_high_water: int
    """The most events that were ever waiting in the queue at once."""


class _Subscription:
    __slots__ = (
        "direct",
        "filter",
        "fired",
        "handle",
        "handler",
        "inline",
        "is_async",
        "once",
        "plain",
        "sync",
    )

    def __init__(
        self,
        handle: SubscriptionHandle,
        handler: Handler,
        filter: HandlerFilter | None,
        once: bool,
        inline: bool,
    ) -> None:
        self.handle = handle
        self.handler = handler
        self.filter = filter
        self.once = once
        self.inline = inline
        self.fired = False
        self.is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
            getattr(handler, "__call__", None)  # noqa: B004 - async callable objects
        )
        # the common case, delivered on publish's fast path: await handler(data)
        self.plain = self.is_async and filter is None and not once
        # callable without awaiting anything, as publish_nowait calls handlers
        self.sync = inline and not self.is_async
        # publish_nowait's fast path: handler(data), nothing to check first
        self.direct = self.sync and filter is None and not once


class EventBus:
    """Publish/subscribe with priorities, filters, globs and two delivery modes."""

    def __init__(self, *, queue_size: int = 10_000) -> None:
        if not isinstance(queue_size, int) or isinstance(queue_size, bool) or queue_size < 1:
            raise ConfigError(
                f"Invalid bus queue size {queue_size!r}",
                why="The kernel's event queue needs room for at least one event.",
                fix="Pass a whole number >= 1 (setting 'bus_queue_size').",
            )
        self._ids = itertools.count(1)
        self._exact: dict[str, list[_Subscription]] = {}
        self._globs: list[_Subscription] = []
        self._by_handle: dict[SubscriptionHandle, _Subscription] = {}
        self._plans: dict[str, tuple[_Subscription, ...]] = {}
        """The subscriptions each event is delivered to, in order; rebuilt after a change."""
        self._direct: dict[str, tuple[_Subscription, ...] | None] = {}
        """Each planned event's plan when all its subscriptions are ``direct`` (the fast
        path of publish_nowait), else None."""
        self._published = 0
        self._delivered = 0
        self._failed = 0
        self._queue_size = queue_size
        self._queued = 0
        self._high_water = 0
        self._send: MemoryObjectSendStream[_Queued] | None = None
        self._receive: MemoryObjectReceiveStream[_Queued] | None = None

    # -- subscriptions ------------------------------------------------------------------

    def subscribe(
        self,
        event: str,
        owner: str,
        handler: Handler,
        *,
        priority: int = 3,
        filter: HandlerFilter | None = None,
        once: bool = False,
        inline: bool = False,
    ) -> SubscriptionHandle:
        """Call *handler* with the data of every matching event; return a handle.

        *event* is an event name or a glob (``task.*``, ``*``). *owner* names the
        subscriber, for :meth:`unsubscribe_all` and failure reports. *priority* runs
        from 1 (first) to 5 (last). *filter(event_name, data)* gates delivery; a
        filter that raises counts as a failing handler. ``once=True`` removes the
        subscription after its first delivery. Sync handlers run in a worker thread
        unless ``inline=True`` (for handlers that never block).
        """
        check_subscription(event, owner, handler, priority, filter)
        handle = SubscriptionHandle(event=event, owner=owner, priority=priority, id=next(self._ids))
        subscription = _Subscription(handle, handler, filter, once, inline)
        if _GLOB_CHARS.isdisjoint(event):
            self._exact.setdefault(event, []).append(subscription)
        else:
            self._globs.append(subscription)
        self._by_handle[handle] = subscription
        self._plans.clear()
        self._direct.clear()
        return handle

    def unsubscribe(self, handle: SubscriptionHandle) -> bool:
        """Remove one subscription: True the first time, False after (or for a stranger)."""
        subscription = (
            self._by_handle.pop(handle, None) if isinstance(handle, SubscriptionHandle) else None
        )
        if subscription is None:
            return False
        self._discard(subscription)
        return True

    def unsubscribe_all(self, owner: str) -> int:
        """Remove every subscription of *owner*; return how many there were."""
        mine = [s for s in self._by_handle.values() if s.handle.owner == owner]
        for subscription in mine:
            del self._by_handle[subscription.handle]
            self._discard(subscription)
        return len(mine)

    def subscriptions(self, event: str | None = None) -> list[SubscriptionHandle]:
        """The live subscriptions (of those matching *event*), in delivery order."""
        if event is None:
            return sorted((s.handle for s in self._by_handle.values()), key=_delivery_order)
        return [s.handle for s in self._plan(event)]

    def _discard(self, subscription: _Subscription) -> None:
        event = subscription.handle.event
        bucket = self._exact.get(event)
        if bucket is not None and subscription in bucket:
            bucket.remove(subscription)
            if not bucket:
                del self._exact[event]
        elif subscription in self._globs:
            self._globs.remove(subscription)
        self._plans.clear()
        self._direct.clear()

    def _plan(self, event: str) -> tuple[_Subscription, ...]:
        plan = self._plans.get(event)
        if plan is None:
            # only an event name not seen since the last (un)subscription gets here
            _check_event_name(event)
            matching = list(self._exact.get(event, ()))
            matching += [s for s in self._globs if fnmatchcase(event, s.handle.event)]
            matching.sort(key=lambda s: _delivery_order(s.handle))
            plan = self._plans[event] = tuple(matching)
            self._direct[event] = plan if all(s.direct for s in plan) else None
        return plan

    # -- publishing ---------------------------------------------------------------------

    async def publish(
        self,
        event: str,
        data: Any = None,
        *,
        delivery: Delivery = "sequential",
        on_error: OnError = "continue",
    ) -> None:
        """Deliver *data* to every handler subscribed to *event* right now.

        ``delivery="sequential"`` awaits handlers one by one in priority order;
        ``"concurrent"`` starts them all (in priority order) and waits for all.
        ``on_error="continue"`` reports each failure as ``event.handler.failed``
        and goes on; ``"raise"`` raises the first failure (concurrently: after
        cancelling the other handlers). With no subscribers it delivers nothing.

        Always a checkpoint, first: cancelled there, it delivered nothing.
        """
        if delivery is not _SEQUENTIAL and delivery != _SEQUENTIAL and delivery != _CONCURRENT:
            raise _bad_option("delivery", delivery, ("sequential", "concurrent"))
        if on_error is not _CONTINUE and on_error != _CONTINUE and on_error != _RAISE:
            raise _bad_option("on_error", on_error, ("continue", "raise"))
        await anyio.lowlevel.checkpoint()
        await self._publish(event, data, delivery, on_error)

    async def _publish(
        self, event: str, data: Any, delivery: str = _SEQUENTIAL, on_error: str = _CONTINUE
    ) -> None:
        """:meth:`publish` without its checkpoint, for the drain task (which yields once
        per batch) and for what already checkpointed."""
        plan = self._plans.get(event)
        if plan is None:
            plan = self._plan(event)
        self._published += 1
        if not plan:
            return
        if delivery is not _SEQUENTIAL and delivery == _CONCURRENT and len(plan) > 1:
            await self._publish_concurrently(event, data, plan, on_error == _RAISE)
            return
        for subscription in plan:
            try:
                if subscription.plain:
                    await subscription.handler(data)  # type: ignore[misc]
                    self._delivered += 1
                else:
                    await self._deliver(subscription, event, data)
            except Exception as error:
                if on_error is _RAISE or on_error == _RAISE:
                    self._failed += 1
                    raise
                await self._report(subscription, event, data, error)

    async def _deliver(self, subscription: _Subscription, event: str, data: Any) -> None:
        check = subscription.filter
        if check is not None and not check(event, data):
            return
        if subscription.once:
            if subscription.fired:
                return
            subscription.fired = True
            self.unsubscribe(subscription.handle)
        if subscription.is_async:
            await subscription.handler(data)  # type: ignore[misc]
        elif subscription.inline:
            result = subscription.handler(data)
            if inspect.isawaitable(result):
                await result
        else:
            result = await anyio.to_thread.run_sync(subscription.handler, data)
            if inspect.isawaitable(result):
                await result
        self._delivered += 1

    async def _publish_concurrently(
        self, event: str, data: Any, plan: tuple[_Subscription, ...], raising: bool
    ) -> None:
        failures: list[Exception] = []

        async def deliver(
            subscription: _Subscription,
            scope: anyio.CancelScope,
            previous: anyio.Event | None,
            began: anyio.Event,
        ) -> None:
            # Launch order is priority order on every backend (trio shuffles the order
            # in which new tasks first run): each handler starts once the one before it
            # has run up to its first checkpoint.
            if previous is not None:
                await previous.wait()
            began.set()
            try:
                await self._deliver(subscription, event, data)
            except Exception as error:
                if raising:
                    if not failures:
                        failures.append(error)
                        scope.cancel()
                    return
                await self._report(subscription, event, data, error)

        async with anyio.create_task_group() as group:
            previous: anyio.Event | None = None
            for subscription in plan:
                began = anyio.Event()
                group.start_soon(deliver, subscription, group.cancel_scope, previous, began)
                previous = began
        if failures:
            self._failed += 1
            raise failures[0]

    async def _report(
        self, subscription: _Subscription, event: str, data: Any, error: Exception
    ) -> None:
        report = self._failure(subscription, event, data, error)
        if report is not None:
            await self._publish(HANDLER_FAILED, report)

    def _failure(
        self, subscription: _Subscription, event: str, data: Any, error: Exception
    ) -> Event | None:
        """Count and log a failed delivery; the ``event.handler.failed`` to publish, if any."""
        self._failed += 1
        owner = subscription.handle.owner
        if event == HANDLER_FAILED:
            # never recursive: a failing failure handler is only logged
            logger.error("Handler of %r (owner %r) failed", event, owner, exc_info=error)
            return None
        logger.warning("Handler of %r (owner %r) failed: %r", event, owner, error)
        return handler_failed(event, data, owner, error)

    # -- publishing without waiting -----------------------------------------------------

    def publish_nowait(
        self, event: str, data: Any = None, *, on_error: OnError = "continue"
    ) -> None:
        """Deliver *data* at once to the handlers subscribed to *event*: :meth:`publish`'s
        sync twin, for handlers that run on the event loop (sync, ``inline=True``).

        Calls them one by one in priority order, without a checkpoint. Raises
        :exc:`anyio.WouldBlock`, delivering nothing, when a matching handler would have
        to be awaited (it is async, or a sync one subscribed for a worker thread): then
        ``await publish(...)`` delivers it. With no subscribers it does nothing, at the
        cost of one lookup. Failures go as with :meth:`publish`; a failure report its
        own handlers cannot take at once is posted to the kernel's queue (only logged
        when there is none). A handler that returns an awaitable fails: nothing here
        can await it.
        """
        if on_error is not _CONTINUE and on_error != _CONTINUE and on_error != _RAISE:
            raise _bad_option("on_error", on_error, ("continue", "raise"))
        try:
            plan = self._direct[event]
        except KeyError:
            plan = None  # not planned yet
        if plan is None:
            self._publish_nowait_planned(event, data, on_error)
            return
        # the fast path: every handler is a plain call (the plan was checked when built)
        self._published += 1
        for subscription in plan:
            try:
                result = subscription.handler(data)
                if result is not None and inspect.isawaitable(result):
                    _refuse_awaitable(result, event)
            except Exception as error:
                if on_error is not _CONTINUE and on_error == _RAISE:
                    self._failed += 1
                    raise
                self._report_nowait(subscription, event, data, error)
                continue
            self._delivered += 1

    def _publish_nowait_planned(self, event: str, data: Any, on_error: str) -> None:
        """:meth:`publish_nowait` for an event whose plan is new, or has filters or
        ``once`` subscriptions (checked per delivery)."""
        plan = self._plan(event)
        if self._direct[event] is not None:
            self.publish_nowait(event, data, on_error=on_error)  # type: ignore[arg-type]
            return
        if not all(s.sync for s in plan):
            raise anyio.WouldBlock
        self._published += 1
        for subscription in plan:
            try:
                self._deliver_nowait(subscription, event, data)
            except Exception as error:
                if on_error == _RAISE:
                    self._failed += 1
                    raise
                self._report_nowait(subscription, event, data, error)

    def _deliver_nowait(self, subscription: _Subscription, event: str, data: Any) -> None:
        check = subscription.filter
        if check is not None and not check(event, data):
            return
        if subscription.once:
            if subscription.fired:
                return
            subscription.fired = True
            self.unsubscribe(subscription.handle)
        result = subscription.handler(data)
        if result is not None and inspect.isawaitable(result):
            _refuse_awaitable(result, event)
        self._delivered += 1

    def _report_nowait(
        self, subscription: _Subscription, event: str, data: Any, error: Exception
    ) -> None:
        report = self._failure(subscription, event, data, error)
        if report is None:
            return
        try:
            self.publish_nowait(HANDLER_FAILED, report)
            return
        except anyio.WouldBlock:
            pass
        try:
            self.post_nowait(HANDLER_FAILED, report)
        except anyio.WouldBlock:
            logger.error(
                "The failure of a handler of %r (owner %r) reached no %s handler: "
                "publish_nowait could not deliver it and no kernel queue had room",
                event,
                subscription.handle.owner,
                HANDLER_FAILED,
            )

    def wants(self, event: str) -> bool:
        """Whether publishing *event* now would reach at least one handler.

        Lets a producer skip building a payload nobody would receive.
        """
        plan = self._plans.get(event)
        if plan is None:
            plan = self._plan(event)
        return bool(plan)

    # -- the kernel's lossless queue ----------------------------------------------------

    async def post(self, event: str, data: Any = None) -> None:
        """Queue *event* for ordered, non-blocking delivery by the kernel's drain task.

        Always a checkpoint, first; then waits only when the queue is full (it never
        drops events). Before the drain task runs (no kernel), the event is published
        directly. :meth:`post_nowait` is the twin that never waits.
        """
        await anyio.lowlevel.checkpoint()
        try:
            self.post_nowait(event, data)
        except anyio.WouldBlock:
            send = self._send
            if send is None:
                await self._publish(event, data)
                return
            self._count_queued(1)
            await send.send((event, data))

    def post_nowait(self, event: str, data: Any = None) -> None:
        """Queue *event* as :meth:`post` does, at once.

        Raises :exc:`anyio.WouldBlock`, queueing nothing, when the queue is full or no
        drain task runs (then :meth:`post` would wait, or publish directly).
        """
        if type(event) is not str:
            _check_event_name(event)  # here, not in the drain task
        send = self._send
        if send is None:
            raise anyio.WouldBlock
        send.send_nowait((event, data))
        self._count_queued(1)

    async def post_events(self, events: Sequence[Event]) -> None:
        """Queue journal *events*, each published under its kind, in one queue slot.

        Events no handler subscribes to are counted as published and not queued, as
        :meth:`publish` would deliver them to nobody. Always a checkpoint, first; then
        waits only when the queue is full. :meth:`post_events_nowait` never waits.
        """
        await anyio.lowlevel.checkpoint()
        try:
            self.post_events_nowait(events)
        except anyio.WouldBlock:
            send = self._send
            if send is None:
                for event in events:
                    await self._publish(event.kind, event)
                return
            wanted = [event for event in events if self.wants(event.kind)]
            self._published += len(events) - len(wanted)
            self._count_queued(len(wanted))
            await send.send(wanted)

    def post_events_nowait(self, events: Sequence[Event]) -> None:
        """Queue journal *events* as :meth:`post_events` does, at once.

        Raises :exc:`anyio.WouldBlock`, queueing nothing, when the queue is full or no
        drain task runs. :meth:`can_post_nowait` tells beforehand: what stores events
        first (:meth:`floe.Kernel.record_nowait`) asks it before storing anything.
        """
        self.queue_wanted(self.wanted_nowait(events), len(events))

    def wanted_nowait(self, events: Sequence[Event]) -> list[Event]:
        """The journal *events* some handler subscribes to, for :meth:`queue_wanted`.

        Raises :exc:`anyio.WouldBlock` when :meth:`post_events_nowait` of *events* would
        (no drain task runs, or some are wanted and the queue is full). Asking this,
        then storing, then queueing, with no checkpoint between, is
        :meth:`post_events_nowait` in two halves around the store's write: what
        :meth:`floe.Kernel.record_nowait` does, looking each event's subscribers up once.
        """
        send = self._send
        if send is None:
            raise anyio.WouldBlock
        plans = self._plans
        wanted = _NOBODY
        for event in events:
            plan = plans.get(event.kind)
            if plan is None:
                plan = self._plan(event.kind)
            if plan:
                if wanted is _NOBODY:
                    wanted = []
                wanted.append(event)
        if wanted:
            statistics = send.statistics()
            if statistics.current_buffer_used >= statistics.max_buffer_size:
                raise anyio.WouldBlock
        return wanted

    def queue_wanted(self, wanted: list[Event], count: int) -> None:
        """Queue *wanted* (from :meth:`wanted_nowait`), of *count* events posted: the
        others, wanted by nobody, count as published."""
        if wanted:
            assert self._send is not None  # wanted_nowait raised otherwise
            self._send.send_nowait(wanted)
            self._count_queued(len(wanted))
        self._published += count - len(wanted)

    def can_post_nowait(self, events: Sequence[Event] | None = None) -> bool:
        """Whether :meth:`post_nowait`, or :meth:`post_events_nowait` of *events*, would
        queue at once (events nobody wants need no room)."""
        send = self._send
        if send is None:
            return False
        if events is not None:
            plans = self._plans
            for event in events:
                plan = plans.get(event.kind)
                if plan is None:
                    plan = self._plan(event.kind)
                if plan:
                    break
            else:
                return True
        statistics = send.statistics()
        return statistics.current_buffer_used < statistics.max_buffer_size

    def _count_queued(self, count: int) -> None:
        self._queued += count
        if self._queued > self._high_water:
            self._high_water = self._queued

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Drain the queue until :meth:`close`; the kernel starts this in its task group."""
        if self._send is not None:
            raise FloeError(
                "The event bus is already running",
                why="One bus has one drain task; a second would break per-subscriber order.",
                fix="Start EventBus.run() once per bus (the kernel does it for you).",
            )
        self._send, self._receive = anyio.create_memory_object_stream[_Queued](self._queue_size)
        task_status.started()
        receive = self._receive
        async with receive:
            async for item in receive:
                await self._publish_queued(item)
                # deliver what queued up meanwhile before yielding again: one checkpoint
                # per batch, not per event, keeps the queue from filling under load
                while True:
                    try:
                        item = receive.receive_nowait()
                    except anyio.WouldBlock:
                        break
                    except anyio.EndOfStream:
                        return
                    await self._publish_queued(item)

    async def _publish_queued(self, item: _Queued) -> None:
        if isinstance(item, list):
            self._queued -= len(item)
            for event in item:
                await self._publish(event.kind, event)
        else:
            self._queued -= 1
            await self._publish(item[0], item[1])

    def close(self) -> None:
        """Stop accepting queued events; the drain task delivers what is queued, then ends."""
        send, self._send = self._send, None
        if send is not None:
            send.close()

    def statistics(self) -> BusStatistics:
        return BusStatistics(
            subscriptions=len(self._by_handle),
            published=self._published,
            delivered=self._delivered,
            failed=self._failed,
            queued=self._queued,
            queue_capacity=self._queue_size,
            queue_high_water=self._high_water,
        )


def handler_failed(event: str, data: Any, owner: str, error: Exception) -> Event:
    """The ``event.handler.failed`` event for a handler of *event* that raised *error*.

    A bus-only :class:`Event` (``seq`` 0). When the handler failed on a run's event it
    carries that run's id and step, so a subscriber following one run sees its handlers'
    failures too; otherwise ``run_id`` is empty.
    """
    of_run = isinstance(data, Event)
    return Event(
        run_id=data.run_id if of_run else "",
        seq=0,
        kind=HANDLER_FAILED,
        step=data.step if of_run else None,
        data={"event_name": event, "owner": owner, "exception": error},
    )


def _check_event_name(event: object) -> None:
    if not isinstance(event, str):
        raise ConfigError(
            f"Invalid event name {event!r}",
            why="Events are published under a name (a string).",
            fix="Pass a string such as 'order.placed'.",
        )


def _refuse_awaitable(result: Any, event: str) -> None:
    close = getattr(result, "close", None)
    if callable(close):
        close()  # a coroutine never awaited would warn
    raise FloeError(
        f"A handler of {event!r} returned an awaitable, which publish_nowait cannot await",
        why="publish_nowait calls handlers without awaiting anything.",
        fix="Subscribe an async handler and publish with 'await bus.publish(...)', or "
        "make the handler return None.",
    )


def _delivery_order(handle: SubscriptionHandle) -> tuple[int, int]:
    return (handle.priority, handle.id)


def _bad_option(name: str, value: object, choices: tuple[str, ...]) -> ConfigError:
    return ConfigError(
        f"Invalid {name} {value!r} for publish()",
        why=f"{name} must be one of: {', '.join(choices)}.",
        fix=f"Pass {name}={choices[0]!r} (the default) or {name}={choices[1]!r}.",
    )
