"""The blocking half of the JSON store: the directory layout, its documents, its lock.

Everything here touches the disk and runs in a worker thread; :class:`~floe_json.JSONStore`
calls it through ``anyio.to_thread``. The layout of a store directory::

    <dir>/.lock                          taken (flock) by every writer, in any process
    <dir>/store.json                     the id counter (run order, snapshot ids); rebuilt
                                         from the other files when it is missing
    <dir>/runs/<name>.json               one run: its record and its whole journal
    <dir>/cache/<name>.json              one cached task result
    <dir>/snapshots/<name>.json          every snapshot of one component
    <dir>/values/<namespace>/<name>.json one plugin value (the key-value capability)

``<name>`` is :func:`file_name` of the run id, cache key, component or value key: a
readable slug plus a hash of the exact string, so any string maps to one file inside the
directory. A namespace is a folder name as it is: the store checks it is a safe one first.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import attrs
import orjson

from floe import (
    CacheEntry,
    DamagedRecord,
    Event,
    NotFoundError,
    PersistenceError,
    Run,
    RunQuery,
    Snapshot,
)
from floe.storage import (
    FORMAT_VERSION,
    ClaimRequest,
    after_cursor,
    check_append,
    check_finite,
    claim_budgets,
    claimable_now,
    create_private_file,
    decode_document,
    encode_value,
    lease_held,
    lease_live,
    make_private_directories,
    partition_heads,
    pick_claims,
    queue_usage,
    to_document,
    utcnow,
    write_atomically,
)

if sys.platform != "win32":
    import fcntl

__all__ = [
    "JSONDirectory",
    "RunFile",
    "RunFileHeader",
    "SnapshotFile",
    "StoreFile",
    "ValueFile",
    "file_name",
]

T = TypeVar("T")

_JSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SLUG_LENGTH = 48
_RENAMED = "Each file is named after the exact id it holds; this one was copied or renamed."
_RESTORE = "Restore the file from a backup or delete it; floe left it untouched."
_REBUILD_COUNTER = (
    "Delete store.json: floe rebuilds the counter from the run and snapshot files at the "
    "next write, so no id is given out twice. floe left it untouched."
)


# -- documents -----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RunFile:
    """``runs/<name>.json``: a run's record and its journal, in order."""

    format: int = FORMAT_VERSION
    run: Run
    order: int
    """Creation order across the directory: breaks ``created_at`` ties in listings."""
    events: list[Event] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class RunFileHeader:
    """A run file read without structuring its journal (listing and ``get_run``)."""

    format: int = FORMAT_VERSION
    run: Run
    order: int


@attrs.frozen(kw_only=True)
class SnapshotFile:
    """``snapshots/<name>.json``: every snapshot of one component, oldest id first."""

    format: int = FORMAT_VERSION
    component: str
    snapshots: list[Snapshot] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class StoreFile:
    """``store.json``: the counter behind run order and snapshot ids."""

    format: int = FORMAT_VERSION
    next_id: int = 1


@attrs.frozen(kw_only=True)
class ValueFile:
    """``values/<namespace>/<name>.json``: one plugin value, as standard base64."""

    format: int = FORMAT_VERSION
    namespace: str
    key: str
    value: str
    """The bytes in standard base64 (RFC 4648), decodable with ``base64 -d``."""


def file_name(name: str) -> str:
    """The file name for a run id, cache key or component: safe anywhere, unique to *name*.

    The slug keeps the directory browsable; the hash of the exact string keeps names
    apart that differ only in case or in characters the slug replaces, and no name
    can reach outside its folder (no ``/``, no leading dot).
    """
    slug = _slug(name)
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{slug}-{digest}.json" if slug else f"{digest}.json"


def _slug(name: str) -> str:
    # character by character, so the slug of a prefix of a name starts its name's slug
    return _UNSAFE.sub("_", name).lstrip(".-")[:_SLUG_LENGTH]


def _run_name(document: Any) -> tuple[str, dict[str, Any]] | None:
    """``Run '<id>'`` from a parsed run file, if it holds a run id at all."""
    run = document.get("run") if isinstance(document, dict) else None
    run_id = run.get("run_id") if isinstance(run, dict) else None
    return (f"Run {run_id!r}", {"run_id": run_id}) if isinstance(run_id, str) else None


# -- the directory -------------------------------------------------------------------------


class JSONDirectory:
    """One store directory. Blocking: every method runs in a worker thread.

    Methods that change files must run inside :meth:`locked_call`, which holds the
    directory's OS lock, so that read-check-write sequences are atomic across processes.
    """

    def __init__(self, root: Path, *, url: str) -> None:
        self.root = root
        self.url = url
        self.runs = root / "runs"
        self.cache = root / "cache"
        self.snapshots = root / "snapshots"
        self.values = root / "values"
        self.store_path = root / "store.json"
        self._lock_fd: int | None = None

    # -- opening and locking ---------------------------------------------------------

    def open(self) -> None:
        """Create the layout (if new), open the lock file and check the store's format."""
        if sys.platform == "win32":  # pragma: no cover - the test matrix is POSIX
            raise PersistenceError(
                f"The JSON store {self.url} needs POSIX file locks",
                why="It serializes writers from several processes with fcntl.flock.",
                fix="Use the sqlite store on Windows.",
                context={"url": self.url},
            )
        try:
            for folder in (self.runs, self.cache, self.snapshots):
                make_private_directories(folder)  # owner-only, as every file in them
            create_private_file(self.root / ".lock")
            self._lock_fd = os.open(self.root / ".lock", os.O_RDWR)
        except OSError as error:
            raise self._unusable(error) from error
        try:
            self.locked_call(JSONDirectory._ensure_store_file)
        except BaseException:
            self.close()
            raise

    def _unusable(self, error: OSError) -> PersistenceError:
        if self.root.exists() and not self.root.is_dir():
            why = f"{self.root} exists and is not a directory."
        else:
            why = f"{type(error).__name__}: {error.strerror or error}"
            if error.filename:
                why += f" ({error.filename})"
        return PersistenceError(
            f"Cannot use {self.root} as the directory of the JSON store {self.url}",
            why=why,
            fix="Point the json:// URL at a directory floe may create and write to.",
            context={"url": self.url, "path": str(self.root)},
        )

    def _ensure_store_file(self) -> None:
        if self._load_counter() is None:
            self._save_counter(StoreFile(next_id=self._first_free_id()))

    def _load_counter(self) -> StoreFile | None:
        try:
            return self._load(self.store_path, StoreFile, what="The store file", context={})
        except PersistenceError as error:
            # the generic fix (delete it) is safe for this file: say why
            raise PersistenceError(
                error.what, why=error.why, fix=_REBUILD_COUNTER, context=error.context
            ) from error

    def _save_counter(self, state: StoreFile) -> None:
        self._save(self.store_path, state, what="the store file", context={})

    def _first_free_id(self) -> int:
        """One more than every id the files hold: run orders and snapshot ids.

        Run when ``store.json`` is missing (new, or deleted): a fresh counter must not
        hand out an id again. Files that cannot be read are skipped here; reading them
        reports them.
        """
        highest = 0
        for document in self._raw_documents(self.runs):
            order = document.get("order")
            if type(order) is int:
                highest = max(highest, order)
        for document in self._raw_documents(self.snapshots):
            snapshots = document.get("snapshots")
            for snapshot in snapshots if isinstance(snapshots, list) else ():
                found = snapshot.get("snapshot_id") if isinstance(snapshot, dict) else None
                if type(found) is int:
                    highest = max(highest, found)
        return highest + 1

    @staticmethod
    def _raw_documents(folder: Path) -> Iterator[dict[str, Any]]:
        try:
            paths = [path for path in folder.glob("*.json") if not path.name.startswith(".")]
        except OSError:
            return
        for path in paths:
            try:
                document = orjson.loads(path.read_bytes())
            except (OSError, orjson.JSONDecodeError):
                continue
            if isinstance(document, dict):
                yield document

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        if self._lock_fd is None:
            raise PersistenceError(
                f"The JSON store {self.url} is not open",
                fix="Use the store as 'async with store: ...'.",
                context={"url": self.url},
            )
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def locked_call(self, operation: Callable[[JSONDirectory], T]) -> T:
        """Run *operation* holding the directory's OS lock (blocks until it is free)."""
        with self._locked():
            return operation(self)

    # -- reading and writing documents ------------------------------------------------

    def _load(
        self,
        path: Path,
        cls: type[T],
        *,
        what: str,
        context: Mapping[str, Any],
        name: Callable[[Any], tuple[str, dict[str, Any]] | None] | None = None,
    ) -> T | None:
        """The document at *path* as *cls*; None if there is no file.

        Corrupt files and files of a newer format raise :class:`PersistenceError` naming
        *what* and the path, and are never modified. *name*, when given, finds a better
        *what* (and context) in the parsed document.
        """
        context = {**context, "path": str(path)}
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise PersistenceError(
                f"Cannot read {what} from {path}",
                why=f"{type(error).__name__}: {error.strerror or error}",
                fix="Check that the file is readable.",
                context=context,
            ) from error
        try:
            document = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise PersistenceError(
                f"{what} in {path} is not valid JSON", why=str(error), fix=_RESTORE, context=context
            ) from error
        named = name(document) if name is not None else None
        if named is not None:
            what, found_context = named
            context = {**found_context, **context}
        try:
            return decode_document(document, cls, where=f"{what} in {path}")
        except PersistenceError as error:
            raise PersistenceError(
                error.what, why=error.why, fix=error.fix, context={**error.context, **context}
            ) from error

    def _save(self, path: Path, document: Any, *, what: str, context: Mapping[str, Any]) -> None:
        """Write *document* as indented JSON, atomically (the old file or the new, never half)."""
        try:
            plain = to_document(document)
            body = orjson.dumps(plain, option=_JSON_OPTIONS)
        except (TypeError, RecursionError):
            # the converter's own check names the value that cannot be stored
            encode_value(document, where=what)
            raise
        if body.find(b"null") >= 0:  # orjson writes NaN and ±inf as null
            check_finite(plain, where=what)
        try:
            write_atomically(path, body)
        except OSError as error:
            raise PersistenceError(
                f"Cannot write {what} to {path}",
                why=f"{type(error).__name__}: {error.strerror or error}",
                fix="Check free disk space and the directory's permissions.",
                context={**context, "path": str(path)},
            ) from error

    def _mismatch(self, path: Path, kind: str, expected: str, found: str) -> PersistenceError:
        return PersistenceError(
            f"{path} holds {kind} {found!r}, not {expected!r}",
            why=_RENAMED,
            fix="Move the file back to its own name or delete it.",
            context={"path": str(path), kind.replace(" ", "_"): expected},
        )

    # -- runs ---------------------------------------------------------------------------

    def run_path(self, run_id: str) -> Path:
        return self.runs / file_name(run_id)

    def read_run(self, run_id: str) -> RunFile | None:
        path = self.run_path(run_id)
        found = self._load(path, RunFile, what=f"Run {run_id!r}", context={"run_id": run_id})
        if found is not None and found.run.run_id != run_id:
            raise self._mismatch(path, "run id", run_id, found.run.run_id)
        return found

    def read_run_header(self, run_id: str) -> RunFileHeader | None:
        return self._read_header(self.run_path(run_id), run_id)

    def _read_header(self, path: Path, run_id: str | None) -> RunFileHeader | None:
        if run_id is None:  # listing: name the run if the file still says which it is
            found = self._load(path, RunFileHeader, what="A run", context={}, name=_run_name)
        else:
            what = f"Run {run_id!r}"
            found = self._load(path, RunFileHeader, what=what, context={"run_id": run_id})
        if found is None:
            return None
        if run_id is not None and found.run.run_id != run_id:
            raise self._mismatch(path, "run id", run_id, found.run.run_id)
        if run_id is None and file_name(found.run.run_id) != path.name:
            own_name = file_name(found.run.run_id)
            raise PersistenceError(
                f"{path} holds run {found.run.run_id!r}, whose file is {own_name}",
                why=_RENAMED,
                fix="Move the file back to its own name or delete it.",
                context={"path": str(path), "run_id": found.run.run_id},
            )
        return found

    def _write_run(self, document: RunFile) -> None:
        run_id = document.run.run_id
        self._save(
            self.run_path(run_id), document, what=f"run {run_id!r}", context={"run_id": run_id}
        )

    def create_run(self, run: Run) -> None:
        path = self.run_path(run.run_id)
        if path.exists():
            raise PersistenceError(
                f"Run {run.run_id!r} already exists in {self.url}",
                fix="Use a new run id, or load the existing run with get_run().",
                context={"run_id": run.run_id, "path": str(path)},
            )
        order = self.next_id()
        self._write_run(RunFile(run=attrs.evolve(run, last_seq=0), order=order))

    def _existing_run(self, run_id: str) -> RunFile:
        current = self.read_run(run_id)
        if current is None:
            raise NotFoundError(
                f"Run {run_id!r} does not exist in {self.url}",
                fix="Create the run with create_run() first.",
                context={"run_id": run_id},
            )
        return current

    def update_run(self, run: Run) -> None:
        current = self._existing_run(run.run_id)
        record = attrs.evolve(run, last_seq=current.run.last_seq)
        self._write_run(attrs.evolve(current, run=record))

    def append_events(self, run_id: str, events: Sequence[Event], run: Run | None) -> None:
        current = self.read_run(run_id)
        last_seq = current.run.last_seq if current else None
        check_append(run_id, events, last_seq, where=self.url, run=run)
        assert current is not None  # check_append raised otherwise
        if not events and run is None:
            return
        last_seq = events[-1].seq if events else current.run.last_seq
        record = attrs.evolve(run if run is not None else current.run, last_seq=last_seq)
        self._write_run(attrs.evolve(current, run=record, events=[*current.events, *events]))

    def read_events(self, run_id: str, after_seq: int, limit: int | None) -> list[Event]:
        current = self.read_run(run_id)
        if current is None:
            return []
        selected = [event for event in current.events if event.seq > after_seq]
        return selected if limit is None else selected[:limit]

    def _headers(
        self, name_start: str = "", damaged: list[DamagedRecord] | None = None
    ) -> list[RunFileHeader]:
        """The runs whose file name starts with *name_start*; a damaged file raises, or goes
        to *damaged* when given."""
        try:
            with os.scandir(self.runs) as entries:
                # dot files are write-in-progress temporaries
                paths = [
                    Path(entry.path)
                    for entry in entries
                    if entry.name.endswith(".json")
                    and not entry.name.startswith(".")
                    and entry.name.startswith(name_start)
                ]
        except FileNotFoundError:
            return []  # no run written since the folder was removed
        except OSError as error:
            raise PersistenceError(
                f"Cannot list the runs in {self.runs}",
                why=f"{type(error).__name__}: {error.strerror or error}",
                fix="Check that the folder is a readable directory.",
                context={"url": self.url, "path": str(self.runs)},
            ) from error
        headers = []
        for path in paths:
            try:
                header = self._read_header(path, None)
            except PersistenceError as error:
                if damaged is None:
                    raise
                run_id = error.context.get("run_id")
                damaged.append(DamagedRecord.from_error(error, run_id=run_id, location=str(path)))
                continue
            if header is not None:  # None: removed since
                headers.append(header)
        return headers

    def list_runs(self, query: RunQuery, damaged: list[DamagedRecord] | None = None) -> list[Run]:
        """The runs matching *query*; damaged files raise, or go to *damaged* when given."""
        # every run is sorted, not only the matching ones: the cursor need not match.
        # The run id settles a tie of orders (files copied in, or a counter rebuilt while
        # a file was unreadable), so that the order stays total and a cursor exact.
        ordered = sorted(
            self._headers(damaged=damaged),
            key=lambda header: (header.run.created_at, header.order, header.run.run_id),
            reverse=True,
        )
        after = after_cursor(ordered, query.after, lambda header: header.run.run_id, where=self.url)
        matching = [
            header.run
            for header in after
            if (query.status is None or header.run.status == query.status)
            and (query.name is None or header.run.name == query.name)
            and (query.kind is None or header.run.kind == query.kind)
            and (query.parent_id is None or header.run.parent_id == query.parent_id)
        ]
        return matching[query.offset : query.offset + query.limit]

    def find_run_ids(self, prefix: str, limit: int) -> list[str]:
        # a run's file name starts with the slug of its id: only the files whose name
        # starts with the prefix's slug are read
        headers = self._headers(_slug(prefix))
        return sorted(h.run.run_id for h in headers if h.run.run_id.startswith(prefix))[:limit]

    def next_id(self, *, above: int = 0) -> int:
        """The next number of the directory-wide counter (call it holding the lock).

        *above* is an id known to be taken (the caller's newest snapshot): a counter
        behind it (``store.json`` restored from an old backup) is rebuilt from the files.
        """
        state = self._load_counter() or StoreFile(next_id=self._first_free_id())
        if state.next_id <= above:
            state = StoreFile(next_id=max(self._first_free_id(), above + 1))
        self._save_counter(attrs.evolve(state, next_id=state.next_id + 1))
        return state.next_id

    # -- cache --------------------------------------------------------------------------

    def cache_path(self, key: str) -> Path:
        return self.cache / file_name(key)

    def get_cached(self, key: str) -> CacheEntry | None:
        path = self.cache_path(key)
        entry = self._load(path, CacheEntry, what=f"Cache entry {key!r}", context={"key": key})
        if entry is not None and entry.key != key:
            raise self._mismatch(path, "cache key", key, entry.key)
        return entry

    def put_cached(self, entry: CacheEntry) -> None:
        self.get_cached(entry.key)  # refuses to replace a corrupt or newer file
        self._save(
            self.cache_path(entry.key),
            entry,
            what=f"cache entry {entry.key!r}",
            context={"key": entry.key},
        )

    # -- snapshots ----------------------------------------------------------------------

    def snapshot_path(self, component: str) -> Path:
        return self.snapshots / file_name(component)

    def read_snapshots(self, component: str) -> list[Snapshot]:
        """The component's snapshots, newest first (ties: the last inserted first)."""
        path = self.snapshot_path(component)
        found = self._load(
            path,
            SnapshotFile,
            what=f"Snapshots of component {component!r}",
            context={"component": component},
        )
        if found is None:
            return []
        if found.component != component:
            raise self._mismatch(path, "component", component, found.component)
        return sorted(
            found.snapshots, key=lambda s: (s.created_at, s.snapshot_id or 0), reverse=True
        )

    def _write_snapshots(self, component: str, snapshots: list[Snapshot]) -> None:
        by_id = sorted(snapshots, key=lambda s: s.snapshot_id or 0)
        self._save(
            self.snapshot_path(component),
            SnapshotFile(component=component, snapshots=by_id),
            what=f"snapshots of component {component!r}",
            context={"component": component},
        )

    def save_snapshot(self, snapshot: Snapshot) -> int:
        history = self.read_snapshots(snapshot.component)
        snapshot_id = self.next_id(above=max((s.snapshot_id or 0 for s in history), default=0))
        saved = attrs.evolve(snapshot, snapshot_id=snapshot_id)
        self._write_snapshots(snapshot.component, [*history, saved])
        return snapshot_id

    def prune_snapshots(self, component: str, keep_last: int) -> int:
        newest = self.read_snapshots(component)
        dropped = len(newest[keep_last:])
        if dropped:
            self._write_snapshots(component, newest[:keep_last])
        return dropped

    # -- plugin values ------------------------------------------------------------------

    def value_path(self, namespace: str, key: str) -> Path:
        return self.values / namespace / file_name(key)

    def _read_value(self, path: Path, namespace: str, key: str | None) -> ValueFile | None:
        """The value file at *path*; *key* None when listing (the file names its key)."""
        what = f"Value {key!r} of namespace {namespace!r}" if key is not None else "A value"
        context = {"namespace": namespace, **({"key": key} if key is not None else {})}
        found = self._load(path, ValueFile, what=what, context=context)
        if found is None:
            return None
        if key is not None and found.key != key:
            raise self._mismatch(path, "key", key, found.key)
        own_name = file_name(found.key)
        if found.namespace != namespace or own_name != path.name:
            raise PersistenceError(
                f"{path} holds the value {found.key!r} of namespace {found.namespace!r}, "
                f"whose file is values/{found.namespace}/{own_name}",
                why=_RENAMED,
                fix="Move the file back to its own name or delete it.",
                context={"path": str(path), "namespace": namespace, "key": found.key},
            )
        return found

    def get_value(self, namespace: str, key: str) -> bytes | None:
        path = self.value_path(namespace, key)
        found = self._read_value(path, namespace, key)
        if found is None:
            return None
        try:
            return base64.b64decode(found.value, validate=True)
        except binascii.Error as error:
            raise PersistenceError(
                f"Value {key!r} of namespace {namespace!r} in {path} is not valid base64",
                why=str(error),
                fix=_RESTORE,
                context={"namespace": namespace, "key": key, "path": str(path)},
            ) from error

    def put_value(self, namespace: str, key: str, value: bytes) -> None:
        path = self.value_path(namespace, key)
        self._read_value(path, namespace, key)  # refuses to replace a corrupt or newer file
        document = ValueFile(
            namespace=namespace, key=key, value=base64.b64encode(value).decode("ascii")
        )
        self._save(
            path,
            document,
            what=f"value {key!r} of namespace {namespace!r}",
            context={"namespace": namespace, "key": key},
        )

    def delete_value(self, namespace: str, key: str) -> bool:
        path = self.value_path(namespace, key)
        if self._read_value(path, namespace, key) is None:
            return False
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        except OSError as error:
            raise PersistenceError(
                f"Cannot delete value {key!r} of namespace {namespace!r} ({path})",
                why=f"{type(error).__name__}: {error.strerror or error}",
                fix="Check the directory's permissions.",
                context={"namespace": namespace, "key": key, "path": str(path)},
            ) from error
        return True

    def list_keys(self, namespace: str) -> list[str]:
        folder = self.values / namespace
        try:
            with os.scandir(folder) as entries:
                # dot files are write-in-progress temporaries
                paths = [
                    Path(entry.path)
                    for entry in entries
                    if entry.name.endswith(".json") and not entry.name.startswith(".")
                ]
        except FileNotFoundError:
            return []  # nothing stored in this namespace yet
        except OSError as error:
            raise PersistenceError(
                f"Cannot list the values of namespace {namespace!r} in {folder}",
                why=f"{type(error).__name__}: {error.strerror or error}",
                fix="Check that the folder is a readable directory.",
                context={"url": self.url, "path": str(folder), "namespace": namespace},
            ) from error
        found = (self._read_value(path, namespace, None) for path in paths)
        return sorted(value.key for value in found if value is not None)  # None: removed since

    # -- leases -------------------------------------------------------------------------

    def claim_runs(self, claim: ClaimRequest) -> list[Run]:
        headers = sorted(self._headers(), key=lambda header: header.order)
        runs = [header.run for header in headers]
        usage = queue_usage(runs, claim.limits, claim.owner, claim.now)
        budgets = claim_budgets(claim.limits, usage)
        heads = partition_heads(runs)
        candidates = sorted(
            (
                header
                for header in headers
                if header.run.run_id in heads and claimable_now(header.run, claim.now, claim.queues)
            ),
            key=lambda header: (-header.run.priority, header.run.runnable_at, header.order),
        )
        claimed = []
        for run in pick_claims([header.run for header in candidates], budgets, claim.limit):
            current = self._existing_run(run.run_id)
            leased = claim.lease(current.run)
            self._write_run(attrs.evolve(current, run=leased))
            claimed.append(leased)
        return claimed

    def acquire_lease(
        self, run_id: str, owner: str, lease_seconds: float, now: datetime | None
    ) -> Run:
        current = self._existing_run(run_id)
        now = now or utcnow()
        if lease_live(current.run, owner, now):
            raise lease_held(current.run, self.url)
        expires = now + timedelta(seconds=lease_seconds)
        leased = attrs.evolve(current.run, lease_owner=owner, lease_expires_at=expires)
        self._write_run(attrs.evolve(current, run=leased))
        return leased

    def renew_lease(self, run_id: str, owner: str, lease_seconds: float) -> bool:
        current = self.read_run(run_id)
        now = utcnow()
        if (
            current is None
            or current.run.lease_owner != owner
            or (current.run.lease_expires_at is not None and current.run.lease_expires_at <= now)
        ):
            return False
        renewed = attrs.evolve(current.run, lease_expires_at=now + timedelta(seconds=lease_seconds))
        self._write_run(attrs.evolve(current, run=renewed))
        return True

    def release_lease(self, run_id: str, owner: str) -> None:
        current = self.read_run(run_id)
        if current is not None and current.run.lease_owner == owner:
            released = attrs.evolve(current.run, lease_owner=None, lease_expires_at=None)
            self._write_run(attrs.evolve(current, run=released))
