"""Flows as JSON documents: routine classes by import path, config, stats, slot buffers,
connections with their mappings, error handlers and execution settings.

A routine class is recorded as a target (``package.module:Class``, or the file's path
for a class of a script), the way workflows are; loading it imports the class and calls
it without arguments, then restores config, stats and what its slots hold. A document
may name only the built-in routines and what the caller allows (see ``_allow``): every
path is checked before anything is imported.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import orjson

from ..kernel._errors import ConfigError, ImportPathError, PersistenceError
from ..kernel._serialize import encode_value
from ..kernel._targets import import_target, target_of
from ._allow import Allowed, check_document
from ._job import write_private
from ._routine import Routine
from ._strategy import ErrorHandler

if TYPE_CHECKING:
    from ._flow import Flow

F = TypeVar("F", bound="Flow")

__all__ = ["FLOW_FORMAT", "deserialize_flow", "load_flow", "save_flow", "serialize_flow"]

FLOW_FORMAT: Final = 1
"""Version of the JSON document :meth:`Flow.serialize` writes."""
_FLOW_KIND: Final = "floe.graph.flow"


def _routine_target(routine_id: str, routine: Routine) -> str:
    kind = type(routine)
    if "<locals>" in kind.__qualname__:
        raise ConfigError(
            f"Routine {routine_id!r} is a {kind.__qualname__}, defined inside a function",
            why="A serialized flow names each routine's class by import path, and a class "
            "made inside a function cannot be imported.",
            fix=f"Define {kind.__name__} at the top level of a module.",
            context={"routine": routine_id},
        )
    _check_buildable(routine_id, kind)
    return target_of(kind)


def _check_buildable(routine_id: str, kind: type[Routine]) -> None:
    """A loaded flow builds each routine as ``Class()``: refuse now what would fail then."""
    try:
        signature = inspect.signature(kind)
    except (TypeError, ValueError):  # no signature to read: Class() is tried at load
        return
    needed = [
        name
        for name, parameter in signature.parameters.items()
        if parameter.default is parameter.empty
        and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    ]
    if needed:
        raise ConfigError(
            f"Routine {routine_id!r} is a {kind.__qualname__}, whose constructor needs "
            f"{', '.join(repr(name) for name in needed)}: a saved flow could not be loaded",
            why="A loaded flow builds each routine as Class() and then restores its config; "
            "constructor arguments are not saved.",
            fix=f"Give {kind.__name__}.__init__'s parameters defaults and keep the settings "
            "in the routine's config (self.set_config(...), read with self.get_config(...)).",
            context={"routine": routine_id, "class": kind.__qualname__, "needs": needed},
        )


def serialize_flow(flow: Flow) -> dict[str, Any]:
    """The document :func:`deserialize_flow` reads."""
    routines: dict[str, Any] = {}
    for routine_id, routine in flow.routine_table.items():
        where = f"routine {routine_id!r} of flow {flow.flow_id!r}"
        handler = routine.get_error_handler()
        routines[routine_id] = {
            "class": _routine_target(routine_id, routine),
            "config": encode_value(routine.config(), where=f"the config of {where}"),
            "stats": encode_value(routine.stats(), where=f"the stats of {where}"),
            "slots": {
                name: encode_value(slot.data, where=f"slot {name!r} of {where}")
                for name, slot in routine.slots.items()
            },
            "error_handler": handler.to_dict() if handler is not None else None,
        }
    flow_handler = flow.get_error_handler()
    return {
        "kind": _FLOW_KIND,
        "format": FLOW_FORMAT,
        "flow_id": flow.flow_id,
        "execution_strategy": flow.execution_strategy,
        "max_concurrency": flow.max_concurrency,
        "max_deliveries": flow.max_deliveries,
        "sync_handlers": flow.sync_handlers,
        "error_handler": flow_handler.to_dict() if flow_handler is not None else None,
        "routines": routines,
        "connections": [
            {
                "source": connection.source,
                "event": connection.event,
                "target": connection.target,
                "slot": connection.slot,
                "param_mapping": dict(connection.param_mapping),
            }
            for connection in flow.connections
        ],
    }


def _field(document: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = document.get(key)
    if not isinstance(value, kind):
        raise PersistenceError(
            f"The flow document's {key!r} is {type(value).__name__}, not what a flow holds",
            fix="Load a document written by Flow.serialize(), unchanged.",
            context={"field": key},
        )
    return value


def deserialize_flow(
    flow_class: type[F],
    document: Mapping[str, Any],
    allow: Iterable[Any] = (),
    source: str | None = None,
) -> F:
    """The flow of *flow_class* that *document* describes (see :func:`serialize_flow`); it
    may name the built-in routines and what *allow* lists (see :class:`Allowed`). *source*
    names the document in errors ("the flow file 'etl.json'")."""
    allowed = Allowed(allow)
    if not isinstance(document, Mapping) or document.get("kind") != _FLOW_KIND:
        raise PersistenceError(
            "This document is not a serialized floe flow",
            fix="Load a document written by Flow.serialize() or Flow.save().",
        )
    if source is None:
        source = f"the document of flow {document.get('flow_id')!r}"
    check_document(document, allowed, source)
    version = document.get("format")
    if not isinstance(version, int) or version > FLOW_FORMAT:
        raise PersistenceError(
            f"The flow document has format {version!r}; this floe reads up to {FLOW_FORMAT}",
            fix="Load it with the floe version that wrote it, or a newer one.",
            context={"format": version},
        )
    handler = document.get("error_handler")
    flow = flow_class(
        _field(document, "flow_id", str),
        execution_strategy=_field(document, "execution_strategy", str),
        max_concurrency=_field(document, "max_concurrency", int),
        max_deliveries=_field(document, "max_deliveries", int),
        sync_handlers=_field(document, "sync_handlers", str),
        error_handler=ErrorHandler.from_dict(handler) if handler is not None else None,
    )
    for routine_id, described in _field(document, "routines", dict).items():
        flow.add_routine(_build_routine(routine_id, described, allowed, source), routine_id)
    for connection in _field(document, "connections", list):
        if not isinstance(connection, Mapping):
            raise PersistenceError(
                "A connection of the flow document is not a mapping",
                fix="Load a document written by Flow.serialize(), unchanged.",
            )
        flow.connect(
            connection.get("source"),  # type: ignore[arg-type]
            connection.get("event"),  # type: ignore[arg-type]
            connection.get("target"),  # type: ignore[arg-type]
            connection.get("slot"),  # type: ignore[arg-type]
            connection.get("param_mapping") or None,
        )
    return flow


def _build_routine(routine_id: str, described: Any, allowed: Allowed, source: str) -> Routine:
    if not isinstance(described, Mapping) or not isinstance(described.get("class"), str):
        raise PersistenceError(
            f"Routine {routine_id!r} of the flow document has no class",
            fix="Load a document written by Flow.serialize(), unchanged.",
            context={"routine": routine_id},
        )
    target = described["class"]
    try:
        kind = import_target(target)
    except ImportPathError as error:
        raise ImportPathError(
            f"Cannot import the class {target!r} of routine {routine_id!r}",
            why=error.why or error.what,
            fix="Make the routine's module importable where the flow is loaded.",
            context={"routine": routine_id, "class": target},
        ) from error
    if not (isinstance(kind, type) and issubclass(kind, Routine)):
        raise ImportPathError(
            f"{target!r} (routine {routine_id!r}) is not a Routine class",
            fix="Point the routine's class at a subclass of floe.graph.Routine.",
            context={"routine": routine_id, "class": target},
        )
    try:
        routine = kind()
    except TypeError as error:
        raise ConfigError(
            f"The routine class {target!r} (routine {routine_id!r}) cannot be built "
            f"without arguments: {error}",
            why="A loaded flow builds each routine as Class(); settings belong in its config.",
            fix="Give every constructor argument a default, and keep settings in set_config().",
            context={"routine": routine_id, "class": target},
        ) from error
    config = described.get("config") or {}
    for key in kind.config_imports:  # the class is allowed: it says what its config imports
        if config.get(key):
            allowed.check(config[key], f"the config {key!r} of routine {routine_id!r}", source)
    if config:
        routine.set_config(**config)
    stats = described.get("stats") or {}
    routine.reset_stats()
    for key, value in stats.items():
        routine.set_stat(key, value)
    for name, data in (described.get("slots") or {}).items():
        slot = routine.get_slot(name)
        if slot is None:
            raise ConfigError(
                f"Routine {routine_id!r} ({target}) has no slot {name!r} any more",
                fix="Load the flow with the routine code that saved it.",
                context={"routine": routine_id, "slot": name},
            )
        slot.restore(data)
    handler = described.get("error_handler")
    routine.set_error_handler(ErrorHandler.from_dict(handler) if handler is not None else None)
    return routine


def save_flow(flow: Flow, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    raw = orjson.dumps(serialize_flow(flow), option=orjson.OPT_INDENT_2)
    write_private(target, raw, "flow")
    return target


def load_flow(flow_class: type[F], path: str | os.PathLike[str], allow: Iterable[Any] = ()) -> F:
    source = Path(path)
    try:
        raw = source.read_bytes()
    except OSError as error:
        raise PersistenceError(
            f"Cannot read the flow file {str(source)!r}: {error.strerror}",
            fix="Check the path.",
            context={"path": str(source)},
        ) from None
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise PersistenceError(
            f"The flow file {str(source)!r} is not JSON: {error}",
            fix="Load a file written by Flow.save().",
            context={"path": str(source)},
        ) from None
    return deserialize_flow(flow_class, document, allow, f"the flow file {str(source)!r}")
