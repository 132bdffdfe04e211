"""Fixtures shared by the plugin tests."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator

import pytest

from floe_secrets import generate_key


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh secret key, set as ``FLOE_SECRET_KEY`` for the test."""
    value = generate_key()
    monkeypatch.setenv("FLOE_SECRET_KEY", value)
    return value


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; whatever is left is killed at its end."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
            process.kill()
        process.wait(timeout=30)
