"""The PostgreSQL store: the contract, and what only a shared server does.

Every test uses a real PostgreSQL server, in a schema of its own. Raw psycopg
connections play the other process, the vandal and the newer floe.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import anyio.lowlevel
import attrs
import psycopg
import pytest
from floe_postgres import PostgresStore
from floe_postgres._schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    TABLES,
    Migration,
    migrate,
    read_schema_version,
)
from psycopg import sql

import floe
import floe.testing
from floe import (
    CacheEntry,
    ConfigError,
    Event,
    FloeError,
    NotFoundError,
    PersistenceError,
    Run,
    SequenceConflictError,
    Store,
)
from floe.storage import utcnow
from floe.testing import open_store

pytestmark = pytest.mark.anyio


def raw_connection(base_url: str) -> psycopg.Connection[tuple[Any, ...]]:
    """A connection of the test's own (the other process, the vandal), autocommit."""
    return psycopg.connect(base_url, connect_timeout=2, autocommit=True)


def _events(run_id: str, first: int, count: int = 1, kind: str = "task.completed") -> list[Event]:
    return [
        Event(run_id=run_id, seq=seq, kind=kind, step=f"step#{seq}", data={"n": seq})
        for seq in range(first, first + count)
    ]


class TestPostgresStore(floe.testing.StoreContract):
    @pytest.fixture
    def store_url(self, postgres_url: str) -> str:
        return postgres_url


# -- URLs and options -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ("bogus=1", "Unknown option 'bogus'"),
        ("schema=t_x&sslmod=require", "Unknown option 'sslmod'"),
        ("pool_size=0", "Invalid pool_size"),
        ("pool_size=-3", "Invalid pool_size"),
        ("pool_size=ten", "Invalid pool_size"),
        ("pool_size=1.5", "Invalid pool_size"),
        ("pool_size=100000", "Invalid pool_size"),
        ("connect_timeout=0", "Invalid connect_timeout"),
        ("connect_timeout=soon", "Invalid connect_timeout"),
        ("sslmode=always", "Invalid sslmode"),
        ("schema=Upper", "Invalid schema"),
        ("schema=", "Invalid schema"),
        ("schema=a;drop", "Invalid schema"),
        ("schema=1abc", "Invalid schema"),
        ("schema=" + "s" * 64, "Invalid schema"),
    ],
)
def test_a_bad_option_is_a_config_error_without_the_password(options: str, match: str) -> None:
    url = f"postgresql://floe:s3cr%21t@127.0.0.1:5432/test?{options}"
    with pytest.raises(ConfigError, match=match) as caught:
        open_store(url)
    assert "s3cr" not in _everything(caught.value)


def test_both_schemes_open_the_store_and_its_url_hides_the_password() -> None:
    for scheme in ("postgresql", "postgres"):
        store = open_store(f"{scheme}://floe:s3cr%21t@db.example:6543/app?schema=s&pool_size=3")
        assert isinstance(store, PostgresStore)
        assert (store.host, store.port, store.database) == ("db.example", 6543, "app")
        assert (store.schema, store.pool_size) == ("s", 3)
        assert "s3cr" not in store.url
        assert "s3cr" not in repr(store)
        assert store.url == f"{scheme}://floe:***@db.example:6543/app?schema=s&pool_size=3"


@pytest.mark.parametrize(
    ("url", "shown", "host", "database"),
    [
        (
            "postgresql://u%40x:p%3Aw@h:1/d%20b",
            "postgresql://u%40x:***@h:1/d%20b",
            "h",
            "d b",
        ),
        ("postgresql://u@h/d", "postgresql://u@h/d", "h", "d"),
        ("postgresql://u:@h/d", "postgresql://u:***@h/d", "h", "d"),
        ("postgresql:///d", "postgresql:///d", None, "d"),
        (
            "postgresql://u:pw@%2Fvar%2Frun%2Fpostgresql/d?schema=s",
            "postgresql://u:***@%2Fvar%2Frun%2Fpostgresql/d?schema=s",
            "/var/run/postgresql",
            "d",
        ),
    ],
)
def test_the_url_is_shown_without_its_password(
    url: str, shown: str, host: str | None, database: str
) -> None:
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    assert (store.url, store.host, store.database) == (shown, host, database)


def _everything(error: FloeError) -> str:
    """Every text of an error: what it says, why, the fix and the context."""
    return " ".join([str(error), error.why or "", error.fix or "", repr(error.context)])


# -- servers that cannot be used --------------------------------------------------------


async def test_an_unreachable_server_fails_open_at_once_naming_host_and_database() -> None:
    store = open_store("postgresql://floe:s3cr%21t@127.0.0.1:1/nowhere_db")
    started = time.monotonic()
    with anyio.fail_after(10), pytest.raises(PersistenceError) as caught:
        await store.open()
    assert time.monotonic() - started < 5
    text = _everything(caught.value)
    assert "127.0.0.1:1" in str(caught.value)
    assert "nowhere_db" in str(caught.value)
    assert "s3cr" not in text
    assert caught.value.fix
    with pytest.raises(PersistenceError, match="not open"):
        await store.get_run("r")


async def test_a_server_that_does_not_answer_fails_after_the_connect_timeout() -> None:
    # an address nothing answers on: the connect timeout, not the TCP one, ends the wait
    store = open_store("postgresql://floe@10.255.255.1:5432/test?connect_timeout=2")
    started = time.monotonic()
    with anyio.fail_after(15), pytest.raises(PersistenceError, match=r"10\.255\.255\.1"):
        await store.open()
    assert time.monotonic() - started < 10


async def test_a_missing_database_fails_open_naming_it(postgres_base_url: str) -> None:
    parts = urlsplit(postgres_base_url)
    netloc = f"{parts.username or 'postgres'}:s3cr%21t@{parts.netloc.rpartition('@')[2]}"
    url = urlunsplit(parts._replace(netloc=netloc, path="/no_such_floe_database"))
    with pytest.raises(PersistenceError, match="no_such_floe_database") as caught:
        await open_store(url).open()
    assert "does not exist" in str(caught.value)
    assert "s3cr" not in _everything(caught.value)


async def test_sslmode_is_passed_to_libpq(postgres_url: str) -> None:
    async with open_store(f"{postgres_url}&sslmode=disable") as store:
        assert isinstance(store, PostgresStore)
        assert store.sslmode == "disable"
        await store.create_run(Run(run_id="r-1", name="plain"))
    with psycopg.connect(postgres_url.partition("?")[0], connect_timeout=2) as connection:
        ssl = connection.execute("SHOW ssl").fetchone()
    if ssl == ("off",):
        # a server without TLS refuses a client that requires it, clearly
        with pytest.raises(PersistenceError, match="SSL"):
            await open_store(f"{postgres_url}&sslmode=require").open()


async def test_a_store_opens_once(postgres_url: str) -> None:
    async with open_store(postgres_url) as store:
        with pytest.raises(PersistenceError, match="already open"):
            await store.open()
    with pytest.raises(PersistenceError, match="not open"):
        await store.list_runs()


# -- the schema and its version ---------------------------------------------------------


def _tables(base_url: str, schema: str) -> dict[str, int]:
    """The tables of *schema* with their row counts."""
    with raw_connection(base_url) as connection:
        names = [
            str(name)
            for (name,) in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            )
        ]
        return {
            name: int(
                connection.execute(
                    sql.SQL("SELECT count(*) FROM {}.{}").format(
                        sql.Identifier(schema), sql.Identifier(name)
                    )
                ).fetchone()[0]  # type: ignore[index]
            )
            for name in names
        }


async def test_open_creates_the_schema_at_the_current_version(
    postgres_url: str, postgres_base_url: str, postgres_schema: str
) -> None:
    async with open_store(postgres_url):
        pass
    tables = _tables(postgres_base_url, postgres_schema)
    assert set(tables) == {"floe_meta", *TABLES}
    with raw_connection(postgres_base_url) as connection:
        row = connection.execute(
            sql.SQL("SELECT value FROM {}.floe_meta WHERE key = 'schema_version'").format(
                sql.Identifier(postgres_schema)
            )
        ).fetchone()
    assert row == (str(SCHEMA_VERSION),)
    assert [m.version for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))


async def test_a_newer_schema_is_refused_and_left_untouched(
    postgres_url: str, postgres_base_url: str, postgres_schema: str
) -> None:
    async with open_store(postgres_url) as store:
        await store.create_run(Run(run_id="r-1", name="kept"))
    newer = SCHEMA_VERSION + 1
    with raw_connection(postgres_base_url) as connection:
        connection.execute(
            sql.SQL("UPDATE {}.floe_meta SET value = %s WHERE key = 'schema_version'").format(
                sql.Identifier(postgres_schema)
            ),
            (str(newer),),
        )
    before = _tables(postgres_base_url, postgres_schema)
    with pytest.raises(PersistenceError, match="newer floe") as caught:
        await open_store(postgres_url).open()
    assert caught.value.why
    assert "Upgrade" in (caught.value.fix or "")
    assert caught.value.context["schema_version"] == newer
    assert _tables(postgres_base_url, postgres_schema) == before


async def test_a_schema_with_tables_of_something_else_is_refused(
    postgres_url: str, postgres_base_url: str, postgres_schema: str
) -> None:
    with raw_connection(postgres_base_url) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(postgres_schema)))
        connection.execute(
            sql.SQL("CREATE TABLE {}.runs (id int)").format(sql.Identifier(postgres_schema))
        )
    with pytest.raises(PersistenceError, match="not a floe store"):
        await open_store(postgres_url).open()
    assert set(_tables(postgres_base_url, postgres_schema)) == {"runs"}


async def test_stores_opening_a_new_schema_at_once_migrate_it_once(
    postgres_url: str, postgres_base_url: str, postgres_schema: str
) -> None:
    stores = [open_store(postgres_url) for _ in range(4)]
    async with anyio.create_task_group() as group:
        for store in stores:
            group.start_soon(store.open)
    try:
        await stores[0].create_run(Run(run_id="r-1", name="shared"))
        for store in stores:
            assert await store.get_run("r-1") is not None
    finally:
        for store in stores:
            await store.close()
    assert _tables(postgres_base_url, postgres_schema)["floe_meta"] == 1


# -- several stores (processes) on one database -----------------------------------------


async def test_two_stores_claim_every_due_run_exactly_once(postgres_url: str) -> None:
    count = 50
    now = utcnow()
    async with open_store(postgres_url) as first, open_store(postgres_url) as second:
        for index in range(count):
            due = now - timedelta(seconds=count - index)
            await first.create_run(Run(run_id=f"due-{index:02}", name="w", runnable_at=due))
        await first.create_run(Run(run_id="later", name="w", runnable_at=now + timedelta(hours=1)))
        claims: list[tuple[str, str]] = []

        async def worker(store: Store, owner: str) -> None:
            while claimed := await store.claim_runs(owner, limit=3, lease_seconds=60, now=now):
                claims.extend((run.run_id, owner) for run in claimed)
                await anyio.lowlevel.checkpoint()

        async with anyio.create_task_group() as group:
            for index in range(8):
                group.start_soon(worker, first, f"first-{index}")
                group.start_soon(worker, second, f"second-{index}")
        claimed_ids = [run_id for run_id, _ in claims]
        assert sorted(claimed_ids) == [f"due-{index:02}" for index in range(count)]
        owners = {owner.split("-")[0] for _, owner in claims}
        assert owners == {"first", "second"}  # both stores took part
        for run_id, owner in claims:
            run = await second.get_run(run_id)
            assert run is not None
            assert run.lease_owner == owner
        assert await second.claim_runs("late", limit=100, now=now) == []


async def test_two_stores_appending_to_one_run_one_wins_each_time(postgres_url: str) -> None:
    rounds = 20
    async with open_store(postgres_url) as first, open_store(postgres_url) as second:
        run = Run(run_id="r-1", name="contested")
        await first.create_run(run)
        for seq in range(1, rounds + 1):
            outcomes: dict[str, str] = {}

            async def writer(store: Store, name: str, seq: int, outcomes: dict[str, str]) -> None:
                done = attrs.evolve(run, metadata={"writer": name})
                try:
                    await store.append_events("r-1", _events("r-1", seq, 2, name), run=done)
                except SequenceConflictError:
                    outcomes[name] = "lost"
                else:
                    outcomes[name] = "won"

            async with anyio.create_task_group() as group:
                group.start_soon(writer, first, "first", 2 * seq - 1, outcomes)
                group.start_soon(writer, second, "second", 2 * seq - 1, outcomes)
            assert sorted(outcomes.values()) == ["lost", "won"]
            winner = next(name for name, outcome in outcomes.items() if outcome == "won")
            events = await second.read_events("r-1", after_seq=2 * seq - 2)
            assert [(e.seq, e.kind) for e in events] == [(2 * seq - 1, winner), (2 * seq, winner)]
            stored = await first.get_run("r-1")
            assert stored is not None
            assert (stored.last_seq, stored.metadata) == (2 * seq, {"writer": winner})


# -- lost connections -------------------------------------------------------------------


def _terminate(base_url: str, schema: str) -> int:
    """Terminate every server process of the stores of *schema*; return how many."""
    with raw_connection(base_url) as connection:
        rows = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s AND pid <> pg_backend_pid()",
            (f"floe ({schema})",),
        ).fetchall()
    return len(rows)


async def test_the_store_recovers_from_terminated_connections(
    postgres_url: str, postgres_base_url: str, postgres_schema: str
) -> None:
    async with open_store(postgres_url) as store:
        await store.create_run(Run(run_id="r-1", name="survivor"))
        assert _terminate(postgres_base_url, postgres_schema) >= 1
        run = await store.get_run("r-1")  # a read
        assert run is not None
        assert _terminate(postgres_base_url, postgres_schema) >= 1
        await store.append_events("r-1", _events("r-1", 1, 2))  # a write
        assert _terminate(postgres_base_url, postgres_schema) >= 1
        claimed = await store.claim_runs("w", now=utcnow())
        assert claimed == []
        assert [e.seq for e in await store.read_events("r-1")] == [1, 2]
        # many calls at once, after every connection of the pool went
        async with anyio.create_task_group() as group:
            for index in range(20):
                group.start_soon(store.put_value, "plugin", f"k{index:02}", b"v")
        _terminate(postgres_base_url, postgres_schema)
        assert len(await store.list_keys("plugin")) == 20


# -- what PostgreSQL holds exactly ------------------------------------------------------


async def test_nul_characters_and_any_text_round_trip(postgres_url: str) -> None:
    data = {"nul": "a\x00b", "text": "é ✓ \U0001f600", "nested": [None, 1.5, "\x00"]}
    async with open_store(postgres_url) as store:
        run = Run(run_id="r-1", name="nul", input=data, metadata={"m": "\x00"})
        await store.create_run(run)
        await store.append_events("r-1", [Event(run_id="r-1", seq=1, kind="k", data=data)])
        await store.put_cached(CacheEntry(key="k", value=data))
        assert await store.get_run("r-1") == attrs.evolve(run, last_seq=1)
        [event] = await store.read_events("r-1")
        assert event.data == data
        entry = await store.get_cached("k")
        assert entry is not None
        assert entry.value == data


async def test_a_nul_in_a_name_finds_nothing_and_cannot_be_written(postgres_url: str) -> None:
    # PostgreSQL text holds no NUL: such a run, entry or component cannot exist
    async with open_store(postgres_url) as store:
        assert await store.get_run("r\x00") is None
        assert await store.read_events("r\x00") == []
        assert await store.get_cached("k\x00") is None
        assert await store.latest_snapshot("c\x00") is None
        assert await store.list_snapshots("c\x00") == []
        assert await store.find_run_ids("r\x00") == []
        assert not await store.renew_lease("r\x00", "owner")
        await store.release_lease("r\x00", "owner")
        with pytest.raises(NotFoundError):
            await store.update_run(Run(run_id="r\x00", name="x"))
        with pytest.raises(NotFoundError):
            await store.append_events("r\x00", _events("r\x00", 1))
        with pytest.raises(NotFoundError):
            await store.acquire_lease("r\x00", "owner")
        with pytest.raises(PersistenceError, match="NUL"):
            await store.create_run(Run(run_id="r\x00", name="x"))
        with pytest.raises(PersistenceError, match="NUL"):
            await store.create_run(Run(run_id="r-1", name="x\x00"))
        assert await store.list_runs() == []


async def test_times_in_any_offset_round_trip_exactly(postgres_url: str) -> None:
    moment = datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=-5)))
    async with open_store(postgres_url) as store:
        run = Run(run_id="r-1", name="t", created_at=moment, updated_at=moment, runnable_at=moment)
        await store.create_run(run)
        await store.append_events("r-1", [Event(run_id="r-1", seq=1, kind="k", at=moment)])
        assert await store.get_run("r-1") == attrs.evolve(run, last_seq=1)
        [event] = await store.read_events("r-1")
        assert event.at == moment
        assert event.at.utcoffset() == timedelta(hours=-5)


async def test_damaged_records_are_reported_one_by_one(
    postgres_url: str, postgres_base_url: str, postgres_schema: str
) -> None:
    now = utcnow()
    async with open_store(postgres_url) as store:
        for index in range(3):
            await store.create_run(
                Run(run_id=f"r-{index}", name="w", created_at=now + timedelta(seconds=index))
            )
        with raw_connection(postgres_base_url) as connection:
            connection.execute(
                sql.SQL("UPDATE {}.runs SET doc = '{{not json' WHERE run_id = 'r-1'").format(
                    sql.Identifier(postgres_schema)
                )
            )
        listing = await store.list_runs_checked()
        assert [run.run_id for run in listing.runs] == ["r-2", "r-0"]
        [damaged] = listing.damaged
        assert damaged.run_id == "r-1"
        assert "not valid JSON" in damaged.why
        assert postgres_schema in damaged.location
        with pytest.raises(PersistenceError, match="r-1"):
            await store.list_runs()
        with pytest.raises(PersistenceError, match="not valid JSON"):
            await store.get_run("r-1")


# -- the kernel on the store ------------------------------------------------------------


@floe.task
async def _double(n: int) -> int:
    return 2 * n


@floe.workflow
async def _doubles(numbers: list[int]) -> list[int]:
    return [await _double(n) for n in numbers]


async def test_a_workflow_runs_on_the_store_and_is_found_again(
    floe_kernel_factory: Callable[..., floe.Kernel], postgres_url: str
) -> None:
    async with floe_kernel_factory(store=postgres_url) as kernel:
        assert isinstance(kernel.store, PostgresStore)
        execution = await _doubles.run_async([1, 2, 3], run_id="job-1")
        assert execution.output == [2, 4, 6]
        run = await kernel.store.get_run("job-1")
        assert run is not None
        assert run.status is floe.RunStatus.COMPLETED
        assert run.lease_owner is None  # given up when the run stopped
        events = await kernel.store.read_events("job-1")
        assert run.last_seq == len(events) > 3
    async with floe_kernel_factory(store=postgres_url) as kernel:
        # another kernel (another process) loads the finished run instead of running it
        again = await _doubles.run_async([1, 2, 3], run_id="job-1")
        assert again.output == [2, 4, 6]
        assert await kernel.store.find_run_ids("job") == ["job-1"]


# -- forward migrations -----------------------------------------------------------------


def _schema_connection(base_url: str, schema: str) -> psycopg.Connection[tuple[Any, ...]]:
    """A connection whose search_path is *schema*, as the store's are."""
    return psycopg.connect(
        base_url, connect_timeout=2, autocommit=True, options=f"-c search_path={schema}"
    )


async def test_a_later_migration_moves_an_older_database_forward(
    postgres_url: str, postgres_base_url: str, postgres_schema: str
) -> None:
    async with open_store(postgres_url) as store:
        await store.create_run(Run(run_id="r-1", name="old"))
    later = Migration(
        SCHEMA_VERSION + 1,
        "a column for tests",
        ("ALTER TABLE runs ADD COLUMN note text NOT NULL DEFAULT 'migrated'",),
    )
    where = f"schema {postgres_schema}"
    with _schema_connection(postgres_base_url, postgres_schema) as connection:
        applied = migrate(
            connection, where=where, schema=postgres_schema, migrations=(*MIGRATIONS, later)
        )
        assert applied == [SCHEMA_VERSION + 1]
        assert read_schema_version(connection, where=where) == SCHEMA_VERSION + 1
        assert connection.execute("SELECT run_id, note FROM runs").fetchall() == [
            ("r-1", "migrated")
        ]
        # migrating again applies nothing
        assert (
            migrate(
                connection, where=where, schema=postgres_schema, migrations=(*MIGRATIONS, later)
            )
            == []
        )
        # and this floe, which knows one version less, refuses the database now
        with pytest.raises(PersistenceError, match="newer floe"):
            migrate(connection, where=where, schema=postgres_schema)


async def test_a_missing_migration_is_refused(postgres_base_url: str, postgres_schema: str) -> None:
    skipping = Migration(SCHEMA_VERSION + 2, "after a gap", ("SELECT 1",))
    where = f"schema {postgres_schema}"
    with _schema_connection(postgres_base_url, postgres_schema) as connection:
        with pytest.raises(PersistenceError, match="Cannot migrate"):
            migrate(
                connection, where=where, schema=postgres_schema, migrations=(*MIGRATIONS, skipping)
            )
        # the steps before the gap were made, each in its own transaction
        assert read_schema_version(connection, where=where) == SCHEMA_VERSION


async def test_one_connection_serves_many_concurrent_calls(postgres_url: str) -> None:
    async with open_store(f"{postgres_url}&pool_size=1") as store:
        assert isinstance(store, PostgresStore)
        assert store.pool_size == 1
        for index in range(10):
            await store.create_run(Run(run_id=f"r-{index}", name="w"))

        async def steps(run_id: str) -> None:
            for seq in range(1, 4):
                await store.append_events(run_id, _events(run_id, seq))
                assert await store.get_run(run_id) is not None

        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                for index in range(10):
                    group.start_soon(steps, f"r-{index}")
        for index in range(10):
            assert [e.seq for e in await store.read_events(f"r-{index}")] == [1, 2, 3]


# -- connections lost mid-call: a proxy that cuts the line -------------------------------


class _CuttingProxy:
    """A TCP proxy to the server that drops a connection when the client sends *cut_on*.

    The bytes that hold it are not forwarded: the server never sees the statement and
    rolls the connection's transaction back when the line goes. With *cut_reply_to*
    instead, the statement is forwarded and the server's reply to it is dropped: the
    server has done it, and the client cannot know.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.cut_on: bytes | None = None
        self.cut_reply_to: bytes | None = None
        self.cuts = 0
        self._replying: set[int] = set()
        """The client sockets whose next reply is dropped."""
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        client = source if upstream else sink
        try:
            while data := source.recv(65536):
                with self._lock:
                    cut = upstream and self.cut_on is not None and self.cut_on in data
                    if cut:
                        self.cut_on = None
                        self.cuts += 1
                    marked = self.cut_reply_to
                    if upstream and marked is not None and marked in data:
                        self.cut_reply_to = None
                        self._replying.add(client.fileno())
                    elif not upstream and client.fileno() in self._replying:
                        self._replying.discard(client.fileno())
                        self.cuts += 1
                        cut = True
                if cut:
                    break
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            for end in self._sockets:
                with contextlib.suppress(OSError):
                    end.close()


@pytest.fixture
def proxy(postgres_base_url: str) -> Iterator[_CuttingProxy]:
    parts = urlsplit(postgres_base_url)
    cutter = _CuttingProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    yield cutter
    cutter.close()


def _through(proxy: _CuttingProxy, url: str) -> str:
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    netloc = f"{user}@127.0.0.1:{proxy.port}" if user else f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=netloc)) + "&sslmode=disable"


async def test_a_write_cut_off_before_its_commit_is_retried_and_made_once(
    postgres_url: str, proxy: _CuttingProxy
) -> None:
    async with open_store(postgres_url) as direct, open_store(_through(proxy, postgres_url)) as cut:
        await direct.create_run(Run(run_id="r-1", name="cut"))
        proxy.cut_on = b"INSERT INTO events"
        await cut.append_events("r-1", _events("r-1", 1, 3))
        assert proxy.cuts == 1
        assert [e.seq for e in await direct.read_events("r-1")] == [1, 2, 3]
        stored = await direct.get_run("r-1")
        assert stored is not None
        assert stored.last_seq == 3
        proxy.cut_on = b"SELECT doc, last_seq FROM runs"
        assert await cut.get_run("r-1") == stored  # a read, retried
        assert proxy.cuts == 2


async def test_a_write_cut_off_at_its_commit_is_an_error_saying_the_outcome_is_unknown(
    postgres_url: str, proxy: _CuttingProxy
) -> None:
    async with open_store(postgres_url) as direct, open_store(_through(proxy, postgres_url)) as cut:
        proxy.cut_on = b"COMMIT"
        with pytest.raises(PersistenceError, match="lost while committing") as caught:
            await cut.create_run(Run(run_id="r-1", name="cut"))
        assert "unknown" in (caught.value.why or "")
        assert proxy.cuts == 1
        # here the server never saw the COMMIT: nothing was created, and the store goes on
        assert await direct.get_run("r-1") is None
        await cut.create_run(Run(run_id="r-1", name="cut"))
        assert await direct.get_run("r-1") is not None


async def test_an_append_whose_reply_is_lost_is_tried_again_and_recognised(
    postgres_url: str, proxy: _CuttingProxy
) -> None:
    """An append is one statement: the server commits it, the reply never comes. Tried
    again on another connection, its fence finds the journal moved on by its own events:
    the append succeeds, and its events are stored once."""
    async with open_store(postgres_url) as direct, open_store(_through(proxy, postgres_url)) as cut:
        await direct.create_run(Run(run_id="r-1", name="cut"))
        appended = _events("r-1", 1, 2)
        proxy.cut_reply_to = b"INSERT INTO events"
        await cut.append_events("r-1", appended)
        assert proxy.cuts == 1
        assert await direct.read_events("r-1") == appended
        # another writer's events at the same seqs are still a conflict
        with pytest.raises(SequenceConflictError):
            await cut.append_events("r-1", _events("r-1", 2, 2, kind="stale"))
        assert [e.seq for e in await direct.read_events("r-1")] == [1, 2]


# -- workers on two kernels (two processes, as far as leases go) -------------------------

_executed: list[str] = []


@floe.task
async def _note(name: str) -> str:
    _executed.append(name)
    await anyio.sleep(0.01)
    return name.upper()


@floe.workflow
async def _noted(name: str) -> str:
    noted: str = await _note(name)
    return noted


async def test_two_workers_on_two_kernels_execute_every_submitted_run_once(
    floe_kernel_factory: Callable[..., floe.Kernel], postgres_url: str
) -> None:
    _executed.clear()
    count = 30
    async with (
        floe_kernel_factory(store=postgres_url) as first,
        floe_kernel_factory(store=postgres_url) as second,
    ):
        handles = [await _noted.submit_async(f"n{index:02}") for index in range(count)]
        workers = [floe.Worker(kernel, poll_seconds=0.01) for kernel in (first, second)]
        async with anyio.create_task_group() as group:
            for worker in workers:
                await group.start(worker.serve)
            with anyio.fail_after(30):
                results: list[Any] = [await handle.result_async() for handle in handles]
            for worker in workers:
                worker.drain()
        assert results == [f"N{index:02}" for index in range(count)]
        assert sorted(_executed) == [f"n{index:02}" for index in range(count)]
        assert sum(worker.executed for worker in workers) == count
        for handle in handles:
            events = await second.store.read_events(handle.run_id)
            assert [e.kind for e in events].count(floe.EventKind.RUN_STARTED) == 1
            run = await first.store.get_run(handle.run_id)
            assert run is not None
            assert (run.status, run.lease_owner) == (floe.RunStatus.COMPLETED, None)
