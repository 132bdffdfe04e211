"""The dashboard's sign-in sessions: a browser trades an API token for a session cookie.

A session is kept in the server's memory only (a restart signs everyone out) under a
random id; the browser holds that id in an HttpOnly cookie, so page scripts never see
it, and the token it was made from is not kept at all: the session holds the caller it
named. Each session has a CSRF token of its own, given to the page, which every
state-changing request made with the cookie must send back in a header: another site can
make a browser send the cookie, but cannot read the page to learn the CSRF token.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import attrs

if TYPE_CHECKING:
    from ._auth import Caller

__all__ = ["CSRF_FIELD", "CSRF_HEADER", "SESSION_COOKIE", "SESSION_SECONDS", "Session", "Sessions"]

SESSION_COOKIE: Final = "floe_session"
"""The cookie holding a session's id."""
CSRF_HEADER: Final = "X-CSRF-Token"
"""The header a state-changing request made with the cookie carries its CSRF token in."""
CSRF_FIELD: Final = "csrf_token"
"""The form field the sign-in and sign-out forms carry the CSRF token in."""
SESSION_SECONDS: Final = 12 * 3600
"""How long a session lasts after sign-in."""
_MOST_SESSIONS: Final = 10_000
"""The most sessions kept at once: past it, the oldest is signed out."""


@attrs.frozen
class Session:
    """A signed-in browser: who it is, its CSRF token, and when it ends (monotonic)."""

    session_id: str = attrs.field(repr=False)
    caller: Caller
    csrf_token: str = attrs.field(repr=False)
    expires_at: float

    def accepts_csrf(self, presented: str | None) -> bool:
        """Whether *presented* is this session's CSRF token (compared in constant time)."""
        if presented is None:
            return False
        return hmac.compare_digest(presented.encode(), self.csrf_token.encode())


class Sessions:
    """The sessions of one server, by id; an expired one is as good as absent."""

    def __init__(
        self, lifetime: float = SESSION_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.lifetime = lifetime
        self._clock = clock
        self._by_id: dict[str, Session] = {}

    def open(self, caller: Caller) -> Session:
        """A new session for *caller*."""
        self._forget_expired()
        while len(self._by_id) >= _MOST_SESSIONS:
            del self._by_id[next(iter(self._by_id))]
        session = Session(
            session_id=secrets.token_urlsafe(32),
            caller=caller,
            csrf_token=secrets.token_urlsafe(32),
            expires_at=self._clock() + self.lifetime,
        )
        self._by_id[session.session_id] = session
        return session

    def find(self, session_id: str | None) -> Session | None:
        """The live session of *session_id*, or None."""
        if not session_id:
            return None
        session = self._by_id.get(session_id)
        if session is None:
            return None
        if session.expires_at <= self._clock():
            del self._by_id[session_id]
            return None
        return session

    def close(self, session_id: str | None) -> None:
        """End the session of *session_id* (nothing when there is none)."""
        if session_id:
            self._by_id.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._by_id)

    def _forget_expired(self) -> None:
        now = self._clock()
        for session_id in [key for key, item in self._by_id.items() if item.expires_at <= now]:
            del self._by_id[session_id]
