"""``import floe`` stays light: no event loop library, no sqlite3, no CLI library."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_import_floe_loads_neither_trio_nor_sqlite3_nor_click() -> None:
    heavy = ("trio", "sqlite3", "click", "rich", "yaml")
    probe = f"import sys, floe; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


def _listed_order(name: str) -> tuple[int, str]:
    # ruff's order for __all__ (RUF022): CONSTANTS, then Classes, then functions
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def test_public_api_is_explicit() -> None:
    import floe

    assert sorted(floe.__all__, key=_listed_order) == floe.__all__
    for name in floe.__all__:
        assert hasattr(floe, name), name
    assert len(floe.__all__) == len(set(floe.__all__))


@pytest.mark.parametrize(
    ("former", "current"), [("Graph", "TaskGraph"), ("GraphResult", "TaskGraphResult")]
)
def test_a_renamed_public_name_still_works_with_a_deprecation_warning(
    former: str, current: str
) -> None:
    import floe

    with pytest.warns(DeprecationWarning, match=rf"floe\.{former} is now floe\.{current}"):
        assert getattr(floe, former) is getattr(floe, current)
    assert former not in floe.__all__
