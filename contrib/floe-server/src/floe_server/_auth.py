"""Who may call what: bearer tokens, their roles, and the check every route makes.

A client sends ``Authorization: Bearer TOKEN``. The server knows each token only by its
SHA-256 digest: the digest of what a client sent is compared with every known digest in
constant time (``hmac.compare_digest``, no early exit), so neither the comparison nor
its timing tells which token or how much of one matched. Tokens come from
``FLOE_API_TOKEN`` (one token, role ``admin``) and from a token file (TOML)::

    [[tokens]]
    name = "ci"                # shown in logs and responses instead of the token
    role = "run"               # read < run < admin
    token_sha256 = "9f86d0..." # or: token = "..." (the digest is preferred: the file
                               # then holds nothing a reader could use)

    [[tokens]]
    name = "ops"
    role = "admin"
    token = "..."
    read_secrets = true        # may read secret values (GET /admin/secrets/{name})

Roles grow: ``read`` lists and reads runs, workflows, components, schedules, workers and
metrics; ``run`` also submits, resumes and cancels runs and sends messages; ``admin``
also uploads workflows and manages schedules and secrets. Reading a secret's value is a
permission of its own (``read_secrets``), never implied by a role. A token is never
logged; a request is logged with its token's name.

A browser signed in to the dashboard sends a session cookie instead (see
:mod:`floe_server._sessions`): the session stands for the token it was opened with. A
request with an ``Authorization`` header is judged by that header alone; one made with
the cookie that changes anything (any method but GET, HEAD, OPTIONS) also carries the
session's CSRF token in ``X-CSRF-Token``, or is refused (403).
"""

from __future__ import annotations

import enum
import functools
import hashlib
import hmac
import os
import tomllib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Final

import attrs
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

import floe

from ._problems import Forbidden, Unauthorized
from ._sessions import CSRF_HEADER, SESSION_COOKIE, Session, Sessions

__all__ = [
    "MIN_TOKEN_LENGTH",
    "ROLE_KEY",
    "SAFE_METHODS",
    "TOKEN_VARIABLE",
    "Caller",
    "CsrfRefused",
    "Role",
    "SessionEnded",
    "Token",
    "Tokens",
    "gate",
    "requires",
    "session_of",
]

TOKEN_VARIABLE: Final = "FLOE_API_TOKEN"
"""The environment variable holding one admin token."""
MIN_TOKEN_LENGTH: Final = 24
"""The shortest token accepted: short ones are guessed (``secrets.token_urlsafe(32)``
makes a good one)."""
_FIELDS: Final = frozenset({"name", "role", "token", "token_sha256", "read_secrets"})
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
"""The methods that change nothing: made with the session cookie, they need no CSRF token."""


class Role(enum.IntEnum):
    """What a token may do; each role may do what the ones below it may."""

    READ = 1
    RUN = 2
    ADMIN = 3

    def __str__(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: Any, *, where: str) -> Role:
        try:
            return cls[str(text).upper()] if isinstance(text, str) else cls[""]
        except KeyError:
            raise floe.ConfigError(
                f"Unknown role {text!r} in {where}",
                why="A token's role is one of read, run, admin.",
                fix="Set role to read, run or admin.",
                context={"where": where},
            ) from None


@attrs.frozen
class Token:
    """A token the server accepts, known by its digest."""

    name: str
    role: Role
    digest: bytes = attrs.field(repr=False)
    read_secrets: bool = False

    @classmethod
    def from_text(cls, name: str, role: Role, token: str, *, read_secrets: bool = False) -> Token:
        _check_token(token, where=name)
        return cls(name, role, _digest(token), read_secrets)


@attrs.frozen
class Caller:
    """Who made a request: the matching token's name and what it may do."""

    name: str
    role: Role
    read_secrets: bool


@attrs.frozen
class Tokens:
    """Every token a server accepts."""

    tokens: tuple[Token, ...]

    def __attrs_post_init__(self) -> None:
        names = [token.name for token in self.tokens]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise floe.ConfigError(
                f"Token name {repeated[0]!r} is used twice",
                why="Each token's name identifies it in logs and responses.",
                fix="Give every token a name of its own.",
                context={"token": repeated[0]},
            )

    @classmethod
    def load(
        cls, path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
    ) -> Tokens:
        """The tokens of ``$FLOE_API_TOKEN`` and of the token file at *path*."""
        environ = os.environ if environ is None else environ
        found: list[Token] = []
        variable = environ.get(TOKEN_VARIABLE, "")
        if variable:
            found.append(Token.from_text(TOKEN_VARIABLE, Role.ADMIN, variable))
        if path is not None:
            found.extend(_read_file(Path(path)))
        return cls(tuple(found))

    def match(self, presented: str) -> Caller | None:
        """The caller whose token is *presented*, or None; every digest is compared."""
        digest = _digest(presented)
        found: Token | None = None
        for token in self.tokens:
            if hmac.compare_digest(digest, token.digest):
                found = token
        return None if found is None else Caller(found.name, found.role, found.read_secrets)

    def require_some(self) -> None:
        """A :class:`floe.ConfigError` when no token is set: the API would be closed to all."""
        if not self.tokens:
            raise floe.ConfigError(
                "The server has no API token",
                why="Every endpoint but the health checks needs a bearer token; with none "
                "set, nobody could call it.",
                fix=f"Set {TOKEN_VARIABLE} (e.g. to the output of "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'), or pass "
                "--token-file with a [[tokens]] table per token.",
            )


_bearer = HTTPBearer(
    auto_error=False, description="An API token: FLOE_API_TOKEN or the token file's."
)


ROLE_KEY: Final = "x-floe-role"
"""The OpenAPI extension naming the least role of an operation."""


def gate(role: Role, openapi_extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The route arguments of an endpoint open to *role* and above: its dependency, and
    the role in its OpenAPI operation (:data:`ROLE_KEY`), merged with *openapi_extra*."""
    return {
        "dependencies": [Depends(requires(role))],
        "openapi_extra": {**(openapi_extra or {}), ROLE_KEY: str(role)},
    }


@functools.cache
def requires(role: Role) -> Callable[..., Any]:
    """The dependency of a route open to *role* and above: the :class:`Caller`, or 401/403.

    One function per role, so that a route naming it twice (in its gate and as a
    parameter) checks the token once.
    """

    async def caller(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Caller:
        found = _caller_of(request, credentials)
        if found.role < role:
            raise Forbidden(
                f"The token {found.name!r} may not do this",
                why=f"It has the role {found.role}; this needs {role}.",
                fix=f"Call with a token of the role {role} or above.",
                context={"token": found.name, "role": str(found.role), "needs": str(role)},
            )
        return found

    return caller


class SessionEnded(floe.FloeError, PermissionError):
    """A session cookie naming no live session: it expired, was signed out, or the server
    restarted (401)."""

    status = 401

    def __init__(self) -> None:
        super().__init__(
            "The dashboard session has ended",
            why="Sessions last 12 hours, end at sign-out, and do not outlive the server.",
            fix="Sign in again at /sign-in (or send 'Authorization: Bearer TOKEN').",
        )


class CsrfRefused(floe.FloeError, PermissionError):
    """A state-changing request made with the session cookie but without the session's
    CSRF token (403)."""

    status = 403

    def __init__(self, presented: bool) -> None:
        super().__init__(
            "The CSRF token is wrong" if presented else "This request needs its CSRF token",
            why="A request made with the dashboard's session cookie that changes anything "
            f"carries the session's CSRF token in the {CSRF_HEADER} header, so that no "
            "other site can make it.",
            fix=f'Send {CSRF_HEADER} with the token of the page\'s <meta name="csrf-token">, '
            "or call with 'Authorization: Bearer TOKEN'.",
        )


def session_of(request: Request) -> Session | None:
    """The live dashboard session whose cookie *request* carries, or None."""
    sessions: Sessions = request.app.state.sessions
    return sessions.find(request.cookies.get(SESSION_COOKIE))


def _caller_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    """Who made *request*: by its Authorization header when it has one, else by its
    session cookie (with the CSRF token when it changes anything); or 401/403."""
    if "authorization" in request.headers or SESSION_COOKIE not in request.cookies:
        tokens: Tokens = request.app.state.tokens
        found = tokens.match(credentials.credentials) if credentials is not None else None
        if found is None:
            raise Unauthorized(credentials is not None)
        return found
    session = session_of(request)
    if session is None:
        raise SessionEnded()
    if request.method not in SAFE_METHODS:
        presented = request.headers.get(CSRF_HEADER)
        if not session.accepts_csrf(presented):
            raise CsrfRefused(presented is not None)
    return session.caller


def _read_file(path: Path) -> Iterable[Token]:
    where = str(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise floe.ConfigError(
            f"Cannot read the token file {where}",
            why=f"{type(error).__name__}: {error.strerror or error}",
            fix="Check --token-file.",
            context={"path": where},
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise floe.ConfigError(
            f"The token file {where} is not valid TOML",
            why=str(error),
            fix="Write one [[tokens]] table per token (see 'floe server --help').",
            context={"path": where},
        ) from None
    entries = document.get("tokens", [])
    if not isinstance(entries, list) or not all(isinstance(item, dict) for item in entries):
        raise _bad_entry(where, "'tokens' is an array of tables ([[tokens]]).")
    return [_token_of(entry, where) for entry in entries]


def _token_of(entry: dict[str, Any], where: str) -> Token:
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise _bad_entry(where, f"Unknown key {unknown[0]!r}; known: {', '.join(sorted(_FIELDS))}.")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _bad_entry(where, "Each token has a name (text).")
    role = Role.parse(entry.get("role"), where=f"{where} (token {name!r})")
    read_secrets = entry.get("read_secrets", False)
    if not isinstance(read_secrets, bool):
        raise _bad_entry(where, f"read_secrets of token {name!r} is true or false.")
    plain, hashed = entry.get("token"), entry.get("token_sha256")
    if (plain is None) == (hashed is None):
        raise _bad_entry(where, f"Token {name!r} needs exactly one of token, token_sha256.")
    if plain is not None:
        if not isinstance(plain, str):
            raise _bad_entry(where, f"The token of {name!r} is text.")
        return Token.from_text(name, role, plain, read_secrets=read_secrets)
    try:
        digest = bytes.fromhex(hashed) if isinstance(hashed, str) else b""
    except ValueError:
        digest = b""
    if len(digest) != hashlib.sha256().digest_size:
        raise _bad_entry(where, f"token_sha256 of {name!r} is 64 hexadecimal digits.")
    return Token(name, role, digest, read_secrets)


def _check_token(token: str, *, where: str) -> None:
    if len(token) < MIN_TOKEN_LENGTH or token != token.strip():
        raise floe.ConfigError(
            f"The API token {where!r} is too short or has surrounding spaces",
            why=f"A token has at least {MIN_TOKEN_LENGTH} characters; a short one is guessed.",
            fix="Make one with python -c 'import secrets; print(secrets.token_urlsafe(32))'.",
            context={"token": where},
        )


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def _bad_entry(where: str, why: str) -> floe.ConfigError:
    return floe.ConfigError(
        f"Invalid token file {where}",
        why=why,
        fix="Write one [[tokens]] table per token with name, role and token_sha256 (or token).",
        context={"path": where},
    )
