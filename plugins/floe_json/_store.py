"""``JSONStore``: the asynchronous face of a store directory of JSON files."""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from pathlib import Path
from typing import ClassVar, TypeVar

import anyio
import anyio.to_thread

from floe import (
    CacheEntry,
    ConfigError,
    DamagedRecord,
    Event,
    PersistenceError,
    Queue,
    Run,
    RunListing,
    RunQuery,
    Snapshot,
    Store,
    StoreURL,
)
from floe.storage import (
    check_keep_last,
    check_limit,
    check_namespace,
    check_run_id_prefix,
    check_value,
    check_value_key,
    claim_request,
)

from ._files import JSONDirectory

__all__ = ["JSONStore"]

T = TypeVar("T")


class JSONStore(Store):
    """Runs, journals, cached results, snapshots and plugin values as indented JSON files.

    Made for development and debugging: every record is a file you can read, diff and
    delete. Each run is one file holding its record and its whole journal, so an append
    rewrites the run's file (atomically: write, fsync, rename). Writers in this process
    take an anyio lock and, in their worker thread, an OS lock on ``<dir>/.lock``, so
    writers in other processes are fenced too: two appends of the same ``seq`` never
    both succeed. Reads take no lock; a rename makes every file change all or nothing.

    URL: ``json:///relative/dir`` or ``json:////absolute/dir``; no options.
    """

    supports_leases: ClassVar[bool] = True

    def __init__(self, directory: str | os.PathLike[str], *, url: str | None = None) -> None:
        self.directory = Path(directory)
        self.url = url or f"json:///{self.directory}"
        self._files: JSONDirectory | None = None
        self._lock: anyio.Lock | None = None

    @classmethod
    def from_url(cls, url: StoreURL | str) -> JSONStore:
        """The store for a ``json://`` URL; :class:`floe.ConfigError` for a malformed one."""
        parsed = url if isinstance(url, StoreURL) else StoreURL.parse(url)
        if parsed.scheme != "json":
            raise ConfigError(
                f"{parsed.raw!r} is not a json:// URL",
                fix="Use json:///relative/dir or json:////absolute/dir.",
                context={"url": parsed.raw},
            )
        parsed.reject_unknown_options(())
        if parsed.host or not parsed.path:
            raise ConfigError(
                f"Store URL {parsed.raw!r} names no directory"
                if not parsed.host
                else f"Store URL {parsed.raw!r} has a host ({parsed.host!r})",
                why="A JSON store is a local directory: json:///relative/dir or "
                "json:////absolute/dir (three slashes, then the path).",
                fix="Write the directory after 'json:///', e.g. json:///.floe/json.",
                context={"url": parsed.raw},
            )
        return cls(parsed.path, url=parsed.raw)

    def __repr__(self) -> str:
        return f"JSONStore({self.url!r})"

    # -- opening ------------------------------------------------------------------------

    async def open(self) -> None:
        if self._files is not None:
            raise PersistenceError(
                f"The JSON store {self.url} is already open",
                fix="Open a store once; use a new JSONStore for a second connection.",
                context={"url": self.url},
            )
        # relative to the working directory at open time, not at each later call
        files = JSONDirectory(self.directory.absolute(), url=self.url)
        await anyio.to_thread.run_sync(files.open)
        self._files = files
        self._lock = anyio.Lock()

    async def close(self) -> None:
        files, self._files = self._files, None
        if files is None:
            await anyio.lowlevel.checkpoint()
            return
        assert self._lock is not None
        async with self._lock:
            await anyio.to_thread.run_sync(files.close)

    def _opened(self) -> tuple[JSONDirectory, anyio.Lock]:
        if self._files is None or self._lock is None:
            raise PersistenceError(
                f"The JSON store {self.url} is not open",
                fix="Use the store as 'async with store: ...' (the kernel does this for you).",
                context={"url": self.url},
            )
        return self._files, self._lock

    async def _read(self, operation: Callable[[JSONDirectory], T]) -> T:
        files, _ = self._opened()
        return await anyio.to_thread.run_sync(operation, files)

    async def _write(self, operation: Callable[[JSONDirectory], T]) -> T:
        files, lock = self._opened()
        # one worker thread of this store at a time; the OS lock it takes fences the
        # other processes (and other stores on the same directory)
        async with lock:
            return await anyio.to_thread.run_sync(files.locked_call, operation)

    # -- runs and their journals --------------------------------------------------------

    async def create_run(self, run: Run) -> None:
        await self._write(lambda files: files.create_run(run))

    async def get_run(self, run_id: str) -> Run | None:
        header = await self._read(lambda files: files.read_run_header(run_id))
        return None if header is None else header.run

    async def update_run(self, run: Run) -> None:
        await self._write(lambda files: files.update_run(run))

    async def append_events(
        self, run_id: str, events: Sequence[Event], *, run: Run | None = None
    ) -> None:
        events = list(events)
        await self._write(lambda files: files.append_events(run_id, events, run))

    async def read_events(
        self, run_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        if limit is not None:
            check_limit(limit)
        return await self._read(lambda files: files.read_events(run_id, after_seq, limit))

    async def list_runs(self, query: RunQuery = RunQuery()) -> list[Run]:
        return await self._read(lambda files: files.list_runs(query))

    async def find_run_ids(self, prefix: str, *, limit: int = 10) -> list[str]:
        check_run_id_prefix(prefix)
        check_limit(limit)
        return await self._read(lambda files: files.find_run_ids(prefix, limit))

    async def list_runs_checked(self, query: RunQuery = RunQuery()) -> RunListing:
        damaged: list[DamagedRecord] = []
        runs = await self._read(lambda files: files.list_runs(query, damaged))
        return RunListing(runs=tuple(runs), damaged=tuple(damaged))

    # -- the task-result cache ----------------------------------------------------------

    async def get_cached(self, key: str) -> CacheEntry | None:
        entry = await self._read(lambda files: files.get_cached(key))
        return None if entry is None or entry.expired() else entry

    async def put_cached(self, entry: CacheEntry) -> None:
        await self._write(lambda files: files.put_cached(entry))

    # -- component snapshots ------------------------------------------------------------

    async def save_snapshot(self, snapshot: Snapshot) -> int:
        return await self._write(lambda files: files.save_snapshot(snapshot))

    async def latest_snapshot(self, component: str) -> Snapshot | None:
        newest = await self._read(lambda files: files.read_snapshots(component))
        return newest[0] if newest else None

    async def list_snapshots(self, component: str, *, limit: int = 10) -> list[Snapshot]:
        check_limit(limit)
        newest = await self._read(lambda files: files.read_snapshots(component))
        return newest[:limit]

    async def prune_snapshots(self, component: str, *, keep_last: int = 10) -> int:
        check_keep_last(keep_last)
        return await self._write(lambda files: files.prune_snapshots(component, keep_last))

    # -- plugin values ------------------------------------------------------------------

    async def get_value(self, namespace: str, key: str) -> bytes | None:
        check_value_key(namespace, key)
        return await self._read(lambda files: files.get_value(namespace, key))

    async def put_value(self, namespace: str, key: str, value: bytes) -> None:
        check_value_key(namespace, key)
        check_value(namespace, key, value)
        await self._write(lambda files: files.put_value(namespace, key, value))

    async def delete_value(self, namespace: str, key: str) -> bool:
        check_value_key(namespace, key)
        return await self._write(lambda files: files.delete_value(namespace, key))

    async def list_keys(self, namespace: str) -> list[str]:
        check_namespace(namespace)
        return await self._read(lambda files: files.list_keys(namespace))

    # -- leases -------------------------------------------------------------------------

    async def claim_runs(
        self,
        owner: str,
        *,
        limit: int = 1,
        lease_seconds: float = 30.0,
        now: datetime | None = None,
        queues: Collection[str] | None = None,
        queue_limits: Sequence[Queue] = (),
    ) -> list[Run]:
        claim = claim_request(owner, limit, lease_seconds, now, queues, queue_limits)
        return await self._write(lambda files: files.claim_runs(claim))

    async def acquire_lease(
        self,
        run_id: str,
        owner: str,
        *,
        lease_seconds: float = 30.0,
        now: datetime | None = None,
    ) -> Run:
        return await self._write(
            lambda files: files.acquire_lease(run_id, owner, lease_seconds, now)
        )

    async def renew_lease(self, run_id: str, owner: str, *, lease_seconds: float = 30.0) -> bool:
        return await self._write(lambda files: files.renew_lease(run_id, owner, lease_seconds))

    async def release_lease(self, run_id: str, owner: str) -> None:
        await self._write(lambda files: files.release_lease(run_id, owner))
