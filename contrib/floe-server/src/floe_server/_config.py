"""What a server is started with: :class:`ServerConfig`, checked before anything opens."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any, Final

import attrs

import floe

__all__ = ["DEFAULT_MAX_BODY_BYTES", "ServerConfig"]

DEFAULT_MAX_BODY_BYTES: Final = 1024 * 1024
"""The largest request body accepted by default (1 MiB): a run's input, an uploaded file."""
_LARGEST_BODY: Final = 1024 * 1024 * 1024
_LONGEST_WAIT: Final = 3600.0


def _check_port(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise _invalid(attribute.name, value, "A TCP port is a whole number from 0 to 65535.")


def _check_host(instance: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value or any(ch.isspace() for ch in value):
        raise _invalid(attribute.name, value, "A host is an address or name to listen on.")


def _check_count(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1024:
        raise _invalid(attribute.name, value, "It is a whole number from 0 to 1024.")


def _check_hops(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise _invalid(
            attribute.name, value, "It is how many proxies stand in front: a number from 0 to 10."
        )


def _check_seconds(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not 0 < value <= _LONGEST_WAIT:
        raise _invalid(
            attribute.name, value, f"It is a number of seconds in (0, {_LONGEST_WAIT:g}]."
        )


def _check_body(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _LARGEST_BODY:
        raise _invalid(attribute.name, value, f"It is a number of bytes from 1 to {_LARGEST_BODY}.")


def _check_flag(instance: Any, attribute: attrs.Attribute[bool], value: bool) -> None:
    if not isinstance(value, bool):
        raise _invalid(attribute.name, value, "It is true or false.")


def _check_origins(instance: Any, attribute: attrs.Attribute[tuple[str, ...]], value: Any) -> None:
    for origin in value:
        if origin == "*" or not isinstance(origin, str) or "://" not in origin:
            raise _invalid(
                attribute.name,
                origin,
                "CORS is opened to named origins only (scheme://host[:port]); '*' would let "
                "every web page call the API with a user's token.",
            )


def _as_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


@attrs.frozen
class ServerConfig:
    """How ``floe server`` serves: where it listens and what it lets clients do.

    Every field is checked on construction; a bad value is a :class:`floe.ConfigError`.
    """

    host: str = attrs.field(default="127.0.0.1", validator=_check_host)
    """The address to listen on (loopback unless told otherwise)."""
    port: int = attrs.field(default=8000, validator=_check_port)
    """The TCP port (0: any free port, reported when serving starts)."""
    workers: int = attrs.field(default=0, validator=_check_count)
    """How many runs this process executes at once besides serving (0: none, leave them
    to ``floe worker`` processes on the same store)."""
    allow_uploads: bool = attrs.field(default=False, validator=_check_flag)
    """Whether ``POST /workflows`` takes Python files (off: it answers 403)."""
    sync_timeout: float = attrs.field(default=30.0, validator=_check_seconds)
    """How long ``run/sync`` waits for a run before it answers with the run's id (202)."""
    max_body_bytes: int = attrs.field(default=DEFAULT_MAX_BODY_BYTES, validator=_check_body)
    """The largest request body; a larger one is refused with 413."""
    cors_origins: tuple[str, ...] = attrs.field(
        default=(), converter=_as_tuple, validator=_check_origins
    )
    """Web origins allowed to call the API from a browser (none: CORS closed)."""
    proxy_hops: int = attrs.field(default=0, validator=_check_hops)
    """How many reverse proxies stand in front of the server: their ``X-Forwarded-For``,
    ``-Proto`` and ``-Host`` are then trusted (0: none are; a client could forge them)."""

    @property
    def loopback(self) -> bool:
        """Whether the server listens on this machine only."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def _invalid(field: str, value: Any, why: str) -> floe.ConfigError:
    return floe.ConfigError(
        f"Invalid server setting {field}={value!r}",
        why=why,
        fix=f"Correct {field} (see 'floe server --help').",
        context={"setting": field},
    )
