"""Workflow targets: the ``"module:name"`` or ``"path/to/file.py:name"`` a run records.

A run's metadata holds the target of its workflow, so another process (``floe resume``,
``floe cancel``) can load the same code. A workflow defined in an importable module is
``package.module:qualname``; one defined in a file loaded by path (``floe run
examples/hello.py:hello``) or in the script Python runs as ``__main__`` is the file's
absolute path and the name.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from ._errors import ImportPathError

__all__ = ["import_target", "target_of"]

_FILE_ATTRIBUTE = "__floe_target_file__"
"""Set on a module loaded from a file by path: the file, for the targets of its workflows."""


def target_of(function: Callable[..., Any]) -> str:
    """The target that loads *function* again in another process."""
    qualname = getattr(function, "__qualname__", None) or getattr(function, "__name__", "?")
    module_name = getattr(function, "__module__", None) or "?"
    module = sys.modules.get(module_name)
    loaded_from = getattr(module, _FILE_ATTRIBUTE, None)
    if isinstance(loaded_from, str):
        return f"{loaded_from}:{qualname}"
    if module_name == "__main__" and module is not None:
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.name:  # python -m package.module
            return f"{spec.name}:{qualname}"
        path = getattr(module, "__file__", None)
        if path:
            return f"{Path(path).resolve()}:{qualname}"
    return f"{module_name}:{qualname}"


def import_target(target: str) -> Any:
    """The object *target* names; any failure is an :class:`ImportPathError` with its cause."""
    if not isinstance(target, str) or ":" not in target:
        raise ImportPathError(
            f"Malformed workflow target {target!r}",
            why="A target names a module or a file, a colon, and the workflow's name.",
            fix="Write 'package.module:name' or 'path/to/file.py:name'.",
            context={"target": target},
        )
    location, _, attribute = target.rpartition(":")
    if not location or not attribute:
        raise ImportPathError(
            f"Malformed workflow target {target!r}",
            fix="Write 'package.module:name' or 'path/to/file.py:name'.",
            context={"target": target},
        )
    if _is_file(location):
        module = _load_file(location, target)
    else:
        module = _import_module(location, target)
    found: Any = module
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise ImportPathError(
                f"{location!r} has no {attribute!r} for the workflow target {target!r}",
                why=f"{type(found).__name__} {getattr(found, '__name__', found)!r} has no "
                f"attribute {part!r}.",
                fix="Check the name after the colon; a workflow defined inside a function "
                "cannot be loaded by name.",
                context={"target": target},
            ) from None
    return found


def _is_file(location: str) -> bool:
    return location.endswith(".py") or "/" in location or os.sep in location


def _import_module(name: str, target: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        top = name.partition(".")[0]
        here = os.getcwd()
        if error.name != top or here in sys.path:
            raise _import_failed(name, target, error) from error
        # not installed, perhaps in the working directory, as 'python -m' would find it
        sys.path.insert(0, here)
        try:
            return importlib.import_module(name)
        except Exception as retried:
            sys.path.remove(here)
            raise _import_failed(name, target, retried) from retried
    except Exception as error:
        raise _import_failed(name, target, error) from error


def _import_failed(name: str, target: str, error: BaseException) -> ImportPathError:
    return ImportPathError(
        f"Cannot import module {name!r} for the workflow target {target!r}",
        why=_cause(error),
        fix="Check the module's name, that it is installed or in the working directory, "
        "and that it imports without errors.",
        context={"target": target},
    )


def _load_file(location: str, target: str) -> ModuleType:
    path = Path(location).expanduser().resolve()
    if not path.is_file():
        raise ImportPathError(
            f"No file {location!r} for the workflow target {target!r}",
            why=f"{path} does not exist or is not a file.",
            fix="Check the path (relative paths start in the working directory).",
            context={"target": target},
        )
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    if main is not None and main_file and Path(main_file).resolve() == path:
        return main  # the running script: executing it again would run it twice
    digest = hashlib.sha256(str(path).encode("utf-8", "surrogatepass")).hexdigest()[:12]
    stem = re.sub(r"\W", "_", path.stem)
    name = f"floe_file_{stem}_{digest}"
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportPathError(
            f"Cannot load {location!r} as Python for the workflow target {target!r}",
            fix="Name a .py file.",
            context={"target": target},
        )
    module = importlib.util.module_from_spec(spec)
    setattr(module, _FILE_ATTRIBUTE, str(path))
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)  # its sibling modules import, as when Python runs it
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[name]
        raise ImportPathError(
            f"Loading {location!r} for the workflow target {target!r} failed",
            why=_cause(error),
            fix="Fix the error in the file.",
            context={"target": target},
        ) from error
    return module


def _cause(error: BaseException) -> str:
    """The error and where it was raised, e.g. ``NameError: ... (at hello.py:3)``."""
    cause = f"{type(error).__name__}: {error}"
    frames = traceback.extract_tb(error.__traceback__)
    if frames and not isinstance(error, SyntaxError):  # a SyntaxError names its line
        cause += f" (at {frames[-1].filename}:{frames[-1].lineno})"
    return cause
