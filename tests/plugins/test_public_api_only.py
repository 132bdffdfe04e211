"""First-party plugins use floe as a third-party plugin must: through its public API only.

Every module of ``plugins/``, ``contrib/*/src`` and ``tests/fixtures/*/src`` is parsed
(never imported) and each reference to floe is checked: a module must be ``floe``,
``floe.hookspecs``, ``floe.storage``, ``floe.testing`` or ``floe.graph``, and a name
taken from one must be in its ``__all__``. A private module reached any other way (an
attribute such as ``floe._secrets``, or the text ``"floe._secrets"`` handed to
``importlib``) fails too. Each failure names the file and line.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE_ROOTS = (
    ROOT / "plugins",
    *sorted((ROOT / "contrib").glob("*/src")),
    *sorted((ROOT / "tests" / "fixtures").glob("*/src")),
)
PUBLIC_MODULES = ("floe", "floe.graph", "floe.hookspecs", "floe.storage", "floe.testing")
_MODULE_TEXT = re.compile(r"floe(\.\w+)+")
"""A string that is a dotted floe module path, as handed to ``importlib.import_module``."""


def _is_floe(module: str) -> bool:
    return module == "floe" or module.startswith("floe.")


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _public_names(module: str) -> frozenset[str]:
    """What a plugin may import from the public *module*: its ``__all__`` (for ``floe``
    also its public submodules and ``__version__``)."""
    loaded = importlib.import_module(module)
    names = set(loaded.__all__)
    if module == "floe":
        names |= {part.rsplit(".", 1)[1] for part in PUBLIC_MODULES if "." in part}
        names.add("__version__")
    return frozenset(names)


def _dotted(node: ast.expr) -> list[str] | None:
    """``["floe", "graph", "_x"]`` for the expression ``floe.graph._x``; None for others."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id, *reversed(parts)]
    return None


def violations(source: str, filename: str) -> Iterator[str]:
    """``file:line: problem`` for each use of floe beyond its public API in *source*."""
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _is_floe(alias.name) and alias.name not in PUBLIC_MODULES:
                    yield f"{where}: imports the private module {alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if not _is_floe(node.module):
                continue
            if node.module not in PUBLIC_MODULES:
                yield f"{where}: imports from the private module {node.module}"
                continue
            public = _public_names(node.module)
            for alias in node.names:
                if alias.name != "*" and alias.name not in public:
                    yield f"{where}: imports {alias.name}, not public in {node.module}"
        elif isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Store):
            parts = _dotted(node)
            # the outermost attribute only: floe._x.y is reported once, at floe._x
            if (
                parts
                and parts[0] == "floe"
                and _private(parts[-1])
                and not any(_private(part) for part in parts[1:-1])
            ):
                yield f"{where}: uses the private {'.'.join(parts)}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if _MODULE_TEXT.fullmatch(text) and any(map(_private, text.split("."))):
                yield f"{where}: names the private module {text!r}"


def _modules() -> list[Path]:
    return sorted(path for root in SOURCE_ROOTS for path in root.rglob("*.py"))


def test_every_source_root_is_checked() -> None:
    assert (ROOT / "plugins" / "floe_cli").is_dir()
    for root in SOURCE_ROOTS:
        assert any(root.rglob("*.py")), f"no modules under {root}"
    assert {root.parent.name for root in SOURCE_ROOTS} >= {
        "floe-reload",
        "floe-extra-states",
        "floe-hello-plugin",
    }


def test_plugins_import_only_floe_public_api() -> None:
    found = [
        problem
        for path in _modules()
        for problem in violations(path.read_text("utf-8"), str(path.relative_to(ROOT)))
    ]
    assert not found, "Plugins must use floe's public API only:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("import floe._secrets", "imports the private module floe._secrets"),
        ("import floe.graph._flow as f", "imports the private module floe.graph._flow"),
        ("from floe._secrets import MASK", "imports from the private module floe._secrets"),
        ("from floe import _EXPORTS", "imports _EXPORTS, not public in floe"),
        ("from floe import load_target", "imports load_target, not public in floe"),
        ("from floe.hookspecs import _x", "imports _x, not public in floe.hookspecs"),
        ("import floe\nfloe._secrets.MASK", "uses the private floe._secrets"),
        ("import floe\nfloe.graph._flow", "uses the private floe.graph._flow"),
        ("LAZY = {'MASK': 'floe._secrets'}", "names the private module 'floe._secrets'"),
    ],
)
def test_a_private_reference_is_reported_with_its_line(source: str, problem: str) -> None:
    assert list(violations(f"\n{source}\n", "plugin.py")) == [
        f"plugin.py:{2 + source.count(chr(10))}: {problem}"
    ]


@pytest.mark.parametrize(
    "source",
    [
        "import floe\nfloe.__version__",
        "import floe.graph",
        "from floe import Engine, SECRET_MASK, graph, testing",
        "from floe.storage import utcnow",
        "from . import _crypto\nfrom ._store import NAMESPACE",
        "from floe_cli import CliState",
        "'floe.graph'",
        "'floe._secrets is where the kernel keeps them'",
    ],
)
def test_public_references_pass(source: str) -> None:
    assert list(violations(source, "plugin.py")) == []


def test_every_public_name_resolves() -> None:
    # what the check allows must exist: a name in __all__ that fails to load would pass it
    for module in PUBLIC_MODULES:
        loaded = importlib.import_module(module)
        for name in _public_names(module):
            assert hasattr(loaded, name), f"{module}.{name}"
