"""Test set-up of floe-reload: both async backends, strict plugins, floe's fixtures.

Run with ``nox -s contrib``, or ``pytest contrib/floe-reload/tests`` after
``pip install -e ".[test]" -e ./contrib/floe-reload`` in the root of the checkout
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
