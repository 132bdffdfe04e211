"""Runs and their journals: create, read, update, append, list."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from floe import (
    DamagedRecord,
    Event,
    FloeError,
    PersistenceError,
    Run,
    RunListing,
    RunQuery,
    RunStatus,
    SequenceConflictError,
)
from floe.storage import (
    FORMAT_VERSION,
    check_append,
    check_limit,
    check_run_id_prefix,
    decode_document,
    dump_json,
    no_such_cursor,
    no_such_run,
    run_counts,
)

from ._connection import NO_NOTICE, Connected, Notice
from ._rows import (
    FIX_DAMAGED,
    INSERT_EVENTS,
    READ_BATCH,
    RUN_COLUMNS,
    RUN_VALUES,
    SET_RUN,
    UPDATE_RUN,
    above,
    run_columns,
    unstorable,
)

if TYPE_CHECKING:
    Connection = psycopg.Connection[Any]
    Cursor = psycopg.Cursor[Any]

IDLE = psycopg.pq.TransactionStatus.IDLE

__all__ = ["Runs"]


class _Unusual(Exception):
    """A journal row that the bulk read leaves to the checked path."""


class Runs(Connected):
    """Runs and journals: an append is fenced by a conditional UPDATE of ``last_seq``."""

    # -- runs ---------------------------------------------------------------------------

    async def create_run(self, run: Run) -> None:
        await self._call(self._create_run, run_columns(run), self._notice(run), what="create a run")

    def _create_run(self, connection: Connection, columns: tuple[Any, ...], notice: Notice) -> None:
        returning, parameters = notice  # a run submitted: its workers are told at COMMIT
        cursor = connection.execute(
            f"INSERT INTO runs ({RUN_COLUMNS}, run_id) VALUES ({RUN_VALUES})"
            f" ON CONFLICT (run_id) DO NOTHING{returning}",
            (*columns, *parameters),
        )
        if cursor.rowcount == 0:
            run_id = columns[-1]
            raise PersistenceError(
                f"Run {run_id!r} already exists in the {self._where}",
                fix="Use a new run id, or load the existing run with get_run().",
                context={"run_id": run_id, "database": self._where},
            )

    async def get_run(self, run_id: str) -> Run | None:
        if unstorable(run_id):
            return None
        return await self._call(self._get_run, run_id, what="read a run", write=False)

    def _get_run(self, connection: Connection, run_id: str, *, lock: bool = False) -> Run | None:
        row = connection.execute(
            "SELECT doc, last_seq FROM runs WHERE run_id = %s" + (" FOR UPDATE" if lock else ""),
            (run_id,),
        ).fetchone()
        return None if row is None else self._decode_run(run_id, row[0], row[1])

    async def update_run(self, run: Run) -> None:
        if unstorable(run.run_id):
            raise no_such_run(run.run_id, f"the {self._where}")
        await self._call(self._update_run, run_columns(run), self._notice(run), what="update a run")

    def _update_run(
        self, connection: Connection, columns: tuple[Any, ...], notice: Notice = NO_NOTICE
    ) -> None:
        returning, parameters = notice
        if connection.execute(UPDATE_RUN + returning, (*columns, *parameters)).rowcount == 0:
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
        if unstorable(run_id):
            check_append(run_id, events, None, where=f"the {self._where}", run=run)
        rows = self._event_rows(events)
        columns = None if run is None else run_columns(run)
        notice = self._notice(run)  # e.g. a run that gives its lease up with this append
        # with the appends arriving meanwhile, in one transaction (see _write_appends)
        await self._require_appends().run((run_id, events, rows, run, columns, notice))

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

    def _append_events(self, connection: Connection, *item: Any) -> None:
        """One append (*item*: ``_send_append``'s arguments) and its check."""
        self._check_sent(connection, self._send_append(connection, *item), item)

    def _send_append(
        self,
        connection: Connection,
        run_id: str,
        events: Sequence[Event],
        rows: list[tuple[Any, ...]],
        run: Run | None,
        columns: tuple[Any, ...] | None,
        notice: Notice,
    ) -> Cursor:
        """The append's one statement, which writes all of it or nothing; its result is
        not read here (in a pipeline it is only queued): see ``_check_sent``."""
        if not events:
            if columns is not None:
                returning, parameters = notice
                return connection.execute(UPDATE_RUN + returning, (*columns, *parameters))
            return connection.execute("SELECT 1 FROM runs WHERE run_id = %s", (run_id,))
        expected, last = events[0].seq - 1, events[-1].seq
        # the fence: the journal moves from the seq this writer read to its own last one
        # only if no other writer (in any process) moved it first; the row lock makes a
        # concurrent writer wait for this transaction and then find last_seq changed
        # one statement: the events are inserted only if the UPDATE moved the journal
        # on, so a refused append writes nothing, in one round trip rather than two
        if columns is None:
            moved = "UPDATE runs SET last_seq = %s WHERE run_id = %s AND last_seq = %s"
            head: tuple[Any, ...] = (last, run_id, expected)
            returning = " RETURNING 1"
        else:
            returning, notified = notice
            moved = f"UPDATE runs SET {SET_RUN}, last_seq = %s WHERE run_id = %s AND last_seq = %s"
            head = (*columns[:-1], last, run_id, expected, *notified)
            returning = returning or " RETURNING 1"
        return connection.execute(
            f"WITH moved AS ({moved}{returning}) {INSERT_EVENTS}",
            (*head, *[list(column) for column in zip(*rows, strict=True)]),
        )

    def _check_sent(self, connection: Connection, cursor: Cursor, item: tuple[Any, ...]) -> None:
        """Raise the error of the append *item* whose statement *cursor* wrote nothing
        (its run is missing, or its journal moved on); nothing when it wrote."""
        run_id, events, rows, run, columns, _ = item
        where = f"the {self._where}"
        if not events:
            if columns is not None and cursor.rowcount == 0:
                raise no_such_run(run_id, where)
            if columns is None and cursor.fetchone() is None:
                check_append(run_id, events, None, where=where, run=run)
            return
        if cursor.rowcount != 0:
            return
        if self._appended_before(connection, rows[-1]):
            return  # this very append, by a try whose connection was lost after it
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

    def _write_appends(
        self, pool: ConnectionPool, items: list[tuple[Any, ...]]
    ) -> list[BaseException | None]:
        """The appends of *items* (``_send_append``'s arguments), each one's error or
        None: together in one transaction, or a lone one as one statement.

        Should the transaction fail (a lost connection, the server's error), each
        append is written again alone: repeatable, it recognises its events if the
        transaction committed after all, and meets its own error if it has one."""
        if len(items) > 1:
            try:
                return self._appends_together(pool, items)
            except (psycopg.Error, PoolTimeout):
                pass
        return [self._append_alone(pool, item) for item in items]

    def _append_alone(self, pool: ConnectionPool, item: tuple[Any, ...]) -> Exception | None:
        try:
            self._transact(pool, self._append_events, item, "append events", False, True)
        except Exception as error:  # the append's own: the caller raises it
            return error
        return None

    def _appends_together(
        self, pool: ConnectionPool, items: list[tuple[Any, ...]]
    ) -> list[BaseException | None]:
        """*items* in one transaction sent as one pipeline: BEGIN, every append's
        statement and COMMIT go out together and their results come back together, one
        round trip for the batch. Each statement writes all of its append or nothing,
        so an append that wrote nothing is told apart after the commit (``_check_sent``),
        and the appends that did write stand."""
        connection = pool.getconn()
        try:
            with connection.pipeline():
                connection.execute("BEGIN")
                cursors = [self._send_append(connection, *item) for item in items]
                connection.execute("COMMIT")
            return [
                self._refusal(connection, cursor, item)
                for cursor, item in zip(cursors, items, strict=True)
            ]
        finally:
            if not connection.broken and connection.info.transaction_status != IDLE:
                with contextlib.suppress(psycopg.Error):
                    connection.execute("ROLLBACK")
            pool.putconn(connection)

    def _refusal(
        self, connection: Connection, cursor: Cursor, item: tuple[Any, ...]
    ) -> FloeError | None:
        try:
            self._check_sent(connection, cursor, item)
        except FloeError as refused:  # it wrote nothing: its caller raises the error
            return refused
        return None

    @staticmethod
    def _appended_before(connection: Connection, last: tuple[Any, ...]) -> bool:
        """Whether the journal holds *last*, the last row of an append, exactly: the
        append committed in an earlier try (its instant and data make the row its own;
        the rows of one append are stored together or not at all)."""
        run_id, seq, kind, step, at, data, _ = last
        found = connection.execute(
            "SELECT 1 FROM events WHERE run_id = %s AND seq = %s AND kind = %s"
            " AND step IS NOT DISTINCT FROM %s AND at = %s AND data = %s",
            (run_id, seq, kind, step, at, data),
        ).fetchone()
        return found is not None

    async def read_events(
        self, run_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        if limit is not None:
            check_limit(limit)
        if unstorable(run_id):
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
            while rows := cursor.fetchmany(READ_BATCH):
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
            self._list_runs,
            *self._runs_sql(query),
            query.after,
            None,
            what="list runs",
            write=False,
        )

    async def list_runs_checked(self, query: RunQuery = RunQuery()) -> RunListing:
        damaged: list[DamagedRecord] = []
        runs = await self._call(
            self._list_runs,
            *self._runs_sql(query),
            query.after,
            damaged,
            what="list runs",
            write=False,
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
        if query.after is not None:
            # (created_at, position) is unique, so the order is total and the runs after
            # the cursor are those below its key; the cursor need not match the filters
            conditions.append(
                "(created_at, position) < (SELECT created_at, position FROM runs WHERE run_id = %s)"
            )
            parameters.append(query.after)
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
        after: str | None,
        damaged: list[DamagedRecord] | None,
    ) -> list[Run]:
        """The rows' runs; a damaged row raises, or goes to *damaged* when given."""
        # a missing cursor would make an empty page: looked up first (runs are never
        # deleted, so one found here is still there for the page)
        if after is not None and not _run_exists(connection, after):
            raise no_such_cursor(after, f"the {self._where}")
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

    async def count_runs(self) -> dict[tuple[RunStatus, str], int]:
        return await self._call(self._count_runs, what="count runs", write=False)

    @staticmethod
    def _count_runs(connection: Connection) -> dict[tuple[RunStatus, str], int]:
        rows = connection.execute("SELECT status, queue, count(*) FROM runs GROUP BY status, queue")
        return run_counts(rows.fetchall())

    async def find_run_ids(self, prefix: str, *, limit: int = 10) -> list[str]:
        check_run_id_prefix(prefix)
        check_limit(limit)
        try:
            prefix.encode("utf-8")
        except UnicodeEncodeError:
            return []  # a lone surrogate: no id in the database holds one
        if unstorable(prefix):
            return []  # PostgreSQL text holds no NUL: no id has one
        return await self._call(
            self._find_run_ids, prefix, limit, what="look up run ids", write=False
        )

    @staticmethod
    def _find_run_ids(connection: Connection, prefix: str, limit: int) -> list[str]:
        # a range of the primary key (collation "C" orders by code point), not a scan;
        # starts_with() keeps the result exact where the range alone is wider
        high = above(prefix)
        rows = connection.execute(
            "SELECT run_id FROM runs WHERE run_id >= %(low)s"
            + (" AND run_id < %(high)s" if high is not None else "")
            + " AND starts_with(run_id, %(low)s) ORDER BY run_id LIMIT %(limit)s",
            {"low": prefix, "high": high, "limit": limit},
        ).fetchall()
        return [str(row[0]) for row in rows]

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
                fix=FIX_DAMAGED,
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


def _run_exists(connection: Connection, run_id: str) -> bool:
    return (
        connection.execute("SELECT 1 FROM runs WHERE run_id = %s", (run_id,)).fetchone() is not None
    )
