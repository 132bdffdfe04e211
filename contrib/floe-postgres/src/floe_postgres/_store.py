"""The PostgreSQL store: a connection pool, blocking psycopg calls in worker threads.

Every call takes a connection from a :class:`psycopg_pool.ConnectionPool`, runs its
statements in one transaction and commits, in a worker thread (``anyio.to_thread``), so
the store works under trio and asyncio alike. Documents (runs, cache entries, snapshots)
are stored as the converter's JSON text next to the columns that queries filter and sort
on; journal events are rows with their data as JSON text. Times that queries sort on
are whole microseconds since the epoch (UTC), so ordering is exact.

Processes sharing the database are fenced by the database itself: an append moves the
run's ``last_seq`` from the value it expects to the new one in a conditional UPDATE, so
of two writers of one run exactly one succeeds; claims lock the rows they take with
``FOR UPDATE SKIP LOCKED``.

A call whose connection was lost before it committed (the server restarted, the backend
was terminated) is retried on a new connection: nothing of it was committed. A
connection lost while committing leaves the outcome unknown; that is an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import anyio
import anyio.to_thread
import attrs
import orjson
import psycopg
from psycopg import pq
from psycopg_pool import ConnectionPool, PoolTimeout

from floe import (
    CacheEntry,
    ConfigError,
    DamagedRecord,
    Event,
    FloeError,
    PersistenceError,
    Run,
    RunListing,
    RunQuery,
    SequenceConflictError,
    Snapshot,
    Store,
    StoreURL,
)
from floe.storage import (
    FORMAT_VERSION,
    check_append,
    check_keep_last,
    check_limit,
    check_namespace,
    check_run_id_prefix,
    check_value,
    check_value_key,
    decode_document,
    dump_json,
    lease_held,
    lease_live,
    no_such_run,
    utcnow,
)

from ._schema import migrate

if TYPE_CHECKING:
    Connection = psycopg.Connection[Any]

__all__ = ["DEFAULT_CONNECT_TIMEOUT", "DEFAULT_POOL_SIZE", "PostgresStore"]

T = TypeVar("T")

DEFAULT_POOL_SIZE: Final = 10
"""Most connections one store holds, unless the URL says ``?pool_size=N``."""
MAX_POOL_SIZE: Final = 1000
DEFAULT_CONNECT_TIMEOUT: Final = 5
"""Seconds a connection attempt may take, unless the URL says ``?connect_timeout=N``."""
POOL_WAIT_SECONDS: Final = 30.0
"""How long a call waits for a free connection of the pool before it fails."""
ATTEMPTS: Final = 3
"""Tries of a call whose connection was lost before it committed."""
SSL_MODES: Final = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
"""libpq's sslmode values; floe passes the option on as it is."""
OPTIONS: Final = ("schema", "pool_size", "connect_timeout", "sslmode")

_SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_FIX_DAMAGED: Final = "Restore the database from a backup, or delete the damaged row."
_INSERT_EVENT: Final = (
    "INSERT INTO events (run_id, seq, kind, step, at, data, format)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
_RUN_COLUMNS: Final = (
    "name, kind, status, parent_id, created_at, updated_at, runnable_at, lease_owner,"
    " lease_expires_at, format, doc"
)
_UPDATE_RUN: Final = (
    "UPDATE runs SET name = %s, kind = %s, status = %s, parent_id = %s, created_at = %s,"
    " updated_at = %s, runnable_at = %s, lease_owner = %s, lease_expires_at = %s,"
    " format = %s, doc = %s WHERE run_id = %s"
)
_READ_BATCH: Final = 4096
"""Journal rows fetched at a time: a long journal's rows are never all held at once."""


class _Unusual(Exception):
    """A journal row that the bulk read leaves to the checked path."""


def _unstorable(text: str) -> bool:
    """Whether *text* holds a NUL, which PostgreSQL text cannot: no stored row has it, so
    a lookup by it finds nothing (and a write of it fails, naming the reason)."""
    return "\x00" in text


def _micros(moment: datetime) -> int:
    """Exact microseconds since the epoch; naive times are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def _micros_or_none(moment: datetime | None) -> int | None:
    return None if moment is None else _micros(moment)


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


def _whole_option(url: StoreURL, key: str, default: int, *, low: int, high: int) -> int:
    raw = url.query.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ConfigError(
            f"Invalid {key}={raw!r} in store URL {url.raw!r}",
            why=f"{key} is a whole number from {low} to {high}.",
            fix=f"Use ?{key}={default} or leave the option out.",
            context={"url": url.raw},
        )
    return value


def redact(url: str) -> str:
    """*url* with its password (if any) replaced by ``***``, for messages and logs."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    authority, slash, tail = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.partition(":")[0]
    return f"{scheme}://{user}:***@{host}{slash}{tail}"


class PostgresStore(Store):
    """A :class:`floe.Store` in a PostgreSQL database, shared by many workers.

    ``postgresql://user:password@host:5432/dbname`` (or ``postgres://``), with the
    options ``?schema=NAME`` (the PostgreSQL schema of floe's tables, created when
    missing; default: the server's first schema on the search path, usually
    ``public``), ``?pool_size=N`` (most connections held, default 10),
    ``?connect_timeout=SECONDS`` (default 5) and ``?sslmode=MODE`` (libpq's, default
    ``prefer``).
    """

    supports_leases: ClassVar[bool] = True

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
        connect_timeout: int = DEFAULT_CONNECT_TIMEOUT,
        sslmode: str | None = None,
    ) -> None:
        shown = redact(url)
        if sslmode is not None and sslmode not in SSL_MODES:
            raise ConfigError(
                f"Invalid sslmode={sslmode!r} for the PostgreSQL store {shown}",
                why=f"sslmode must be one of: {', '.join(SSL_MODES)}.",
                fix="Use sslmode=require (or verify-full with a root certificate), or leave "
                "it out (libpq's default, prefer).",
                context={"url": shown},
            )
        if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
            raise ConfigError(
                f"Invalid schema={schema!r} for the PostgreSQL store {shown}",
                why="A schema name is 1-63 lower-case letters, digits and '_', not "
                "starting with a digit.",
                fix="Use a plain name such as ?schema=floe.",
                context={"url": shown},
            )
        if type(pool_size) is not int or not 1 <= pool_size <= MAX_POOL_SIZE:
            raise ConfigError(
                f"Invalid pool_size={pool_size!r} for the PostgreSQL store {shown}",
                why=f"pool_size is a whole number from 1 to {MAX_POOL_SIZE}.",
                fix=f"Use pool_size={DEFAULT_POOL_SIZE} or leave it out.",
                context={"url": shown},
            )
        parts = urlsplit(url)
        try:
            host, port = parts.hostname, parts.port
        except ValueError as error:
            raise ConfigError(
                f"Malformed PostgreSQL store URL {shown}: {error}",
                fix="Use postgresql://USER:PASSWORD@HOST:PORT/DATABASE.",
                context={"url": shown},
            ) from error
        self.url = shown
        self.schema = schema
        self.pool_size = pool_size
        self.connect_timeout = connect_timeout
        self.sslmode = sslmode
        self.database = unquote(parts.path.lstrip("/")) or None
        self.host = None if host is None else unquote(host)
        self.port = port
        # scrubbed from the server's messages in both its forms (none should hold it)
        self._secrets = (
            () if not parts.password else tuple({parts.password, unquote(parts.password)} - {""})
        )
        # libpq reads the URL itself (user, password, host, port, database); floe's
        # options are not libpq's, so they are left out of it
        self._conninfo = urlunsplit(parts._replace(query="", fragment=""))
        self._where = self._describe()
        self._pool: ConnectionPool | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._opening = False

    @classmethod
    def from_url(cls, url: StoreURL) -> PostgresStore:
        """The store for a parsed ``postgresql://`` URL (not opened yet)."""
        raw = url.raw
        # messages quote the URL: never with its password
        url = attrs.evolve(url, raw=redact(raw))
        url.reject_unknown_options(OPTIONS)
        schema = url.query.get("schema")
        if schema is not None and not _SCHEMA_NAME.fullmatch(schema):
            raise ConfigError(
                f"Invalid schema={schema!r} in store URL {url.raw!r}",
                why="A schema name is 1-63 lower-case letters, digits and '_', not "
                "starting with a digit.",
                fix="Use a plain name such as ?schema=floe, or leave the option out.",
                context={"url": url.raw},
            )
        pool_size = _whole_option(url, "pool_size", DEFAULT_POOL_SIZE, low=1, high=MAX_POOL_SIZE)
        connect_timeout = _whole_option(
            url, "connect_timeout", DEFAULT_CONNECT_TIMEOUT, low=1, high=3600
        )
        sslmode = url.option("sslmode", SSL_MODES, "prefer") if "sslmode" in url.query else None
        return cls(
            raw,
            schema=schema,
            pool_size=pool_size,
            connect_timeout=connect_timeout,
            sslmode=sslmode,
        )

    def __repr__(self) -> str:
        return f"PostgresStore({self.url!r})"

    def _describe(self) -> str:
        host = self.host or "the local socket"
        port = f":{self.port}" if self.port else ""
        database = f"database {self.database!r}" if self.database else "the default database"
        schema = f", schema {self.schema!r}" if self.schema else ""
        return f"PostgreSQL {database} at {host}{port}{schema}"

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    # -- lifecycle ----------------------------------------------------------------------

    def _connection_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "connect_timeout": self.connect_timeout,
            # names the store in pg_stat_activity, for operators
            "application_name": f"floe ({self.schema})" if self.schema else "floe",
            # reads are one statement each, consistent on their own: no BEGIN and COMMIT
            # round trips; writes open their transaction themselves
            "autocommit": True,
        }
        if self.sslmode is not None:
            options["sslmode"] = self.sslmode
        if self.schema is not None:
            # the name is checked: plain lower-case letters, digits and '_'
            options["options"] = f"-c search_path={self.schema}"
        return options

    async def open(self) -> None:
        """Connect, create the schema or migrate it, and start the connection pool."""
        if self._pool is not None or self._opening:
            raise PersistenceError(
                f"The store {self._where} is already open",
                fix="Open a store once; use a second PostgresStore for a second pool.",
                context={"database": self._where},
            )
        self._opening = True
        try:
            pool = await anyio.to_thread.run_sync(self._open)
            self._limiter = anyio.CapacityLimiter(self.pool_size)
            self._pool = pool
        finally:
            self._opening = False

    def _open(self) -> ConnectionPool:
        try:
            connection = psycopg.connect(self._conninfo, **self._connection_options())
        except psycopg.Error as error:
            raise self._unreachable(error) from error
        try:
            with connection:
                self._check_server(connection)
                migrate(connection, where=self._where, schema=self.schema)
        except psycopg.Error as error:
            raise self._failed(error, "open") from error
        pool: ConnectionPool = ConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=self.pool_size,
            kwargs=self._connection_options(),
            timeout=POOL_WAIT_SECONDS,
            name=f"floe-postgres {self._where}",
            open=False,
        )
        try:
            pool.open(wait=True, timeout=2 * self.connect_timeout + 1)
        except PoolTimeout as error:
            pool.close()
            raise self._unreachable(error) from error
        except BaseException:
            pool.close()
            raise
        return pool

    def _check_server(self, connection: Connection) -> None:
        encoding = connection.info.parameter_status("server_encoding")
        if encoding != "UTF8":
            raise PersistenceError(
                f"The {self._where} is not UTF-8 (server_encoding {encoding})",
                why="floe stores text of any language and orders ids by code point, which "
                "needs a UTF-8 database.",
                fix="Create the database with ENCODING 'UTF8' and point the URL at it.",
                context={"database": self._where},
            )

    async def close(self) -> None:
        """Close every connection of the pool."""
        pool, self._pool = self._pool, None
        self._limiter = None
        if pool is not None:
            await anyio.to_thread.run_sync(pool.close)

    def _unreachable(self, error: BaseException) -> PersistenceError:
        return PersistenceError(
            f"Cannot connect to the {self._where}: {self._scrub(str(error)).strip()}",
            why="The server must be running and reachable, and accept the user, the "
            "password and the database of the store URL.",
            fix="Check the host, port, user and database name in the store URL, that the "
            "server runs (pg_isready -h HOST -p PORT) and that pg_hba.conf lets you in.",
            context={"database": self._where, "url": self.url},
        )

    def _failed(self, error: BaseException, action: str) -> PersistenceError:
        return PersistenceError(
            f"PostgreSQL failed to {action} in the {self._where}: "
            f"{self._scrub(str(error)).strip()}",
            why=type(error).__name__,
            fix="Check the server's log and that the store's tables are floe's; retry "
            "once the server is reachable again.",
            context={"database": self._where},
        )

    def _require_pool(self) -> tuple[ConnectionPool, anyio.CapacityLimiter]:
        pool, limiter = self._pool, self._limiter
        if pool is None or limiter is None:
            raise PersistenceError(
                f"The store {self._where} is not open",
                fix="Use the store inside 'async with store:' (or call open() first).",
                context={"database": self._where},
            )
        return pool, limiter

    async def _call(self, action: Callable[..., T], *args: Any, what: str, write: bool = True) -> T:
        """``action(connection, *args)`` in a worker thread: in one transaction when it
        writes; a read is one statement (``write=False``), which needs none."""
        pool, limiter = self._require_pool()
        return await anyio.to_thread.run_sync(
            self._transact, pool, action, args, what, write, limiter=limiter
        )

    def _transact(
        self,
        pool: ConnectionPool,
        action: Callable[..., T],
        args: tuple[Any, ...],
        what: str,
        write: bool,
    ) -> T:
        for attempt in range(1, ATTEMPTS + 1):
            if attempt > 1:
                # a connection was found dead: the others idle in the pool likely are too
                # (the server restarted, an administrator terminated them), so they are
                # all tested now, in one pass. (The pool's own check on taking a
                # connection waits ever longer after each dead one: seconds to minutes.)
                try:
                    pool.check()
                except psycopg.Error:  # pragma: no cover - check() replaces, not raises
                    pass
            try:
                connection = pool.getconn()
            except PoolTimeout as error:
                raise self._unreachable(error) from error
            committing = False
            try:
                if write:
                    connection.execute("BEGIN")
                result = action(connection, *args)
                if write:
                    committing = True
                    connection.execute("COMMIT")
                return result
            except psycopg.Error as error:
                if connection.broken and not committing and attempt < ATTEMPTS:
                    # a read may be repeated; a write's transaction went with the
                    # connection, uncommitted: either is tried again on another
                    # connection (the pool replaces the broken one)
                    continue
                if connection.broken and committing:
                    raise PersistenceError(
                        f"The connection to the {self._where} was lost while committing "
                        f"({what}): {self._scrub(str(error)).strip()}",
                        why="Whether the server committed the transaction is unknown.",
                        fix="Read the state back (e.g. the run and its journal) before retrying.",
                        context={"database": self._where},
                    ) from error
                raise self._failed(error, what) from error
            finally:
                if (
                    not connection.broken
                    and connection.info.transaction_status != pq.TransactionStatus.IDLE
                ):
                    try:
                        connection.execute("ROLLBACK")
                    except psycopg.Error:
                        pass
                pool.putconn(connection)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- decoding, with errors that name the record, the table and the database ---------

    def _decode(self, raw: Any, cls: type[T], *, table: str, record: str, **key: Any) -> T:
        where = f"{record} in table {table} of the {self._where}"
        context = {**key, "database": self._where, "table": table}
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
        record = f"Event {seq} of run {run_id!r} in table events of the {self._where}"
        context = {"run_id": run_id, "seq": seq, "database": self._where, "table": "events"}
        try:
            value = orjson.loads(data)
        except (orjson.JSONDecodeError, TypeError) as error:
            raise PersistenceError(
                f"{record} has data that is not valid JSON",
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
            return decode_document(document, Event, where=record)
        except PersistenceError as error:
            error.context.update(context)
            raise

    # -- runs ---------------------------------------------------------------------------

    @staticmethod
    def _run_columns(run: Run) -> tuple[Any, ...]:
        doc = dump_json(run, where=f"run {run.run_id!r}").decode()
        return (
            run.name,
            run.kind,
            str(run.status),
            run.parent_id,
            _micros(run.created_at),
            _micros(run.updated_at),
            _micros_or_none(run.runnable_at),
            run.lease_owner,
            _micros_or_none(run.lease_expires_at),
            run.format,
            doc,
            run.run_id,
        )

    async def create_run(self, run: Run) -> None:
        await self._call(self._create_run, self._run_columns(run), what="create a run")

    def _create_run(self, connection: Connection, columns: tuple[Any, ...]) -> None:
        cursor = connection.execute(
            f"INSERT INTO runs ({_RUN_COLUMNS}, run_id)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (run_id) DO NOTHING",
            columns,
        )
        if cursor.rowcount == 0:
            run_id = columns[-1]
            raise PersistenceError(
                f"Run {run_id!r} already exists in the {self._where}",
                fix="Use a new run id, or load the existing run with get_run().",
                context={"run_id": run_id, "database": self._where},
            )

    async def get_run(self, run_id: str) -> Run | None:
        if _unstorable(run_id):
            return None
        return await self._call(self._get_run, run_id, what="read a run", write=False)

    def _get_run(self, connection: Connection, run_id: str, *, lock: bool = False) -> Run | None:
        row = connection.execute(
            "SELECT doc, last_seq FROM runs WHERE run_id = %s" + (" FOR UPDATE" if lock else ""),
            (run_id,),
        ).fetchone()
        return None if row is None else self._decode_run(run_id, row[0], row[1])

    async def update_run(self, run: Run) -> None:
        if _unstorable(run.run_id):
            raise no_such_run(run.run_id, f"the {self._where}")
        await self._call(self._update_run, self._run_columns(run), what="update a run")

    def _update_run(self, connection: Connection, columns: tuple[Any, ...]) -> None:
        if connection.execute(_UPDATE_RUN, columns).rowcount == 0:
            raise no_such_run(columns[-1], f"the {self._where}")

    async def append_events(
        self, run_id: str, events: Sequence[Event], *, run: Run | None = None
    ) -> None:
        events = tuple(events)
        # the batch's own faults (gaps, another run's event or record) before any I/O:
        # checked against the journal the batch expects, which the UPDATE then requires
        if events:
            check_append(run_id, events, events[0].seq - 1, where=f"the {self._where}", run=run)
        else:
            check_append(run_id, events, 0, where=f"the {self._where}", run=run)
        if _unstorable(run_id):
            check_append(run_id, events, None, where=f"the {self._where}", run=run)
        rows = self._event_rows(events)
        columns = None if run is None else self._run_columns(run)
        await self._call(
            self._append_events, run_id, events, rows, run, columns, what="append events"
        )

    @staticmethod
    def _event_rows(events: Sequence[Event]) -> list[tuple[Any, ...]]:
        try:
            return [
                (
                    event.run_id,
                    event.seq,
                    str(event.kind),
                    event.step,
                    event.at.isoformat(),
                    dump_json(event.data).decode(),
                    event.format,
                )
                for event in events
            ]
        except FloeError:
            # again, naming the event: the text is made only for an error
            for event in events:
                dump_json(event.data, where=f"the data of event {event.kind!r}")
            raise

    def _append_events(
        self,
        connection: Connection,
        run_id: str,
        events: Sequence[Event],
        rows: list[tuple[Any, ...]],
        run: Run | None,
        columns: tuple[Any, ...] | None,
    ) -> None:
        where = f"the {self._where}"
        if not events:
            if columns is not None:
                self._update_run(connection, columns)
            elif (
                connection.execute("SELECT 1 FROM runs WHERE run_id = %s", (run_id,)).fetchone()
                is None
            ):
                check_append(run_id, events, None, where=where, run=run)
            return
        expected, last = events[0].seq - 1, events[-1].seq
        # the fence: the journal moves from the seq this writer read to its own last one
        # only if no other writer (in any process) moved it first; the row lock makes a
        # concurrent writer wait for this transaction and then find last_seq changed
        if columns is None:
            cursor = connection.execute(
                "UPDATE runs SET last_seq = %s WHERE run_id = %s AND last_seq = %s",
                (last, run_id, expected),
            )
        else:
            cursor = connection.execute(
                "UPDATE runs SET name = %s, kind = %s, status = %s, parent_id = %s,"
                " created_at = %s, updated_at = %s, runnable_at = %s, lease_owner = %s,"
                " lease_expires_at = %s, format = %s, doc = %s, last_seq = %s"
                " WHERE run_id = %s AND last_seq = %s",
                (*columns[:-1], last, run_id, expected),
            )
        if cursor.rowcount == 0:
            row = connection.execute(
                "SELECT last_seq FROM runs WHERE run_id = %s", (run_id,)
            ).fetchone()
            check_append(run_id, events, None if row is None else row[0], where=where, run=run)
            raise SequenceConflictError(  # pragma: no cover - check_append raised
                f"Journal of run {run_id!r} moved on; cannot append seq {events[0].seq}",
                why="Another writer appended first.",
                fix="Reload the run's journal and continue from its last event.",
                context={"run_id": run_id, "got_seq": events[0].seq},
            )
        with connection.cursor() as cursor:
            cursor.executemany(_INSERT_EVENT, rows)

    async def read_events(
        self, run_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        if limit is not None:
            check_limit(limit)
        if _unstorable(run_id):
            return []
        return await self._call(
            self._read_events, run_id, after_seq, limit, what="read a run's journal", write=False
        )

    def _read_events(
        self, connection: Connection, run_id: str, after_seq: int, limit: int | None
    ) -> list[Event]:
        events: list[Event] = []
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT seq, kind, step, at, data, format FROM events"
                " WHERE run_id = %s AND seq > %s ORDER BY seq LIMIT %s",
                (run_id, after_seq, limit),
            )
            while rows := cursor.fetchmany(_READ_BATCH):
                self._decode_rows(run_id, rows, events)
        return events

    def _decode_rows(self, run_id: str, rows: list[Any], events: list[Event]) -> None:
        """Append the events of *rows* to *events*: a tight loop for the rows this floe
        writes, the checked path for the rest (an older format, or damage)."""
        append = events.append
        parse_time = datetime.fromisoformat
        parse_data = orjson.loads
        kinds: dict[str, str] = {}
        intern = kinds.setdefault
        rest = iter(rows)
        while True:
            try:
                for row in rest:
                    seq, kind, step, at, data, version = row
                    if version != FORMAT_VERSION or type(seq) is not int or seq < 0:
                        raise _Unusual
                    append(
                        Event(
                            run_id,
                            seq,
                            intern(kind, kind),
                            step,
                            parse_time(at),
                            parse_data(data),
                            version,
                        )
                    )
                return
            except (_Unusual, ValueError, TypeError):
                append(self._decode_event((run_id, *row)))

    async def list_runs(self, query: RunQuery = RunQuery()) -> list[Run]:
        return await self._call(
            self._list_runs, *self._runs_sql(query), None, what="list runs", write=False
        )

    async def list_runs_checked(self, query: RunQuery = RunQuery()) -> RunListing:
        damaged: list[DamagedRecord] = []
        runs = await self._call(
            self._list_runs, *self._runs_sql(query), damaged, what="list runs", write=False
        )
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
                conditions.append(f"{column} = %s")
                parameters.append(value)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        sql = (
            f"SELECT run_id, doc, last_seq FROM runs{where}"
            " ORDER BY created_at DESC, position DESC LIMIT %s OFFSET %s"
        )
        parameters += [query.limit, query.offset]
        return sql, tuple(parameters)

    def _list_runs(
        self,
        connection: Connection,
        sql: str,
        parameters: tuple[Any, ...],
        damaged: list[DamagedRecord] | None,
    ) -> list[Run]:
        """The rows' runs; a damaged row raises, or goes to *damaged* when given."""
        runs = []
        if damaged is not None:
            damaged.clear()  # a retried call starts over
        for run_id, doc, last_seq in connection.execute(sql, parameters):
            try:
                runs.append(self._decode_run(run_id, doc, last_seq))
            except PersistenceError as error:
                if damaged is None:
                    raise
                where = f"table runs of the {self._where}"
                damaged.append(DamagedRecord.from_error(error, run_id=run_id, location=where))
        return runs

    async def find_run_ids(self, prefix: str, *, limit: int = 10) -> list[str]:
        check_run_id_prefix(prefix)
        check_limit(limit)
        try:
            prefix.encode("utf-8")
        except UnicodeEncodeError:
            return []  # a lone surrogate: no id in the database holds one
        if _unstorable(prefix):
            return []  # PostgreSQL text holds no NUL: no id has one
        return await self._call(
            self._find_run_ids, prefix, limit, what="look up run ids", write=False
        )

    @staticmethod
    def _find_run_ids(connection: Connection, prefix: str, limit: int) -> list[str]:
        # a range of the primary key (collation "C" orders by code point), not a scan;
        # starts_with() keeps the result exact where the range alone is wider
        high = _above(prefix)
        rows = connection.execute(
            "SELECT run_id FROM runs WHERE run_id >= %(low)s"
            + (" AND run_id < %(high)s" if high is not None else "")
            + " AND starts_with(run_id, %(low)s) ORDER BY run_id LIMIT %(limit)s",
            {"low": prefix, "high": high, "limit": limit},
        ).fetchall()
        return [str(row[0]) for row in rows]

    # -- the task-result cache ------------------------------------------------------------

    async def get_cached(self, key: str) -> CacheEntry | None:
        if _unstorable(key):
            return None
        return await self._call(
            self._get_cached, key, _micros(utcnow()), what="read the cache", write=False
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
        columns = (entry.key, _micros_or_none(entry.expires_at), entry.format, doc)
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
        columns = (snapshot.component, _micros(snapshot.created_at), snapshot.format, doc)
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
        if _unstorable(component):
            return None
        newest = await self._call(
            self._list_snapshots, component, 1, what="read snapshots", write=False
        )
        return newest[0] if newest else None

    async def list_snapshots(self, component: str, *, limit: int = 10) -> list[Snapshot]:
        check_limit(limit)
        if _unstorable(component):
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

    # -- leases ---------------------------------------------------------------------------

    async def claim_runs(
        self,
        owner: str,
        *,
        limit: int = 1,
        lease_seconds: float = 30.0,
        now: datetime | None = None,
    ) -> list[Run]:
        check_limit(limit)
        now = now or utcnow()
        expires = now + timedelta(seconds=lease_seconds)
        return await self._call(self._claim_runs, owner, limit, now, expires, what="claim runs")

    def _claim_runs(
        self,
        connection: Connection,
        owner: str,
        limit: int,
        now: datetime,
        expires: datetime,
    ) -> list[Run]:
        # SKIP LOCKED: rows another worker is claiming right now are passed over, and a
        # row leased since this statement's snapshot is re-checked once locked. A child
        # run is never claimed: its parent's replay executes it
        rows = connection.execute(
            "SELECT run_id, doc, last_seq FROM runs"
            " WHERE runnable_at IS NOT NULL AND runnable_at <= %(now)s AND parent_id IS NULL"
            " AND (lease_expires_at IS NULL OR lease_expires_at <= %(now)s)"
            " ORDER BY runnable_at, position LIMIT %(limit)s FOR UPDATE SKIP LOCKED",
            {"now": _micros(now), "limit": limit},
        ).fetchall()
        # decode every run before changing any (errors come before writes)
        claimed = [
            attrs.evolve(
                self._decode_run(run_id, doc, last_seq),
                lease_owner=owner,
                lease_expires_at=expires,
            )
            for run_id, doc, last_seq in rows
        ]
        if claimed:
            with connection.cursor() as cursor:
                cursor.executemany(_UPDATE_RUN, [self._run_columns(run) for run in claimed])
        return claimed

    async def acquire_lease(
        self,
        run_id: str,
        owner: str,
        *,
        lease_seconds: float = 30.0,
        now: datetime | None = None,
    ) -> Run:
        if _unstorable(run_id):
            raise no_such_run(run_id, f"the {self._where}")
        now = now or utcnow()
        expires = now + timedelta(seconds=lease_seconds)
        return await self._call(
            self._acquire_lease, run_id, owner, now, expires, what="lease a run"
        )

    def _acquire_lease(
        self,
        connection: Connection,
        run_id: str,
        owner: str,
        now: datetime,
        expires: datetime,
    ) -> Run:
        # the row stays locked to the commit: the check and the lease are one step for
        # every process sharing the database
        run = self._get_run(connection, run_id, lock=True)
        if run is None:
            raise no_such_run(run_id, f"the {self._where}")
        if lease_live(run, owner, now):
            raise lease_held(run, self._where)
        leased = attrs.evolve(run, lease_owner=owner, lease_expires_at=expires)
        connection.execute(_UPDATE_RUN, self._run_columns(leased))
        return leased

    async def renew_lease(self, run_id: str, owner: str, *, lease_seconds: float = 30.0) -> bool:
        if _unstorable(run_id) or _unstorable(owner):
            return False
        return await self._call(
            self._renew_lease, run_id, owner, lease_seconds, what="renew a lease"
        )

    def _renew_lease(
        self, connection: Connection, run_id: str, owner: str, lease_seconds: float
    ) -> bool:
        now = utcnow()
        run = self._leased_run(connection, run_id, owner, now)
        if run is None:
            return False
        renewed = attrs.evolve(run, lease_expires_at=now + timedelta(seconds=lease_seconds))
        connection.execute(_UPDATE_RUN, self._run_columns(renewed))
        return True

    async def release_lease(self, run_id: str, owner: str) -> None:
        if _unstorable(run_id) or _unstorable(owner):
            return
        await self._call(self._release_lease, run_id, owner, what="release a lease")

    def _release_lease(self, connection: Connection, run_id: str, owner: str) -> None:
        run = self._leased_run(connection, run_id, owner, None)
        if run is not None:
            released = attrs.evolve(run, lease_owner=None, lease_expires_at=None)
            connection.execute(_UPDATE_RUN, self._run_columns(released))

    def _leased_run(
        self, connection: Connection, run_id: str, owner: str, live_at: datetime | None
    ) -> Run | None:
        """The run, locked, if *owner* holds its lease (still live at *live_at*, if given)."""
        row = connection.execute(
            "SELECT doc, lease_expires_at, last_seq FROM runs"
            " WHERE run_id = %s AND lease_owner = %s FOR UPDATE",
            (run_id, owner),
        ).fetchone()
        if row is None:
            return None
        if live_at is not None and row[1] is not None and row[1] <= _micros(live_at):
            return None
        return self._decode_run(run_id, row[0], row[2])
