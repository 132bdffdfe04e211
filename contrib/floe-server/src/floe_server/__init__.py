"""floe_server: the HTTP API of floe (FastAPI, served by Hypercorn).

``floe server`` (this distribution's plugin) serves a store's runs over HTTP; in
Python, open the server inside a running kernel and serve its application::

    async with floe.open_kernel(settings):
        async with open_server(ServerConfig(port=8000), Tokens.load()) as app:
            await serve(app, config)

See the how-to "Run the HTTP server" for the API, tokens and roles.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._app import create_app, open_server, serve
    from ._auth import MIN_TOKEN_LENGTH, ROLE_KEY, TOKEN_VARIABLE, Caller, Role, Token, Tokens
    from ._catalog import Catalog
    from ._config import DEFAULT_MAX_BODY_BYTES, ServerConfig
    from ._problems import PROBLEMS, Problem
    from ._runtime import Runtime

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "MIN_TOKEN_LENGTH",
    "PROBLEMS",
    "ROLE_KEY",
    "TOKEN_VARIABLE",
    "Caller",
    "Catalog",
    "Problem",
    "Role",
    "Runtime",
    "ServerConfig",
    "Token",
    "Tokens",
    "create_app",
    "open_server",
    "serve",
]

# every floe command loads this distribution's plugin, and so this package: FastAPI and
# the application load on first use of a name, not with `floe --help`
_EXPORTS = {
    "create_app": "_app",
    "open_server": "_app",
    "serve": "_app",
    "MIN_TOKEN_LENGTH": "_auth",
    "ROLE_KEY": "_auth",
    "TOKEN_VARIABLE": "_auth",
    "Caller": "_auth",
    "Role": "_auth",
    "Token": "_auth",
    "Tokens": "_auth",
    "Catalog": "_catalog",
    "DEFAULT_MAX_BODY_BYTES": "_config",
    "ServerConfig": "_config",
    "PROBLEMS": "_problems",
    "Problem": "_problems",
    "Runtime": "_runtime",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'floe_server' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"floe_server.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
