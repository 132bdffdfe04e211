"""Tokens and roles: every endpoint without a token, with a wrong one, and with each role."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
from conftest import SECRET_READER, TOKENS, auth
from floe_server import Role, Tokens

import floe

pytestmark = pytest.mark.anyio

OPEN = {("GET", "/healthz"), ("GET", "/readyz")}
"""The endpoints that need no token."""
DOCUMENTS = {("GET", "/openapi.json"), ("GET", "/docs")}
"""The API's description (no data of the store): open too, so that /docs can sign in."""
NEEDS: dict[tuple[str, str], Role] = {
    ("GET", "/workflows"): Role.READ,
    ("GET", "/workflows/{name}"): Role.READ,
    ("POST", "/workflows"): Role.ADMIN,
    ("POST", "/workflows/{name}/run/{mode}"): Role.RUN,
    ("GET", "/workflows/{name}/status/{run_id}"): Role.READ,
    ("GET", "/runs"): Role.READ,
    ("GET", "/runs/{run_id}"): Role.READ,
    ("POST", "/runs/{run_id}/resume"): Role.RUN,
    ("POST", "/runs/{run_id}/cancel"): Role.RUN,
    ("GET", "/runs/{run_id}/events"): Role.READ,
    ("GET", "/runs/{run_id}/artifacts/{key}"): Role.READ,
    ("GET", "/components"): Role.READ,
    ("GET", "/components/{name}"): Role.READ,
    ("POST", "/components/{name}/messages"): Role.RUN,
    ("GET", "/graphs/{job_id}"): Role.READ,
    ("GET", "/schedules"): Role.READ,
    ("POST", "/schedules"): Role.ADMIN,
    ("POST", "/schedules/{name}/pause"): Role.ADMIN,
    ("POST", "/schedules/{name}/resume"): Role.ADMIN,
    ("DELETE", "/schedules/{name}"): Role.ADMIN,
    ("GET", "/workers"): Role.READ,
    ("GET", "/admin/secrets"): Role.ADMIN,
    ("POST", "/admin/secrets"): Role.ADMIN,
    ("GET", "/admin/secrets/{name}"): Role.ADMIN,
    ("DELETE", "/admin/secrets/{name}"): Role.ADMIN,
    ("GET", "/metrics"): Role.READ,
}
"""The least role each endpoint takes."""
FILLED = {"{name}": "hello", "{mode}": "async", "{run_id}": "no-such-run", "{key}": "k"}
FILLED_BY_PATH = {"/components/{name}": "no-such-component", "/schedules/{name}": "nope"}


READ_SECRET = ("GET", "/admin/secrets/{name}")


def concrete(path: str) -> str:
    filled = path
    for hole, value in FILLED.items():
        filled = filled.replace(
            hole, FILLED_BY_PATH.get(path, value) if hole == "{name}" else value
        )
    return filled


async def test_the_table_names_every_endpoint(make_client):
    async with make_client() as http:
        schema = (await http.get("/openapi.json")).json()
    operations = {
        (method.upper(), path): operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }
    assert set(operations) == set(NEEDS) | OPEN
    # the schema names each operation's role, as the table here does
    roles = {key: operation.get("x-floe-role") for key, operation in operations.items()}
    assert roles == {**{key: str(role) for key, role in NEEDS.items()}, **dict.fromkeys(OPEN)}


async def test_every_endpoint_but_health_needs_a_valid_token(make_client):
    async with make_client() as http:
        for method, path in OPEN | DOCUMENTS:
            assert (await http.request(method, path)).status_code == 200
        for method, path in NEEDS:
            url = concrete(path)
            missing = await http.request(method, url)
            assert missing.status_code == 401, (method, path)
            assert missing.headers["www-authenticate"] == "Bearer"
            assert missing.json()["title"] == "This endpoint needs an API token"
            wrong = await http.request(method, url, headers=auth("x" * 40))
            assert wrong.status_code == 401, (method, path)
            assert wrong.json()["title"] == "The API token is wrong"
            scheme = await http.request(method, url, headers={"Authorization": "Basic abc"})
            assert scheme.status_code == 401, (method, path)


async def test_each_role_reaches_what_it_may_and_no_more(make_client):
    async with make_client() as http:
        for (method, path), needed in NEEDS.items():
            url = concrete(path)
            for role in Role:
                response = await http.request(method, url, headers=auth(role), json={})
                if role < needed:
                    assert response.status_code == 403, (method, path, role)
                    problem = response.json()
                    assert problem["context"] == {
                        "token": str(role),
                        "role": str(role),
                        "needs": str(needed),
                    }
                elif (method, path) == READ_SECRET:  # a permission of its own beyond admin
                    assert response.status_code == 403, role
                    assert (
                        response.json()["title"] == "The token 'admin' may not read secret values"
                    )
                else:  # past the gate: answered by the endpoint itself (never a 500)
                    assert response.status_code not in (401, 403), (method, path, role)
                    assert response.status_code < 500, (method, path, role, response.text)
        reader = await http.get(concrete(READ_SECRET[1]), headers=auth(SECRET_READER))
        assert reader.status_code == 404  # past both gates: the secret does not exist


async def test_a_token_is_never_logged(make_client, caplog):
    caplog.set_level(logging.DEBUG)
    async with make_client() as http:
        await http.get("/runs", headers=auth(Role.READ))
        await http.get("/runs", headers=auth("y" * 40))
        await http.post("/workflows/hello/run/sync", headers=auth(Role.RUN), json="x")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for token in [*TOKENS.values(), SECRET_READER, "y" * 40]:
        assert token not in logged


# -- loading tokens ---------------------------------------------------------------------


def test_the_environment_token_is_an_admin():
    tokens = Tokens.load(environ={"FLOE_API_TOKEN": "e" * 30})
    caller = tokens.match("e" * 30)
    assert caller is not None
    assert (caller.name, caller.role, caller.read_secrets) == ("FLOE_API_TOKEN", Role.ADMIN, False)
    assert tokens.match("e" * 29) is None


def test_a_token_file_holds_tokens_by_digest_or_text(tmp_path: Path):
    digest = hashlib.sha256(b"r" * 32).hexdigest()
    path = tmp_path / "tokens.toml"
    path.write_text(
        f'[[tokens]]\nname = "ci"\nrole = "run"\ntoken_sha256 = "{digest}"\n\n'
        '[[tokens]]\nname = "ops"\nrole = "admin"\ntoken = "' + "o" * 32 + '"\n'
        "read_secrets = true\n"
    )
    tokens = Tokens.load(path, environ={})
    ci, ops = tokens.match("r" * 32), tokens.match("o" * 32)
    assert ci is not None
    assert (ci.name, ci.role, ci.read_secrets) == ("ci", Role.RUN, False)
    assert ops is not None
    assert (ops.name, ops.role, ops.read_secrets) == ("ops", Role.ADMIN, True)
    assert "o" * 32 not in repr(tokens)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("tokens = 3", "'tokens' is an array of tables"),
        ('[[tokens]]\nrole = "run"\ntoken = "' + "a" * 30 + '"', "Each token has a name"),
        ('[[tokens]]\nname = "a"\nrole = "boss"\ntoken = "' + "a" * 30 + '"', None),
        ('[[tokens]]\nname = "a"\nrole = "run"', "exactly one of token, token_sha256"),
        ('[[tokens]]\nname = "a"\nrole = "run"\ntoken_sha256 = "abc"', "64 hexadecimal digits"),
        ('[[tokens]]\nname = "a"\nrole = "run"\ntoken = "' + "a" * 30 + '"\ncolour = 1', "colour"),
        (
            '[[tokens]]\nname = "a"\nrole = "run"\ntoken = "' + "a" * 30 + '"\nread_secrets = 1',
            "true or false",
        ),
        ("[[tokens]\n", None),
    ],
)
def test_a_bad_token_file_is_a_config_error(tmp_path: Path, text: str, why: str | None):
    path = tmp_path / "tokens.toml"
    path.write_text(text)
    with pytest.raises(floe.ConfigError) as raised:
        Tokens.load(path, environ={})
    if why is not None:
        assert why in (raised.value.why or "")


def test_short_repeated_and_missing_tokens_are_refused(tmp_path: Path):
    with pytest.raises(floe.ConfigError, match="too short"):
        Tokens.load(environ={"FLOE_API_TOKEN": "short"})
    path = tmp_path / "tokens.toml"
    path.write_text(
        '[[tokens]]\nname = "FLOE_API_TOKEN"\nrole = "read"\ntoken = "' + "a" * 30 + '"\n'
    )
    with pytest.raises(floe.ConfigError, match="used twice"):
        Tokens.load(path, environ={"FLOE_API_TOKEN": "b" * 30})
    with pytest.raises(floe.ConfigError, match="Cannot read the token file"):
        Tokens.load(tmp_path / "absent.toml", environ={})
    with pytest.raises(floe.ConfigError, match="no API token"):
        Tokens.load(environ={}).require_some()
