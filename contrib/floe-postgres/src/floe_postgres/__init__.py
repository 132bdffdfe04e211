"""floe_postgres: a PostgreSQL store for floe (``postgresql://user@host:5432/dbname``).

Runs, journals, cached results, snapshots and plugin values live in tables of one
PostgreSQL schema, shared by any number of processes on any number of machines; workers
claim runnable runs with ``SELECT ... FOR UPDATE SKIP LOCKED`` and a lease. Options:
``?schema=NAME`` (the PostgreSQL schema, created when missing), ``?pool_size=N`` (most
connections one store holds), ``?connect_timeout=SECONDS`` and ``?sslmode=MODE``.

The store module (and psycopg) is imported only when a ``postgresql://`` store is
opened, so loading the plugin costs nothing for other stores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from floe import StoreURL, hookimpl

if TYPE_CHECKING:
    from ._store import PostgresStore

__all__ = ["SCHEMES", "PostgresStore", "floe_open_store", "floe_store_schemes"]

SCHEMES = ("postgresql", "postgres")
"""The URL schemes of the store (libpq accepts both)."""


@hookimpl
def floe_store_schemes() -> Sequence[str]:
    """This plugin's store claims ``postgresql://`` and ``postgres://`` URLs."""
    return list(SCHEMES)


@hookimpl
def floe_open_store(url: StoreURL) -> PostgresStore | None:
    """An unopened :class:`PostgresStore` for a PostgreSQL URL; None for other schemes."""
    if url.scheme not in SCHEMES:
        return None
    from ._store import PostgresStore

    return PostgresStore.from_url(url)


def __getattr__(name: str) -> Any:
    if name == "PostgresStore":
        from . import _store

        return _store.PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
