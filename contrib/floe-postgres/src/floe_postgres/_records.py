"""The task-result cache, component snapshots and plugins' values."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from floe import CacheEntry, Snapshot
from floe.storage import (
    check_keep_last,
    check_limit,
    check_namespace,
    check_value,
    check_value_key,
    dump_json,
    utcnow,
)

from ._connection import Connected
from ._rows import micros, micros_or_none, unstorable

if TYPE_CHECKING:
    import psycopg

    Connection = psycopg.Connection[Any]

__all__ = ["Records"]


class Records(Connected):
    """Cached task results, snapshots and plugin values: a document or value per row."""

    # -- the task-result cache ------------------------------------------------------------

    async def get_cached(self, key: str) -> CacheEntry | None:
        if unstorable(key):
            return None
        return await self._call(
            self._get_cached, key, micros(utcnow()), what="read the cache", write=False
        )

    def _get_cached(self, connection: Connection, key: str, now: int) -> CacheEntry | None:
        row = connection.execute(
            "SELECT doc FROM cache WHERE key = %s AND (expires_at IS NULL OR expires_at > %s)",
            (key, now),
        ).fetchone()
        if row is None:
            return None
        return self._decode(
            row[0], CacheEntry, table="cache", record=f"Cache entry {key!r}", key=key
        )

    async def put_cached(self, entry: CacheEntry) -> None:
        doc = dump_json(entry, where=f"the cached value under {entry.key!r}").decode()
        columns = (entry.key, micros_or_none(entry.expires_at), entry.format, doc)
        await self._call(self._put_cached, columns, what="write the cache")

    @staticmethod
    def _put_cached(connection: Connection, columns: tuple[Any, ...]) -> None:
        connection.execute(
            "INSERT INTO cache (key, expires_at, format, doc) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at,"
            " format = excluded.format, doc = excluded.doc",
            columns,
        )

    # -- component snapshots --------------------------------------------------------------

    async def save_snapshot(self, snapshot: Snapshot) -> int:
        doc = dump_json(
            snapshot, where=f"the snapshot of component {snapshot.component!r}"
        ).decode()
        columns = (snapshot.component, micros(snapshot.created_at), snapshot.format, doc)
        return await self._call(self._save_snapshot, columns, what="save a snapshot")

    @staticmethod
    def _save_snapshot(connection: Connection, columns: tuple[Any, ...]) -> int:
        row = connection.execute(
            "INSERT INTO snapshots (component, created_at, format, doc)"
            " VALUES (%s, %s, %s, %s) RETURNING id",
            columns,
        ).fetchone()
        assert row is not None
        return int(row[0])

    async def latest_snapshot(self, component: str) -> Snapshot | None:
        if unstorable(component):
            return None
        newest = await self._call(
            self._list_snapshots, component, 1, what="read snapshots", write=False
        )
        return newest[0] if newest else None

    async def list_snapshots(self, component: str, *, limit: int = 10) -> list[Snapshot]:
        check_limit(limit)
        if unstorable(component):
            return []
        return await self._call(
            self._list_snapshots, component, limit, what="read snapshots", write=False
        )

    def _list_snapshots(self, connection: Connection, component: str, limit: int) -> list[Snapshot]:
        rows = connection.execute(
            "SELECT id, doc FROM snapshots WHERE component = %s"
            " ORDER BY created_at DESC, id DESC LIMIT %s",
            (component, limit),
        ).fetchall()
        snapshots = []
        for snapshot_id, doc in rows:
            snapshot = self._decode(
                doc,
                Snapshot,
                table="snapshots",
                record=f"Snapshot {snapshot_id} of component {component!r}",
                component=component,
                snapshot_id=snapshot_id,
            )
            snapshots.append(attrs.evolve(snapshot, snapshot_id=snapshot_id))
        return snapshots

    async def prune_snapshots(self, component: str, *, keep_last: int = 10) -> int:
        check_keep_last(keep_last)
        return await self._call(self._prune_snapshots, component, keep_last, what="prune snapshots")

    @staticmethod
    def _prune_snapshots(connection: Connection, component: str, keep_last: int) -> int:
        return connection.execute(
            "DELETE FROM snapshots WHERE component = %(component)s AND id NOT IN"
            " (SELECT id FROM snapshots WHERE component = %(component)s"
            "  ORDER BY created_at DESC, id DESC LIMIT %(keep_last)s)",
            {"component": component, "keep_last": keep_last},
        ).rowcount

    # -- plugin values ----------------------------------------------------------------------

    async def get_value(self, namespace: str, key: str) -> bytes | None:
        check_value_key(namespace, key)
        return await self._call(self._get_value, namespace, key, what="read a value", write=False)

    @staticmethod
    def _get_value(connection: Connection, namespace: str, key: str) -> bytes | None:
        row = connection.execute(
            "SELECT value FROM plugin_values WHERE namespace = %s AND key = %s",
            (namespace, key),
        ).fetchone()
        return None if row is None else bytes(row[0])

    async def put_value(self, namespace: str, key: str, value: bytes) -> None:
        check_value_key(namespace, key)
        check_value(namespace, key, value)
        await self._call(self._put_value, namespace, key, value, what="write a value")

    @staticmethod
    def _put_value(connection: Connection, namespace: str, key: str, value: bytes) -> None:
        connection.execute(
            "INSERT INTO plugin_values (namespace, key, value) VALUES (%s, %s, %s)"
            " ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value",
            (namespace, key, value),
        )

    async def delete_value(self, namespace: str, key: str) -> bool:
        check_value_key(namespace, key)
        return await self._call(self._delete_value, namespace, key, what="delete a value")

    @staticmethod
    def _delete_value(connection: Connection, namespace: str, key: str) -> bool:
        cursor = connection.execute(
            "DELETE FROM plugin_values WHERE namespace = %s AND key = %s", (namespace, key)
        )
        return cursor.rowcount > 0

    async def list_keys(self, namespace: str) -> list[str]:
        check_namespace(namespace)
        return await self._call(self._list_keys, namespace, what="list value keys", write=False)

    @staticmethod
    def _list_keys(connection: Connection, namespace: str) -> list[str]:
        # collation "C" compares UTF-8 bytes, which orders as code points do
        rows = connection.execute(
            "SELECT key FROM plugin_values WHERE namespace = %s ORDER BY key", (namespace,)
        ).fetchall()
        return [str(row[0]) for row in rows]
