"""Handlers for the kernels floe opens itself (:func:`on`), and the checks every
subscription goes through.

Sync code that calls ``wf.run(...)`` never holds a kernel to subscribe to: :func:`on`
registers a handler once for the process, and every kernel floe opens on a caller's
behalf subscribes it to its bus (:func:`subscribe_listeners`).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Final

from ._errors import ConfigError

if TYPE_CHECKING:
    from ._bus import EventBus, Handler, HandlerFilter, SubscriptionHandle

__all__ = ["Listener", "check_subscription", "on", "subscribe_listeners"]


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
