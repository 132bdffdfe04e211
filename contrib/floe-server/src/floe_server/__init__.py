"""floe_server: the HTTP API of floe (FastAPI, served by Hypercorn).

``floe server`` (this distribution's plugin) serves a store's runs over HTTP; in
Python, open the server inside a running kernel and serve its application::

    async with floe.open_kernel(settings):
        async with open_server(ServerConfig(port=8000), Tokens.load()) as app:
            await serve(app, config)

See the how-to "Run the HTTP server" for the API, tokens and roles.
"""

from __future__ import annotations

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
