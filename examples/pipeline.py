"""Pipeline: each task's result is the next task's input, with ``floe.pipeline``.

Run it as a script (the runs live in memory, nothing is left behind)::

    python examples/pipeline.py 4

It prints the output, ``121`` (4 * 2 = 8, 8 + 3 = 11, 11 * 11 = 121), then the steps the
run journaled, one per line. With the command line, on the default store
(``.floe/floe.db``)::

    floe run examples/pipeline.py:numbers --input 4
"""

from __future__ import annotations

import sys

import anyio

import floe


@floe.task
async def multiply_by_two(x: int) -> int:
    return x * 2


@floe.task
async def add_three(x: int) -> int:
    return x + 3


@floe.task
def square(x: int) -> int:
    # a sync task: floe runs it in a worker thread, so it never blocks the event loop
    return x * x


@floe.workflow
async def numbers(x: int) -> int:
    # The pipeline takes one step slot when it is called (floe.pipeline#1) and each stage
    # is a step inside it (floe.pipeline#1/multiply_by_two#1 ...): a run resumed after a
    # crash replays the stages that finished and runs only the rest.
    result: int = await floe.pipeline(multiply_by_two, add_three, square, input=x)
    return result


async def main(x: int) -> None:
    # memory:// keeps the runs in this process only; floe run uses the default store
    async with floe.open_kernel(store="memory://"):
        execution = await numbers.run_async(x)
    print(execution.output)
    for step in execution.executed_tasks:
        print(step)


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 4, backend="trio")
