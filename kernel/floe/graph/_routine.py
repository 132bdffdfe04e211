"""Routines: input slots with handlers, output events, configuration and stats.

A handler is called according to its signature (see :func:`call_plan`): ``**kwargs``
takes the whole message; a parameter named like a key of the message takes that key's
value; a lone parameter that matches no key takes the whole message; several
parameters take the keys they name. Data travels between routines as JSON values, so a
resumed job sees exactly what the first process saw.
"""

from __future__ import annotations

import inspect
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from typing import Any, ClassVar, Final, Literal

import attrs

from ..kernel._errors import ConfigError
from ..kernel._serialize import encode_value
from ._strategy import ErrorHandler, ErrorStrategy

__all__ = ["MergeStrategy", "OutputEvent", "Routine", "Slot"]

MergeStrategy = Literal["override", "append"] | Callable[[dict[str, Any], dict[str, Any]], Any]
"""How a slot combines a new message with what it holds: ``"override"`` keeps the new
message, ``"append"`` accumulates a list per key, a callable ``(old, new) -> merged``
decides itself."""

_MERGE_NAMES: Final = ("override", "append")
_PLAIN: Final = (str, int, bool, type(None))


class Outbox(list[tuple["Routine", str, dict[str, Any]]]):
    """What one delivery emitted, in order: ``(routine, event, data)``, and the slots
    its handler cleared (recorded, so a resumed job's slots hold what they held).

    A list, made for every delivery: building one is a single C call, and ``cleared``
    is the class's empty tuple until a handler clears a slot (the instance gets its
    own list then).
    """

    cleared: list[Slot] | tuple[()] = ()


current_outbox: ContextVar[Outbox | None] = ContextVar("floe_graph_outbox", default=None)


@attrs.frozen
class CallPlan:
    """How to call a handler with a message, worked out once from its signature."""

    takes_all: bool
    """The handler has ``**kwargs``: every key is passed by name."""
    names: tuple[str, ...]
    """Named parameters (positional-only ones excluded), in order."""
    positional: tuple[str, ...]
    """Positional-only parameters, in order."""
    required: frozenset[str]
    keyword_only: frozenset[str]
    is_async: bool


def call_plan(function: Callable[..., Any], where: str) -> CallPlan:
    """The :class:`CallPlan` of *function*; *where* names it in errors."""
    if not callable(function):
        raise ConfigError(
            f"The handler of {where} is not callable: {function!r}",
            fix="Pass a function or a method, e.g. handler=self.process.",
        )
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError) as error:
        raise ConfigError(
            f"Cannot read the signature of the handler of {where}: {error}",
            fix="Use a Python function or method as the handler.",
        ) from None
    names: list[str] = []
    positional: list[str] = []
    required: set[str] = set()
    keyword_only: set[str] = set()
    takes_all = False
    for parameter in signature.parameters.values():
        kind = parameter.kind
        if kind is parameter.VAR_KEYWORD:
            takes_all = True
            continue
        if kind is parameter.VAR_POSITIONAL:
            continue
        if kind is parameter.POSITIONAL_ONLY:
            positional.append(parameter.name)
        else:
            names.append(parameter.name)
        if kind is parameter.KEYWORD_ONLY:
            keyword_only.add(parameter.name)
        if parameter.default is parameter.empty:
            required.add(parameter.name)
    is_async = inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004 - async callable objects
    )
    return CallPlan(
        takes_all=takes_all,
        names=tuple(names),
        positional=tuple(positional),
        required=frozenset(required),
        keyword_only=frozenset(keyword_only),
        is_async=is_async,
    )


def arguments(
    plan: CallPlan, data: dict[str, Any], where: str | Callable[[], str]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The positional and keyword arguments that call a handler with *data*.

    *where* names the handler in errors (a callable: worked out only for an error).
    """
    if not plan.positional and not plan.takes_all:
        # the usual handlers: parameters by name, no positional-only ones, no **kwargs
        names = plan.names
        if len(names) == 1:
            name = names[0]
            if name in data:
                return (), {name: data[name]}
            # a lone parameter that names no key takes the whole message
            return (), {name: dict(data)}
        kwargs = {name: data[name] for name in names if name in data}
        if len(kwargs) == len(names) or plan.required.issubset(kwargs):
            return (), kwargs
    every = plan.positional + plan.names
    if not plan.takes_all and len(every) == 1 and every[0] not in data:
        name = every[0]
        if name in plan.keyword_only:
            return (), {name: dict(data)}
        return (dict(data),), {}
    args = tuple(data[name] for name in plan.positional if name in data)
    if plan.takes_all:
        kwargs = {key: value for key, value in data.items() if key not in plan.positional}
    else:
        kwargs = {name: data[name] for name in plan.names if name in data}
    missing = [name for name in every if name in plan.required and name not in data]
    if missing or len(args) < sum(1 for name in plan.positional if name in plan.required):
        name = missing[0] if missing else plan.positional[len(args)]
        if not isinstance(where, str):
            where = where()
        raise ConfigError(
            f"The handler of {where} needs the parameter {name!r}, which the message lacks",
            why=f"The message has the keys {sorted(data)}; a parameter is filled from the key "
            "of its name (a lone parameter that names no key gets the whole message).",
            fix=f"Emit {name!r}, map a key to it with connect(..., param_mapping=...), or give "
            "the parameter a default.",
            context={"where": where, "parameter": name},
        )
    return args, kwargs


def plain_data(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """*data* as JSON values (a fresh dict), or a :class:`~floe.SerializationError`."""
    for value in data.values():
        kind = type(value)
        if kind in _PLAIN or (kind is float and math.isfinite(value)):
            continue
        encoded: dict[str, Any] = encode_value(data, where=where)
        return encoded
    return dict(data)


class Slot:
    """An input of a routine: a handler, a merge strategy and the data it holds."""

    __slots__ = (
        "_buffer",
        "_lock",
        "handler",
        "is_async",
        "merge_strategy",
        "name",
        "plan",
        "routine",
    )

    def __init__(
        self,
        routine: Routine,
        name: str,
        handler: Callable[..., Any] | None,
        merge_strategy: MergeStrategy,
    ) -> None:
        self.routine = routine
        self.name = name
        self.handler = handler
        self.merge_strategy = merge_strategy
        where = f"slot {name!r} of {type(routine).__name__}"
        self.plan = call_plan(handler, where) if handler is not None else None
        """How the handler is called with a message (None: the slot has no handler)."""
        self.is_async = self.plan is not None and self.plan.is_async
        """Whether the handler is a coroutine function (awaited, not run in a thread)."""
        self._buffer: dict[str, Any] = {}
        self._lock = threading.RLock()
        """Makes a merge, a clear and a read of the buffer atomic: the handlers of a
        reentrant routine may run in worker threads while the loop merges a message."""

    def __repr__(self) -> str:
        return f"<Slot {self.name!r} of {type(self.routine).__name__}>"

    @property
    def data(self) -> dict[str, Any]:
        """A copy of what the slot holds (the last message, or the merged ones)."""
        with self._lock:
            return {
                key: list(value) if isinstance(value, list) else value
                for key, value in self._buffer.items()
            }

    def clear(self) -> None:
        """Forget what the slot holds (an aggregator does it after emitting)."""
        with self._lock:
            self._buffer = {}
        outbox = current_outbox.get()
        if outbox is not None:
            if outbox.cleared:
                outbox.cleared.append(self)
            else:
                outbox.cleared = [self]

    def restore(self, data: Mapping[str, Any]) -> None:
        """Hold *data*, as a serialized flow recorded it."""
        with self._lock:
            self._buffer = dict(data)

    def merge(self, data: dict[str, Any]) -> dict[str, Any]:
        """Combine *data* with what the slot holds; returns what the handler receives."""
        if self.merge_strategy == "override":
            # one reference stored, which no reader can see half done: no lock needed
            # (the usual slot, merged on every delivery)
            self._buffer = data
            return data
        with self._lock:
            return self._merge(data)

    def _merge(self, data: dict[str, Any]) -> dict[str, Any]:
        strategy = self.merge_strategy
        if strategy == "override":
            # never changed in place: the message is shared with the journal record
            self._buffer = data
            return data
        if strategy == "append":
            buffer = self._buffer
            for key, value in data.items():
                held = buffer.get(key)
                if isinstance(held, list):
                    held.append(value)
                else:
                    buffer[key] = [value]
            return {key: list(buffer[key]) for key in data}
        merged = strategy(dict(self._buffer), dict(data))
        if not isinstance(merged, Mapping):
            raise ConfigError(
                f"The merge strategy of {self!r} returned {type(merged).__name__}, not a dict",
                fix="Return the merged message as a dict from the merge function.",
                context={"slot": self.name},
            )
        self._buffer = dict(merged)
        return dict(merged)

    def call_arguments(
        self, data: dict[str, Any], where: str | Callable[[], str]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        assert self.plan is not None
        return arguments(self.plan, data, where)


class OutputEvent:
    """An output of a routine; connections carry what it emits to slots."""

    __slots__ = ("name", "output_params", "routine")

    def __init__(self, routine: Routine, name: str, output_params: tuple[str, ...]) -> None:
        self.routine = routine
        self.name = name
        self.output_params = output_params

    def __repr__(self) -> str:
        return f"<OutputEvent {self.name!r} of {type(self.routine).__name__}>"

    def emit(self, **data: Any) -> None:
        """Emit this event (the same as ``routine.emit(name, **data)``)."""
        self.routine.emit(self.name, **data)


def _check_name(kind: str, name: object, routine: Routine) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise ConfigError(
            f"Invalid {kind} name {name!r} in {type(routine).__name__}",
            why=f"A {kind} is named in connections, the journal and diagrams.",
            fix=f"Name the {kind} with an identifier, e.g. 'input' or 'output'.",
        )
    return name


class Routine:
    """A unit of a graph: input slots with handlers, output events, config and stats.

    Subclass it, call ``super().__init__()``, then define slots and events::

        class Upper(Routine):
            def __init__(self):
                super().__init__()
                self.define_slot("input", handler=self.handle)
                self.define_event("output", ["text"])

            def handle(self, text):
                self.emit("output", text=text.upper())

    A routine used as a flow's entry runs its ``__call__(**entry_params)`` when the
    class overrides it, else the entry params are delivered to its slot ``input``.

    Under the concurrent strategy a routine's deliveries run one at a time, in the
    order they came (its slot buffers, stats and attributes see one delivery after
    another); deliveries of different routines run concurrently. A class that sets
    ``reentrant = True`` lets its own deliveries overlap too: its handlers then guard
    whatever state they share themselves.
    """

    reentrant: ClassVar[bool] = False
    """Whether deliveries to this routine may run at the same time (concurrent strategy)."""
    config_imports: ClassVar[tuple[str, ...]] = ()
    """The config keys whose values are import paths (``"module:name"``) the routine
    imports: a loaded flow document may give them only paths the caller allows."""

    def __init__(self) -> None:
        self._slots: dict[str, Slot] = {}
        self._events: dict[str, OutputEvent] = {}
        self._config: dict[str, Any] = {}
        self._stats: dict[str, Any] = {}
        self._error_handler: ErrorHandler | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} slots={list(self._slots)} events={list(self._events)}>"

    def __call__(self, **entry_params: Any) -> Any:
        """Entry behaviour: hand *entry_params* to the slot ``input``'s handler.

        Override it to run entry logic directly; the flow then calls it instead.
        """
        slot = self.get_slot("input")
        if slot is None or slot.handler is None:
            raise ConfigError(
                f"{type(self).__name__} has no slot 'input' with a handler to call",
                fix="Define slot 'input' with a handler, or override __call__.",
            )
        args, kwargs = slot.call_arguments(slot.merge(dict(entry_params)), repr(slot))
        return slot.handler(*args, **kwargs)

    # -- slots and events -------------------------------------------------------------

    def define_slot(
        self,
        name: str,
        handler: Callable[..., Any] | None = None,
        merge_strategy: MergeStrategy = "override",
    ) -> Slot:
        """Define the input slot *name*; *handler* (sync or async) receives its messages."""
        _check_name("slot", name, self)
        if name in self._slots:
            raise ConfigError(
                f"{type(self).__name__} already has a slot named {name!r}",
                fix="Give each slot of a routine its own name.",
                context={"slot": name},
            )
        if not (callable(merge_strategy) or merge_strategy in _MERGE_NAMES):
            raise ConfigError(
                f"Unknown merge strategy {merge_strategy!r} for slot {name!r}",
                why="A slot merges with 'override', 'append' or a function (old, new) -> merged.",
                fix="Pass merge_strategy='override', 'append' or a function.",
                context={"slot": name},
            )
        slot = Slot(self, name, handler, merge_strategy)
        self._slots[name] = slot
        return slot

    def define_event(self, name: str, output_params: Iterable[str] | None = None) -> OutputEvent:
        """Define the output event *name*; every emit must carry the *output_params*."""
        _check_name("event", name, self)
        if name in self._events:
            raise ConfigError(
                f"{type(self).__name__} already has an event named {name!r}",
                fix="Give each event of a routine its own name.",
                context={"event": name},
            )
        if isinstance(output_params, str):
            output_params = [output_params]
        params = tuple(output_params or ())
        if not all(isinstance(param, str) and param for param in params):
            raise ConfigError(
                f"Invalid output_params {params!r} for event {name!r}",
                fix="Pass the names of the parameters as a list of strings.",
                context={"event": name},
            )
        event = OutputEvent(self, name, params)
        self._events[name] = event
        return event

    def get_slot(self, name: str) -> Slot | None:
        """The slot *name*, or None."""
        return self._slots.get(name)

    def get_event(self, name: str) -> OutputEvent | None:
        """The output event *name*, or None."""
        return self._events.get(name)

    @property
    def slots(self) -> dict[str, Slot]:
        """The slots by name (a copy)."""
        return dict(self._slots)

    @property
    def events(self) -> dict[str, OutputEvent]:
        """The output events by name (a copy)."""
        return dict(self._events)

    def emit(self, event: str, **data: Any) -> None:
        """Emit *event* with *data* to every slot connected to it.

        Inside a flow execution the data is delivered after the handler returns (in
        connection order); outside one nothing is connected and only the checks run.
        An undefined event, a missing output parameter and data JSON cannot hold are
        errors.
        """
        spec = self._events.get(event)
        if spec is None:
            raise ConfigError(
                f"{type(self).__name__} emits the undefined event {event!r}",
                why=f"Its events are: {', '.join(self._events) or 'none'}.",
                fix=f"Define it first: self.define_event({event!r}, [...]).",
                context={"event": event},
            )
        for param in spec.output_params:
            if param not in data:
                raise ConfigError(
                    f"{type(self).__name__} emits {event!r} without its output parameter {param!r}",
                    why=f"The event declares the parameters {list(spec.output_params)}.",
                    fix=f"Pass {param}=... to emit(), or change the event's output_params.",
                    context={"event": event, "parameter": param},
                )
        for value in data.values():
            kind = type(value)
            if kind in _PLAIN or (kind is float and math.isfinite(value)):
                continue
            data = encode_value(data, where=f"the data {type(self).__name__} emits on {event!r}")
            break
        outbox = current_outbox.get()
        if outbox is not None:
            outbox.append((self, event, data))

    # -- configuration --------------------------------------------------------------

    def set_config(self, **config: Any) -> None:
        """Set configuration values (JSON values, kept when the flow is serialized)."""
        self._config.update(config)

    def get_config(self, key: str, default: Any = None) -> Any:
        """The configuration value *key*, or *default*."""
        return self._config.get(key, default)

    def config(self) -> dict[str, Any]:
        """A copy of the whole configuration."""
        return dict(self._config)

    # -- stats ------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """A copy of the routine's stats (recorded with each delivery it handles)."""
        return dict(self._stats)

    def set_stat(self, key: str, value: Any) -> None:
        self._stats[key] = value

    def get_stat(self, key: str, default: Any = None) -> Any:
        return self._stats.get(key, default)

    def increment_stat(self, key: str, amount: int | float = 1) -> Any:
        """Add *amount* to the stat *key* (from 0); returns the new value."""
        value = self._stats.get(key, 0) + amount
        self._stats[key] = value
        return value

    def reset_stats(self) -> None:
        self._stats.clear()

    @property
    def held_stats(self) -> Mapping[str, Any]:
        """The stats themselves, not a copy (for the engine: read them, never change them)."""
        return self._stats

    def restore_stats(self, stats: Mapping[str, Any]) -> None:
        """Hold exactly *stats*, as a job's journal recorded them."""
        self._stats.clear()
        self._stats.update(stats)

    # -- error handling -----------------------------------------------------------

    def set_error_handler(self, handler: ErrorHandler | None) -> None:
        """Handle this routine's failures with *handler* (None: the flow's)."""
        if handler is not None and not isinstance(handler, ErrorHandler):
            raise ConfigError(
                f"set_error_handler() takes an ErrorHandler, got {handler!r}",
                fix="Pass ErrorHandler(strategy=ErrorStrategy.CONTINUE) or similar.",
            )
        self._error_handler = handler

    def get_error_handler(self) -> ErrorHandler | None:
        return self._error_handler

    def set_as_optional(self, strategy: ErrorStrategy = ErrorStrategy.CONTINUE) -> None:
        """Let the job go on when this routine fails (CONTINUE, or SKIP)."""
        handler = ErrorHandler(strategy=strategy)
        if handler.strategy not in (ErrorStrategy.CONTINUE, ErrorStrategy.SKIP):
            raise ConfigError(
                f"set_as_optional() takes CONTINUE or SKIP, not {handler.strategy.name}",
                fix="Use set_error_handler() for the other strategies.",
            )
        self._error_handler = handler

    def set_as_critical(
        self, max_retries: int = 3, retry_delay: float = 1.0, retry_backoff: float = 2.0
    ) -> None:
        """Retry this routine's failures; when the retries run out the job fails."""
        self._error_handler = ErrorHandler(
            strategy=ErrorStrategy.RETRY,
            max_retries=max_retries,
            retry_delay=retry_delay,
            retry_backoff=retry_backoff,
            is_critical=True,
        )

    def overrides_call(self) -> bool:
        """Whether the class defines its own ``__call__`` (the flow's entry then calls it)."""
        return type(self).__call__ is not Routine.__call__
