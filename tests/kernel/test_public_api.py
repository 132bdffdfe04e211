"""The public API is pinned: what users and plugin authors import changes only on purpose.

``public_api.txt`` lists ``__all__`` of every public module. A change to the API (a name
added, renamed or removed) fails here until the list is updated with it, so that it is
seen in review, written in CHANGELOG.md and, for a removal, deprecated first.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

PINNED = Path(__file__).with_name("public_api.txt")
PUBLIC_MODULES = ("floe", "floe.graph", "floe.hookspecs", "floe.storage", "floe.testing")


def _pinned() -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for line in PINNED.read_text(encoding="utf-8").splitlines():
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
        elif line.strip():
            current.append(line.strip())
    return sections


def test_every_public_module_is_pinned() -> None:
    assert sorted(_pinned()) == sorted(PUBLIC_MODULES)


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_the_public_names_are_the_pinned_ones(module: str) -> None:
    exported = sorted(importlib.import_module(module).__all__)
    pinned = _pinned()[module]
    added = sorted(set(exported) - set(pinned))
    removed = sorted(set(pinned) - set(exported))
    assert (added, removed) == ([], []), (
        f"{module}.__all__ changed (added {added}, removed {removed}): update "
        f"tests/kernel/public_api.txt and CHANGELOG.md; deprecate a removed name first"
    )


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_pinned_name_resolves(module: str) -> None:
    loaded = importlib.import_module(module)
    for name in _pinned()[module]:
        assert getattr(loaded, name) is not None, f"{module}.{name}"
