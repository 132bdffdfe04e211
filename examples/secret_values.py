"""Secrets: a task asks for secrets by name; their values are sealed in the journal.

The ``floe_secrets`` plugin keeps secrets encrypted (AES-256-GCM) in floe's own store,
under a key you hold in ``FLOE_SECRET_KEY``. There is no default key. Once per machine::

    export FLOE_SECRET_KEY="$(floe secrets keygen)"
    floe secrets set api_token --value tok-5f2c9a      # or pipe the value on stdin
    floe secrets list                                  # names only: api_token

Then run the workflow (runs and secrets live in the default store, ``.floe/floe.db``
under the working directory; set ``FLOE_STORE`` to use another one)::

    python examples/secret_values.py

It prints the output, then the results the journal holds for each step, masked::

    {"service": "https://api.example.org", "authorized": true, "note": "sent token ***"}
    call_service#1 {"service": "https://api.example.org", "authorized": true}
    describe_call#1 "***"

``describe_call`` returns text with the token in it. floe keeps that result exactly,
but sealed (encrypted under ``FLOE_SECRET_KEY``) in the journal, so replay returns it as
it was; ``execution.output`` holds the token too: it is the program's own value.
``floe.mask`` shows the token, and a sealed field, as ``***``; the command line and the
logs use it everywhere. With the command line::

    floe run examples/secret_values.py:use_api --input '"https://api.example.org"'

Without ``api_token`` set, the step fails with an error naming the missing secret.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import floe
from floe import Secrets

NO_SECRETS = Secrets()
"""The default of an injected ``secrets`` parameter, for type checkers and plain calls."""


@floe.task(secrets=["api_token"])
async def call_service(url: str, secrets: Secrets = NO_SECRETS) -> dict[str, Any]:
    # `secrets` is injected by its name: a mapping of the secrets the task asked for.
    # A Secret shows as *** when printed, logged or formatted; reveal() gives its value.
    token = secrets["api_token"]
    headers = {"Authorization": f"Bearer {token.reveal()}"}  # what an HTTP call would send
    return {"service": url, "authorized": headers["Authorization"].startswith("Bearer tok-")}


@floe.task(secrets=["api_token"])
async def describe_call(secrets: Secrets = NO_SECRETS) -> str:
    # A careless result: it holds the token's value. floe stores it exactly, sealed
    # (encrypted) because it holds a secret's value; shown, it is masked.
    return f"sent token {secrets['api_token'].reveal()}"


@floe.workflow
async def use_api(url: str) -> dict[str, Any]:
    answer = await call_service(url)
    note = await describe_call()
    return {**answer, "note": note}


if __name__ == "__main__":
    # wf.run() opens a kernel on the store in the settings (default .floe/floe.db)
    execution = use_api.run(sys.argv[1] if len(sys.argv) > 1 else "https://api.example.org")
    if execution.failed:
        assert execution.error is not None
        sys.exit(f"Error: {execution.error.message}")
    # the output is exact, token and all: show it masked
    print(json.dumps(floe.mask(execution.output)))
    for event in execution.events:  # the journal as stored: a sealed field shows as ***
        if event.kind == "task.completed":
            print(event.step, json.dumps(floe.mask(event.data["result"])))
