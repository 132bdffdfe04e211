"""Shared test set-up: both async backends, strict plugins, floe's fixtures."""

from __future__ import annotations

import os

import pytest

# a broken plugin must fail the suite, not warn
os.environ["FLOE_STRICT_PLUGINS"] = "1"

pytest_plugins = ["floe.testing"]


@pytest.fixture(
    params=[
        pytest.param("trio", id="trio"),
        pytest.param("asyncio", id="asyncio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return request.param
