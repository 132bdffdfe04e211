"""The server on a real SQLite file and a real PostgreSQL schema, a token per role, and
an HTTP client for it.

``client`` calls the application in this process through httpx's ASGI transport (the
same app ``floe server`` serves); the CLI tests start real ``floe server`` processes.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from floe_server import Role, ServerConfig, Token, Tokens, open_server
from processes import Started

import floe

# a broken plugin must fail the tests, not warn
os.environ["FLOE_STRICT_PLUGINS"] = "1"

pytest_plugins = ["floe.testing", "floe_postgres.testing"]

TOKENS = {role: secrets.token_urlsafe(32) for role in Role}
"""A token of each role, for this test session."""
SECRET_READER = secrets.token_urlsafe(32)
"""An admin token that may read secret values."""
SECRET_KEY = "q8Q0cT3OlXSaRqmTKmB5ZHpoNFrCKZ-wfJ7RxF5Rk1E="


@pytest.fixture(
    params=[
        pytest.param("trio", id="trio"),
        pytest.param("asyncio", id="asyncio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def server_tokens() -> Tokens:
    made = [Token.from_text(str(role), role, text) for role, text in TOKENS.items()]
    made.append(Token.from_text("keeper", Role.ADMIN, SECRET_READER, read_secrets=True))
    return Tokens(tuple(made))


def auth(role: Role | str) -> dict[str, str]:
    """The Authorization header of the token of *role* (or of the text itself)."""
    token = TOKENS[role] if isinstance(role, Role) else role
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def started() -> Iterator[list[Started]]:
    """The processes a test starts (processes.Started), killed if still running after it."""
    made: list[Started] = []
    yield made
    for item in made:
        if item.process.poll() is None:
            item.process.kill()
            item.process.wait()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store of each kind the server is deployed on: a SQLite file, a PostgreSQL
    schema (skipped where no server answers)."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'floe.db'}"


@pytest.fixture
def make_client(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Any]:
    """An async context manager: a client of a server with the given config fields."""
    monkeypatch.setenv("FLOE_SECRET_KEY", SECRET_KEY)
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def client(**fields: Any) -> AsyncIterator[httpx.AsyncClient]:
        fields.setdefault("workers", 2)
        uploads = fields.pop("upload_dir", tmp_path / "uploads")
        config = ServerConfig(**fields)
        settings = floe.load_settings(store=store_url)
        async with (
            floe.open_kernel(settings),
            open_server(
                config, server_tokens(), imports=["server_flows"], upload_dir=uploads
            ) as app,
        ):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://floe.test") as http:
                yield http

    return client
