"""The PostgreSQL store: a connection pool, blocking psycopg calls in worker threads.

Every call takes a connection from a :class:`psycopg_pool.ConnectionPool`, runs its
statements in one transaction and commits, in one of the store's own threads, so the
store works under trio and asyncio alike. Documents (runs, cache entries, snapshots)
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

:class:`PostgresStore` (its options, here) is made of one class per concern:
``_connection`` (the pool, transactions and retries, decoding), ``_runs`` (runs and
journals), ``_leases`` (claims, leases and waiting for runnable runs) and ``_records``
(the cache, snapshots and values); ``_rows`` holds the columns and conversions they
share, ``_notify`` the notifications of claimable runs and the listening connection.
"""

from __future__ import annotations

import re
from typing import ClassVar, Final
from urllib.parse import unquote, urlsplit, urlunsplit

import attrs

from floe import ConfigError, StoreURL

from ._leases import Leases
from ._records import Records

__all__ = ["DEFAULT_CONNECT_TIMEOUT", "DEFAULT_POOL_SIZE", "PostgresStore"]

DEFAULT_POOL_SIZE: Final = 10
"""Most connections one store holds, unless the URL says ``?pool_size=N``."""
MAX_POOL_SIZE: Final = 1000
DEFAULT_CONNECT_TIMEOUT: Final = 5
"""Seconds a connection attempt may take, unless the URL says ``?connect_timeout=N``."""
SSL_MODES: Final = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
"""libpq's sslmode values; floe passes the option on as it is."""
OPTIONS: Final = ("schema", "pool_size", "connect_timeout", "sslmode")

_SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")


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


class PostgresStore(Leases, Records):
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
        self._pool = None
        self._threads = None
        self._appends = None
        self._opening = False
        self._listener = None
        self._listen_limiter = None

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
