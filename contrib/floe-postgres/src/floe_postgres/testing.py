"""pytest fixtures for tests that run on a real PostgreSQL: ``postgres_url`` and its parts.

Load with ``pytest_plugins = ["floe_postgres.testing"]``. The tests use
``postgresql://postgres@127.0.0.1:5432/test`` unless the environment variable
``FLOE_TEST_POSTGRES_URL`` names another database. Each test gets a PostgreSQL schema
of its own (``?schema=t_...``), dropped with everything in it afterwards; where no
server answers, the tests that need one are skipped, saying why.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

__all__ = ["DEFAULT_URL", "postgres_base_url", "postgres_schema", "postgres_url"]

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def postgres_base_url() -> str:
    """The database the tests use (without options); skips when no server answers."""
    url = os.environ.get("FLOE_TEST_POSTGRES_URL", DEFAULT_URL)
    try:
        with psycopg.connect(url, connect_timeout=2):
            pass
    except psycopg.Error as error:
        pytest.skip(f"no PostgreSQL server answers at {_address(url)}: {error}".strip())
    return url


def _address(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


@pytest.fixture
def postgres_schema(postgres_base_url: str) -> Iterator[str]:
    """A fresh schema name, dropped (with everything in it) after the test."""
    name = f"t_{secrets.token_hex(6)}"
    yield name
    with psycopg.connect(postgres_base_url, connect_timeout=2, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def postgres_url(postgres_base_url: str, postgres_schema: str) -> str:
    """A store URL of a schema of this test's own."""
    separator = "&" if "?" in postgres_base_url else "?"
    return f"{postgres_base_url}{separator}schema={postgres_schema}"
