"""Components and the engine: message-driven state machines that are observable and durable.

A :class:`Component` has a name, rules and a :class:`~floe.StateMachine`. Registered
with an :class:`Engine`, it becomes a long-lived run (kind ``component``, run id
``component:<name>``) whose journal records every handled message, every transition and
every change of rules, journal first, then the bus, as :meth:`floe.Kernel.record` does:
the message's one checkpoint (:meth:`floe.Kernel.arrive`), then
:meth:`floe.Kernel.record_nowait`, or the store's group commit
(:meth:`floe.Kernel.record_grouped`) when the store groups writers arriving together or
either would wait.
Another process can :meth:`Engine.restore` the component from that journal and carry on.

Messages to one component are handled one at a time, in the order they arrive (a fair
per-component lock), so the ``from_state`` of every ``state.changed`` event is exact
under any concurrency. The bus gets the events through the kernel's lossless queue, so a
slow observer never holds up message handling.

Consistency with other writers: the journal's sequence check fences a writer whose view
is stale (another process handled a message in between). The component then reloads the
events it missed and raises :class:`~floe.SequenceConflictError`; the message is not
recorded and the state it was given to may have run, so the caller decides whether to
send it again. Rule changes and registrations are blind writes: they are rebased onto
the newer journal and retried without bothering the caller.

Cancellation: a message cancelled while its state decides leaves no trace. One cancelled
while its events are being stored may or may not have been stored; the component reads
its journal before its next write and continues from what is there (the bus misses what
was stored but not yet posted: a lost notification, never lost data).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import anyio
import attrs

from ..kernel._errors import FloeError, NotFoundError, RenamedError, StateError
from ..kernel._kernel import Kernel, current_kernel
from ..kernel._logging import bind_log_context, correlation_var
from ..kernel._models import Event, Run, RunQuery
from ..kernel._queues import DEFAULT_QUEUE, Placement
from ..kernel._serialize import encode_value
from ..kernel._states import Message
from ._component_journal import (
    CHANGED,
    CHECKPOINT_EVERY,
    COMPONENT_KIND,
    MAX_REBASES,
    MESSAGE_RECEIVED,
    REGISTERED,
    RULES_UPDATED,
    Binding,
    MessageLock,
    View,
    component_run_id,
)
from ._mailbox import MessageHandle, send_message
from ._state_machine import StateMachine, Transitioned

if TYPE_CHECKING:
    from ._config import ComponentConfig

__all__ = [
    "CHANGED",
    "CHECKPOINT_EVERY",
    "COMPONENT_KIND",
    "MAX_REBASES",
    "MESSAGE_RECEIVED",
    "REGISTERED",
    "RULES_UPDATED",
    "Component",
    "Engine",
    "StoredComponent",
    "component_run_id",
]

logger = logging.getLogger("floe.components")

_INITIAL_STATE: Final = "InitialState"
_COMPONENT: Final = correlation_var("component")
_RUN_ID: Final = correlation_var("run_id")


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name or name != name.strip():
        raise StateError(
            f"Invalid component name {name!r}",
            why="A component is found by its name, in the engine and in the store.",
            fix="Name it with a non-empty string without surrounding spaces.",
        )
    return name


def _log_handled(component: Component, message: Message, result: Transitioned | None) -> None:
    if result is None:
        logger.debug(
            "Component %r ignored a %r message (stays in %s)",
            component.name,
            message.type,
            component.state,
        )
    else:
        logger.debug(
            "Component %r handled a %r message: %s",
            component.name,
            message.type,
            result,
        )


def _encoded_rules(rules: Iterable[Any], name: str) -> tuple[Any, ...]:
    if isinstance(rules, str | bytes | Mapping) or not isinstance(rules, Iterable):
        raise StateError(
            f"The rules of component {name!r} must be a list, got {type(rules).__name__}",
            fix="Pass rules as a list (of mappings, strings, numbers ...).",
            context={"component": name},
        )
    encoded = encode_value(list(rules), where=f"the rules of component {name!r}")
    return tuple(encoded)


def _encoded_metadata(metadata: Mapping[str, Any] | None, name: str) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise StateError(
            f"The metadata of component {name!r} must be a mapping, got {type(metadata).__name__}",
            fix="Pass metadata as a dict of JSON values.",
            context={"component": name},
        )
    encoded: dict[str, Any] = encode_value(dict(metadata), where=f"the metadata of {name!r}")
    return encoded


class Component:
    """A named state machine with rules, driven by messages.

    *rules* are JSON values the states may read (``component.rules``, a tuple: change
    them with :meth:`add_rule` and :meth:`update_rules`, which are journaled). Without a
    *state_machine* the component starts in ``InitialState`` of the running kernel's
    registry. *metadata* is free JSON data kept with registrations and snapshots.

    On its own a component handles messages in memory; registered with an
    :class:`Engine` every step is journaled and published.
    """

    def __init__(
        self,
        name: str,
        rules: Iterable[Any] = (),
        state_machine: StateMachine | None = None,
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.name: str = _check_name(name)
        if state_machine is not None and not isinstance(state_machine, StateMachine):
            raise StateError(
                f"Component {name!r} was given {state_machine!r} as its state machine",
                fix="Pass a floe.StateMachine, e.g. StateMachine.from_name('InitialState', "
                "registry=kernel.states), or leave it out.",
                context={"component": name},
            )
        self._rules = _encoded_rules(rules, name)
        self._machine = state_machine
        self.metadata: dict[str, Any] = _encoded_metadata(metadata, name)
        # fair (FIFO) and taken without yielding when free: messages are handled in the
        # order their handle_message calls began
        self._lock = MessageLock()
        self._exclusive_task: int | None = None
        """The task inside exclusive(), which must not wait for its own lock."""
        self._binding: Binding | None = None

    def __repr__(self) -> str:
        state = self._machine.current_state_name if self._machine is not None else "?"
        return f"<Component {self.name!r} in {state}>"

    @property
    def run_id(self) -> str:
        """The id of the component's run in the store: ``component:<name>``."""
        return component_run_id(self.name)

    @property
    def rules(self) -> tuple[Any, ...]:
        """The current rules (read-only; see :meth:`add_rule` and :meth:`update_rules`)."""
        return self._rules

    @property
    def state_machine(self) -> StateMachine:
        """The component's machine (built on first use when none was given)."""
        machine = self._machine
        if machine is None:
            try:
                registry = current_kernel().states
            except FloeError:
                raise StateError(
                    f"Component {self.name!r} has no state machine and no kernel runs here",
                    why="Without a machine the component starts in InitialState of the "
                    "running kernel's state registry.",
                    fix="Pass state_machine=StateMachine.from_name(name, registry=...), or "
                    "use the component inside 'async with floe.open_kernel():'.",
                    context={"component": self.name},
                ) from None
            machine = self._machine = StateMachine(_INITIAL_STATE, registry=registry)
        return machine

    @property
    def state(self) -> str:
        """The name of the current state."""
        return self.state_machine.current_state_name

    @property
    def registered(self) -> bool:
        """Whether an engine journals this component."""
        return self._binding is not None

    # -- rules --------------------------------------------------------------------------

    def add_rule(self, rule: Any) -> None:
        """Append *rule* to the rules (journaled and published as ``component.rules.updated``
        when the component is registered)."""
        encoded = encode_value(rule, where=f"a rule of component {self.name!r}")
        self._rules = (*self._rules, encoded)
        self._rules_changed()

    def update_rules(self, rules: Iterable[Any]) -> None:
        """**Replace** the rules with *rules* (a hot swap; pass the old ones plus the new
        to extend). Journaled and published as ``component.rules.updated`` when the
        component is registered; the write completes in the background (await
        :meth:`flush` to wait for it and see its errors)."""
        self._rules = _encoded_rules(rules, self.name)
        self._rules_changed()

    def _rules_changed(self) -> None:
        binding = self._binding
        if binding is not None:
            binding.defer(self, RULES_UPDATED, {"component": self.name, "rules": list(self._rules)})

    # -- messages -----------------------------------------------------------------------

    async def handle_message(
        self, message: Message | Mapping[str, Any] | str, **fields: Any
    ) -> Transitioned | None:
        """Handle *message* (a mapping with a ``type``, a type string or a
        :class:`~floe.Message`; keyword *fields* are added to it).

        Returns the :class:`~floe.Transitioned` when the component moved, None when its
        state ignored the message. Messages are handled one at a time, in arrival order.
        """
        return await self.receive(Message.of(message, **fields))

    async def receive(self, received: Message, delivery: str | None = None) -> Transitioned | None:
        """:meth:`handle_message` of a message already made; *delivery* is the id of the
        message run a worker delivers it for, recorded with the message in the journal
        (see ``floe.components._mailbox``)."""
        lock = self._lock
        if not lock.try_acquire():
            self._check_not_exclusive("handle_message()")
            await lock.acquire()
        try:
            binding = self._binding
            at_once = False
            if binding is not None:
                # the message's one schedule point, first: cancelled here, nothing
                # happened; and a task waiting here holds next to nothing (with a
                # thousand components waiting, the garbage collector sees a thousand).
                # Where the store does not group appends, the loop's own checkpoint
                # (no count of writers to keep); where it does and writers wait in its
                # group commit, the message joins them, and that wait is its schedule
                # point.
                checkpoint = binding.checkpoint
                if checkpoint is not None:
                    await checkpoint()
                    at_once = True
                elif not binding.kernel.joins_group():
                    at_once = await binding.kernel.arrive()
                binding = self._binding  # it may have been unregistered meanwhile
            if binding is None:
                await anyio.lowlevel.checkpoint_if_cancelled()
                # what the states (and anything they call) log carries the component
                with bind_log_context(component=self.name, run_id=None):
                    result = await self.state_machine.handle_message(received, self)
            else:
                # the variables themselves: a with block would cost more, per message
                component_token = _COMPONENT.set(self.name)
                run_token = _RUN_ID.set(binding.run_id)
                try:
                    result = await binding.handle(
                        self, received, at_once=at_once, delivery=delivery
                    )
                finally:
                    _RUN_ID.reset(run_token)
                    _COMPONENT.reset(component_token)
        finally:
            lock.release()
        if logger.isEnabledFor(logging.DEBUG):
            with bind_log_context(component=self.name, run_id=self._run_id_if_registered()):
                _log_handled(self, received, result)
        return result

    def _run_id_if_registered(self) -> str | None:
        binding = self._binding
        return binding.run_id if binding is not None else None

    async def flush(self) -> None:
        """Wait until the background journal writes (registration, rules) are stored.

        Raises what storing them raised; a no-op for an unregistered component.
        """
        binding = self._binding
        if binding is not None and binding.pending:
            self._check_not_exclusive("flush()")
            await self._lock.acquire()
            try:
                await binding.flush_pending(self)
            finally:
                self._lock.release()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[Component]:
        """Hold the component's message lock for the ``async with`` block.

        No message is handled while the block runs: one being handled when it starts
        finishes first, and those sent meanwhile wait and are then handled in the order
        they were sent. Use it to change what decides messages between two of them and
        never during one: swap the machine's states with
        :meth:`StateMachine.use_registry`, replace the rules, or read the state and rules
        as one consistent pair. Rule changes made inside are journaled once the block
        ends (``await component.flush()`` after it waits for that)::

            async with component.exclusive():
                component.state_machine.use_registry(new_registry)
                component.update_rules(new_rules)
            await component.flush()

        The lock is not re-entrant: calling :meth:`handle_message` or :meth:`flush`
        inside the block raises :class:`~floe.StateError` instead of waiting forever.
        """
        self._check_not_exclusive("exclusive()")
        await self._lock.acquire()
        self._exclusive_task = anyio.get_current_task().id
        try:
            yield self
        finally:
            self._exclusive_task = None
            self._lock.release()

    def _check_not_exclusive(self, call: str) -> None:
        owner = self._exclusive_task
        if owner is not None and owner == anyio.get_current_task().id:
            raise StateError(
                f"{call} was called on component {self.name!r} inside its own exclusive() block",
                why="The block holds the lock that every message and journal write of the "
                "component waits for, so the call would wait for itself forever.",
                fix=f"Call {call.removesuffix('()')} after the 'async with "
                "component.exclusive():' block.",
                context={"component": self.name},
            )

    # -- state from the journal ---------------------------------------------------------

    @property
    def message_lock(self) -> MessageLock:
        """Held while one message (or a journal flush) changes the component: a
        component handles its messages one at a time."""
        return self._lock

    def apply_view(self, view: View) -> None:
        """Take the state, rules and metadata the journal's *view* of the component holds."""
        machine = self.state_machine
        if machine.current_state_name != view.state:
            machine.set_state(view.state)
        self._rules = tuple(view.rules)
        self.metadata = dict(view.metadata)


@attrs.frozen
class StoredComponent:
    """A component as the store knows it (see :meth:`Engine.stored_components`)."""

    name: str
    state: str
    rules: list[Any]
    metadata: Mapping[str, Any]
    last_seq: int
    """Position of the last journal event: the number of recorded steps."""
    created_at: datetime
    updated_at: datetime


_RENAMED: Final = {
    "event_bus": (
        "engine.kernel.bus",
        "The engine is a view of a kernel, and the bus is the kernel's: a floe.EventBus whose "
        "subscribe() is a plain call and whose handlers receive a floe.Event.",
    ),
}
"""FlexiFlow's names of engine attributes: the floe spelling, and why it differs."""


class Engine:
    """The kernel's component manager: registers components and routes messages to them.

    *kernel* defaults to the running kernel (:func:`floe.current_kernel`) at first use.
    Registering journals the component (run ``component:<name>``) and publishes
    ``engine.component.registered``; :meth:`restore` brings a component back from the
    store, in this process or another.
    """

    def __init__(self, kernel: Kernel | None = None) -> None:
        if kernel is not None and not isinstance(kernel, Kernel):
            raise StateError(
                f"Engine() was given {kernel!r} as its kernel",
                fix="Pass a floe.Kernel, or nothing to use the running one.",
            )
        self._kernel = kernel
        self._components: dict[str, Component] = {}

    def __repr__(self) -> str:
        return f"<Engine with {len(self._components)} component(s)>"

    if not TYPE_CHECKING:  # for type checkers, an Engine has only the attributes it defines

        def __getattr__(self, name: str) -> Any:
            spelling = _RENAMED.get(name)
            if spelling is None:
                raise AttributeError(
                    f"{type(self).__name__!r} object has no attribute {name!r}",
                    name=name,
                    obj=self,
                )
            floe_name, why = spelling
            raise RenamedError(
                f"floe.Engine has no attribute {name!r}: it is {floe_name}",
                why=why,
                fix=f"Write {floe_name} instead of engine.{name}.",
                context={"attribute": name},
            )

    @property
    def kernel(self) -> Kernel:
        """The kernel whose store and bus the engine uses."""
        kernel = self._kernel
        if kernel is None:
            kernel = self._kernel = current_kernel()
        return kernel

    @property
    def components(self) -> Mapping[str, Component]:
        """The registered components by name (read-only)."""
        return MappingProxyType(self._components)

    def __contains__(self, name: object) -> bool:
        return name in self._components

    def __iter__(self) -> Iterator[str]:
        return iter(self._components)

    def __len__(self) -> int:
        return len(self._components)

    # -- registration -------------------------------------------------------------------

    def register(self, component: Component, *, replace: bool = False) -> Component:
        """Register *component*: journal it and publish ``engine.component.registered``.

        A name already registered here is a :class:`~floe.StateError` unless *replace*
        (which unregisters the other one). Registration is a new start: the component's
        state, rules and metadata become those of *component*, even when the store holds
        an earlier history under its name (use :meth:`restore` to continue one). The
        write completes in the background; ``await component.flush()`` (or
        :meth:`register_async`) waits for it.
        """
        if not isinstance(component, Component):
            raise StateError(
                f"Engine.register() takes a floe.Component, got {component!r}",
                fix="Build one with floe.Component(name, rules, state_machine).",
            )
        name = component.name
        existing = self._components.get(name)
        if existing is not None and not replace:
            raise StateError(
                f"A component named {name!r} is already registered",
                why="Component names identify them in the engine, on the bus and in the store.",
                fix="Choose another name, or pass replace=True to swap the component.",
                context={"component": name},
            )
        if component._binding is not None and existing is not component:
            raise StateError(
                f"Component {name!r} is registered with another engine",
                fix="Unregister it there first, or register a new Component.",
                context={"component": name},
            )
        kernel = self.kernel
        kernel.task_group  # noqa: B018 - raises, before anything changes, when it is not running
        if component._machine is None:
            component._machine = StateMachine(_INITIAL_STATE, registry=kernel.states)
        if existing is not None:
            self.unregister(name)
        binding = Binding(kernel, component_run_id(name))
        component._binding = binding
        self._components[name] = component
        binding.defer(
            component,
            REGISTERED,
            {
                "component": name,
                "state": component.state,
                "rules": list(component.rules),
                "metadata": component.metadata,
            },
        )
        logger.debug(
            "Registered component %r in state %s",
            name,
            component.state,
            extra={"component": name, "run_id": binding.run_id},
        )
        return component

    async def register_async(self, component: Component, *, replace: bool = False) -> Component:
        """:meth:`register`, then wait until the registration is stored."""
        self.register(component, replace=replace)
        await component.flush()
        return component

    def create_component(
        self, config: ComponentConfig | Any, *, replace: bool = False
    ) -> Component:
        """Build and register a component from a configuration.

        *config* is a :class:`~floe.ComponentConfig`, a mapping or a YAML file path. The
        component's machine looks states up in the config's own namespace: its
        ``states:`` first, then its packs, then the kernel's registry (which is not
        changed), so two configs may each define a state of the same name.
        """
        from ._config import config_registry, load_config

        loaded = load_config(config)
        registry, initial = config_registry(loaded, self.kernel.states)
        component = Component(loaded.name, loaded.rules, StateMachine(initial, registry=registry))
        return self.register(component, replace=replace)

    def get(self, name: str) -> Component:
        """The component registered as *name*; a StateError listing the known ones if none."""
        try:
            return self._components[name]
        except (KeyError, TypeError):
            raise StateError(
                f"No component named {name!r} is registered",
                why=f"Registered components: {', '.join(sorted(self._components)) or 'none'}.",
                fix="Register it first, or await engine.restore(name) to load it from the store.",
                context={"component": name},
            ) from None

    def unregister(self, name: str) -> Component:
        """Remove the component *name* from the engine and return it.

        Its history stays in the store (a later :meth:`restore` continues it); the
        component itself goes back to handling messages in memory only.
        """
        component = self.get(name)
        del self._components[name]
        component._binding = None
        return component

    # -- messages -----------------------------------------------------------------------

    async def handle_message(
        self, name: str, message_type: Message | Mapping[str, Any] | str, **fields: Any
    ) -> Transitioned | None:
        """Send a message to the component *name*, restoring it from the store if it is
        not registered here. See :meth:`Component.handle_message`."""
        component = self._components.get(name)
        if component is None:
            component = await self.restore(name)
        return await component.handle_message(message_type, **fields)

    async def send(
        self,
        name: str,
        message: Message | Mapping[str, Any] | str,
        *,
        message_id: str | None = None,
        queue: str = DEFAULT_QUEUE,
        priority: int = 0,
    ) -> MessageHandle:
        """Store *message* for a worker to deliver to the registered component *name*
        and return its :class:`MessageHandle` at once; nothing is handled here.

        The messages sent to one component are handled one at a time, in the order they
        were sent, whichever workers deliver them; each is handled once. *queue* and
        *priority* place it as a submitted run is placed (see :class:`floe.Queue`). A
        *message_id* sent again returns the handle of the message it names.
        """
        placement = Placement(queue, priority)
        return await send_message(self, _check_name(name), message, message_id, placement)

    async def flush(self) -> None:
        """Wait until every component's background journal writes are stored."""
        for component in list(self._components.values()):
            await component.flush()

    # -- the store ----------------------------------------------------------------------

    async def restore(
        self,
        name: str,
        *,
        config: ComponentConfig | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    ) -> Component:
        """The component *name*: the registered one, else rebuilt from its journal.

        A restored component continues its history (no new registration is recorded).
        Its states are looked up in the kernel's registry, or with *config* (the config
        it was created from: a path, a mapping or a ComponentConfig) in that config's
        namespace, as :meth:`create_component` does. Not in the store:
        :class:`~floe.NotFoundError`; its state unknown: :class:`~floe.StateError`
        listing the known states.
        """
        existing = self._components.get(name)
        if existing is not None:
            return existing
        kernel = self.kernel
        registry = kernel.states
        if config is not None:
            from ._config import config_registry, load_config

            if isinstance(config, str | os.PathLike):  # a file: read it off the event loop
                config = await anyio.to_thread.run_sync(load_config, config)
            registry, _ = config_registry(config, kernel.states)
        store = kernel.store
        run_id = component_run_id(_check_name(name))
        run = await store.get_run(run_id)
        if run is None or run.kind != COMPONENT_KIND:
            stored = sorted(record.name for record in await self._stored_runs())
            raise NotFoundError(
                f"No component named {name!r} is registered here or stored in {store.url}",
                why=f"Registered: {', '.join(sorted(self._components)) or 'none'}; "
                f"stored: {', '.join(stored) or 'none'}.",
                fix="Register the component first (engine.register, or "
                "'floe register --config FILE'), or correct the name.",
                context={"component": name, "store": store.url},
            )
        view = View.from_run(run)
        events = await store.read_events(run_id, after_seq=view.seq)
        view.fold(events)
        existing = self._components.get(name)
        if existing is not None:  # registered while we read
            return existing
        try:
            machine = StateMachine(view.state, registry=registry)
        except StateError as error:
            error.context.setdefault("component", name)
            if config is None:
                error.fix = (
                    f"{error.fix} If the state comes from the config the component was created "
                    f"from, restore it with that config: engine.restore({name!r}, config=PATH)."
                )
            raise
        component = Component(name, view.rules, machine, metadata=view.metadata)
        binding = Binding(kernel, run_id, run)
        binding.last_seq = view.seq
        component._binding = binding
        self._components[name] = component
        logger.debug(
            "Restored component %r in state %s (journal at seq %d)",
            name,
            view.state,
            view.seq,
            extra={"component": name, "run_id": run_id},
        )
        return component

    async def history(
        self, name: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        """The journal of the component *name*: registrations, messages, transitions and
        rule changes, oldest first."""
        return await self.kernel.store.read_events(
            component_run_id(_check_name(name)), after_seq=after_seq, limit=limit
        )

    async def stored_components(self) -> list[StoredComponent]:
        """Every component in the store with its current state, by name."""
        store = self.kernel.store
        found = []
        for run in await self._stored_runs():
            view = View.from_run(run)
            view.fold(await store.read_events(run.run_id, after_seq=view.seq))
            found.append(
                StoredComponent(
                    name=run.name,
                    state=view.state,
                    rules=view.rules,
                    metadata=view.metadata,
                    last_seq=view.seq,
                    created_at=run.created_at,
                    updated_at=run.updated_at,
                )
            )
        return sorted(found, key=lambda record: record.name)

    async def _stored_runs(self) -> list[Run]:
        store = self.kernel.store
        runs: list[Run] = []
        page = 500
        while True:
            batch = await store.list_runs(
                RunQuery(kind=COMPONENT_KIND, limit=page, offset=len(runs))
            )
            runs.extend(batch)
            if len(batch) < page:
                return runs
