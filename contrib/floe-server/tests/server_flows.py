"""Workflows the server tests run (importable by name: a worker loads them by target)."""

from __future__ import annotations

import anyio

import floe


@floe.task
async def shout(text: str) -> str:
    return text.upper()


@floe.workflow
async def hello(name: str) -> str:
    """Greet *name*."""
    return f"Hello, {await shout(name)}!"


@floe.workflow
async def greet(name: str, punctuation: str = "!") -> str:
    return f"Hi {name}{punctuation}"


@floe.workflow
async def approval(amount: int) -> dict:
    decision = await floe.pause("approve", output={"amount": amount})
    return {"amount": amount, "decision": decision}


@floe.workflow
async def report() -> str:
    floe.add_artifact("summary", {"rows": 3}, description="the summary")
    floe.add_artifact("notes", "# Notes\n\nall fine", artifact_type="markdown")
    return "done"


@floe.task
async def wait_for(path: str) -> str:
    # the file is made by the test, outside any event loop: poll for it
    while not await anyio.Path(path).exists():  # noqa: ASYNC110
        await anyio.sleep(0.02)
    return path


@floe.workflow
async def gated(path: str) -> str:
    """Runs until the file *path* exists."""
    return await wait_for(path)


@floe.workflow
async def broken() -> None:
    raise ValueError("broken on purpose")


@floe.task(secrets=["api_key"])
async def use_key(secrets: floe.Secrets) -> str:
    return f"key={secrets['api_key'].reveal()}"


@floe.workflow
async def leak() -> str:
    """Returns text holding a secret's value (a careless task)."""
    return await use_key()
