"""Component snapshots: saved states with history in the store, and JSON file export.

A snapshot holds a component's name, current state, rules and metadata. The store keeps
every snapshot (``save_snapshot``), hands back the newest (``load_latest_snapshot``) or
the history (``list_snapshots``, newest first, ties broken by insertion order) and
drops old ones (``prune_snapshots``). ``restore_component`` registers a component as a
snapshot describes it. ``save_component`` / ``load_snapshot`` write and read one
snapshot as a JSON file, atomically.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import orjson

from ..kernel._errors import NotFoundError, PersistenceError, StateError
from ..kernel._kernel import current_kernel
from ..kernel._models import Snapshot
from ..kernel._resources import write_atomically
from ..kernel._serialize import converter, decode_document, encode_value
from ..kernel._store import check_keep_last, check_limit
from ._components import Component, Engine
from ._state_machine import StateMachine

if TYPE_CHECKING:
    from ..kernel._store import Store

__all__ = [
    "list_snapshots",
    "load_latest_snapshot",
    "load_snapshot",
    "load_snapshot_async",
    "prune_snapshots",
    "restore_component",
    "save_component",
    "save_component_async",
    "save_snapshot",
    "snapshot_of",
]

_COMPONENT_IN_JSON = re.compile(rb'"component"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _store(store: Store | None) -> Store:
    return store if store is not None else current_kernel().store


def _component_name(component: Component | str) -> str:
    name = component.name if isinstance(component, Component) else component
    if not isinstance(name, str) or not name:
        raise StateError(
            f"Invalid component name {name!r}",
            fix="Pass the component or its non-empty name.",
        )
    return name


def snapshot_of(component: Component, metadata: Mapping[str, Any] | None = None) -> Snapshot:
    """A snapshot of *component* as it is now.

    Its metadata is the component's, updated with *metadata* (which can annotate the
    snapshot, e.g. ``{"version": "1.0"}``); all of it must be JSON.
    """
    if not isinstance(component, Component):
        raise StateError(
            f"Cannot snapshot {component!r}: not a floe.Component",
            fix="Pass the Component whose state to save.",
        )
    if metadata is not None and not isinstance(metadata, Mapping):
        raise StateError(
            f"Snapshot metadata must be a mapping, got {type(metadata).__name__}",
            fix="Pass metadata as a dict of JSON values, e.g. {'version': '1.0'}.",
            context={"component": component.name},
        )
    merged = encode_value(
        {**component.metadata, **(metadata or {})},
        where=f"the snapshot metadata of component {component.name!r}",
    )
    return Snapshot(
        component=component.name,
        state=component.state,
        rules=list(component.rules),
        metadata=merged,
    )


# -- in the store ----------------------------------------------------------------------


async def save_snapshot(
    component: Component, metadata: Mapping[str, Any] | None = None, *, store: Store | None = None
) -> int:
    """Store a snapshot of *component* (see :func:`snapshot_of`); return its id.

    *store* defaults to the running kernel's.
    """
    return await _store(store).save_snapshot(snapshot_of(component, metadata))


async def load_latest_snapshot(
    component: Component | str, *, store: Store | None = None
) -> Snapshot | None:
    """The newest snapshot of *component* (a component or its name), or None."""
    return await _store(store).latest_snapshot(_component_name(component))


async def list_snapshots(
    component: Component | str, limit: int = 10, *, store: Store | None = None
) -> list[Snapshot]:
    """Up to *limit* snapshots of *component*, newest first (ties: the last saved first)."""
    check_limit(limit)
    return await _store(store).list_snapshots(_component_name(component), limit=limit)


async def prune_snapshots(
    component: Component | str, keep_last: int = 10, *, store: Store | None = None
) -> int:
    """Delete all but the newest *keep_last* snapshots of *component*; return how many
    went. ``keep_last`` below 1 is a :class:`~floe.ConfigError`."""
    check_keep_last(keep_last)
    return await _store(store).prune_snapshots(_component_name(component), keep_last=keep_last)


def restore_component(snapshot: Snapshot, engine: Engine, *, replace: bool = True) -> Component:
    """Register a component as *snapshot* describes it: state, rules and metadata.

    A component of the same name in *engine* is replaced (``replace=False`` makes that
    a :class:`~floe.StateError`), and the restored one looks its states up where that
    one did (a config's namespace, say); otherwise in the kernel's registry. The restore
    is journaled as a registration. A state the registry does not know is a
    :class:`~floe.StateError` listing the known ones.
    """
    if not isinstance(snapshot, Snapshot):
        raise StateError(
            f"restore_component() takes a floe.Snapshot, got {snapshot!r}",
            fix="Load one with load_latest_snapshot(name) or load_snapshot(path).",
        )
    if not isinstance(engine, Engine):
        raise StateError(
            f"restore_component() takes a floe.Engine, got {engine!r}",
            fix="Pass the engine to register the restored component with.",
        )
    registered = engine.components.get(snapshot.component)
    registry = registered.state_machine.registry if registered is not None else engine.kernel.states
    try:
        machine = StateMachine(snapshot.state, registry=registry)
    except StateError as error:
        error.context.setdefault("component", snapshot.component)
        if snapshot.snapshot_id is not None:
            error.context.setdefault("snapshot_id", snapshot.snapshot_id)
        raise
    component = Component(
        snapshot.component, snapshot.rules, machine, metadata=dict(snapshot.metadata)
    )
    return engine.register(component, replace=replace)


# -- as a file -------------------------------------------------------------------------


def save_component(
    component: Component,
    path: str | os.PathLike[str],
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write a snapshot of *component* to *path* as JSON, atomically; return the path.

    A new file is owner-only (``0600``), in directories created owner-only (``0700``);
    a file saved over keeps its mode. Blocking (file I/O): from async code use
    :func:`save_component_async`.
    """
    return _write_snapshot(snapshot_of(component, metadata), Path(path))


def _write_snapshot(snapshot: Snapshot, target: Path) -> Path:
    body = orjson.dumps(converter.unstructure(snapshot), option=orjson.OPT_INDENT_2)
    try:
        write_atomically(target, body + b"\n")
    except OSError as error:
        raise PersistenceError(
            f"Cannot write the snapshot of component {snapshot.component!r} to {target}",
            why=error.strerror or str(error),
            fix="Check that the directory exists or can be created, and is writable.",
            context={"component": snapshot.component, "path": str(target)},
        ) from error
    return target


def load_snapshot(path: str | os.PathLike[str]) -> Snapshot:
    """Read a snapshot written by :func:`save_component`.

    A missing file is a :class:`~floe.NotFoundError`; a damaged one a
    :class:`~floe.PersistenceError` (also a ``ValueError``) naming the component and the
    path. Blocking: from async code use :func:`load_snapshot_async`.
    """
    source = Path(path)
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(
            f"No snapshot file at {source}",
            fix="Check the path, or write one with save_component(component, path).",
            context={"path": str(source)},
        ) from None
    except OSError as error:
        raise PersistenceError(
            f"Cannot read the snapshot file {source}",
            why=error.strerror or str(error),
            fix="Check the file's permissions.",
            context={"path": str(source)},
        ) from error
    name = _name_in(raw)
    fix = f"Restore {source} from a backup, or save the component again."
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise PersistenceError(
            f"The snapshot file {source} (component {name}) is not valid JSON",
            why=str(error),
            fix=fix,
            context={"component": name, "path": str(source)},
        ) from error
    if isinstance(document, Mapping) and isinstance(document.get("component"), str):
        name = repr(document["component"])
    try:
        snapshot = decode_document(
            document, Snapshot, where=f"The snapshot file {source} (component {name})"
        )
    except PersistenceError as error:
        error.fix = fix
        error.context.update({"component": name, "path": str(source)})
        raise
    # cattrs would turn a number into a string: the names must be strings in the file
    for field in ("component", "state"):
        value = document.get(field)
        if not isinstance(value, str) or not value:
            raise PersistenceError(
                f"The snapshot file {source} (component {name}) has no valid {field!r}",
                why=f"{field!r} is {value!r}; a snapshot names its {field} with a string.",
                fix=fix,
                context={"component": name, "path": str(source)},
            )
    return snapshot


def _name_in(raw: bytes) -> str:
    """The component's name as far as damaged JSON still shows it."""
    found = _COMPONENT_IN_JSON.search(raw)
    if found is None:
        return "unknown"
    try:
        return repr(orjson.loads(b'"' + found.group(1) + b'"'))
    except orjson.JSONDecodeError:
        return "unknown"


async def save_component_async(
    component: Component,
    path: str | os.PathLike[str],
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """:func:`save_component` with the file written in a worker thread (the snapshot is
    taken at once, so later messages do not change it)."""
    snapshot = snapshot_of(component, metadata)
    return await anyio.to_thread.run_sync(_write_snapshot, snapshot, Path(path))


async def load_snapshot_async(path: str | os.PathLike[str]) -> Snapshot:
    """:func:`load_snapshot` in a worker thread."""
    return await anyio.to_thread.run_sync(load_snapshot, path)
