"""floe-reload: hot reload of floe component configurations.

``floe watch --config C`` (the command this distribution's plugin adds) and
:func:`floe_reload.watch` (the same as an async API) watch a component config, its rules
file and the state-pack modules it names; on a change they reload the rules and the
states while the component keeps its current state. A broken edit is reported and the
last good configuration stays active.

Every floe kernel imports this package (it holds a plugin), so the names below load on
first use: the file watcher is imported only when something is watched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._watch import Reloaded, ReloadError, Watcher, watch

__all__ = ["ReloadError", "Reloaded", "Watcher", "watch"]

__version__ = "0.1.0.dev0"


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'floe_reload' has no attribute {name!r}")
    value = getattr(importlib.import_module("floe_reload._watch"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
