"""The store's connections: the pool, each call's transaction and its retries, and the
errors that name the database.

Every call takes a connection from a :class:`psycopg_pool.ConnectionPool`, runs its
statements in one transaction and commits, in one of the store's threads
(:class:`~floe_postgres._threads.CallThreads`, as many as the pool has connections). A
call whose connection was lost before it committed (the server restarted, the backend
was terminated) is retried on a new connection: nothing of it was committed. A
connection lost while committing leaves the outcome unknown; that is an error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar

import anyio
import anyio.to_thread
import attrs
import orjson
import psycopg
from psycopg import pq
from psycopg_pool import ConnectionPool, PoolTimeout

from floe import PersistenceError, Run, Store
from floe.storage import decode_document, utcnow

from ._notify import CHANNEL, Listener, claimable
from ._rows import FIX_DAMAGED
from ._schema import migrate
from ._threads import BatchThread, CallThreads

if TYPE_CHECKING:
    Connection = psycopg.Connection[Any]

__all__ = ["ATTEMPTS", "NO_NOTICE", "POOL_WAIT_SECONDS", "Connected", "Notice"]

T = TypeVar("T")

Notice = tuple[str, tuple[Any, ...]]
"""A clause that notifies the store's listeners, to end a statement with, and its
parameters: ``RETURNING pg_notify(%s, %s)`` or nothing."""
NO_NOTICE: Final[Notice] = ("", ())

POOL_WAIT_SECONDS: Final = 30.0
"""How long a call waits for a free connection of the pool before it fails."""
ATTEMPTS: Final = 3
"""Tries of a call whose connection was lost before it committed."""

_IDLE_IN_TRANSACTION_MS: Final = 10_000
"""How long the server lets a session sit idle inside a transaction before it ends it:
floe's transactions never wait on anything between their statements."""


class Connected(Store):
    """The part of :class:`~floe_postgres.PostgresStore` that holds its connections: open
    and close, :meth:`_call` (a transaction in a worker thread, retried on a lost
    connection), the listening connection and the notices of the writes that make a run
    claimable, and decoding with errors that name the database."""

    # set by PostgresStore.__init__
    url: str
    schema: str | None
    pool_size: int
    connect_timeout: int
    sslmode: str | None
    _secrets: tuple[str, ...]
    _conninfo: str
    _where: str
    _pool: ConnectionPool | None
    _threads: CallThreads | None
    _appends: BatchThread | None
    _opening: bool
    _listener: Listener | None
    _listen_limiter: anyio.CapacityLimiter | None

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
        # a transaction whose client went quiet (a process stopped or stalled between its
        # statements) would hold its row locks, and keep its runs from every other worker,
        # for good: the server ends such a session, and its writes are retried or refused
        settings = [f"-c idle_in_transaction_session_timeout={_IDLE_IN_TRANSACTION_MS}"]
        if self.schema is not None:
            # the name is checked: plain lower-case letters, digits and '_'
            settings.append(f"-c search_path={self.schema}")
        options["options"] = " ".join(settings)
        return options

    async def open(self) -> None:
        """Connect, create the schema or migrate it, and start the connection pool (the
        connection that listens for runnable runs opens on the first wait for them)."""
        if self._pool is not None or self._opening:
            raise PersistenceError(
                f"The store {self._where} is already open",
                fix="Open a store once; use a second PostgresStore for a second pool.",
                context={"database": self._where},
            )
        self._opening = True
        try:
            pool, tables_schema = await anyio.to_thread.run_sync(self._open)
            self._threads = CallThreads(self.pool_size, f"floe-postgres {self._where}")
            self._appends = BatchThread(
                functools.partial(self._write_appends, pool), f"floe-postgres appends {self._where}"
            )
            # one reading thread at a time; the listener's lock fences an abandoned one
            self._listen_limiter = anyio.CapacityLimiter(1)
            self._listener = Listener(
                self._conninfo,
                self._connection_options(),
                tables_schema,
                unreachable=self._unreachable,
                failed=self._failed,
            )
            self._pool = pool
        finally:
            self._opening = False

    def _open(self) -> tuple[ConnectionPool, str]:
        """The started pool, and the schema that holds the tables (the server's default
        one when the URL names none): the payload of the store's notifications."""
        try:
            connection = psycopg.connect(self._conninfo, **self._connection_options())
        except psycopg.Error as error:
            raise self._unreachable(error) from error
        try:
            with connection:
                self._check_server(connection)
                migrate(connection, where=self._where, schema=self.schema)
                row = connection.execute("SELECT current_schema()").fetchone()
                tables_schema = str(row[0]) if row and row[0] else self.schema or ""
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
        return pool, tables_schema

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
        """Close every connection of the pool, and the listening one."""
        pool, self._pool = self._pool, None
        listener, self._listener = self._listener, None
        threads, self._threads = self._threads, None
        appends, self._appends = self._appends, None
        self._listen_limiter = None
        if listener is not None:
            await anyio.to_thread.run_sync(listener.close)
        if appends is not None:
            await anyio.to_thread.run_sync(appends.stop)
        if threads is not None:
            await anyio.to_thread.run_sync(threads.stop)
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

    def _require_pool(self) -> tuple[ConnectionPool, CallThreads]:
        pool, threads = self._pool, self._threads
        if pool is None or threads is None:
            raise PersistenceError(
                f"The store {self._where} is not open",
                fix="Use the store inside 'async with store:' (or call open() first).",
                context={"database": self._where},
            )
        return pool, threads

    def _require_appends(self) -> BatchThread:
        appends = self._appends
        if appends is None:
            self._require_pool()  # raises: the store is not open
            raise AssertionError("unreachable")  # pragma: no cover
        return appends

    def _write_appends(
        self, pool: ConnectionPool, items: list[tuple[Any, ...]]
    ) -> list[BaseException | None]:
        """Write a batch of appends (in the appends' thread): see ``Runs``."""
        raise NotImplementedError  # pragma: no cover - the store's Runs part writes them

    def _require_listener(self) -> tuple[Listener, anyio.CapacityLimiter]:
        listener, limiter = self._listener, self._listen_limiter
        if listener is None or limiter is None:
            self._require_pool()  # raises: the store is not open
            raise AssertionError("unreachable")  # pragma: no cover
        return listener, limiter

    def _notice(self, run: Run | None) -> Notice:
        """``RETURNING pg_notify(...)`` and its parameters, for the statement that writes
        *run* when that leaves the run claimable now (else nothing): one more column of
        the row written, not one more statement. Delivered at COMMIT."""
        listener = self._listener
        if run is None or listener is None or not claimable(run, utcnow()):
            return NO_NOTICE
        return " RETURNING pg_notify(%s, %s)", (CHANNEL, listener.payload)

    async def _call(
        self,
        action: Callable[..., T],
        *args: Any,
        what: str,
        write: bool = True,
        repeatable: bool = False,
    ) -> T:
        """``action(connection, *args)`` in a worker thread: in one transaction when it
        writes; a read is one statement (``write=False``), which needs none.

        A *repeatable* write is one statement, a transaction by itself (no BEGIN and
        COMMIT round trips), whose repetition tells whether an earlier try committed (an
        append's fence, which recognises its own events): it is tried again on another
        connection whenever the connection is lost, even mid-statement.
        """
        pool, threads = self._require_pool()
        return await threads.run(
            self._transact, pool, action, args, what, write and not repeatable, repeatable
        )

    def _transact(
        self,
        pool: ConnectionPool,
        action: Callable[..., T],
        args: tuple[Any, ...],
        what: str,
        write: bool,
        repeatable: bool,
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
                if connection.broken and (repeatable or not committing) and attempt < ATTEMPTS:
                    # a read may be repeated; a write's transaction went with the
                    # connection, uncommitted; a repeatable write finds out on its own
                    # whether it committed: each is tried again on another connection
                    # (the pool replaces the broken one)
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
                f"{where} is not valid JSON", why=str(error), fix=FIX_DAMAGED, context=context
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
