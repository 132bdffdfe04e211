"""The SQLite store: one file, WAL mode, one writer thread, group commit.

Documents (runs, cache entries, snapshots) are stored as the converter's JSON next to
the columns that queries filter and sort on; journal events are rows with their data as
JSON. Times that queries sort on are whole microseconds since the epoch (UTC), so
ordering is exact. Encoding happens on the caller's side (a value that cannot be stored
fails before it reaches the database); decoding happens in the writer thread. Plugins'
values (the key-value capability) are raw bytes in the ``plugin_values`` table.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Final, TypeVar

import anyio
import attrs
import orjson

from floe import (
    CacheEntry,
    ConfigError,
    DamagedRecord,
    Event,
    FloeError,
    NotFoundError,
    PersistenceError,
    Queue,
    Run,
    RunListing,
    RunQuery,
    RunStatus,
    Snapshot,
    Store,
    StoreURL,
)
from floe.storage import (
    FORMAT_VERSION,
    ClaimRequest,
    check_append,
    check_keep_last,
    check_limit,
    check_namespace,
    check_run_id_prefix,
    check_value,
    check_value_key,
    claim_request,
    create_private_file,
    decode_document,
    dump_json,
    lease_held,
    lease_live,
    make_private_directories,
    no_such_cursor,
    no_such_run,
    run_counts,
    utcnow,
)

from ._claims import RunnableWatch, claim_runs, due_runs
from ._schema import (
    SCHEMA_VERSION,
    check_not_newer,
    enable_write_ahead_log,
    migrate,
    read_schema_version,
)
from ._writer import WriterStatistics, WriterThread

__all__ = ["SQLiteStatistics", "SQLiteStore"]

T = TypeVar("T")

SQLiteStatistics = WriterStatistics
"""What :meth:`SQLiteStore.statistics` returns."""

SYNCHRONOUS_MODES: Final = ("normal", "full", "off")
BUSY_TIMEOUT_SECONDS: Final = 10.0
"""How long a write waits for another process's write lock before it fails."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_FIX_DAMAGED: Final = "Restore the database from a backup, or delete the damaged row."
_INSERT_EVENT: Final = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)"
_IN_LIST: Final = 500
"""Run ids per ``IN (...)`` list: well under SQLite's limit of bound parameters."""
_READ_BATCH: Final = 256
"""Journal rows fetched from SQLite at a time: the rows of a long journal are never all
held as tuples next to their events, and a small batch's rows, dropped as soon as they
are decoded, leave few holes among the events for the allocator to keep."""
_SHARED_LENGTH: Final = 64
"""The longest string of an event's data a journal read shares: names and keys repeat,
long values (a step's result) rarely do."""
_SHARED_STRINGS: Final = 4096
"""The most strings a journal read keeps for sharing (see ``_decode_rows``) before it
starts afresh: enough to span a wide fan-out's starts and ends, and bounded."""


class _Unusual(Exception):
    """A journal row that the bulk read leaves to the checked path."""


def run_ids_query(prefix: str, limit: int) -> tuple[str, dict[str, Any]]:
    """The statement and parameters of :meth:`SQLiteStore.find_run_ids`.

    A range of the run_id index (BINARY collation orders as code points do), not a scan;
    ``substr()`` keeps the result exact where the range alone is wider.
    """
    high = _above(prefix)
    sql = (
        "SELECT run_id FROM runs WHERE run_id >= :low"
        + (" AND run_id < :high" if high is not None else "")
        + " AND substr(run_id, 1, :length) = :low ORDER BY run_id LIMIT :limit"
    )
    return sql, {"low": prefix, "high": high, "length": len(prefix), "limit": limit}


def _above(prefix: str) -> str | None:
    """A string above every string that starts with *prefix*, or None if there is none.

    The last character that can be is raised by one code point (the surrogates, which
    UTF-8 cannot hold, are skipped); what follows it is dropped.
    """
    for index in range(len(prefix) - 1, -1, -1):
        code = ord(prefix[index]) + 1
        if 0xD800 <= code <= 0xDFFF:
            code = 0xE000
        if code <= 0x10FFFF:
            return prefix[:index] + chr(code)
    return None


def _micros(moment: datetime) -> int:
    """Exact microseconds since the epoch; naive times are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def _micros_or_none(moment: datetime | None) -> int | None:
    return None if moment is None else _micros(moment)


class SQLiteStore(Store):
    """A :class:`floe.Store` in one SQLite file; the default store of floe.

    ``sqlite:///relative/path.db`` (relative to the working directory) or
    ``sqlite:////absolute/path.db``; option ``?synchronous=normal|full|off``
    (default ``normal``: durable against process crashes, and against power loss
    up to the last few commits). Several processes may share the file.
    """

    supports_leases: ClassVar[bool] = True
    groups_appends: ClassVar[bool] = True

    def __init__(
        self, path: str | os.PathLike[str], *, synchronous: str = "normal", url: str | None = None
    ) -> None:
        if synchronous not in SYNCHRONOUS_MODES:
            raise ConfigError(
                f"Invalid synchronous={synchronous!r} for the SQLite store",
                why=f"synchronous must be one of: {', '.join(SYNCHRONOUS_MODES)}.",
                fix="Use 'normal' (the default), 'full' or 'off'.",
            )
        text = os.fspath(path)
        if not text:
            raise ConfigError(
                "The SQLite store needs a file path",
                fix="Use a URL such as 'sqlite:///.floe/floe.db' (relative) or "
                "'sqlite:////var/lib/floe.db' (absolute).",
                context={"url": url} if url else None,
            )
        # resolved now, so that a later chdir does not move the store
        self.path = os.path.abspath(text)
        self.synchronous = synchronous
        self.url = url or f"sqlite:///{self.path}"
        self._writer: WriterThread | None = None
        self._watch = RunnableWatch(self._connect_watch, self._due_runs)
        self._arriving = 0
        """Appends between their checkpoint and their write (on the event loop)."""
        self._opening = False
        self._last_statistics = WriterStatistics(0, 0, 0, 0, 0, 0)

    @classmethod
    def from_url(cls, url: StoreURL) -> SQLiteStore:
        """The store for a parsed ``sqlite://`` URL (not opened yet)."""
        url.reject_unknown_options(("synchronous",))
        if url.host:
            raise ConfigError(
                f"The SQLite store URL {url.raw!r} names a host ({url.host!r})",
                why="SQLite files are local; the part after 'sqlite://' must be empty.",
                fix="Use three slashes for a relative path (sqlite:///data/floe.db) "
                "or four for an absolute one (sqlite:////var/lib/floe.db).",
                context={"url": url.raw},
            )
        synchronous = url.option("synchronous", SYNCHRONOUS_MODES, "normal")
        return cls(url.path, synchronous=synchronous, url=url.raw)

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r}, synchronous={self.synchronous!r})"

    # -- lifecycle ----------------------------------------------------------------------

    async def open(self) -> None:
        """Start the writer thread: create the file, set the pragmas, migrate the schema."""
        if self._writer is not None or self._opening:
            raise PersistenceError(
                f"The SQLite store {self.path} is already open",
                fix="Open a store once; use a second SQLiteStore for a second connection.",
                context={"database": self.path},
            )
        self._opening = True
        try:
            writer = WriterThread(
                self._connect,
                path=self.path,
                name=f"floe-sqlite-writer {self.path}",
                # a commit that syncs (synchronous=full) blocks: those stay on the thread
                connect_immediate=None if self.synchronous == "full" else self._connect_immediate,
            )
            await writer.start()
        finally:
            self._opening = False
        self._writer = writer

    async def close(self) -> None:
        """Finish the queued calls, close the connection and stop the thread."""
        self._watch.close()
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                await writer.stop()
            finally:
                self._last_statistics = writer.statistics()

    def statistics(self) -> SQLiteStatistics:
        """Counters of the writer thread: transactions, writes, reads, batches."""
        writer = self._writer
        return writer.statistics() if writer is not None else self._last_statistics

    async def pragmas(self) -> dict[str, Any]:
        """The connection's settings, for diagnostics: journal mode, synchronous, timeout.

        ``synchronous`` belongs to a connection (another connection cannot see it);
        the journal mode belongs to the file.
        """
        result: dict[str, Any] = await self._read(self._pragmas)
        return result

    @staticmethod
    def _pragmas(connection: sqlite3.Connection) -> dict[str, Any]:
        synchronous = connection.execute("PRAGMA synchronous").fetchone()[0]
        return {
            "journal_mode": connection.execute("PRAGMA journal_mode").fetchone()[0],
            "synchronous": {0: "off", 1: "normal", 2: "full", 3: "extra"}.get(
                synchronous, synchronous
            ),
            "busy_timeout_ms": connection.execute("PRAGMA busy_timeout").fetchone()[0],
        }

    def _connect(self) -> sqlite3.Connection:
        """Open the file in the writer thread; refuse a newer schema before changing it."""
        try:
            make_private_directories(Path(self.path).parent)
            # owner-only, and SQLite gives its -wal and -shm files the database's mode
            create_private_file(self.path)
        except OSError as error:
            raise self._unopenable(error) from error
        try:
            connection = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None
            )
        except sqlite3.Error as error:
            raise self._unopenable(error) from error
        try:
            version = read_schema_version(connection, path=self.path)
            check_not_newer(version, path=self.path)
            mode = enable_write_ahead_log(connection, timeout=BUSY_TIMEOUT_SECONDS)
            if mode.lower() != "wal":
                raise PersistenceError(
                    f"SQLite cannot use write-ahead logging for {self.path}",
                    why=f"The journal mode stayed {mode!r}; WAL needs a local file system.",
                    fix="Put the database on a local disk.",
                    context={"database": self.path},
                )
            connection.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
            if version < SCHEMA_VERSION:
                migrate(connection, path=self.path)
        except sqlite3.Error as error:
            connection.close()
            raise self._unopenable(error) from error
        except BaseException:
            connection.close()
            raise
        return connection

    def _connect_immediate(self) -> sqlite3.Connection:
        """The connection that commits a lone write on the event loop's thread.

        Opened after :meth:`_connect` (the file and its schema exist). It never waits
        for a lock (busy timeout 0) and never checkpoints the write-ahead log itself,
        so that a commit through it never blocks; see the writer module's docstring.
        """
        try:
            connection = sqlite3.connect(
                self.path, timeout=0, isolation_level=None, check_same_thread=False
            )
            connection.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
            connection.execute("PRAGMA wal_autocheckpoint=0")
        except sqlite3.Error as error:
            raise self._unopenable(error) from error
        return connection

    def _unopenable(self, error: BaseException) -> PersistenceError:
        return PersistenceError(
            f"Cannot open the SQLite store {self.path}: {error}",
            why="The path must name a SQLite database file (or none yet) in a directory "
            "floe can create and write to.",
            fix="Check that the path is right, that no parent of it is a file, and that "
            "the file is a floe database; or choose another path in the store URL.",
            context={"database": self.path, "url": self.url},
        )

    async def _write(self, action: Any, *args: Any) -> Any:
        return await self._require_writer().call(action, *args, write=True)

    async def _read(self, action: Any, *args: Any) -> Any:
        return await self._require_writer().call(action, *args, write=False)

    def _require_writer(self) -> WriterThread:
        writer = self._writer
        if writer is None:
            raise PersistenceError(
                f"The SQLite store {self.path} is not open",
                fix="Use the store inside 'async with store:' (or call open() first).",
                context={"database": self.path},
            )
        return writer

    # -- decoding, with errors that name the record, the table and the file ---------------

    def _decode(self, raw: Any, cls: type[T], *, table: str, record: str, **key: Any) -> T:
        where = f"{record} in table {table} of {self.path}"
        context = {**key, "database": self.path, "table": table}
        try:
            document = orjson.loads(raw)
        except (orjson.JSONDecodeError, TypeError) as error:
            raise PersistenceError(
                f"{where} is not valid JSON", why=str(error), fix=_FIX_DAMAGED, context=context
            ) from error
        try:
            return decode_document(document, cls, where=where)
        except PersistenceError as error:
            error.context.update(context)
            raise

    def _decode_run(self, run_id: str, doc: Any, last_seq: int | None) -> Run:
        run = self._decode(doc, Run, table="runs", record=f"Run {run_id!r}", run_id=run_id)
        last_seq = last_seq or 0
        return run if run.last_seq == last_seq else attrs.evolve(run, last_seq=last_seq)

    def _decode_event(self, row: tuple[Any, ...]) -> Event:
        """One row of the events table, every column checked; damage names the row."""
        run_id, seq, kind, step, at, data, version = row
        record = f"Event {seq} of run {run_id!r}"
        context = {"run_id": run_id, "seq": seq, "database": self.path, "table": "events"}
        try:
            value = orjson.loads(data)
        except (orjson.JSONDecodeError, TypeError) as error:
            raise PersistenceError(
                f"{record} in table events of {self.path} has data that is not valid JSON",
                why=str(error),
                fix=_FIX_DAMAGED,
                context=context,
            ) from error
        document = {
            "run_id": run_id,
            "seq": seq,
            "kind": kind,
            "step": step,
            "at": at,
            "data": value,
            "format": version,
        }
        try:
            return decode_document(
                document, Event, where=f"{record} in table events of {self.path}"
            )
        except PersistenceError as error:
            error.context.update(context)
            raise

    # -- runs ---------------------------------------------------------------------------

    @staticmethod
    def _run_columns(run: Run) -> tuple[Any, ...]:
        doc = dump_json(run, where=f"run {run.run_id!r}")
        return (
            run.name,
            run.kind,
            str(run.status),
            run.parent_id,
            _micros(run.created_at),
            _micros_or_none(run.runnable_at),
            run.lease_owner,
            _micros_or_none(run.lease_expires_at),
            run.queue,
            run.priority,
            run.partition_key,
            _micros_or_none(run.claimed_at),
            run.format,
            doc,
            run.run_id,
        )

    async def create_run(self, run: Run) -> None:
        await self._write(self._create_run, self._run_columns(run))

    def _create_run(self, connection: sqlite3.Connection, columns: tuple[Any, ...]) -> None:
        try:
            connection.execute(
                "INSERT INTO runs (name, kind, status, parent_id, created_at, runnable_at,"
                " lease_owner, lease_expires_at, queue, priority, partition_key, claimed_at,"
                " format, doc, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                columns,
            )
        except sqlite3.IntegrityError as error:
            # one statement: SQLite undid it entirely, so the batch may go on
            run_id = columns[-1]
            raise PersistenceError(
                f"Run {run_id!r} already exists in {self.path}",
                fix="Use a new run id, or load the existing run with get_run().",
                context={"run_id": run_id, "database": self.path},
            ) from error

    async def get_run(self, run_id: str) -> Run | None:
        result: Run | None = await self._read(self._get_run, run_id)
        return result

    def _get_run(self, connection: sqlite3.Connection, run_id: str) -> Run | None:
        row = connection.execute(
            "SELECT doc, (SELECT max(seq) FROM events WHERE run_id = :run_id)"
            " FROM runs WHERE run_id = :run_id",
            {"run_id": run_id},
        ).fetchone()
        return None if row is None else self._decode_run(run_id, row[0], row[1])

    async def update_run(self, run: Run) -> None:
        await self._write(self._update_run, self._run_columns(run))

    _UPDATE_RUN: Final = (
        "UPDATE runs SET name = ?, kind = ?, status = ?, parent_id = ?, created_at = ?,"
        " runnable_at = ?, lease_owner = ?, lease_expires_at = ?, queue = ?, priority = ?,"
        " partition_key = ?, claimed_at = ?, format = ?, doc = ? WHERE run_id = ?"
    )

    def _update_run(self, connection: sqlite3.Connection, columns: tuple[Any, ...]) -> None:
        if connection.execute(self._UPDATE_RUN, columns).rowcount == 0:
            run_id = columns[-1]
            raise NotFoundError(
                f"Run {run_id!r} does not exist in {self.path}",
                fix="Create the run with create_run() first.",
                context={"run_id": run_id, "database": self.path},
            )

    async def append_events(
        self, run_id: str, events: Sequence[Event], *, run: Run | None = None
    ) -> None:
        # a lone append commits at once where that cannot wait (the sequential case);
        # appends arriving together go to the thread, which commits them as a group
        self._arriving += 1
        try:
            await anyio.lowlevel.checkpoint()
        finally:
            self._arriving -= 1
        if not self._arriving and self.append_events_nowait(run_id, events, run=run):
            return
        await self.append_events_grouped(run_id, events, run=run)

    async def append_events_grouped(
        self, run_id: str, events: Sequence[Event], *, run: Run | None = None
    ) -> None:
        rows, columns = self._append_rows(events, run)
        # appends queued together run as one: a sequence check and an INSERT for them all
        writer = self._require_writer()
        await writer.call(
            self._append_events,
            run_id,
            tuple(events),
            rows,
            run,
            columns,
            write=True,
            combine=self._append_many,
        )

    def append_events_nowait(
        self, run_id: str, events: Sequence[Event], *, run: Run | None = None
    ) -> bool:
        """Append at once, on the event loop's thread, when the commit cannot wait
        (nothing queued for the writer thread, the write lock free, no sync at commit);
        False, having appended nothing, otherwise."""
        writer = self._require_writer()
        if writer.would_wait:
            return False
        rows, columns = self._append_rows(events, run)
        try:
            writer.call_nowait(self._append_events, run_id, events, rows, run, columns)
        except anyio.WouldBlock:
            return False
        return True

    def _append_rows(
        self, events: Sequence[Event], run: Run | None
    ) -> tuple[list[tuple[Any, ...]], tuple[Any, ...] | None]:
        try:
            rows = [
                (
                    event.run_id,
                    event.seq,
                    event.kind,
                    event.step,
                    event.at.isoformat(),
                    dump_json(event.data),
                    event.format,
                )
                for event in events
            ]
        except FloeError:
            # again, naming the event: the text is made only for an error (an
            # EventKind's repr, for every event, cost the append a tenth)
            for event in events:
                dump_json(event.data, where=f"the data of event {event.kind!r}")
            raise
        return rows, None if run is None else self._run_columns(run)

    def _append_events(
        self,
        connection: sqlite3.Connection,
        run_id: str,
        events: Sequence[Event],
        rows: list[tuple[Any, ...]],
        run: Run | None,
        columns: tuple[Any, ...] | None,
    ) -> None:
        # the check runs under the write lock (BEGIN IMMEDIATE), so it also fences
        # writers in other processes; the primary key is the last line of defence. The
        # lone append, kept apart from _append_many: one query fewer to build, and it is
        # the sequential step's write
        exists, last_seq = connection.execute(
            "SELECT EXISTS (SELECT 1 FROM runs WHERE run_id = :run_id),"
            " (SELECT coalesce(max(seq), 0) FROM events WHERE run_id = :run_id)",
            {"run_id": run_id},
        ).fetchone()
        check_append(run_id, events, last_seq if exists else None, where=self.path, run=run)
        if len(rows) == 1:
            connection.execute(_INSERT_EVENT, rows[0])
        elif rows:
            connection.executemany(_INSERT_EVENT, rows)
        if columns is not None:
            connection.execute(self._UPDATE_RUN, columns)

    def _append_many(
        self, connection: sqlite3.Connection, calls: list[tuple[Any, ...]]
    ) -> list[BaseException | None]:
        """:meth:`_append_events` for many calls at once (the writer thread's group
        commit): one query for the runs' last seqs, one INSERT for every accepted row.

        Each call is checked against the journal as the calls before it in *calls*
        leave it; a refused call (conflict, unknown run) appends nothing and gets its
        error back in its place.
        """
        last_seqs = self._last_seqs(connection, {call[0] for call in calls})
        errors: list[BaseException | None] = []
        rows: list[tuple[Any, ...]] = []
        updates: list[tuple[Any, ...]] = []
        for run_id, events, call_rows, run, columns in calls:
            try:
                check_append(run_id, events, last_seqs.get(run_id), where=self.path, run=run)
            except FloeError as error:
                errors.append(error)
                continue
            errors.append(None)
            if events:
                last_seqs[run_id] = events[-1].seq
            rows += call_rows
            if columns is not None:
                updates.append(columns)
        if rows:
            connection.executemany(_INSERT_EVENT, rows)
        if updates:
            connection.executemany(self._UPDATE_RUN, updates)
        return errors

    @staticmethod
    def _last_seqs(connection: sqlite3.Connection, run_ids: set[str]) -> dict[str, int]:
        """The last seq of each of *run_ids* that exists (0: an empty journal)."""
        found: dict[str, int] = {}
        ordered = list(run_ids)
        for start in range(0, len(ordered), _IN_LIST):
            chunk = ordered[start : start + _IN_LIST]
            marks = ", ".join("?" * len(chunk))
            found.update(
                connection.execute(
                    "SELECT run_id, (SELECT coalesce(max(seq), 0) FROM events"
                    f" WHERE events.run_id = runs.run_id) FROM runs WHERE run_id IN ({marks})",
                    chunk,
                ).fetchall()
            )
        return found

    async def read_events(
        self, run_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        if limit is not None:
            check_limit(limit)
        result: list[Event] = await self._read(
            self._read_events, run_id, after_seq, -1 if limit is None else limit
        )
        return result

    def _read_events(
        self, connection: sqlite3.Connection, run_id: str, after_seq: int, limit: int
    ) -> list[Event]:
        cursor = connection.execute(
            "SELECT seq, kind, step, at, data, format FROM events"
            " WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (run_id, after_seq, limit),
        )
        cursor.arraysize = _READ_BATCH
        events: list[Event] = []
        shared: dict[str, str] = {}
        while rows := cursor.fetchmany():
            if len(shared) > _SHARED_STRINGS:
                shared.clear()
            self._decode_rows(run_id, rows, events, shared)
        return events

    def _decode_rows(
        self, run_id: str, rows: list[Any], events: list[Event], shared: dict[str, str]
    ) -> None:
        """Append the events of *rows* to *events*: a tight loop for the rows this floe
        writes (a long journal is read at every resume), the checked path for the rest.

        A long journal is mostly steps' starts and ends, and the strings they repeat take
        as much memory as the events: every event shares the one *run_id*, and through
        *shared* one copy of each kind, step and short string at the top of its data (a
        task's name, a step's position: its start and end hold the same ones) instead of
        one per row. Only strings are shared: equal values of other types (``1`` and
        ``1.0``) are not the same value.
        """
        append = events.append
        parse_time = datetime.fromisoformat
        parse_data = orjson.loads
        share = shared.setdefault
        rest = iter(rows)
        while True:
            try:
                for row in rest:
                    seq, kind, step, at, data, version = row
                    if (
                        version != FORMAT_VERSION
                        or type(seq) is not int
                        or seq < 0
                        or type(kind) is not str
                    ):
                        raise _Unusual
                    value = parse_data(data)
                    if type(value) is dict:
                        for key, item in value.items():  # a value replaced, none added
                            if type(item) is str and len(item) <= _SHARED_LENGTH:
                                value[key] = share(item, item)
                    if type(step) is str:
                        step = share(step, step)
                    elif step is not None:
                        raise _Unusual
                    append(
                        Event(run_id, seq, share(kind, kind), step, parse_time(at), value, version)
                    )
                return
            except (_Unusual, ValueError, TypeError):
                # an older format, or damage: the checked path decodes it or names it
                append(self._decode_event((run_id, *row)))

    async def list_runs(self, query: RunQuery = RunQuery()) -> list[Run]:
        result: list[Run] = await self._read(
            self._list_runs, *self._runs_sql(query), query.after, None
        )
        return result

    async def list_runs_checked(self, query: RunQuery = RunQuery()) -> RunListing:
        damaged: list[DamagedRecord] = []
        runs = await self._read(self._list_runs, *self._runs_sql(query), query.after, damaged)
        return RunListing(runs=tuple(runs), damaged=tuple(damaged))

    @staticmethod
    def _runs_sql(query: RunQuery) -> tuple[str, tuple[Any, ...]]:
        conditions: list[str] = []
        parameters: list[Any] = []
        for column, value in (
            ("status", None if query.status is None else str(query.status)),
            ("name", query.name),
            ("kind", query.kind),
            ("parent_id", query.parent_id),
        ):
            if value is not None:
                conditions.append(f"{column} = ?")
                parameters.append(value)
        if query.after is not None:
            # (created_at, position) is unique, so the order is total and the runs after
            # the cursor are those below its key; the cursor need not match the filters
            conditions.append(
                "(created_at, position) < (SELECT created_at, position FROM runs WHERE run_id = ?)"
            )
            parameters.append(query.after)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        sql = (
            "SELECT run_id, doc, (SELECT max(seq) FROM events WHERE events.run_id = runs.run_id)"
            f" FROM runs{where} ORDER BY created_at DESC, position DESC LIMIT ? OFFSET ?"
        )
        parameters += [query.limit, query.offset]
        return sql, tuple(parameters)

    def _list_runs(
        self,
        connection: sqlite3.Connection,
        sql: str,
        parameters: tuple[Any, ...],
        after: str | None,
        damaged: list[DamagedRecord] | None,
    ) -> list[Run]:
        """The rows' runs; a damaged row raises, or goes to *damaged* when given."""
        # a missing cursor would make an empty page: looked up first (runs are never
        # deleted, so one found here is still there for the page)
        if after is not None and not _run_exists(connection, after):
            raise no_such_cursor(after, self.path)
        runs = []
        for run_id, doc, last_seq in connection.execute(sql, parameters):
            try:
                runs.append(self._decode_run(run_id, doc, last_seq))
            except PersistenceError as error:
                if damaged is None:
                    raise
                where = f"table runs of {self.path}"
                damaged.append(DamagedRecord.from_error(error, run_id=run_id, location=where))
        return runs

    async def count_runs(self) -> dict[tuple[RunStatus, str], int]:
        result: dict[tuple[RunStatus, str], int] = await self._read(self._count_runs)
        return result

    @staticmethod
    def _count_runs(connection: sqlite3.Connection) -> dict[tuple[RunStatus, str], int]:
        rows = connection.execute("SELECT status, queue, count(*) FROM runs GROUP BY status, queue")
        return run_counts(rows)

    async def find_run_ids(self, prefix: str, *, limit: int = 10) -> list[str]:
        check_run_id_prefix(prefix)
        check_limit(limit)
        try:
            prefix.encode("utf-8")
        except UnicodeEncodeError:
            return []  # a lone surrogate: no id in the database holds one
        result: list[str] = await self._read(self._find_run_ids, prefix, limit)
        return result

    @staticmethod
    def _find_run_ids(connection: sqlite3.Connection, prefix: str, limit: int) -> list[str]:
        return [run_id for (run_id,) in connection.execute(*run_ids_query(prefix, limit))]

    # -- the task-result cache ------------------------------------------------------------

    async def get_cached(self, key: str) -> CacheEntry | None:
        result: CacheEntry | None = await self._read(self._get_cached, key, _micros(utcnow()))
        return result

    def _get_cached(self, connection: sqlite3.Connection, key: str, now: int) -> CacheEntry | None:
        row = connection.execute(
            "SELECT doc FROM cache WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)",
            (key, now),
        ).fetchone()
        if row is None:
            return None
        return self._decode(
            row[0], CacheEntry, table="cache", record=f"Cache entry {key!r}", key=key
        )

    async def put_cached(self, entry: CacheEntry) -> None:
        doc = dump_json(entry, where=f"the cached value under {entry.key!r}")
        await self._write(
            self._put_cached, (entry.key, _micros_or_none(entry.expires_at), entry.format, doc)
        )

    @staticmethod
    def _put_cached(connection: sqlite3.Connection, columns: tuple[Any, ...]) -> None:
        connection.execute(
            "INSERT OR REPLACE INTO cache (key, expires_at, format, doc) VALUES (?, ?, ?, ?)",
            columns,
        )

    # -- component snapshots --------------------------------------------------------------

    async def save_snapshot(self, snapshot: Snapshot) -> int:
        doc = dump_json(snapshot, where=f"the snapshot of component {snapshot.component!r}")
        columns = (snapshot.component, _micros(snapshot.created_at), snapshot.format, doc)
        snapshot_id: int = await self._write(self._save_snapshot, columns)
        return snapshot_id

    @staticmethod
    def _save_snapshot(connection: sqlite3.Connection, columns: tuple[Any, ...]) -> int:
        cursor = connection.execute(
            "INSERT INTO snapshots (component, created_at, format, doc) VALUES (?, ?, ?, ?)",
            columns,
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    async def latest_snapshot(self, component: str) -> Snapshot | None:
        newest = await self._read(self._list_snapshots, component, 1)
        return newest[0] if newest else None

    async def list_snapshots(self, component: str, *, limit: int = 10) -> list[Snapshot]:
        check_limit(limit)
        result: list[Snapshot] = await self._read(self._list_snapshots, component, limit)
        return result

    def _list_snapshots(
        self, connection: sqlite3.Connection, component: str, limit: int
    ) -> list[Snapshot]:
        rows = connection.execute(
            "SELECT id, doc FROM snapshots WHERE component = ?"
            " ORDER BY created_at DESC, id DESC LIMIT ?",
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
        deleted: int = await self._write(self._prune_snapshots, component, keep_last)
        return deleted

    @staticmethod
    def _prune_snapshots(connection: sqlite3.Connection, component: str, keep_last: int) -> int:
        return connection.execute(
            "DELETE FROM snapshots WHERE component = :component AND id NOT IN"
            " (SELECT id FROM snapshots WHERE component = :component"
            "  ORDER BY created_at DESC, id DESC LIMIT :keep_last)",
            {"component": component, "keep_last": keep_last},
        ).rowcount

    # -- plugin values ----------------------------------------------------------------------

    async def get_value(self, namespace: str, key: str) -> bytes | None:
        check_value_key(namespace, key)
        result: bytes | None = await self._read(self._get_value, namespace, key)
        return result

    @staticmethod
    def _get_value(connection: sqlite3.Connection, namespace: str, key: str) -> bytes | None:
        row = connection.execute(
            "SELECT value FROM plugin_values WHERE namespace = ? AND key = ?", (namespace, key)
        ).fetchone()
        return None if row is None else bytes(row[0])

    async def put_value(self, namespace: str, key: str, value: bytes) -> None:
        check_value_key(namespace, key)
        check_value(namespace, key, value)
        await self._write(self._put_value, namespace, key, value)

    @staticmethod
    def _put_value(connection: sqlite3.Connection, namespace: str, key: str, value: bytes) -> None:
        connection.execute(
            "INSERT OR REPLACE INTO plugin_values (namespace, key, value) VALUES (?, ?, ?)",
            (namespace, key, value),
        )

    async def delete_value(self, namespace: str, key: str) -> bool:
        check_value_key(namespace, key)
        deleted: bool = await self._write(self._delete_value, namespace, key)
        return deleted

    @staticmethod
    def _delete_value(connection: sqlite3.Connection, namespace: str, key: str) -> bool:
        cursor = connection.execute(
            "DELETE FROM plugin_values WHERE namespace = ? AND key = ?", (namespace, key)
        )
        return cursor.rowcount > 0

    async def list_keys(self, namespace: str) -> list[str]:
        check_namespace(namespace)
        keys: list[str] = await self._read(self._list_keys, namespace)
        return keys

    @staticmethod
    def _list_keys(connection: sqlite3.Connection, namespace: str) -> list[str]:
        # BINARY collation compares UTF-8 bytes, which orders as code points do
        rows = connection.execute(
            "SELECT key FROM plugin_values WHERE namespace = ? ORDER BY key", (namespace,)
        )
        return [key for (key,) in rows]

    # -- leases ---------------------------------------------------------------------------

    async def wait_for_runnable(self) -> None:
        """Return when the runs claimable on the file changed: a commit of any process
        (see :class:`~floe_sqlite._claims.RunnableWatch`); an idle worker then claims at
        once instead of at its next poll."""
        self._require_writer()
        await self._watch.wait()

    def _connect_watch(self) -> sqlite3.Connection:
        """The connection whose ``data_version`` tells that another one committed."""
        try:
            return sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as error:
            raise self._unopenable(error) from error

    async def _due_runs(self) -> tuple[int, int]:
        return await self._read(due_runs, _micros(utcnow()))  # type: ignore[no-any-return]

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
        result: list[Run] = await self._write(self._claim_runs, claim)
        return result

    def _claim_runs(self, connection: sqlite3.Connection, claim: ClaimRequest) -> list[Run]:
        # under the write lock (BEGIN IMMEDIATE): the counts of the limited queues and
        # the leases are one step for every process sharing the file
        def lease(runs: list[Run]) -> list[Run]:
            leased = [claim.lease(run) for run in runs]
            connection.executemany(self._UPDATE_RUN, [self._run_columns(run) for run in leased])
            return leased

        return claim_runs(connection, claim, _micros(claim.now), self._decode_run, lease)

    async def acquire_lease(
        self,
        run_id: str,
        owner: str,
        *,
        lease_seconds: float = 30.0,
        now: datetime | None = None,
    ) -> Run:
        now = now or utcnow()
        expires = now + timedelta(seconds=lease_seconds)
        result: Run = await self._write(self._acquire_lease, run_id, owner, now, expires)
        return result

    def _acquire_lease(
        self,
        connection: sqlite3.Connection,
        run_id: str,
        owner: str,
        now: datetime,
        expires: datetime,
    ) -> Run:
        # under the write lock (BEGIN IMMEDIATE): the check and the lease are one step
        # for every process sharing the file
        run = self._get_run(connection, run_id)
        if run is None:
            raise no_such_run(run_id, self.path)
        if lease_live(run, owner, now):
            raise lease_held(run, self.path)
        leased = attrs.evolve(run, lease_owner=owner, lease_expires_at=expires)
        connection.execute(self._UPDATE_RUN, self._run_columns(leased))
        return leased

    async def renew_lease(self, run_id: str, owner: str, *, lease_seconds: float = 30.0) -> bool:
        renewed: bool = await self._write(self._renew_lease, run_id, owner, lease_seconds)
        return renewed

    def _renew_lease(
        self, connection: sqlite3.Connection, run_id: str, owner: str, lease_seconds: float
    ) -> bool:
        now = utcnow()
        run = self._leased_run(connection, run_id, owner, now)
        if run is None:
            return False
        renewed = attrs.evolve(run, lease_expires_at=now + timedelta(seconds=lease_seconds))
        connection.execute(self._UPDATE_RUN, self._run_columns(renewed))
        return True

    async def release_lease(self, run_id: str, owner: str) -> None:
        await self._write(self._release_lease, run_id, owner)

    def _release_lease(self, connection: sqlite3.Connection, run_id: str, owner: str) -> None:
        run = self._leased_run(connection, run_id, owner, None)
        if run is not None:
            released = attrs.evolve(run, lease_owner=None, lease_expires_at=None)
            connection.execute(self._UPDATE_RUN, self._run_columns(released))

    def _leased_run(
        self, connection: sqlite3.Connection, run_id: str, owner: str, live_at: datetime | None
    ) -> Run | None:
        """The run if *owner* holds its lease (still live at *live_at*, when given)."""
        row = connection.execute(
            "SELECT doc, lease_expires_at FROM runs WHERE run_id = ? AND lease_owner = ?",
            (run_id, owner),
        ).fetchone()
        if row is None:
            return None
        if live_at is not None and row[1] is not None and row[1] <= _micros(live_at):
            return None
        return self._decode_run(run_id, row[0], None)


def _run_exists(connection: sqlite3.Connection, run_id: str) -> bool:
    return (
        connection.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is not None
    )
