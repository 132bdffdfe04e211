"""Errors as JSON problem details (RFC 9457), the one place a response's error is made.

Every :class:`floe.FloeError` becomes ``application/problem+json`` carrying its what
(``title``), why (``detail``), fix and context, masked with :func:`floe.mask` on the way
out. The status says whose mistake it was: 4xx for the client's (an unknown run is 404,
bad input 422, malformed JSON 400, a run in the wrong state 409), 5xx only for the
server's. An unexpected exception answers 500 with no detail of it (it is logged).
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

import floe

__all__ = [
    "PROBLEMS",
    "PROBLEM_TYPE",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "PayloadTooLarge",
    "Problem",
    "Unauthorized",
    "Unavailable",
    "install_problem_handlers",
    "problem_response",
]

logger = logging.getLogger("floe.server")

PROBLEM_TYPE: Final = "application/problem+json"


class Problem(BaseModel):
    """A problem document (RFC 9457) with floe's what (title), why (detail) and fix."""

    type: str
    title: str
    status: int
    detail: str | None = None
    fix: str | None = None
    context: dict[str, Any] = {}
    error: str
    instance: str | None = None


def _answer(why: str) -> dict[str, Any]:
    return {"model": Problem, "description": why, "content": {PROBLEM_TYPE: {}}}


PROBLEMS: Final[dict[int | str, dict[str, Any]]] = {
    400: _answer("The body is not JSON."),
    401: _answer("No valid bearer token."),
    403: _answer("The token's role does not allow this."),
    404: _answer("No such workflow, run, component, schedule or secret."),
    409: _answer("What is stored is in another state (a run already finished)."),
    413: _answer("The body is over the server's limit."),
    422: _answer("A value the endpoint cannot take."),
}
"""The problem answers every gated endpoint may give, for the OpenAPI schema."""


class BadRequest(floe.FloeError, ValueError):
    """The request itself is malformed (400): JSON that does not parse, say."""

    status = 400


class Unauthorized(floe.FloeError, PermissionError):
    """No valid bearer token (401)."""

    status = 401

    def __init__(self, presented: bool) -> None:
        super().__init__(
            "The API token is wrong" if presented else "This endpoint needs an API token",
            why="Every endpoint but /healthz and /readyz needs a valid bearer token.",
            fix="Send 'Authorization: Bearer TOKEN' with a token the server was started with.",
        )


class Forbidden(floe.FloeError, PermissionError):
    """A valid token whose role does not allow the request (403)."""

    status = 403


class Conflict(floe.FloeError, ValueError):
    """The request contradicts what is stored (409)."""

    status = 409


class PayloadTooLarge(floe.FloeError, ValueError):
    """A request body beyond the server's limit (413)."""

    status = 413


class Unavailable(floe.FloeError, RuntimeError):
    """The server cannot serve this now: a setting of its own is missing (503)."""

    status = 503


_STATUS_BY_TYPE: Final[tuple[tuple[type[floe.FloeError], int], ...]] = (
    (floe.NotFoundError, 404),
    (floe.RunLeasedError, 409),
    (floe.StateError, 409),
    (floe.ConfigError, 422),
    (floe.SerializationError, 422),
    (floe.ImportPathError, 422),
    (floe.WorkflowTimeoutError, 504),
    (floe.PersistenceError, 503),
)
"""The status of an error of each kind, first match wins; anything else is 500."""


def status_of(error: floe.FloeError) -> int:
    own = getattr(error, "status", None)
    if isinstance(own, int):
        return own
    for kind, status in _STATUS_BY_TYPE:
        if isinstance(error, kind):
            return status
    return 500


def problem_response(error: floe.FloeError, request: Request | None = None) -> JSONResponse:
    """The problem document of *error*, masked."""
    status = status_of(error)
    document: dict[str, Any] = {
        "type": f"urn:floe:problem:{type(error).__name__}",
        "title": error.what,
        "status": status,
        "detail": error.why,
        "fix": error.fix,
        "context": error.context,
        "error": type(error).__name__,
    }
    if request is not None:
        document["instance"] = request.url.path
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(floe.mask(document), status, headers=headers, media_type=PROBLEM_TYPE)


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of *app* a problem document."""
    app.add_exception_handler(floe.FloeError, _floe_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected)


async def _client_gone(request: Request, error: Exception) -> Response:
    """The client closed its connection before it sent the whole request: nobody reads
    the answer, and nothing went wrong here (the client logs its own side)."""
    logger.debug("%s %s: the client disconnected", request.method, request.url.path)
    return Response(status_code=400)


async def _floe_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, floe.FloeError)
    if status_of(error) >= 500:
        logger.error("%s %s failed: %s", request.method, request.url.path, floe.mask(error.what))
    return problem_response(error, request)


async def _invalid_request(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = [
        {"where": ".".join(str(part) for part in item.get("loc", ())), "why": item.get("msg")}
        for item in error.errors()
    ]
    first = problems[0] if problems else {"where": "request", "why": "invalid"}
    invalid = floe.ConfigError(
        f"Invalid request: {first['where']}: {first['why']}",
        why="The request does not match what this endpoint takes (see /docs).",
        fix="Correct the request as the OpenAPI schema at /openapi.json describes.",
        context={"problems": problems},
    )
    return problem_response(invalid, request)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, HTTPException)
    status = error.status_code
    generic = _GenericProblem(
        str(error.detail),
        why=_HTTP_WHY.get(status),
        fix="Check the method and path against /docs.",
        context={"method": request.method},
    )
    generic.status = status
    response = problem_response(generic, request)
    if error.headers:
        response.headers.update(error.headers)
    if status == 405:  # Allow names every method of the path, whichever route has it
        response.headers["Allow"] = ", ".join(_methods_of(request))
    return response


def _methods_of(request: Request) -> list[str]:
    """The methods the OpenAPI schema of the app documents for the request's path."""
    app: FastAPI = request.app
    path = request.url.path
    found: set[str] = set()
    for template, item in app.openapi()["paths"].items():
        pattern = re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            found.update(method.upper() for method in item)
    return sorted(found)


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    logger.exception("%s %s failed", request.method, request.url.path)
    internal = floe.FloeError(
        "The server failed to answer this request",
        why="An unexpected error inside the server (it is in the server's log).",
        fix="Try again; if it persists, report it with the server log.",
    )
    return problem_response(internal, request)


class _GenericProblem(floe.FloeError):
    status = 500


_HTTP_WHY: Final = {
    404: "No endpoint has this path.",
    405: "The endpoint does not take this method.",
    413: "The request body is larger than the server's limit (--max-body-bytes).",
}
