"""How the command line finds the user's code: installed first, then the working directory.

A console script does not put the working directory on ``sys.path`` (``python -m``
does), so ``floe run flows:hello`` or a component config naming ``shop.states:Packing``
would not find the modules of the project the command runs in. Every command that imports
user code (workflow targets, the dotted paths of a config, a run's recorded target) is
decorated with :func:`imports_project_code`, so all of them resolve a module the same way:
an installed module of that name wins, else the one in the working directory.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import ParamSpec, TypeVar

import floe

__all__ = ["import_named_module", "imports_project_code", "project_importable"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


@contextlib.contextmanager
def project_importable() -> Iterator[None]:
    """Inside the block, modules in the working directory import by name (after the
    installed ones: the directory goes to the end of ``sys.path``)."""
    here = os.getcwd()
    if here in sys.path or "" in sys.path:  # already importable ("" is the working directory)
        yield
        return
    sys.path.append(here)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):  # the user's code may have removed it
            sys.path.remove(here)


def imports_project_code(command: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run *command* with the working directory importable (see :func:`project_importable`).

    Put it directly above the command's ``def``, under click's decorators.
    """

    @functools.wraps(command)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with project_importable():
            return command(*args, **kwargs)

    return run


def import_named_module(module: str) -> ModuleType:
    """The module an ``--import MODULE`` option names, imported; an
    :class:`floe.ImportPathError` saying why not (whatever its code raised)."""
    try:
        return importlib.import_module(module)
    except Exception as error:
        raise floe.ImportPathError(
            f"Cannot import {module!r} (--import)",
            why=f"{type(error).__name__}: {error}",
            fix="Check the module's name and that it is importable from here (the "
            "working directory is on the path).",
            context={"module": module},
        ) from error
