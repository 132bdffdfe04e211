"""The SQLite store: the contract, a state machine, and what only SQLite does.

Every test uses a real database file. Raw ``sqlite3`` connections play the other
process, the vandal and the older (or newer) floe.
"""

from __future__ import annotations

import atexit
import hashlib
import itertools
import logging
import math
import shutil
import sqlite3
import sys
import tempfile
import textwrap
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import anyio
import attrs
import orjson
import pytest
from hypothesis import settings

import floe
import floe.testing
from floe import (
    CacheEntry,
    ConfigError,
    Event,
    NotFoundError,
    PersistenceError,
    Run,
    RunQuery,
    SequenceConflictError,
    SerializationError,
    Snapshot,
)
from floe_sqlite import SQLiteStore
from floe_sqlite._schema import MIGRATIONS, SCHEMA_VERSION, Migration, migrate
from floe_sqlite._store import run_ids_query

pytestmark = pytest.mark.anyio


def _events(run_id: str, first: int, count: int = 1, kind: str = "task.completed") -> list[Event]:
    return [
        Event(run_id=run_id, seq=seq, kind=kind, step=f"step#{seq}", data={"n": seq})
        for seq in range(first, first + count)
    ]


class _ClosingConnection(sqlite3.Connection):
    """A raw connection that ``with`` closes (sqlite3's own only ends the transaction)."""

    def __exit__(self, *exc: object) -> Literal[False]:
        super().__exit__(*exc)  # type: ignore[arg-type]
        self.close()
        return False


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None, factory=_ClosingConnection)


def _writer_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("floe-sqlite-writer")}


async def _until(condition: Callable[[], bool], *, seconds: float = 5.0) -> None:
    with anyio.fail_after(seconds):
        while not condition():  # noqa: ASYNC110 - polls counters of another thread
            await anyio.sleep(0.002)


# -- the contract, at both synchronous levels -------------------------------------------


class TestSQLiteStoreContract(floe.testing.StoreContract):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/floe.db"


class TestSQLiteStoreContractSynchronousFull(floe.testing.StoreContract):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/floe.db?synchronous=full"


@pytest.mark.parametrize(
    ("prefix", "bounds"),
    [("4f0c", "(run_id>? AND run_id<?)"), ("\U0010ffff\U0010ffff", "(run_id>?)")],
)
async def test_run_ids_are_found_in_a_range_of_the_index(
    tmp_path: Path, prefix: str, bounds: str
) -> None:
    path = tmp_path / "floe.db"
    async with SQLiteStore(path) as store:
        await store.create_run(Run(run_id="4f0c2a9e5bd44b1f9a0e4b1c2d3e4f50", name="hello"))
        assert await store.find_run_ids("4f0c") == ["4f0c2a9e5bd44b1f9a0e4b1c2d3e4f50"]
    with _raw(path) as connection:
        sql, parameters = run_ids_query(prefix, 10)
        (plan,) = connection.execute(f"EXPLAIN QUERY PLAN {sql}", parameters).fetchall()
    # only the index, only the ids in the range: no run row is read, let alone decoded
    assert plan[3].startswith("SEARCH")
    assert plan[3].endswith(f"runs USING COVERING INDEX sqlite_autoindex_runs_1 {bounds}")


# -- random operations against a model, a fresh file per example ------------------------

_machine_root = Path(tempfile.mkdtemp(prefix="floe-sqlite-machine-"))
atexit.register(shutil.rmtree, _machine_root, ignore_errors=True)
_machine_files = itertools.count()


def _machine_url() -> str:
    return f"sqlite:///{_machine_root}/example-{next(_machine_files)}.db"


_machine_settings = settings(max_examples=40, stateful_step_count=15)

TestSQLiteMachine = floe.testing.make_store_machine(_machine_url).TestCase
TestSQLiteMachine.settings = _machine_settings

TestSQLiteMachineAsyncio = floe.testing.make_store_machine(_machine_url, backend="asyncio").TestCase
TestSQLiteMachineAsyncio.settings = _machine_settings


# -- URLs, paths and pragmas --------------------------------------------------------------


async def test_default_url_creates_the_database_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, floe_kernel_factory: Callable[..., Any]
) -> None:
    monkeypatch.chdir(tmp_path)
    default = floe.Settings().store
    assert default == "sqlite:///.floe/floe.db"
    async with floe_kernel_factory(store=default) as kernel:
        assert isinstance(kernel.store, SQLiteStore)
        await kernel.store.create_run(Run(run_id="r-1", name="default"))
    database = tmp_path / ".floe" / "floe.db"
    assert database.is_file()
    with _raw(database) as raw:
        assert raw.execute("SELECT run_id FROM runs").fetchall() == [("r-1",)]


async def test_relative_path_is_fixed_when_the_store_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = floe.testing.open_store("sqlite:///data/runs.db")
    assert isinstance(store, SQLiteStore)
    monkeypatch.chdir(tmp_path.parent)  # a later chdir does not move the store
    async with store:
        await store.create_run(Run(run_id="r-1", name="x"))
    assert (tmp_path / "data" / "runs.db").is_file()


async def test_absolute_path(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "floe.db"
    async with floe.testing.open_store(f"sqlite:///{target}") as store:
        assert isinstance(store, SQLiteStore)
        assert store.path == str(target)
        await store.create_run(Run(run_id="r-1", name="x"))
    assert target.is_file()


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("", "normal"),
        ("?synchronous=full", "full"),
        ("?synchronous=OFF", "off"),
        ("?synchronous=normal", "normal"),
    ],
)
async def test_wal_and_synchronous_are_set(tmp_path: Path, option: str, expected: str) -> None:
    database = tmp_path / "floe.db"
    async with floe.testing.open_store(f"sqlite:///{database}{option}") as store:
        assert isinstance(store, SQLiteStore)
        await store.create_run(Run(run_id="r-1", name="x"))
        pragmas = await store.pragmas()
        assert pragmas["synchronous"] == expected
        assert pragmas["journal_mode"] == "wal"
        assert pragmas["busy_timeout_ms"] >= 1000
        # the journal mode belongs to the file: another connection sees it
        with _raw(database) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert raw.execute("SELECT count(*) FROM runs").fetchone() == (1,)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///floe.db?cache=shared", "Unknown option 'cache'"),
        ("sqlite:///floe.db?synchronous=extra", "Invalid synchronous='extra'"),
        ("sqlite:///floe.db?synchronous=", "Invalid synchronous=''"),
        ("sqlite://server/floe.db", "names a host"),
        ("sqlite:///", "needs a file path"),
    ],
)
def test_bad_urls_are_config_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        floe.testing.open_store(url)


def test_bad_synchronous_in_the_constructor(tmp_path: Path) -> None:
    assert SQLiteStore(tmp_path / "a.db", synchronous="full").synchronous == "full"
    with pytest.raises(ConfigError, match="synchronous"):
        SQLiteStore(tmp_path / "a.db", synchronous="FULL")


async def test_parent_that_is_a_file_is_a_persistence_error(tmp_path: Path) -> None:
    (tmp_path / "occupied").write_text("not a directory")
    database = tmp_path / "occupied" / "floe.db"
    store = SQLiteStore(database)
    with pytest.raises(PersistenceError, match="Cannot open the SQLite store") as caught:
        await store.open()
    assert str(database) in str(caught.value)
    assert caught.value.context["database"] == str(database)
    assert _writer_threads() == set()
    # the same store can be opened once the path is usable
    (tmp_path / "occupied").unlink()
    async with store:
        await store.create_run(Run(run_id="r-1", name="x"))


@pytest.mark.parametrize("kind", ["directory", "garbage", "foreign"])
async def test_unopenable_files_are_persistence_errors(tmp_path: Path, kind: str) -> None:
    database = tmp_path / "floe.db"
    if kind == "directory":
        database.mkdir()
    elif kind == "garbage":
        database.write_bytes(b"this is not a database, it is a text file\n" * 100)
    else:
        with _raw(database) as raw:
            raw.execute("CREATE TABLE customers (name TEXT)")
    before = database.read_bytes() if database.is_file() else None
    with pytest.raises(PersistenceError) as caught:
        await SQLiteStore(database).open()
    assert str(database) in str(caught.value)
    if before is not None:
        assert database.read_bytes() == before
    assert _writer_threads() == set()


# -- schema versions and migrations -------------------------------------------------------


async def test_new_database_records_the_schema_version(tmp_path: Path) -> None:
    database = tmp_path / "floe.db"
    async with SQLiteStore(database):
        pass
    with _raw(database) as raw:
        version = raw.execute("SELECT value FROM floe_meta WHERE key = 'schema_version'")
        assert version.fetchone() == (str(SCHEMA_VERSION),)


@pytest.mark.parametrize("journal_mode", ["delete", "wal"])
async def test_newer_schema_is_refused_and_the_file_is_untouched(
    tmp_path: Path, journal_mode: str
) -> None:
    database = tmp_path / "floe.db"
    with _raw(database) as raw:
        raw.execute(f"PRAGMA journal_mode={journal_mode}")
        raw.execute("CREATE TABLE floe_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        raw.execute(
            "INSERT INTO floe_meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION + 1),)
        )
        raw.execute("CREATE TABLE runs (whatever TEXT)")
    raw.close()
    before = database.read_bytes()
    with pytest.raises(PersistenceError, match="written by a newer floe") as caught:
        await SQLiteStore(database).open()
    assert caught.value.context["schema_version"] == SCHEMA_VERSION + 1
    assert database.read_bytes() == before
    assert [p.name async for p in anyio.Path(tmp_path).iterdir()] == ["floe.db"]
    with _raw(database) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == (journal_mode,)
    raw.close()
    assert _writer_threads() == set()


async def test_reopening_keeps_data_and_runs_no_migration(tmp_path: Path) -> None:
    database = tmp_path / "floe.db"
    async with SQLiteStore(database) as store:
        await store.create_run(Run(run_id="r-1", name="kept"))
        await store.append_events("r-1", _events("r-1", 1, 3))
    with _raw(database) as raw:
        raw.execute("INSERT INTO floe_meta VALUES ('marker', 'set after the first open')")
        assert migrate(raw, path=str(database)) == []
    raw.close()
    async with SQLiteStore(database) as store:
        assert [e.seq for e in await store.read_events("r-1")] == [1, 2, 3]
    with _raw(database) as raw:
        assert raw.execute("SELECT value FROM floe_meta WHERE key = 'marker'").fetchone()
    raw.close()


async def test_empty_file_is_migrated_from_version_zero(tmp_path: Path) -> None:
    database = tmp_path / "floe.db"
    database.touch()
    async with SQLiteStore(database) as store:
        await store.create_run(Run(run_id="r-1", name="x"))
        assert await store.get_run("r-1") is not None


def test_migrations_run_forward_one_version_at_a_time(tmp_path: Path) -> None:
    database = tmp_path / "floe.db"
    every_version = [migration.version for migration in MIGRATIONS]
    assert every_version == list(range(1, SCHEMA_VERSION + 1))
    with _raw(database) as raw:
        assert migrate(raw, path=str(database)) == every_version
        raw.execute("INSERT INTO cache (key, format, doc) VALUES ('k', 1, '{}')")
        following = SCHEMA_VERSION + 1
        labels = Migration(following, "add labels", ("ALTER TABLE runs ADD COLUMN labels TEXT",))
        assert migrate(raw, path=str(database), migrations=(*MIGRATIONS, labels)) == [following]
        assert migrate(raw, path=str(database), migrations=(*MIGRATIONS, labels)) == []
        columns = [row[1] for row in raw.execute("PRAGMA table_info(runs)")]
        assert "labels" in columns
        assert raw.execute("SELECT key FROM cache").fetchall() == [("k",)]
        assert raw.execute("SELECT value FROM floe_meta").fetchall() == [(str(following),)]
        # a floe that only knows the released versions now refuses the file
        with pytest.raises(PersistenceError, match="newer floe"):
            migrate(raw, path=str(database))
    raw.close()


def test_a_failing_migration_leaves_the_previous_version(tmp_path: Path) -> None:
    database = tmp_path / "floe.db"
    broken = Migration(
        SCHEMA_VERSION + 1, "broken", ("ALTER TABLE runs ADD COLUMN ok TEXT", "NOT SQL")
    )
    with _raw(database) as raw:
        with pytest.raises(sqlite3.OperationalError):
            migrate(raw, path=str(database), migrations=(*MIGRATIONS, broken))
        assert raw.execute("SELECT value FROM floe_meta").fetchall() == [(str(SCHEMA_VERSION),)]
        assert "ok" not in [row[1] for row in raw.execute("PRAGMA table_info(runs)")]
    raw.close()


# A released migration never changes: databases at its version have exactly these
# statements applied. Pinned by digest, so an edit in place fails here.
RELEASED_MIGRATIONS = {
    1: "c22bb848b868d9ab",
    2: "c7f3b3b2607ce92a",
    3: "9038c14e97b92419",
}


@pytest.mark.parametrize("migration", MIGRATIONS, ids=lambda migration: f"v{migration.version}")
def test_released_migrations_are_never_edited(migration: Migration) -> None:
    digest = hashlib.sha256("\n;\n".join(migration.statements).encode()).hexdigest()[:16]
    assert RELEASED_MIGRATIONS.get(migration.version) == digest, (
        f"migration {migration.version} changed: add a new migration instead"
    )


def _version_one_columns(run: Run) -> tuple[object, ...]:
    """The columns of *run* in the table of schema version 1, its document without the
    fields added since (queue, priority, partition key, first claim)."""
    columns = SQLiteStore._run_columns(run)
    document = orjson.loads(columns[-2])
    for added in ("queue", "priority", "partition_key", "claimed_at"):
        del document[added]
    return (*columns[:8], columns[12], orjson.dumps(document), columns[-1])


def _write_version_one_database(database: Path) -> Run:
    """A database exactly as the floe of schema version 1 left it, holding some data."""
    run = Run(
        run_id="old-run", name="before-v2", status=floe.RunStatus.COMPLETED, output={"n": [1, 2]}
    )
    with _raw(database) as raw:
        raw.execute("PRAGMA journal_mode=WAL")
        assert migrate(raw, path=str(database), migrations=MIGRATIONS[:1]) == [1]
        raw.execute(
            "INSERT INTO runs (name, kind, status, parent_id, created_at, runnable_at,"
            " lease_owner, lease_expires_at, format, doc, run_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _version_one_columns(run),
        )
        for event in _events("old-run", 1, 2):
            raw.execute(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    event.run_id,
                    event.seq,
                    event.kind,
                    event.step,
                    event.at.isoformat(),
                    orjson.dumps(event.data),
                    event.format,
                ),
            )
        raw.execute(
            "INSERT INTO cache (key, expires_at, format, doc) VALUES (?, NULL, 1, ?)",
            ("old-key", orjson.dumps({"key": "old-key", "value": [0, ""], "format": 1})),
        )
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master")}
        assert "plugin_values" not in tables
    raw.close()
    return run


async def test_version_one_database_is_migrated_with_its_data_intact(tmp_path: Path) -> None:
    database = tmp_path / "floe.db"
    run = _write_version_one_database(database)
    async with SQLiteStore(database) as store:
        loaded = await store.get_run("old-run")
        assert loaded == attrs.evolve(run, last_seq=2)
        assert [e.data for e in await store.read_events("old-run")] == [{"n": 1}, {"n": 2}]
        entry = await store.get_cached("old-key")
        assert entry is not None
        assert entry.value == [0, ""]
        # the new table works, next to the old data
        await store.put_value("plugin", "new", b"\x00value")
        assert await store.get_value("plugin", "new") == b"\x00value"
        assert await store.list_keys("plugin") == ["new"]
        await store.append_events("old-run", _events("old-run", 3, 1))
    with _raw(database) as raw:
        version = raw.execute("SELECT value FROM floe_meta WHERE key = 'schema_version'")
        assert version.fetchone() == (str(SCHEMA_VERSION),)
        assert raw.execute("SELECT namespace, key FROM plugin_values").fetchall() == [
            ("plugin", "new")
        ]
    raw.close()
    # and reopening it again migrates nothing more
    async with SQLiteStore(database) as store:
        assert await store.get_value("plugin", "new") == b"\x00value"
        assert len(await store.read_events("old-run")) == 3


async def test_version_one_database_migrates_once_under_concurrent_opens(tmp_path: Path) -> None:
    database = tmp_path / "floe.db"
    _write_version_one_database(database)
    stores = [SQLiteStore(database) for _ in range(4)]
    async with anyio.create_task_group() as group:
        for store in stores:
            group.start_soon(store.open)
    try:
        for index, store in enumerate(stores):
            await store.put_value("plugin", f"from-{index}", b"x")
        assert await stores[0].list_keys("plugin") == [f"from-{i}" for i in range(4)]
    finally:
        for store in stores:
            await store.close()


async def test_many_stores_opening_one_new_file_at_once_all_open(tmp_path: Path) -> None:
    """Switching a new file to WAL answers "database is locked" without waiting while
    another connection switches it; every store opening it at that moment still opens."""
    for round_number in range(25):
        database = tmp_path / f"floe-{round_number}.db"
        stores = [SQLiteStore(database) for _ in range(6)]
        try:
            async with anyio.create_task_group() as group:
                for store in stores:
                    group.start_soon(store.open)
            for index, store in enumerate(stores):
                await store.put_value("plugin", f"from-{index}", b"x")
            assert await stores[0].list_keys("plugin") == [f"from-{i}" for i in range(6)]
        finally:
            for store in stores:
                await store.close()


async def test_plugin_values_are_raw_blobs(tmp_path: Path) -> None:
    database = tmp_path / "floe.db"
    async with SQLiteStore(database) as store:
        await store.put_value("plugin", "k", bytes(range(256)))
    with _raw(database) as raw:
        row = raw.execute("SELECT typeof(value), value FROM plugin_values").fetchone()
        assert row == ("blob", bytes(range(256)))
    raw.close()


# -- group commit ---------------------------------------------------------------------------


async def test_concurrent_appends_share_transactions(tmp_path: Path) -> None:
    count = 1000
    async with SQLiteStore(tmp_path / "floe.db") as store:
        async with anyio.create_task_group() as group:
            for index in range(count):
                group.start_soon(store.create_run, Run(run_id=f"r-{index}", name="many"))
        before = store.statistics()
        async with anyio.create_task_group() as group:
            for index in range(count):
                group.start_soon(store.append_events, f"r-{index}", _events(f"r-{index}", 1))
        after = store.statistics()
        assert after.writes - before.writes == count
        assert after.transactions - before.transactions < count / 10
        assert after.largest_batch > 10
        runs = await store.list_runs(RunQuery(limit=count))
        assert {run.last_seq for run in runs} == {1}


async def test_sequential_appends_take_one_transaction_each(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "floe.db") as store:
        await store.create_run(Run(run_id="r-1", name="x"))
        before = store.statistics()
        for seq in range(1, 21):
            await store.append_events("r-1", _events("r-1", seq))
        after = store.statistics()
        assert after.transactions - before.transactions == 20
        assert after.writes - before.writes == 20


async def test_a_conflict_in_a_batch_fails_only_its_own_append(tmp_path: Path) -> None:
    count = 200
    async with SQLiteStore(tmp_path / "floe.db") as store:
        for index in range(count):
            await store.create_run(Run(run_id=f"r-{index}", name="x"))
            await store.append_events(f"r-{index}", _events(f"r-{index}", 1))
        outcomes: dict[int, str] = {}

        async def append(index: int) -> None:
            # run 7 is appended at a stale seq: another writer "got there first"
            first = 1 if index == 7 else 2
            try:
                await store.append_events(f"r-{index}", _events(f"r-{index}", first, 2))
            except SequenceConflictError:
                outcomes[index] = "conflict"
            else:
                outcomes[index] = "ok"

        before = store.statistics()
        async with anyio.create_task_group() as group:
            for index in range(count):
                group.start_soon(append, index)
        assert store.statistics().transactions - before.transactions < count / 4
        assert outcomes.pop(7) == "conflict"
        assert set(outcomes.values()) == {"ok"}
        assert [e.seq for e in await store.read_events("r-7")] == [1]
        assert [e.seq for e in await store.read_events("r-8")] == [1, 2, 3]


async def test_appends_queued_together_run_as_one_with_each_its_own_outcome(
    tmp_path: Path,
) -> None:
    count = 100
    async with SQLiteStore(tmp_path / "floe.db") as store:
        for index in range(count):
            await store.create_run(Run(run_id=f"r-{index}", name="x"))
        record = attrs.evolve(await _get(store, "r-5"), status=floe.RunStatus.RUNNING)
        outcomes: dict[str, str] = {}

        async def append(name: str, run_id: str, first: int, run: Run | None = None) -> None:
            try:
                await store.append_events(run_id, _events(run_id, first, 2), run=run)
            except NotFoundError:
                outcomes[name] = "unknown"
            except SequenceConflictError:
                outcomes[name] = "conflict"
            except PersistenceError:  # a gap: seq 3 before seqs 1 and 2 are stored
                outcomes[name] = "refused"
            else:
                outcomes[name] = "ok"

        before = store.statistics()
        async with anyio.create_task_group() as group:
            for index in range(count):
                group.start_soon(
                    append, f"a-{index}", f"r-{index}", 1, record if index == 5 else None
                )
            # in the same batch: a second append to r-1 after the first, a stale one to
            # r-2, and one to a run that does not exist
            group.start_soon(append, "second", "r-1", 3)
            group.start_soon(append, "stale", "r-2", 1)
            group.start_soon(append, "missing", "no-such-run", 1)
        after = store.statistics()
        assert after.combined - before.combined > count / 2
        assert after.transactions - before.transactions < count / 10
        assert outcomes.pop("missing") == "unknown"
        # the scheduler may run either of two appends to one run first: the journal
        # holds exactly those that were accepted, each checked after the one before
        r1 = [e.seq for e in await store.read_events("r-1")]
        assert r1 == ([1, 2, 3, 4] if outcomes.pop("second") == "ok" else [1, 2])
        assert outcomes.pop("a-1") == "ok"
        assert sorted([outcomes.pop("stale"), outcomes.pop("a-2")]) == ["conflict", "ok"]
        assert [e.seq for e in await store.read_events("r-2")] == [1, 2]
        assert set(outcomes.values()) == {"ok"}
        assert [e.data for e in await store.read_events("r-9")] == [{"n": 1}, {"n": 2}]
        stored = await _get(store, "r-5")
        assert (stored.status, stored.last_seq) == (floe.RunStatus.RUNNING, 2)


async def _get(store: SQLiteStore, run_id: str) -> Run:
    run = await store.get_run(run_id)
    assert run is not None
    return run


async def test_a_half_done_write_in_a_batch_is_retried_alone(tmp_path: Path) -> None:
    database = tmp_path / "floe.db"
    async with SQLiteStore(database) as store:
        for index in range(50):
            await store.create_run(Run(run_id=f"r-{index}", name="x"))
    with _raw(database) as raw:
        # SQLite itself fails the second event of one append, after the first went in
        raw.execute(
            "CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.kind = 'poison'"
            " BEGIN SELECT RAISE(ABORT, 'poisoned event'); END"
        )
    raw.close()
    async with SQLiteStore(database) as store:
        failures: dict[str, BaseException] = {}

        async def append(run_id: str) -> None:
            events = _events(run_id, 1)
            if run_id == "r-3":
                events += _events(run_id, 2, kind="poison")
            try:
                await store.append_events(run_id, events)
            except PersistenceError as error:
                failures[run_id] = error

        async with anyio.create_task_group() as group:
            for index in range(50):
                group.start_soon(append, f"r-{index}")
        assert store.statistics().largest_batch > 1
        assert list(failures) == ["r-3"]
        assert "poisoned event" in str(failures["r-3"])
        assert await store.read_events("r-3") == []  # the half-done append left nothing
        for index in (0, 4, 49):
            assert [e.seq for e in await store.read_events(f"r-{index}")] == [1]


# -- a lone write, committed on the event loop's thread ---------------------------------------


async def test_a_lone_append_commits_at_once_and_is_durable(tmp_path: Path) -> None:
    database = tmp_path / "floe.db"
    async with SQLiteStore(database) as store:
        await store.create_run(Run(run_id="r-1", name="x"))
        before = store.statistics()
        assert store.append_events_nowait("r-1", _events("r-1", 1))
        await store.append_events("r-1", _events("r-1", 2))
        after = store.statistics()
        assert after.immediate - before.immediate == 2
        assert after.transactions - before.transactions == 2
        assert after.batches == before.batches  # the thread took no job
        # committed: another connection sees both events before the store closes
        with _raw(database) as raw:
            rows = raw.execute("SELECT seq FROM events WHERE run_id = 'r-1' ORDER BY seq")
            assert [seq for (seq,) in rows] == [1, 2]


async def test_a_write_lock_held_elsewhere_sends_the_append_to_the_thread(
    tmp_path: Path,
) -> None:
    database = tmp_path / "floe.db"
    async with SQLiteStore(database) as store:
        await store.create_run(Run(run_id="r-1", name="x"))
        blocker = _raw(database)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            # refused, not waited for: that connection's busy timeout is 0
            assert not store.append_events_nowait("r-1", _events("r-1", 1))
            async with anyio.create_task_group() as group:
                group.start_soon(store.append_events, "r-1", _events("r-1", 1))
                await anyio.sleep(0.05)  # the thread waits for the lock meanwhile
                assert store.append_events_nowait("r-1", _events("r-1", 2)) is False
                blocker.execute("ROLLBACK")
        finally:
            blocker.close()
        assert [e.seq for e in await store.read_events("r-1")] == [1]
        assert store.append_events_nowait("r-1", _events("r-1", 2))


async def test_a_conflict_committed_at_once_appends_nothing(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "floe.db") as store:
        await store.create_run(Run(run_id="r-1", name="x"))
        assert store.append_events_nowait("r-1", _events("r-1", 1, 2))
        with pytest.raises(SequenceConflictError):
            store.append_events_nowait("r-1", _events("r-1", 2, 2))
        assert store.append_events_nowait("r-1", _events("r-1", 3))
        assert [e.seq for e in await store.read_events("r-1")] == [1, 2, 3]


async def test_synchronous_full_never_commits_on_the_event_loop(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "floe.db", synchronous="full") as store:
        await store.create_run(Run(run_id="r-1", name="x"))
        assert not store.append_events_nowait("r-1", _events("r-1", 1))
        await store.append_events("r-1", _events("r-1", 1))
        assert store.statistics().immediate == 0
        assert [e.seq for e in await store.read_events("r-1")] == [1]


async def test_commits_made_at_once_are_checkpointed_by_the_thread(tmp_path: Path) -> None:
    database = tmp_path / "floe.db"
    async with SQLiteStore(database) as store:
        await store.create_run(Run(run_id="r-1", name="x"))
        for seq in range(1, 2001):
            await store.append_events("r-1", _events("r-1", seq))
        assert store.statistics().immediate > 1000  # writes go to the thread while it checkpoints
        await _until(lambda: store.statistics().reads >= 2000 // 256)
        # without checkpoints the log would hold every commit's pages (tens of MiB)
        wal = database.with_name(database.name + "-wal")
        assert wal.stat().st_size < 8 * 1024 * 1024
    with _raw(database) as raw:
        assert raw.execute("SELECT count(*) FROM events").fetchone() == (2000,)


# -- several writers on one file ------------------------------------------------------------


async def test_two_stores_on_one_file_fence_each_other(tmp_path: Path) -> None:
    database = tmp_path / "floe.db"
    async with SQLiteStore(database) as first, SQLiteStore(database) as second:
        await first.create_run(Run(run_id="r-1", name="shared"))
        await first.append_events("r-1", _events("r-1", 1))
        with pytest.raises(SequenceConflictError):
            await second.append_events("r-1", _events("r-1", 1, kind="stale"))
        await second.append_events("r-1", _events("r-1", 2))
        with pytest.raises(PersistenceError, match="already exists"):
            await second.create_run(Run(run_id="r-1", name="again"))
        outcomes: list[str] = []

        async def write(store: SQLiteStore) -> None:
            try:
                await store.append_events("r-1", _events("r-1", 3))
            except SequenceConflictError:
                outcomes.append("lost")
            else:
                outcomes.append("won")

        async with anyio.create_task_group() as group:
            group.start_soon(write, first)
            group.start_soon(write, second)
        assert sorted(outcomes) == ["lost", "won"]
        assert [e.seq for e in await first.read_events("r-1")] == [1, 2, 3]
        loaded = await second.get_run("r-1")
        assert loaded is not None
        assert loaded.last_seq == 3


async def test_another_process_is_fenced_too(tmp_path: Path) -> None:
    database = tmp_path / "floe.db"
    script = textwrap.dedent(
        f"""
        import anyio
        from floe import Event, SequenceConflictError
        from floe_sqlite import SQLiteStore

        async def main():
            async with SQLiteStore({str(database)!r}) as store:
                try:
                    await store.append_events("r-1", [Event(run_id="r-1", seq=1, kind="stale")])
                except SequenceConflictError:
                    print("conflict")
                await store.append_events("r-1", [Event(run_id="r-1", seq=2, kind="child")])

        anyio.run(main, backend="trio")
        """
    )
    async with SQLiteStore(database) as store:
        await store.create_run(Run(run_id="r-1", name="shared"))
        await store.append_events("r-1", _events("r-1", 1))
        child = await anyio.run_process([sys.executable, "-c", script], check=False)
        assert child.returncode == 0, child.stderr.decode()
        assert child.stdout.decode().split() == ["conflict"]
        events = await store.read_events("r-1")
        assert [(e.seq, e.kind) for e in events] == [(1, "task.completed"), (2, "child")]


# -- damaged data ---------------------------------------------------------------------------


async def _populated(database: Path) -> None:
    async with SQLiteStore(database) as store:
        for run_id in ("good", "bad"):
            await store.create_run(Run(run_id=run_id, name="x"))
            await store.append_events(run_id, _events(run_id, 1, 3))
        await store.put_cached(CacheEntry(key="good", value=1))
        await store.put_cached(CacheEntry(key="bad", value=2))
        await store.save_snapshot(Snapshot(component="good", state="A"))
        await store.save_snapshot(Snapshot(component="bad", state="A"))


def _vandalize(database: Path, sql: str, *parameters: Any) -> None:
    with _raw(database) as raw:
        assert raw.execute(sql, parameters).rowcount == 1
    raw.close()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (b"{not json", "is not valid JSON"),
        (b'{"run_id": "bad", "name": 5, "status": "exploded"}', "does not match the Run format"),
        (b'{"run_id": "bad", "name": "x", "format": 99}', "written by a newer floe"),
    ],
)
async def test_damaged_run_names_run_table_and_file(
    tmp_path: Path, damage: bytes, message: str
) -> None:
    database = tmp_path / "floe.db"
    await _populated(database)
    _vandalize(database, "UPDATE runs SET doc = ? WHERE run_id = 'bad'", damage)
    async with SQLiteStore(database) as store:
        with pytest.raises(PersistenceError, match=message) as caught:
            await store.get_run("bad")
        assert isinstance(caught.value, ValueError)
        text = str(caught.value)
        assert "'bad'" in text
        assert "table runs" in text
        assert str(database) in text
        assert caught.value.context["run_id"] == "bad"
        assert caught.value.context["table"] == "runs"
        assert caught.value.context["database"] == str(database)
        with pytest.raises(PersistenceError, match="'bad'"):
            await store.list_runs()
        # nothing else is lost
        good = await store.get_run("good")
        assert good is not None
        assert good.last_seq == 3
        assert len(await store.read_events("bad")) == 3
        # a page without the damaged run reads fine
        assert [r.run_id for r in await store.list_runs(RunQuery(offset=1))] == ["good"]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (b"{not json", "is not valid JSON"),
        (b'{"run_id": "bad", "name": 5, "status": "exploded"}', "does not match the Run format"),
        (b'{"run_id": "bad", "name": "x", "format": 99}', "written by a newer floe"),
    ],
)
async def test_a_checked_listing_reports_the_damaged_run_and_lists_the_others(
    tmp_path: Path, damage: bytes, message: str
) -> None:
    database = tmp_path / "floe.db"
    await _populated(database)
    async with SQLiteStore(database) as store:
        await store.create_run(Run(run_id="newest", name="x"))
    _vandalize(database, "UPDATE runs SET doc = ? WHERE run_id = 'bad'", damage)
    async with SQLiteStore(database) as store:
        listing = await store.list_runs_checked()
        assert [run.run_id for run in listing.runs] == ["newest", "good"]
        (damaged,) = listing.damaged
        assert damaged.run_id == "bad"
        assert message in damaged.why
        assert "\n" not in damaged.why
        assert damaged.location == f"table runs of {database}"
        assert damaged.fix
        # the filters still apply to the columns of a damaged row
        other = await store.list_runs_checked(RunQuery(status=floe.RunStatus.COMPLETED))
        assert other == floe.RunListing(runs=())
        # the plain listing still refuses to hide it
        with pytest.raises(PersistenceError, match="'bad'"):
            await store.list_runs()


@pytest.mark.parametrize(
    ("column", "damage", "message"),
    [
        ("data", b"\xff\xfe", "not valid JSON"),
        ("at", "yesterday", "does not match the Event format"),
        ("format", 7, "written by a newer floe"),
    ],
)
async def test_damaged_event_names_run_seq_table_and_file(
    tmp_path: Path, column: str, damage: Any, message: str
) -> None:
    database = tmp_path / "floe.db"
    await _populated(database)
    _vandalize(database, f"UPDATE events SET {column} = ? WHERE run_id = 'bad' AND seq = 2", damage)
    async with SQLiteStore(database) as store:
        with pytest.raises(PersistenceError, match=message) as caught:
            await store.read_events("bad")
        text = str(caught.value)
        assert "Event 2 of run 'bad'" in text
        assert "table events" in text
        assert str(database) in text
        assert caught.value.context["seq"] == 2
        assert [e.seq for e in await store.read_events("bad", after_seq=2)] == [3]
        assert [e.seq for e in await store.read_events("bad", limit=1)] == [1]
        assert len(await store.read_events("good")) == 3
        # the journal is still appendable: its length is known without decoding
        await store.append_events("bad", _events("bad", 4))


async def test_a_long_journal_reads_whole_with_unusual_rows_among_the_ordinary(
    tmp_path: Path,
) -> None:
    # more rows than one fetch brings; rows the bulk read leaves to the checked path
    # (an older format, a row damaged in the second fetch) are decoded or named there
    database = tmp_path / "floe.db"
    count = 10_000
    async with SQLiteStore(database) as store:
        await store.create_run(Run(run_id="long", name="x"))
        await store.append_events("long", _events("long", 1, count))
    _vandalize(database, "UPDATE events SET format = 0 WHERE run_id = 'long' AND seq = 5000")
    async with SQLiteStore(database) as store:
        events = await store.read_events("long")
        assert [event.seq for event in events] == list(range(1, count + 1))
        assert events[4999].format == 0
        assert events[4999].data == {"n": 5000}
        assert {event.run_id for event in events} == {"long"}
        assert events == await store.read_events("long", after_seq=0, limit=count)
    _vandalize(database, "UPDATE events SET data = '{' WHERE run_id = 'long' AND seq = 9000")
    async with SQLiteStore(database) as store:
        with pytest.raises(PersistenceError, match="Event 9000 of run 'long'"):
            await store.read_events("long")
        assert len(await store.read_events("long", limit=8999)) == 8999


async def test_a_journal_read_shares_repeated_strings_and_nothing_else(tmp_path: Path) -> None:
    # a step's start and end repeat its key, position and task name: the read holds one
    # copy of each; equal values of other types (1, 1.0, True) stay what they were
    database = tmp_path / "floe.db"
    started = {"task": "fetch", "position": "1", "attempt": 1}
    completed = {"task": "fetch", "position": "1", "result": "1"}
    others = [{"task": 1, "position": 1.0}, {"task": True, "position": 1}, {"position": None}]
    async with SQLiteStore(database) as store:
        await store.create_run(Run(run_id="r", name="x"))
        await store.append_events(
            "r",
            [
                Event("r", 1, "task.started", "fetch#1", data=started),
                Event("r", 2, "task.completed", "fetch#1", data=completed),
                *(Event("r", seq, "custom", None, data=data) for seq, data in enumerate(others, 3)),
            ],
        )
    async with SQLiteStore(database) as store:
        first, second, *rest = await store.read_events("r")
    assert first.step is second.step
    assert first.data["task"] is second.data["task"]
    assert first.data["position"] is second.data["position"]
    assert (first.data, second.data) == (started, completed)
    assert [event.data for event in rest] == others
    assert [[type(value) for value in event.data.values()] for event in rest] == [
        [int, float],
        [bool, int],
        [type(None)],
    ]


async def test_damaged_cache_entry_names_key_table_and_file(tmp_path: Path) -> None:
    database = tmp_path / "floe.db"
    await _populated(database)
    _vandalize(database, "UPDATE cache SET doc = '[1, 2' WHERE key = 'bad'")
    async with SQLiteStore(database) as store:
        with pytest.raises(PersistenceError, match="not valid JSON") as caught:
            await store.get_cached("bad")
        text = str(caught.value)
        assert "Cache entry 'bad'" in text
        assert "table cache" in text
        assert str(database) in text
        entry = await store.get_cached("good")
        assert entry is not None
        assert entry.value == 1
        # replacing the damaged entry repairs it
        await store.put_cached(CacheEntry(key="bad", value=3))
        repaired = await store.get_cached("bad")
        assert repaired is not None
        assert repaired.value == 3


async def test_damaged_snapshot_names_component_table_and_file(tmp_path: Path) -> None:
    database = tmp_path / "floe.db"
    await _populated(database)
    _vandalize(database, "UPDATE snapshots SET doc = '{\"state\": 1}' WHERE component = 'bad'")
    async with SQLiteStore(database) as store:
        for read in (store.latest_snapshot, store.list_snapshots):
            with pytest.raises(PersistenceError, match="does not match the Snapshot") as caught:
                await read("bad")
            text = str(caught.value)
            assert "component 'bad'" in text
            assert "table snapshots" in text
            assert str(database) in text
        latest = await store.latest_snapshot("good")
        assert latest is not None
        assert latest.state == "A"


# -- what callers get wrong -----------------------------------------------------------------


async def test_bad_calls_change_nothing(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "floe.db") as store:
        await store.create_run(Run(run_id="r-1", name="x"))
        with pytest.raises(SerializationError, match="object"):
            await store.append_events("r-1", [Event(run_id="r-1", seq=1, kind="k", data=object())])
        # the error names the event whose data cannot be stored, and nothing is appended
        bad = [*_events("r-1", 1), Event(run_id="r-1", seq=2, kind="x.y", data={"n": math.nan})]
        with pytest.raises(SerializationError, match=r"the data of event 'x\.y'"):
            await store.append_events("r-1", bad)
        with pytest.raises(PersistenceError, match="record of run 'r-2'"):
            await store.append_events("r-1", _events("r-1", 1), run=Run(run_id="r-2", name="x"))
        with pytest.raises(PersistenceError, match="belongs to run"):
            await store.append_events("r-1", _events("r-2", 1))
        with pytest.raises(NotFoundError):
            await store.append_events("r-2", _events("r-2", 1))
        with pytest.raises(ConfigError):
            await store.read_events("r-1", limit=0)
        with pytest.raises(ConfigError):
            await store.claim_runs("w", limit=0)
        with pytest.raises(SerializationError):
            await store.put_cached(CacheEntry(key="k", value=threading.Lock()))
        assert await store.read_events("r-1") == []
        assert await store.get_cached("k") is None
        await store.append_events("r-1", _events("r-1", 1), run=Run(run_id="r-1", name="y"))
        loaded = await store.get_run("r-1")
        assert loaded is not None
        assert (loaded.name, loaded.last_seq) == ("y", 1)


async def test_store_refuses_calls_before_open_and_after_close(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "floe.db")
    with pytest.raises(PersistenceError, match="not open"):
        await store.get_run("r-1")
    async with store:
        await store.create_run(Run(run_id="r-1", name="x"))
        with pytest.raises(PersistenceError, match="already open"):
            await store.open()
    with pytest.raises(PersistenceError, match="not open"):
        await store.create_run(Run(run_id="r-2", name="x"))
    await store.close()  # closing twice is harmless
    async with store:  # and it can be opened again
        assert await store.get_run("r-1") is not None


# -- order, exactly -------------------------------------------------------------------------


async def test_ordering_is_exact_to_the_microsecond_across_time_zones(tmp_path: Path) -> None:
    base = datetime(2030, 5, 1, 12, 0, 0, tzinfo=UTC)
    plus_two = timezone(timedelta(hours=2))
    async with SQLiteStore(tmp_path / "floe.db") as store:
        # inserted out of order; one is 1 µs later, one is the same instant in UTC+2
        await store.create_run(
            Run(run_id="later", name="x", created_at=base + timedelta(microseconds=1))
        )
        await store.create_run(Run(run_id="first", name="x", created_at=base))
        await store.create_run(
            Run(run_id="same-instant", name="x", created_at=base.astimezone(plus_two))
        )
        await store.create_run(
            Run(run_id="earlier", name="x", created_at=base - timedelta(hours=1))
        )
        order = [r.run_id for r in await store.list_runs()]
        assert order == ["later", "same-instant", "first", "earlier"]

        for state, offset in (("B", 1), ("A", 0), ("C", 2), ("A2", 0)):
            await store.save_snapshot(
                Snapshot(
                    component="c", state=state, created_at=base + timedelta(microseconds=offset)
                )
            )
        assert [s.state for s in await store.list_snapshots("c")] == ["C", "B", "A2", "A"]

        for run_id, offset in (("due-2", 2), ("due-1a", 1), ("due-1b", 1)):
            await store.create_run(
                Run(run_id=run_id, name="w", runnable_at=base + timedelta(microseconds=offset))
            )
        claimed = await store.claim_runs(
            "w", limit=3, now=base + timedelta(microseconds=1), lease_seconds=5
        )
        assert [r.run_id for r in claimed] == ["due-1a", "due-1b"]
        assert all(
            r.lease_expires_at == base + timedelta(seconds=5, microseconds=1) for r in claimed
        )
        stored = await store.get_run("due-1a")
        assert stored is not None
        assert stored.lease_owner == "w"


async def test_claimed_runs_carry_their_journal_position(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    async with SQLiteStore(tmp_path / "floe.db") as store:
        await store.create_run(Run(run_id="r-1", name="w", runnable_at=now))
        await store.append_events("r-1", _events("r-1", 1, 4))
        [claimed] = await store.claim_runs("w", now=now)
        assert claimed.last_seq == 4
        assert await store.renew_lease("r-1", "w")
        assert not await store.renew_lease("missing", "w")
        await store.release_lease("r-1", "w")
        released = await store.get_run("r-1")
        assert released is not None
        assert (released.lease_owner, released.lease_expires_at) == (None, None)


# -- the writer thread: cancellation and closing ------------------------------------------


async def test_close_stops_the_writer_thread(tmp_path: Path) -> None:
    # only writer threads: other threads (anyio's workers) come and go on their own
    before = _writer_threads()
    store = SQLiteStore(tmp_path / "floe.db")
    async with store:
        await store.create_run(Run(run_id="r-1", name="x"))
        ours = _writer_threads() - before
        assert len(ours) == 1
    assert not any(thread.is_alive() for thread in ours)
    assert _writer_threads() <= before


async def test_cancelled_open_leaves_no_thread(tmp_path: Path) -> None:
    database = tmp_path / "floe.db"
    blocker = _raw(database)
    blocker.execute("BEGIN EXCLUSIVE")  # the store's thread waits to read the schema
    store = SQLiteStore(database)
    try:
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(store.open)
                await _until(lambda: len(_writer_threads()) == 1)
                await anyio.sleep(0.05)
                scope.cancel()
                blocker.execute("ROLLBACK")
    finally:
        blocker.close()
    assert scope.cancelled_caught
    assert _writer_threads() == set()
    with pytest.raises(PersistenceError, match="not open"):
        await store.get_run("r-1")
    async with store:
        await store.create_run(Run(run_id="r-1", name="x"))


async def test_close_finishes_the_queued_calls(tmp_path: Path) -> None:
    database = tmp_path / "floe.db"
    store = SQLiteStore(database)
    await store.open()
    await store.create_run(Run(run_id="r-1", name="x"))
    submitted = 0
    errors: list[BaseException] = []

    async def append(seq: int) -> None:
        nonlocal submitted
        submitted += 1  # the call is queued before its first checkpoint
        try:
            await store.put_cached(CacheEntry(key=f"k{seq}", value=seq))
        except PersistenceError as error:
            errors.append(error)

    async with anyio.create_task_group() as group:
        for seq in range(100):
            group.start_soon(append, seq)
        await _until(lambda: submitted == 100)
        await store.close()
    assert errors == []
    assert _writer_threads() == set()
    async with SQLiteStore(database) as reopened:
        for seq in (0, 50, 99):
            entry = await reopened.get_cached(f"k{seq}")
            assert entry is not None
            assert entry.value == seq


async def test_cancelled_call_that_has_not_started_never_runs(tmp_path: Path) -> None:
    database = tmp_path / "floe.db"
    async with SQLiteStore(database) as store:
        await store.create_run(Run(run_id="r-1", name="x"))
        await store.create_run(Run(run_id="r-2", name="x"))
        blocker = _raw(database)
        blocker.execute("BEGIN IMMEDIATE")  # holds the write lock: the writer waits
        try:
            doomed = anyio.CancelScope()

            async def append_doomed() -> None:
                with doomed:
                    await store.append_events("r-2", _events("r-2", 1))

            async with anyio.create_task_group() as group:
                batches = store.statistics().batches
                group.start_soon(store.append_events, "r-1", _events("r-1", 1))
                await _until(lambda: store.statistics().batches > batches)
                group.start_soon(append_doomed)
                await anyio.sleep(0.05)
                doomed.cancel()
                await anyio.sleep(0.01)
                blocker.execute("ROLLBACK")
        finally:
            blocker.close()
        assert doomed.cancelled_caught
        assert [e.seq for e in await store.read_events("r-1")] == [1]
        assert await store.read_events("r-2") == []
        assert store.statistics().abandoned == 1
        await store.append_events("r-2", _events("r-2", 1))  # the store carries on


async def test_cancelled_call_that_has_started_completes_and_its_error_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="floe.sqlite")
    database = tmp_path / "floe.db"
    async with SQLiteStore(database) as store:
        await store.create_run(Run(run_id="r-1", name="x"))
        await store.append_events("r-1", _events("r-1", 1))
        blocker = _raw(database)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with anyio.CancelScope() as scope:
                batches = store.statistics().batches
                async with anyio.create_task_group() as group:
                    group.start_soon(store.append_events, "r-1", _events("r-1", 1, kind="stale"))
                    await _until(lambda: store.statistics().batches > batches)
                    scope.cancel()
            blocker.execute("ROLLBACK")
        finally:
            blocker.close()
        await _until(lambda: any("cancelled while it ran" in r.message for r in caplog.records))
        assert "Journal of run 'r-1' is at seq 1" in caplog.text
        assert [e.kind for e in await store.read_events("r-1")] == ["task.completed"]


async def test_cancelling_many_calls_leaves_a_consistent_store(tmp_path: Path) -> None:
    database = tmp_path / "floe.db"
    async with SQLiteStore(database) as store:
        for index in range(100):
            await store.create_run(Run(run_id=f"r-{index}", name="x"))
        with anyio.move_on_after(0.002):
            async with anyio.create_task_group() as group:
                for index in range(100):
                    group.start_soon(store.append_events, f"r-{index}", _events(f"r-{index}", 1))
        # every journal is either untouched or has its one event, and can go on
        for index in range(100):
            run_id = f"r-{index}"
            journal = await store.read_events(run_id)
            assert [e.seq for e in journal] in ([], [1])
            await store.append_events(run_id, _events(run_id, len(journal) + 1))
    assert _writer_threads() == set()
