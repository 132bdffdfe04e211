"""Components and the engine: message-driven state machines that are observable and durable.

A :class:`Component` has a name, rules and a :class:`~floe.StateMachine`. Registered
with an :class:`Engine`, it becomes a long-lived run (kind ``component``, run id
``component:<name>``) whose journal records every handled message, every transition and
every change of rules, through :meth:`floe.Kernel.record`: journal first, then the bus.
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
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import anyio
import attrs

from ._errors import FloeError, NotFoundError, PersistenceError, SequenceConflictError, StateError
from ._kernel import Kernel, current_kernel
from ._models import Event, Run, RunQuery, RunStatus, utcnow
from ._serialize import encode_value
from ._state_machine import Message, State, StateMachine, Transitioned

if TYPE_CHECKING:
    from ._config import ComponentConfig

__all__ = [
    "CHANGED",
    "COMPONENT_KIND",
    "MESSAGE_RECEIVED",
    "REGISTERED",
    "RULES_UPDATED",
    "Component",
    "Engine",
    "StoredComponent",
    "component_run_id",
]

logger = logging.getLogger("floe.components")

COMPONENT_KIND: Final = "component"
"""The ``kind`` of a component's run."""
REGISTERED: Final = "engine.component.registered"
MESSAGE_RECEIVED: Final = "component.message.received"
CHANGED: Final = "state.changed"
RULES_UPDATED: Final = "component.rules.updated"

CHECKPOINT_EVERY: Final = 256
"""Journal events between two checkpoints of the component in its run record, so that a
restore reads at most this many events (plus the checkpoint) however long the history."""
MAX_REBASES: Final = 10
"""Times a blind write (registration, rules) is rebased onto a newer journal before the
conflict is reported."""
_INITIAL_STATE: Final = "InitialState"
_PLAIN: Final = (str, int, bool, type(None))


def component_run_id(name: str) -> str:
    """The run id of the component called *name*: ``component:<name>``."""
    return f"component:{name}"


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name or name != name.strip():
        raise StateError(
            f"Invalid component name {name!r}",
            why="A component is found by its name, in the engine and in the store.",
            fix="Name it with a non-empty string without surrounding spaces.",
        )
    return name


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


def _encoded_message(message: Message, name: str) -> dict[str, Any]:
    # the journal keeps what JSON can hold; checking here makes the memory store refuse
    # what SQLite would, before the state has run
    if not message.fields and type(message.content) in _PLAIN:
        return {"type": message.type, "content": message.content}
    encoded: dict[str, Any] = encode_value(
        message.to_dict(), where=f"the {message.type!r} message to component {name!r}"
    )
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
        self._lock = anyio.Lock(fast_acquire=True)
        self._binding: _Binding | None = None

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
        received = Message.of(message, **fields)
        async with self._lock:
            binding = self._binding
            if binding is None:
                return await self.state_machine.handle_message(received, self)
            return await binding.handle(self, received)

    async def flush(self) -> None:
        """Wait until the background journal writes (registration, rules) are stored.

        Raises what storing them raised; a no-op for an unregistered component.
        """
        binding = self._binding
        if binding is not None and binding.pending:
            async with self._lock:
                await binding.flush_pending(self)

    # -- state from the journal ---------------------------------------------------------

    def _apply(self, view: _View) -> None:
        machine = self.state_machine
        if machine.current_state_name != view.state:
            machine.set_state(view.state)
        self._rules = tuple(view.rules)
        self.metadata = dict(view.metadata)


@attrs.define
class _View:
    """A component as its journal tells it: folded from a checkpoint and later events."""

    state: str
    rules: list[Any]
    metadata: dict[str, Any]
    seq: int

    @classmethod
    def from_run(cls, run: Run) -> _View:
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


class _Binding:
    """A registered component's link to the kernel: its run, journal position and the
    writes that sync methods left to do. Used with the component's lock held."""

    __slots__ = ("flush_scheduled", "in_doubt", "kernel", "last_seq", "pending", "run", "run_id")

    def __init__(self, kernel: Kernel, run_id: str, run: Run | None = None) -> None:
        self.kernel = kernel
        self.run_id = run_id
        self.run = run
        self.last_seq = run.last_seq if run is not None else 0
        self.pending: list[tuple[str, dict[str, Any]]] = []
        self.flush_scheduled = False
        self.in_doubt: tuple[int, list[Event]] | None = None
        """The first seq and the events of a write whose outcome is unknown."""

    def _view(self, component: Component, seq: int) -> _View:
        return _View(
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
        try:
            async with component._lock:
                self.flush_scheduled = False
                await self.flush_pending(component)
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
                component._apply(view)
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

    async def handle(self, component: Component, message: Message) -> Transitioned | None:
        if self.pending:
            await self.flush_pending(component)
        else:
            await self._open(component)
        machine = component.state_machine
        previous = machine.current_state_name
        name = component.name
        items: list[tuple[str, dict[str, Any]]] = [
            (MESSAGE_RECEIVED, {"component": name, "message": _encoded_message(message, name)})
        ]
        target = await machine.decide(message, component)
        # rule changes the state made while deciding go into the same write
        deferred = len(self.pending)
        items.extend(self.pending)
        entered: State | None = None
        if target is not None:
            # made before anything is stored: a state that cannot be built leaves no trace
            entered = machine.registry.get(target)()
            items.append((CHANGED, {"component": name, "from_state": previous, "to_state": target}))
        try:
            await self._write(component, items, state_after=target, checkpoint=deferred > 0)
        except SequenceConflictError as error:
            before = self.last_seq
            await self._reload(component)
            raise SequenceConflictError(
                f"Component {name!r} was changed by another writer; "
                f"the {message.type!r} message was not recorded",
                why=f"Its journal moved on from seq {before} to {self.last_seq} elsewhere "
                "(another process or engine handles this component too).",
                fix=f"The component was reloaded and is now in {machine.current_state_name!r}; "
                "send the message again if it still applies.",
                context={"component": name, "run_id": self.run_id, "message": message.type},
            ) from error
        del self.pending[:deferred]
        if target is None or entered is None:
            return None
        machine.current_state = entered
        machine.current_state_name = target
        return Transitioned(previous, target)

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
        _check_kind(run)
        self.run = run
        self.last_seq = run.last_seq

    async def _write(
        self,
        component: Component,
        items: list[tuple[str, dict[str, Any]]],
        *,
        state_after: str | None = None,
        checkpoint: bool = False,
    ) -> None:
        first = self.last_seq + 1
        last = self.last_seq + len(items)
        now = utcnow()
        run_id = self.run_id
        events = [
            Event(run_id=run_id, seq=first + offset, kind=kind, at=now, data=data)
            for offset, (kind, data) in enumerate(items)
        ]
        record = None
        if checkpoint or last // CHECKPOINT_EVERY != self.last_seq // CHECKPOINT_EVERY:
            view = self._view(component, last)
            if state_after is not None:
                view.state = state_after
            assert self.run is not None
            record = attrs.evolve(self.run, updated_at=now, metadata=view.checkpoint())
        try:
            await self.kernel.record(events, run=record)
        except SequenceConflictError:
            raise  # nothing was stored
        except BaseException:
            # cancelled (or failed) half-way: whether the events were stored is known
            # only once the journal is read again, before the next write
            self.in_doubt = (first, events)
            raise
        self.last_seq = last
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
            component._apply(view)
            self.last_seq = view.seq


def _check_kind(run: Run) -> None:
    if run.kind != COMPONENT_KIND:
        raise StateError(
            f"The run id {run.run_id!r} belongs to a {run.kind} run, not a component",
            fix="Rename the component.",
            context={"run_id": run.run_id},
        )


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
        binding = _Binding(kernel, component_run_id(name))
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

        *config* is a :class:`~floe.ComponentConfig`, a mapping or a YAML file path; its
        states and packs are registered into the kernel's registry first.
        """
        from ._config import load_config, register_config_states

        loaded = load_config(config)
        registry = self.kernel.states
        initial = register_config_states(loaded, registry)
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

    async def flush(self) -> None:
        """Wait until every component's background journal writes are stored."""
        for component in list(self._components.values()):
            await component.flush()

    # -- the store ----------------------------------------------------------------------

    async def restore(self, name: str) -> Component:
        """The component *name*: the registered one, else rebuilt from its journal.

        A restored component continues its history (no new registration is recorded).
        Not in the store: :class:`~floe.NotFoundError`; its state not registered in this
        kernel: :class:`~floe.StateError` listing the known states.
        """
        existing = self._components.get(name)
        if existing is not None:
            return existing
        kernel = self.kernel
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
        view = _View.from_run(run)
        events = await store.read_events(run_id, after_seq=view.seq)
        view.fold(events)
        existing = self._components.get(name)
        if existing is not None:  # registered while we read
            return existing
        try:
            machine = StateMachine(view.state, registry=kernel.states)
        except StateError as error:
            error.context.setdefault("component", name)
            raise
        component = Component(name, view.rules, machine, metadata=view.metadata)
        binding = _Binding(kernel, run_id, run)
        binding.last_seq = view.seq
        component._binding = binding
        self._components[name] = component
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
            view = _View.from_run(run)
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
