"""The PostgreSQL store: the contract, and what only a shared server does.

Every test uses a real PostgreSQL server, in a schema of its own. Raw psycopg
connections play the other process, the vandal and the newer floe.
"""

from __future__ import annotations

import pytest

import floe.testing


class TestPostgresStore(floe.testing.StoreContract):
    @pytest.fixture
    def store_url(self, postgres_url: str) -> str:
        return postgres_url
