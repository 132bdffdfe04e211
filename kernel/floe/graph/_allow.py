"""What a flow document may make this process import: the allow-list of Flow.load.

A flow document names code by import path: each routine's class, the exception classes
of its error handlers, and config values a routine class declares as import paths (the
``Transformer``'s ``function``). Whoever writes the document chooses those paths, so
every one of them is checked before anything is imported: a routine class must be a
built-in routine or allowed by the caller, an exception class must be a builtin one or
allowed, and a config import must be allowed. Nothing is allowed by default beyond the
built-ins.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, Final

from ..kernel._errors import ConfigError, ImportPathError, public_name
from ..kernel._targets import target_of
from . import _builtins

__all__ = ["Allowed", "ImportNotAllowedError"]

BUILTIN_ROUTINES: Final = frozenset(
    f"{module}:{name}"
    for module in ("floe.graph", "floe.graph._builtins")
    for name in ("Aggregator", "ConditionalRouter", "Transformer", "Validator")
)
"""The routine classes every flow document may name."""


@public_name("floe.graph.ImportNotAllowedError")
class ImportNotAllowedError(ImportPathError):
    """A flow document names an import path the caller did not allow."""


def _is_file(location: str) -> bool:
    return location.endswith(".py") or "/" in location or os.sep in location


def _resolved(location: str) -> str:
    return str(Path(location).expanduser().resolve())


class Allowed:
    """The import paths a flow document may name, beyond the built-ins.

    An entry is a module name (``"myapp.routines"``: its names and its submodules'), a
    target (``"myapp.routines:Fetch"``: that name only), a script's path
    (``"flows/etl.py"``), or the class, function or module itself.
    """

    def __init__(self, allow: Iterable[Any] = ()) -> None:
        if isinstance(allow, (str, bytes)) or not isinstance(allow, Iterable):
            raise ConfigError(
                f"allow= takes a list of modules, import paths or objects, got {allow!r}",
                fix="Pass allow=['myapp.routines'] or allow=[MyRoutine], a list.",
            )
        self.modules: set[str] = set()
        self.targets: set[str] = set()
        for entry in allow:
            self._add(entry)

    def _add(self, entry: Any) -> None:
        if isinstance(entry, ModuleType):
            entry = getattr(entry, "__floe_target_file__", None) or entry.__name__
        elif not isinstance(entry, str):
            if getattr(entry, "__qualname__", None) is None:
                raise ConfigError(
                    f"Cannot allow {entry!r}: it is not a module, a class, a function or "
                    "an import path",
                    fix="Name a module ('myapp.routines'), a target ('myapp.routines:Fetch') "
                    "or pass the class itself.",
                )
            entry = target_of(entry)
        if not entry:
            raise ConfigError("Cannot allow an empty import path", fix="Remove the entry.")
        location, _, name = entry.rpartition(":")
        if location and name.replace(".", "_").isidentifier():  # a target, not a drive letter
            self.targets.add(f"{_resolved(location)}:{name}" if _is_file(location) else entry)
        else:
            self.modules.add(_resolved(entry) if _is_file(entry) else entry)

    def permits(self, target: str) -> bool:
        location, _, name = target.rpartition(":")
        if _is_file(location):
            location = _resolved(location)
            return f"{location}:{name}" in self.targets or location in self.modules
        if target in self.targets:
            return True
        parts = location.split(".")
        return any(".".join(parts[:end]) in self.modules for end in range(1, len(parts) + 1))

    def check(self, target: Any, what: str, source: str) -> None:
        """Raise :class:`ImportNotAllowedError` unless *target* (*what*) is allowed."""
        if isinstance(target, str) and ":" in target and self.permits(target):
            return
        raise ImportNotAllowedError(
            f"{source[:1].upper()}{source[1:]} names {target!r} as {what}, which is not allowed",
            why="A flow document is read before its code runs: floe imports only the "
            "built-in routines and what the caller allows, and checks every path of the "
            "document before importing any.",
            fix=f"If you trust this document, allow the path: Flow.load(path, "
            f"allow=[{_module_of(target)!r}]) (or Flow.deserialize(document, allow=...)); "
            "otherwise do not load it.",
            context={"path": target, "document": source, "what": what},
        )


def _module_of(target: Any) -> str:
    return target.rpartition(":")[0] if isinstance(target, str) and ":" in target else "..."


def check_document(document: Mapping[str, Any], allowed: Allowed, source: str) -> None:
    """Check every import path *document* names statically, before anything is imported.

    (The config imports of a routine class of the caller's are checked once that
    allowed class is imported and says which keys hold them.)
    """
    _check_handler(document.get("error_handler"), allowed, source, "the flow")
    routines = document.get("routines")
    if not isinstance(routines, Mapping):
        return  # the reader reports the malformed document
    for routine_id, described in routines.items():
        if not isinstance(described, Mapping):
            continue
        target = described.get("class")
        if target in BUILTIN_ROUTINES:
            kind = getattr(_builtins, target.rpartition(":")[2])
            config = described.get("config")
            config = config if isinstance(config, Mapping) else {}
            for key in kind.config_imports:
                if config.get(key):
                    what = f"the config {key!r} of routine {routine_id!r}"
                    allowed.check(config[key], what, source)
        else:
            allowed.check(target, f"the class of routine {routine_id!r}", source)
        _check_handler(described.get("error_handler"), allowed, source, repr(routine_id))


def _check_handler(handler: Any, allowed: Allowed, source: str, owner: str) -> None:
    if not isinstance(handler, Mapping):
        return
    paths = handler.get("retryable_exceptions")
    if not isinstance(paths, list):
        return
    for path in paths:
        if isinstance(path, str) and path.partition(":")[0] == "builtins":
            continue  # the builtins module is always imported: naming it imports nothing
        allowed.check(path, f"an exception class of the error handler of {owner}", source)
