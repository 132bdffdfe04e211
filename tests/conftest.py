"""Shared test set-up: both async backends, strict plugins, floe's fixtures."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# a broken plugin must fail the suite, not warn
os.environ["FLOE_STRICT_PLUGINS"] = "1"

# Timings are measured in benchmarks/, never asserted in tests: on a loaded 2-core
# machine running tests in parallel, hypothesis's deadline and its "too slow" health
# check would fail properties that hold.
settings.register_profile("floe", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("floe")

pytest_plugins: list[str] = ["floe.testing"]


@pytest.fixture(
    params=[
        pytest.param("trio", id="trio"),
        pytest.param("asyncio", id="asyncio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return request.param


STORE_URLS = {
    "memory": "memory://",
    "sqlite": "sqlite:///{tmp}/floe.db",
    "json": "json:///{tmp}/json-store",
}
"""One real store of each kind: the kernel's memory store, a SQLite file, a JSON folder."""


@pytest.fixture(params=list(STORE_URLS))
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh store of each kind in turn (a module may narrow the kinds)."""
    return STORE_URLS[request.param].format(tmp=tmp_path)


@pytest.fixture(params=["sqlite", "memory", "postgresql"])
def leased_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh store with leases (what workers serve), of each kind in turn."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return STORE_URLS[request.param].format(tmp=tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store two kernels share, as two processes would."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return STORE_URLS["sqlite"].format(tmp=tmp_path)


if importlib.util.find_spec("floe_postgres") is not None:
    # postgres_url: a schema of the test's own on a real server (skipped where none answers)
    pytest_plugins.append("floe_postgres.testing")
else:

    @pytest.fixture
    def postgres_url() -> str:
        """The tests on floe-postgres's store run where it is installed (``nox -s contrib``
        runs them, with ``-k postgresql``); anywhere else they are skipped, saying why."""
        pytest.skip("floe-postgres is not installed here (nox -s contrib runs these tests)")
