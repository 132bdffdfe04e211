"""Test set-up of floe-postgres: both async backends, strict plugins, a server to use.

The tests need a PostgreSQL server: :mod:`floe_postgres.testing` gives each test a
schema of its own (``postgres_url``), and skips it where no server answers.

Run with ``pytest contrib/floe-postgres/tests`` after
``pip install -e ".[test]" -e ./contrib/floe-postgres`` in the root of the checkout
(the plugin is found through its entry point, as an installed distribution's would be).
"""

from __future__ import annotations

import os

import pytest

# a broken plugin must fail the tests, not warn
os.environ["FLOE_STRICT_PLUGINS"] = "1"

pytest_plugins = ["floe.testing", "floe_postgres.testing"]


@pytest.fixture(
    params=[
        pytest.param("trio", id="trio"),
        pytest.param("asyncio", id="asyncio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
