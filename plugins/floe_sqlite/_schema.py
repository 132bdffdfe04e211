"""The database schema and its forward migrations.

The schema version lives in the ``floe_meta`` table. Each migration moves the
database from one version to the next in its own transaction, so a crash in the
middle leaves a database at a well-defined version that the next open continues from.
A database written by a newer floe is refused before anything in it is touched.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

import attrs

from floe import PersistenceError

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Migration",
    "enable_write_ahead_log",
    "migrate",
    "read_schema_version",
]


@attrs.frozen
class Migration:
    """The statements that take a database from ``version - 1`` to ``version``."""

    version: int
    description: str
    statements: tuple[str, ...]


_INITIAL_SCHEMA = (
    # position: insertion order, the tie-breaker of list_runs and claim_runs; AUTOINCREMENT
    # so that it never goes backwards, even if runs are deleted one day
    """
    CREATE TABLE runs (
        position INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        parent_id TEXT,
        created_at INTEGER NOT NULL,
        runnable_at INTEGER,
        lease_owner TEXT,
        lease_expires_at INTEGER,
        format INTEGER NOT NULL,
        doc BLOB NOT NULL
    )
    """,
    "CREATE INDEX runs_by_creation ON runs (created_at, position)",
    "CREATE INDEX runs_by_status ON runs (status, created_at, position)",
    "CREATE INDEX runs_by_parent ON runs (parent_id) WHERE parent_id IS NOT NULL",
    """
    CREATE INDEX runs_by_runnable ON runs (runnable_at, position)
    WHERE runnable_at IS NOT NULL
    """,
    """
    CREATE TABLE events (
        run_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        step TEXT,
        at TEXT NOT NULL,
        data BLOB NOT NULL,
        format INTEGER NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE cache (
        key TEXT PRIMARY KEY,
        expires_at INTEGER,
        format INTEGER NOT NULL,
        doc BLOB NOT NULL
    )
    """,
    """
    CREATE TABLE snapshots (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        component TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        format INTEGER NOT NULL,
        doc BLOB NOT NULL
    )
    """,
    "CREATE INDEX snapshots_by_component ON snapshots (component, created_at, id)",
)

_PLUGIN_VALUES = (
    # plugins' own state (the secret store's ciphertexts ...): opaque bytes by key
    """
    CREATE TABLE plugin_values (
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (namespace, key)
    ) WITHOUT ROWID
    """,
)

_QUEUES = (
    # a run's queue, priority and partition key (floe.Queue), and its first claim: the
    # claim orders by priority and counts a limited queue's live leases and recent starts
    "ALTER TABLE runs ADD COLUMN queue TEXT NOT NULL DEFAULT 'default'",
    "ALTER TABLE runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE runs ADD COLUMN partition_key TEXT",
    "ALTER TABLE runs ADD COLUMN claimed_at INTEGER",
    "DROP INDEX runs_by_runnable",
    """
    CREATE INDEX runs_by_claim_order ON runs (priority DESC, runnable_at, position)
    WHERE runnable_at IS NOT NULL
    """,
    """
    CREATE INDEX runs_by_partition ON runs (queue, partition_key, position)
    WHERE partition_key IS NOT NULL
    """,
    """
    CREATE INDEX runs_by_queue_lease ON runs (queue, lease_expires_at)
    WHERE lease_expires_at IS NOT NULL
    """,
    "CREATE INDEX runs_by_queue_start ON runs (queue, claimed_at) WHERE claimed_at IS NOT NULL",
)

# A migration, once released, never changes: a database at its version already has
# exactly its statements applied. A change to the schema is a new migration.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema: runs, events, cache, snapshots", _INITIAL_SCHEMA),
    Migration(2, "plugin_values: the key-value capability", _PLUGIN_VALUES),
    Migration(3, "runs: queue, priority, partition key and first claim", _QUEUES),
)
"""Every migration in order; ``MIGRATIONS[i].version == i + 1``."""

SCHEMA_VERSION = MIGRATIONS[-1].version
"""The schema version this floe writes."""


def read_schema_version(connection: sqlite3.Connection, *, path: str) -> int:
    """The database's schema version: 0 for a new, empty database.

    Reads only, so that a database this floe must refuse stays untouched. A database
    with tables but no ``floe_meta`` belongs to something else and is refused too.
    """
    names = {
        row[0]
        for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    if "floe_meta" not in names:
        if names:
            raise PersistenceError(
                f"The database {path} is not a floe store",
                why=f"It holds tables ({', '.join(sorted(names))}) but no floe_meta table.",
                fix="Point the store URL at a new file or at a database floe created.",
                context={"database": path},
            )
        return 0
    row = connection.execute("SELECT value FROM floe_meta WHERE key = 'schema_version'").fetchone()
    try:
        return int(row[0]) if row is not None else 0
    except (TypeError, ValueError) as error:
        raise PersistenceError(
            f"The schema version of {path} is unreadable: {row[0]!r}",
            why="floe_meta.schema_version must be a whole number.",
            fix="Restore the database from a backup.",
            context={"database": path, "table": "floe_meta"},
        ) from error


def check_not_newer(version: int, *, path: str, supported: int = SCHEMA_VERSION) -> None:
    """Refuse a database whose schema is newer than this floe knows."""
    if version > supported:
        raise PersistenceError(
            f"The database {path} was written by a newer floe (schema version {version})",
            why=f"This floe reads schema versions up to {supported}.",
            fix="Upgrade floe to open it; the file was left untouched.",
            context={"database": path, "schema_version": version},
        )


def enable_write_ahead_log(connection: sqlite3.Connection, *, timeout: float) -> str:
    """Switch the file to WAL, waiting up to *timeout* seconds for other connections.

    Returns the journal mode the file ends in. SQLite answers ``PRAGMA journal_mode=WAL``
    with "database is locked" at once, without calling the busy handler, while another
    connection is switching the same new file; so several processes or threads opening
    one new database at the same moment retry here, as the busy handler would.
    """
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        try:
            return str(connection.execute("PRAGMA journal_mode=WAL").fetchone()[0])
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)  # in the store's writer thread, never on an event loop
        pause = min(pause * 2, 0.05)


def migrate(
    connection: sqlite3.Connection,
    *,
    path: str,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> list[int]:
    """Bring the database up to the last of *migrations*; return the versions applied.

    The connection must be in autocommit mode. Each step re-reads the version under
    the write lock, so two processes opening a new file at once migrate it once.
    """
    target = migrations[-1].version if migrations else 0
    applied: list[int] = []
    for migration in migrations:
        connection.execute("BEGIN IMMEDIATE")
        try:
            version = read_schema_version(connection, path=path)
            check_not_newer(version, path=path, supported=target)
            if version >= migration.version:
                connection.execute("ROLLBACK")
                continue
            if version != migration.version - 1:
                raise PersistenceError(
                    f"Cannot migrate {path} from schema version {version} to {migration.version}",
                    why="Migrations run one version at a time and one is missing.",
                    fix="This is a bug in floe's migration list; please report it.",
                    context={"database": path, "schema_version": version},
                )
            if version == 0:
                connection.execute(
                    "CREATE TABLE floe_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
                )
            for statement in migration.statements:
                connection.execute(statement)
            connection.execute(
                "INSERT OR REPLACE INTO floe_meta (key, value) VALUES ('schema_version', ?)",
                (str(migration.version),),
            )
            connection.execute("COMMIT")
        except BaseException:
            # not swallowed: re-raised once the half-done step is undone
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        applied.append(migration.version)
    return applied
