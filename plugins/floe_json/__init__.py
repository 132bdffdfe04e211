"""floe_json: the JSON-files store, ``json:///relative/dir`` or ``json:////absolute/dir``.

A store for development and debugging: each run (record and journal), cached result,
component's snapshot history and plugin value is one indented JSON file you can open,
diff or delete::

    <dir>/runs/<name>.json        <dir>/cache/<name>.json        <dir>/snapshots/<name>.json
    <dir>/values/<namespace>/<name>.json    (the value's bytes in base64)

``<name>`` is a readable slug of the run id, cache key or component plus a hash of the
exact string (``order-42-3f2a9c1b7d4e5f60.json``); the file also records the exact string.
Every write is atomic and every file records its ``format``; files written by a newer
floe are refused and left untouched. Select it with ``FLOE_STORE=json:///.floe/json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from floe import StoreURL, hookimpl

if TYPE_CHECKING:
    from ._store import JSONStore

__all__ = ["JSONStore", "floe_open_store", "floe_store_schemes"]


def __getattr__(name: str) -> Any:
    # every kernel imports every plugin: the store module loads only when it is used
    if name == "JSONStore":
        from ._store import JSONStore

        return JSONStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def floe_store_schemes() -> Sequence[str]:
    """The scheme this plugin's store claims."""
    return ["json"]


@hookimpl
def floe_open_store(url: StoreURL) -> JSONStore | None:
    """A :class:`JSONStore` for ``json://`` URLs; None for other schemes."""
    if url.scheme != "json":
        return None
    from ._store import JSONStore

    return JSONStore.from_url(url)
