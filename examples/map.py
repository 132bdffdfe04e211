"""Map: one task call per item with ``task.map``, per row of arguments with ``task.starmap``.

Run it as a script (the runs live in memory, nothing is left behind)::

    python examples/map.py apple fig banana

It prints the output as JSON — ``{"loud": ["APPLE!", "FIG!", "BANANA!"], "labels":
["apple: 5 letters", "fig: 3 letters", "banana: 6 letters"]}`` — and then how many steps
the run journaled (two per word). With the command line, on the default store
(``.floe/floe.db``)::

    floe run examples/map.py:words --input '["apple", "fig", "banana"]'
"""

from __future__ import annotations

import json
import sys

import anyio

import floe


@floe.task
async def shout(word: str, *, suffix: str = "") -> str:
    return word.upper() + suffix


@floe.task
def label(word: str, size: int) -> str:
    return f"{word}: {size} letters"


@floe.workflow
async def words(items: list[str]) -> dict[str, list[str]]:
    # map: shout(item, suffix="!") for every item. Keyword arguments given to map are
    # passed to every call; at most two calls run at once. Results come in item order.
    loud = await shout.map(items, max_concurrency=2, suffix="!")
    # starmap: each row is unpacked as the positional arguments of one call,
    # here label(word, size).
    labels = await label.starmap([(word, len(word)) for word in items])
    return {"loud": loud, "labels": labels}


async def main(items: list[str]) -> None:
    # memory:// keeps the runs in this process only; floe run uses the default store
    async with floe.open_kernel(store="memory://"):
        execution = await words.run_async(items)
    print(json.dumps(execution.output))
    print(f"{len(execution.executed_tasks)} steps")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1:] or ["apple", "fig", "banana"], backend="trio")
