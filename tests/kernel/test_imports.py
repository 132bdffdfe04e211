"""``import floe`` stays light: no event loop library, no sqlite3, no CLI library."""

from __future__ import annotations

import subprocess
import sys


def test_import_floe_loads_neither_trio_nor_sqlite3_nor_click() -> None:
    heavy = ("trio", "sqlite3", "click", "rich", "yaml")
    probe = f"import sys, floe; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


def test_public_api_is_explicit() -> None:
    import floe

    assert sorted(floe.__all__) == floe.__all__
    for name in floe.__all__:
        assert hasattr(floe, name), name
    assert len(floe.__all__) == len(set(floe.__all__))
