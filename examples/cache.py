"""Caching: reuse a task's result across calls, runs and processes.

``slow_square`` is cached: its result is stored under the task's name and its arguments,
and any later call with the same arguments — in the same run, in another run, in another
process — is answered from the store without running the function. A falsy result (``0``)
is cached like any other.

The runs and the cache live in the default store, ``.floe/floe.db`` under the working
directory (set ``FLOE_STORE`` to use another one). Run the script twice::

    python examples/cache.py 3 0 3
    python examples/cache.py 3 0 3

Each run prints its output and how many of its steps the cache answered. The function
itself writes ``computing N^2`` on stderr each time it really runs: the first process
computes 3 and 0 once each (the second 3 is a hit), the second process computes nothing::

    [9, 0, 9]
    cache hits: 1 of 3          (the second time: 3 of 3)

With the command line, on the same store::

    floe run examples/cache.py:squares --input '[3, 0, 3]'
"""

from __future__ import annotations

import sys
import time

import floe


@floe.task(cache=True, cache_ttl=24 * 3600)  # an entry is used for a day, then recomputed
def slow_square(n: int) -> int:
    # a side effect you can count: one line each time the function really runs
    print(f"computing {n}^2", file=sys.stderr, flush=True)
    time.sleep(0.05)  # a sync task runs in a worker thread: blocking here is fine
    return n * n


@floe.workflow
async def squares(numbers: list[int]) -> list[int]:
    # Every call is still a step of the run (slow_square#1, #2, #3), journaled with its
    # result; a hit is journaled as task.cache_hit followed by task.completed.
    return [await slow_square(n) for n in numbers]


if __name__ == "__main__":
    # wf.run() opens a kernel on the store in the settings (default .floe/floe.db)
    execution = squares.run([int(n) for n in sys.argv[1:]] or [3, 0, 3])
    hits = sum(event.kind == "task.cache_hit" for event in execution.events)
    print(execution.output)
    print(f"cache hits: {hits} of {len(execution.executed_tasks)}")
