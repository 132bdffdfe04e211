"""The web dashboard at ``/``: a sign-in form, and pages that read the JSON API in the
browser, served from the package's files with no build step.

Signing in trades an API token for a session (:mod:`floe_server._sessions`) held in an
HttpOnly, SameSite=Strict cookie; the page gets the session's CSRF token and role in
``<meta>`` tags, and its scripts call the API with the cookie. The token itself is
neither kept, logged nor echoed. Every page is sent with a Content-Security-Policy that
allows only this server's own scripts, styles and connections, so that data shown on a
page can never run as code there. None of these routes is part of the API's schema.
"""

from __future__ import annotations

import functools
import html
import logging
from importlib.resources import files
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from ._auth import CsrfRefused, session_of
from ._problems import Forbidden
from ._runtime import runtime_of
from ._sessions import CSRF_FIELD, SESSION_COOKIE, Session

__all__ = ["SECURITY_HEADERS", "install", "router"]

logger = logging.getLogger("floe.server")

router = APIRouter(include_in_schema=False)

STATIC_PATH: Final = "/dashboard/static"
"""Where the dashboard's scripts and styles are served."""
SIGN_IN_PATH: Final = "/sign-in"
SIGN_OUT_PATH: Final = "/sign-out"
_LONGEST_TOKEN: Final = 4096
_FILES: Final = Path(str(files("floe_server") / "dashboard"))

SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
"""The headers of every dashboard page and file."""


def install(app: FastAPI) -> None:
    """Add the dashboard's pages and files to *app*."""
    app.include_router(router)
    app.mount(STATIC_PATH, _DashboardFiles(directory=_FILES / "static"), name="dashboard")


class _DashboardFiles(StaticFiles):
    """The dashboard's scripts and styles, with the pages' security headers."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        response.headers["Cache-Control"] = "no-cache"
        return response


@router.get("/")
async def dashboard(request: Request) -> Response:
    """The dashboard, for a signed-in browser; anyone else is sent to the sign-in page."""
    session = session_of(request)
    if session is None:
        return _redirect(SIGN_IN_PATH)
    return _page(
        "index.html",
        csrf_token=session.csrf_token,
        role=str(session.caller.role),
        caller=session.caller.name,
    )


@router.get(SIGN_IN_PATH)
async def sign_in_form(request: Request) -> Response:
    return _sign_in_page(session_of(request))


@router.post(SIGN_IN_PATH)
async def sign_in(request: Request) -> Response:
    """Open a session for the token of the form, in a cookie; the form again, 401, for
    a wrong token."""
    _require_same_origin(request)
    form = await request.form()
    before = session_of(request)
    if before is not None:
        _require_csrf(before, form)
    token = _field(form, "token")
    sessions = runtime_of(request).sessions
    caller = runtime_of(request).tokens.match(token) if 0 < len(token) <= _LONGEST_TOKEN else None
    if caller is None:
        logger.warning("A dashboard sign-in was refused: the token is not one of this server's")
        return _sign_in_page(before, error="This token is not one the server accepts.", status=401)
    if before is not None:
        sessions.close(before.session_id)
    session = sessions.open(caller)
    logger.info("Dashboard sign-in with the token %r (role %s)", caller.name, caller.role)
    response = _redirect("/")
    response.set_cookie(
        SESSION_COOKIE,
        session.session_id,
        max_age=int(sessions.lifetime),
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


@router.post(SIGN_OUT_PATH)
async def sign_out(request: Request) -> Response:
    """End the session (the form carries its CSRF token) and forget its cookie."""
    _require_same_origin(request)
    session = session_of(request)
    if session is not None:
        _require_csrf(session, await request.form())
        runtime_of(request).sessions.close(session.session_id)
    response = _redirect(SIGN_IN_PATH)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


def _sign_in_page(session: Session | None, *, error: str = "", status: int = 200) -> Response:
    csrf = "" if session is None else session.csrf_token
    signed_in = "" if session is None else f"Signed in as {session.caller.name}."
    return _page(
        "sign-in.html",
        status=status,
        csrf_token=csrf,
        error=error,
        error_hidden="" if error else "hidden",
        signed_in=signed_in,
        signed_in_hidden="" if signed_in else "hidden",
    )


def _page(name: str, *, status: int = 200, **values: str) -> Response:
    """The page *name* with each ``{{key}}`` replaced by its value, HTML-escaped."""
    text = _template(name)
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", html.escape(value, quote=True))
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
    return HTMLResponse(text, status, headers=headers)


@functools.cache
def _template(name: str) -> str:
    return (_FILES / name).read_text(encoding="utf-8")


def _redirect(path: str) -> Response:
    return RedirectResponse(path, 303, headers={"Cache-Control": "no-store"})


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _require_csrf(session: Session, form: FormData) -> None:
    presented = _field(form, CSRF_FIELD) or None
    if not session.accepts_csrf(presented):
        raise CsrfRefused(presented is not None)


def _require_same_origin(request: Request) -> None:
    """A form posted from another site's page is refused: the browser names that page's
    origin in ``Origin``."""
    origin = request.headers.get("origin")
    own = request.url.netloc
    if origin is not None and urlsplit(origin).netloc != own:
        raise Forbidden(
            "This form was sent from another site",
            why=f"It came from {origin}; the dashboard takes its forms from {own} only.",
            fix="Sign in from the dashboard's own page.",
            context={"origin": origin},
        )
