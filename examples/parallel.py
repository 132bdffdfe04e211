"""Parallel: await several task calls side by side with ``floe.parallel``.

Run it as a script (the runs live in memory, nothing is left behind)::

    python examples/parallel.py Ada

It prints the three greetings as a JSON list, in the order of the calls — not the order
in which the calls finished — then the keys of the three steps the run journaled. With
the command line, on the default store (``.floe/floe.db``)::

    floe run examples/parallel.py:greetings --input '"Ada"'
"""

from __future__ import annotations

import json
import sys

import anyio

import floe


@floe.task
async def say_hi(name: str) -> str:
    await anyio.sleep(0.03)  # the slowest call: it finishes last, its result still comes first
    return f"Hi, {name}"


@floe.task
async def say_hello(name: str) -> str:
    await anyio.sleep(0.02)
    return f"Hello, {name}"


@floe.task
async def say_hola(name: str) -> str:
    await anyio.sleep(0.01)
    return f"Hola, {name}"


@floe.workflow
async def greetings(ctx: floe.Context[str]) -> list[str]:
    # A body that takes a floe.Context gets the input as ctx.input (and ctx.run_id).
    # Each call takes its step key when it is made (say_hi#1, say_hello#1, say_hola#1),
    # so a resumed run finds every finished call in the journal whichever finished first.
    # max_concurrency caps how many run at once (None, the default: all of them); the
    # first call that fails cancels the others and parallel raises its exception.
    results = await floe.parallel(
        say_hi(ctx.input), say_hello(ctx.input), say_hola(ctx.input), max_concurrency=3
    )
    return list(results)


async def main(name: str) -> None:
    # memory:// keeps the runs in this process only; floe run uses the default store
    async with floe.open_kernel(store="memory://"):
        execution = await greetings.run_async(name)
    print(json.dumps(execution.output))
    print(", ".join(sorted(execution.executed_tasks)))


if __name__ == "__main__":
    anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else "World", backend="trio")
