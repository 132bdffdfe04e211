"""floe_sqlite: the SQLite store, floe's default (``sqlite:///.floe/floe.db``).

One database file in WAL mode, shared safely by several processes; all SQLite work runs
in one writer thread per store, which commits concurrent writes together (group
commit). URL: ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``, with
the option ``?synchronous=normal|full|off``.

The store module (and ``sqlite3``) is imported only when a ``sqlite://`` store is
opened, so loading the plugin costs nothing for other stores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from floe import StoreURL, hookimpl

if TYPE_CHECKING:
    from ._store import SQLiteStatistics, SQLiteStore

__all__ = ["SQLiteStatistics", "SQLiteStore", "floe_open_store", "floe_store_schemes"]


@hookimpl
def floe_store_schemes() -> Sequence[str]:
    """This plugin's store claims ``sqlite://`` URLs."""
    return ["sqlite"]


@hookimpl
def floe_open_store(url: StoreURL) -> SQLiteStore | None:
    """An unopened :class:`SQLiteStore` for a ``sqlite://`` URL; None for other schemes."""
    if url.scheme != "sqlite":
        return None
    from ._store import SQLiteStore

    return SQLiteStore.from_url(url)


def __getattr__(name: str) -> Any:
    if name in ("SQLiteStore", "SQLiteStatistics"):
        from . import _store

        return getattr(_store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
