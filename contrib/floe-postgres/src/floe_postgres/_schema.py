"""The database schema and its forward migrations.

The schema version lives in the ``floe_meta`` table of the store's PostgreSQL schema.
Migrations run under a transaction-scoped advisory lock, one transaction per step, so
that several processes opening a new database at once migrate it once, and a crash in
the middle leaves the database at a well-defined version. A database written by a newer
floe is refused before anything in it is touched.

Text that queries sort or compare by range (run ids, value keys) uses the ``"C"``
collation: in a UTF-8 database it orders by code point, as Python sorts strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from floe import PersistenceError

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "TABLES",
    "Migration",
    "check_not_newer",
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
    # position: insertion order, the tie-breaker of list_runs and claim_runs. Times that
    # queries filter and sort on are whole microseconds since the epoch (UTC), exact;
    # the documents hold the times as written. last_seq is the journal's last seq,
    # kept here so that an append's sequence check is one conditional UPDATE (the fence)
    """
    CREATE TABLE runs (
        position bigserial NOT NULL UNIQUE,
        run_id text COLLATE "C" PRIMARY KEY,
        name text NOT NULL,
        kind text NOT NULL,
        status text NOT NULL,
        parent_id text COLLATE "C",
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        runnable_at bigint,
        lease_owner text,
        lease_expires_at bigint,
        last_seq bigint NOT NULL DEFAULT 0,
        format integer NOT NULL,
        doc text NOT NULL
    )
    """,
    "CREATE INDEX runs_by_creation ON runs (created_at, position)",
    "CREATE INDEX runs_by_status ON runs (status, created_at, position)",
    "CREATE INDEX runs_by_name ON runs (name, created_at, position)",
    "CREATE INDEX runs_by_parent ON runs (parent_id) WHERE parent_id IS NOT NULL",
    # the claimable runs: due ones that are no other run's child
    """
    CREATE INDEX runs_by_runnable ON runs (runnable_at, position)
    WHERE runnable_at IS NOT NULL AND parent_id IS NULL
    """,
    # the event's time is its ISO text, as written (offset and all); data is JSON text
    # (text, not jsonb: jsonb cannot hold the escaped NUL "\\u0000" that JSON allows)
    """
    CREATE TABLE events (
        run_id text COLLATE "C" NOT NULL,
        seq bigint NOT NULL,
        kind text NOT NULL,
        step text,
        at text NOT NULL,
        data text NOT NULL,
        format integer NOT NULL,
        PRIMARY KEY (run_id, seq)
    )
    """,
    """
    CREATE TABLE cache (
        key text COLLATE "C" PRIMARY KEY,
        expires_at bigint,
        format integer NOT NULL,
        doc text NOT NULL
    )
    """,
    """
    CREATE TABLE snapshots (
        id bigserial PRIMARY KEY,
        component text COLLATE "C" NOT NULL,
        created_at bigint NOT NULL,
        format integer NOT NULL,
        doc text NOT NULL
    )
    """,
    "CREATE INDEX snapshots_by_component ON snapshots (component, created_at, id)",
    # plugins' own state (the secret store's ciphertexts ...): opaque bytes by key
    """
    CREATE TABLE plugin_values (
        namespace text COLLATE "C" NOT NULL,
        key text COLLATE "C" NOT NULL,
        value bytea NOT NULL,
        PRIMARY KEY (namespace, key)
    )
    """,
)

_QUEUES = (
    # a run's queue, priority and partition key (floe.Queue), and its first claim: the
    # claim orders by priority and counts a limited queue's live leases and recent starts
    "ALTER TABLE runs ADD COLUMN queue text COLLATE \"C\" NOT NULL DEFAULT 'default'",
    "ALTER TABLE runs ADD COLUMN priority integer NOT NULL DEFAULT 0",
    'ALTER TABLE runs ADD COLUMN partition_key text COLLATE "C"',
    "ALTER TABLE runs ADD COLUMN claimed_at bigint",
    "DROP INDEX runs_by_runnable",
    """
    CREATE INDEX runs_by_claim_order ON runs (priority DESC, runnable_at, position)
    WHERE runnable_at IS NOT NULL AND parent_id IS NULL
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
    Migration(1, "initial schema: runs, events, cache, snapshots, plugin_values", _INITIAL_SCHEMA),
    Migration(2, "runs: queue, priority, partition key and first claim", _QUEUES),
)
"""Every migration in order; ``MIGRATIONS[i].version == i + 1``."""

SCHEMA_VERSION = MIGRATIONS[-1].version
"""The schema version this floe writes."""

TABLES = ("runs", "events", "cache", "snapshots", "plugin_values")
"""The tables of the store (besides ``floe_meta``)."""

_LOCK_KEY = "floe-postgres migrate "
"""Prefix of the advisory lock's key (hashed with the schema's name)."""


def _tables(connection: psycopg.Connection[Any]) -> set[str]:
    rows = connection.execute(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = current_schema() AND table_name = ANY(%s)",
        (["floe_meta", *TABLES],),
    ).fetchall()
    return {str(row[0]) for row in rows}


def read_schema_version(connection: psycopg.Connection[Any], *, where: str) -> int:
    """The schema version of the store's schema: 0 when floe has not created it yet.

    Reads only, so that a database this floe must refuse stays untouched. A schema
    holding tables with floe's names but no ``floe_meta`` belongs to something else and
    is refused too (other tables are left alone: a database has more than floe in it).
    """
    names = _tables(connection)
    if "floe_meta" not in names:
        if names:
            raise PersistenceError(
                f"The schema of {where} is not a floe store",
                why=f"It holds tables named as floe's ({', '.join(sorted(names))}) but no "
                "floe_meta table.",
                fix="Choose another PostgreSQL schema with ?schema=NAME in the store URL, "
                "or another database.",
                context={"database": where},
            )
        return 0
    row = connection.execute("SELECT value FROM floe_meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        return 0
    try:
        return int(row[0])
    except (TypeError, ValueError) as error:
        raise PersistenceError(
            f"The schema version of {where} is unreadable: {row[0]!r}",
            why="floe_meta.schema_version must be a whole number.",
            fix="Restore the database from a backup.",
            context={"database": where, "table": "floe_meta"},
        ) from error


def check_not_newer(version: int, *, where: str, supported: int = SCHEMA_VERSION) -> None:
    """Refuse a database whose schema is newer than this floe knows."""
    if version > supported:
        raise PersistenceError(
            f"The database {where} was written by a newer floe (schema version {version})",
            why=f"This floe reads schema versions up to {supported}.",
            fix="Upgrade floe-postgres to open it; the database was left untouched.",
            context={"database": where, "schema_version": version},
        )


def migrate(
    connection: psycopg.Connection[Any],
    *,
    where: str,
    schema: str | None,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> list[int]:
    """Create *schema* if missing and bring it up to the last of *migrations*.

    Returns the versions applied. The connection must not be in a transaction and its
    ``search_path`` must name *schema* first (None: the server's default schema). Each
    step runs in its own transaction under an advisory lock and re-reads the version,
    so that two processes opening a new database at once migrate it once; a database
    that is newer than *migrations* is refused before anything is changed.
    """
    from psycopg import sql

    target = migrations[-1].version if migrations else 0
    lock = _LOCK_KEY + (schema or "")
    applied: list[int] = []
    # the first pass may only read: it refuses a newer database before any CREATE
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock,))
        exists = schema is None or (
            connection.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)
            ).fetchone()
            is not None
        )
        version = read_schema_version(connection, where=where) if exists else 0
        check_not_newer(version, where=where, supported=target)
        if version >= target:
            return applied
        if not exists:
            assert schema is not None
            connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    for migration in migrations:
        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock,))
            version = read_schema_version(connection, where=where)
            check_not_newer(version, where=where, supported=target)
            if version >= migration.version:
                continue
            if version != migration.version - 1:
                raise PersistenceError(
                    f"Cannot migrate {where} from schema version {version} to {migration.version}",
                    why="Migrations run one version at a time and one is missing.",
                    fix="This is a bug in floe-postgres's migration list; please report it.",
                    context={"database": where, "schema_version": version},
                )
            if version == 0:
                connection.execute(
                    "CREATE TABLE floe_meta (key text PRIMARY KEY, value text NOT NULL)"
                )
            for statement in migration.statements:
                connection.execute(statement)
            connection.execute(
                "INSERT INTO floe_meta (key, value) VALUES ('schema_version', %s)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(migration.version),),
            )
        applied.append(migration.version)
    return applied
