"""Hello, world: the smallest durable workflow, one task and the workflow that calls it.

Run it from the repository root with the command line::

    floe run examples/hello.py:hello --input '"World"'

It prints ``"Hello, World!"`` (the output, as JSON) and records the run in the default
store, ``.floe/floe.db``: ``floe runs`` lists it, ``floe events RUN_ID`` shows its journal.
``python examples/hello.py [NAME]`` runs the same workflow from Python.
"""

from __future__ import annotations

import sys

import floe


@floe.task
async def greet(name: str) -> str:
    return f"Hello, {name}!"


@floe.workflow
async def hello(name: str) -> str:
    # the task's result is journaled: a replay of this run returns it without running greet
    greeting: str = await greet(name)
    return greeting


if __name__ == "__main__":
    execution = hello.run(sys.argv[1] if len(sys.argv) > 1 else "World")
    print(execution.output)
