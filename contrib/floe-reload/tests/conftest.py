"""Test set-up of floe-reload: both async backends, strict plugins, floe's fixtures.

Run with ``pytest contrib/floe-reload/tests`` after ``pip install -e contrib/floe-reload``
(the plugin is found through its entry point, as an installed distribution's would be).
"""

from __future__ import annotations

import os

import pytest

# a broken plugin must fail the tests, not warn
os.environ["FLOE_STRICT_PLUGINS"] = "1"

pytest_plugins = ["floe.testing"]


@pytest.fixture(
    params=[
        pytest.param("trio", id="trio"),
        pytest.param("asyncio", id="asyncio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
