"""The event bus: the live view of what the journal records.

Handlers subscribe to an event name or a glob pattern (``task.*``, ``*``) with a
priority from 1 (first) to 5 (last); ties keep subscription order. ``publish`` delivers
to the handlers subscribed at the moment it is called, sequentially or concurrently,
and either reports failures as ``event.handler.failed`` or raises the first one.

Events the kernel emits about runs go through :meth:`EventBus.post`: a bounded, lossless
queue drained by one task the kernel owns, so a slow observer never stalls a run and
every subscriber sees those events in the order they were posted. Everything floe
publishes, the bus's own ``event.handler.failed`` included, is a :class:`~floe.Event`.

:func:`on` registers handlers for the kernels floe opens on a caller's behalf, for
synchronous code that never holds a kernel (``wf.run(...)``).
"""

from __future__ import annotations

import inspect
import itertools
import logging
import threading
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
    __slots__ = ("filter", "fired", "handle", "handler", "inline", "is_async", "once", "plain")

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

    def _plan(self, event: str) -> tuple[_Subscription, ...]:
        plan = self._plans.get(event)
        if plan is None:
            matching = list(self._exact.get(event, ()))
            matching += [s for s in self._globs if fnmatchcase(event, s.handle.event)]
            matching.sort(key=lambda s: _delivery_order(s.handle))
            plan = self._plans[event] = tuple(matching)
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
        self._failed += 1
        owner = subscription.handle.owner
        if event == HANDLER_FAILED:
            # never recursive: a failing failure handler is only logged
            logger.error("Handler of %r (owner %r) failed", event, owner, exc_info=error)
            return
        logger.warning("Handler of %r (owner %r) failed: %r", event, owner, error)
        await self._publish(HANDLER_FAILED, handler_failed(event, data, owner, error))

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
        send = self._send
        if send is None:
            raise anyio.WouldBlock
        wanted = [event for event in events if self.wants(event.kind)]
        if wanted:
            send.send_nowait(wanted)
            self._count_queued(len(wanted))
        self._published += len(events) - len(wanted)

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


# -- listeners for the kernels floe opens itself ------------------------------------------


class Listener:
    """A handler registered with :func:`on`; :meth:`remove` it, or use it as ``with``.

    It is subscribed to every kernel that floe opens on a caller's behalf (the sync
    entry points such as ``wf.run(...)``, and ``wf.run_async(...)`` outside a kernel)
    from the moment it is registered; removing it stops its deliveries at once, in a
    kernel that is running too.
    """

    __slots__ = ("_active", "event", "filter", "handler", "inline", "owner", "priority")

    def __init__(
        self,
        event: str,
        handler: Handler,
        *,
        priority: int,
        filter: HandlerFilter | None,
        inline: bool,
    ) -> None:
        self.event = event
        self.handler = handler
        self.priority = priority
        self.filter = filter
        self.inline = inline
        self.owner = f"floe.on:{getattr(handler, '__qualname__', None) or type(handler).__name__}"
        """The subscriptions' owner, as failure reports name it."""
        self._active = True

    def __repr__(self) -> str:
        state = "active" if self._active else "removed"
        return f"<floe listener {self.event!r} {self.owner!r} {state}>"

    @property
    def active(self) -> bool:
        """Whether the handler still receives events."""
        return self._active

    def remove(self) -> bool:
        """Stop delivering to the handler: True the first time, False after."""
        return _LISTENERS.remove(self)

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def _admits(self, event: str, data: Any) -> bool:
        # the subscription's filter: a removed listener's subscriptions stay on a running
        # bus (which belongs to its event loop's thread) but deliver nothing more
        if not self._active:
            return False
        check = self.filter
        return check is None or bool(check(event, data))

    def subscribe_to(self, bus: EventBus) -> SubscriptionHandle:
        return bus.subscribe(
            self.event,
            self.owner,
            self.handler,
            priority=self.priority,
            filter=self._admits,
            inline=self.inline,
        )


class _Listeners:
    """The handlers registered with :func:`on`, shared by every thread of the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    def add(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove(self, listener: Listener) -> bool:
        with self._lock:
            if listener not in self._listeners:
                return False
            self._listeners.remove(listener)
            listener._active = False
            return True

    def subscribe_all(self, bus: EventBus) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener.subscribe_to(bus)


_LISTENERS: Final = _Listeners()


def on(
    event: str,
    handler: Handler,
    *,
    priority: int = 3,
    filter: HandlerFilter | None = None,
    inline: bool = False,
) -> Listener:
    """Call *handler* with every matching event of the kernels floe opens for you.

    For synchronous code, which has no kernel of its own to subscribe to: a kernel that
    ``wf.run(...)``, ``floe.run_sync(...)`` or any entry point opens because none is
    running gets this handler, subscribed as with :meth:`EventBus.subscribe` (*event* a
    name or glob, *priority* 1 to 5, *filter(event_name, data)*, *inline*). A kernel you
    open yourself does not: subscribe to its ``kernel.bus``. Thread-safe; returns a
    :class:`Listener` to :meth:`~Listener.remove` (or use ``with floe.on(...):``).
    """
    check_subscription(event, "floe.on", handler, priority, filter)
    if not isinstance(inline, bool):
        raise ConfigError(
            f"Invalid inline={inline!r} for floe.on()",
            fix="Pass inline=True (run a sync handler on the event loop) or False.",
        )
    listener = Listener(event, handler, priority=priority, filter=filter, inline=inline)
    _LISTENERS.add(listener)
    return listener


def subscribe_listeners(bus: EventBus) -> None:
    """Subscribe the handlers registered with :func:`on` to *bus* (of a kernel floe opens)."""
    _LISTENERS.subscribe_all(bus)


def check_subscription(
    event: object, owner: object, handler: object, priority: object, filter: object
) -> None:
    """Raise a :class:`ConfigError` for a bad subscription, before anything is registered."""
    if not isinstance(event, str) or not event:
        raise ConfigError(
            f"Invalid event name {event!r}",
            why="Subscriptions need a non-empty event name or glob pattern.",
            fix="Pass a string such as 'task.completed' or 'task.*'.",
        )
    if not isinstance(owner, str) or not owner:
        raise ConfigError(
            f"Invalid subscription owner {owner!r}",
            why="The owner names the subscriber in failure reports and unsubscribe_all().",
            fix="Pass a non-empty string, e.g. your component's name.",
        )
    if not callable(handler):
        raise ConfigError(
            f"Handler for {event!r} is not callable: {handler!r}",
            fix="Pass a function or coroutine function taking the event data.",
            context={"owner": owner},
        )
    if type(priority) is not int or not 1 <= priority <= 5:
        raise ConfigError(
            f"Invalid priority {priority!r} for a handler of {event!r}",
            why="Priorities are whole numbers from 1 (runs first) to 5 (runs last).",
            fix="Pass priority=1, 2, 3 (the default), 4 or 5.",
            context={"owner": owner},
        )
    if filter is not None and not callable(filter):
        raise ConfigError(
            f"Filter for {event!r} is not callable: {filter!r}",
            fix="Pass filter=lambda event_name, data: ... returning a bool.",
            context={"owner": owner},
        )


def _delivery_order(handle: SubscriptionHandle) -> tuple[int, int]:
    return (handle.priority, handle.id)


def _bad_option(name: str, value: object, choices: tuple[str, ...]) -> ConfigError:
    return ConfigError(
        f"Invalid {name} {value!r} for publish()",
        why=f"{name} must be one of: {', '.join(choices)}.",
        fix=f"Pass {name}={choices[0]!r} (the default) or {name}={choices[1]!r}.",
    )
