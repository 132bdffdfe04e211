"""The workflows a server offers: :class:`Catalog`, filled from modules, files and uploads.

A workflow is offered under its name. It comes from a module the server imports
(``--import pkg.mod``: every :class:`floe.Workflow` at the module's top level), from a
Python file (``--import path/to/flows.py``) or, when the server allows uploads, from a
file a client posts. A file's workflows are found by reading its syntax tree (functions
decorated with ``workflow`` or ``floe.workflow``) and then loaded by target, exactly as
``floe run path/to/flows.py:name`` and a ``floe worker`` load them, so that the target a
run records is one every worker on this machine can import again.

An uploaded file is checked before anything is stored: UTF-8, a module name, valid
Python, at least one workflow. It is then written atomically into the upload folder and
loaded; a file that fails to load is removed again. Loading a file runs its code: uploads
are off unless the server was started with ``--allow-uploads``, and take the admin role.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import anyio

import floe
from floe.storage import write_atomically
from floe_cli import import_named_module

__all__ = ["Catalog", "describe", "workflow_names_in"]

_MODULE_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}\Z")
_DECORATORS: Final = frozenset({"workflow", "floe.workflow"})


class Catalog:
    """The server's workflows by name."""

    def __init__(self) -> None:
        self._workflows: dict[str, floe.Workflow[Any, Any]] = {}

    def __len__(self) -> int:
        return len(self._workflows)

    def names(self) -> list[str]:
        return sorted(self._workflows)

    def get(self, name: str) -> floe.Workflow[Any, Any]:
        """The workflow *name*; a :class:`floe.NotFoundError` listing the others."""
        found = self._workflows.get(name)
        if found is None:
            raise floe.NotFoundError(
                f"No workflow named {name!r} on this server",
                why=f"It offers: {', '.join(self.names()) or 'none'}.",
                fix="Start the server with --import MODULE for the module defining it, "
                "or correct the name (GET /workflows lists them).",
                context={"workflow": name},
            )
        return found

    def add(self, workflow: floe.Workflow[Any, Any]) -> None:
        """Offer *workflow*; another workflow of the same name is a ConfigError."""
        known = self._workflows.get(workflow.name)
        if known is not None and known.target != workflow.target:
            raise floe.ConfigError(
                f"Two workflows are named {workflow.name!r}",
                why=f"{known.target} and {workflow.target} both define it; a client names "
                "the workflow it runs by name alone.",
                fix="Rename one of them (@floe.workflow(name=...)).",
                context={"workflow": workflow.name},
            )
        self._workflows[workflow.name] = workflow

    def import_source(self, source: str) -> list[str]:
        """Offer the workflows of *source*: a module name or a ``.py`` file's path."""
        if source.endswith(".py") or os.sep in source or "/" in source:
            found = self._load_file(Path(source))
        else:
            found = _module_workflows(source)
        if not found:
            raise floe.ConfigError(
                f"{source!r} defines no floe workflow",
                why="The server offers the workflows defined at the top level of what it imports.",
                fix="Import the module or file that defines them (@floe.workflow).",
                context={"import": source},
            )
        for workflow in found:
            self.add(workflow)
        return sorted(workflow.name for workflow in found)

    async def upload(self, folder: Path, filename: str, body: bytes) -> list[str]:
        """Check, store and load an uploaded file; the names of its workflows."""
        stem = _check_upload(filename, body)
        path = (folder / f"{stem}.py").resolve()
        if path.exists():
            raise floe.ConfigError(
                f"A workflow file named {stem}.py was uploaded before",
                why="An uploaded file is never replaced: runs of its workflows record it as "
                "their target, and replay needs the code they ran.",
                fix="Upload the new version under a new file name.",
                context={"file": f"{stem}.py"},
            )
        await anyio.to_thread.run_sync(write_atomically, path, body)
        try:
            return await anyio.to_thread.run_sync(self.import_source, str(path))
        except floe.FloeError:
            path.unlink(missing_ok=True)
            raise

    def _load_file(self, path: Path) -> list[floe.Workflow[Any, Any]]:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise floe.ImportPathError(
                f"Cannot read the workflow file {str(path)!r}",
                why=f"{type(error).__name__}: {error}",
                fix="Check the path given to --import.",
                context={"path": str(path)},
            ) from None
        names = workflow_names_in(text, where=str(path))
        return [floe.Workflow.from_target(f"{path}:{name}") for name in names]


def workflow_names_in(text: str, *, where: str) -> list[str]:
    """The top-level names *text* defines with a workflow decorator (nothing is run)."""
    try:
        tree = ast.parse(text, filename=where)
    except SyntaxError as error:
        raise floe.ConfigError(
            f"{where} is not valid Python: {error.msg} (line {error.lineno})",
            why="A workflow file is parsed before it is stored or imported.",
            fix="Correct the syntax and upload it again.",
            context={"file": where, "line": error.lineno},
        ) from None
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and any(_decorator_name(item) in _DECORATORS for item in node.decorator_list)
    ]


def describe(workflow: floe.Workflow[Any, Any]) -> dict[str, Any]:
    """What ``GET /workflows/{name}`` says of *workflow*."""
    parameters = [
        {
            "name": parameter.name,
            "annotation": _annotation(parameter.annotation),
            "required": parameter.default is inspect.Parameter.empty,
        }
        for parameter in inspect.signature(workflow.function).parameters.values()
        if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    ]
    return {
        "name": workflow.name,
        "target": workflow.target,
        "description": inspect.getdoc(workflow.function),
        "parameters": parameters,
        "timeout": workflow.timeout,
    }


def _module_workflows(module_name: str) -> list[floe.Workflow[Any, Any]]:
    module = import_named_module(module_name)
    return _unique(value for value in vars(module).values() if isinstance(value, floe.Workflow))


def _unique(found: Iterable[floe.Workflow[Any, Any]]) -> list[floe.Workflow[Any, Any]]:
    return list({id(workflow): workflow for workflow in found}.values())


def _decorator_name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return ""


def _annotation(annotation: Any) -> str | None:
    if annotation is inspect.Parameter.empty:
        return None
    return (
        annotation
        if isinstance(annotation, str)
        else getattr(annotation, "__name__", None) or repr(annotation)
    )


def _check_upload(filename: str, body: bytes) -> str:
    stem = filename[:-3] if filename.endswith(".py") else ""
    if not _MODULE_NAME.match(stem):
        raise floe.ConfigError(
            f"Invalid workflow file name {filename!r}",
            why="An uploaded file is a Python module: NAME.py, NAME a Python identifier.",
            fix="Rename the file, e.g. billing_flows.py.",
            context={"file": filename},
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise floe.ConfigError(
            f"{filename} is not UTF-8 text",
            fix="Upload the Python source file, saved as UTF-8.",
            context={"file": filename},
        ) from None
    if not workflow_names_in(text, where=filename):
        raise floe.ConfigError(
            f"{filename} defines no workflow",
            why="An uploaded file must define at least one top-level @floe.workflow function.",
            fix="Decorate the workflow functions with @floe.workflow.",
            context={"file": filename},
        )
    return stem
