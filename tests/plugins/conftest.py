"""Fixtures shared by the plugin tests."""

from __future__ import annotations

import pytest

from floe_secrets import generate_key


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh secret key, set as ``FLOE_SECRET_KEY`` for the test."""
    value = generate_key()
    monkeypatch.setenv("FLOE_SECRET_KEY", value)
    return value
