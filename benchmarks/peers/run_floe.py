"""floe on the workflows benchmark, in a fresh process like every peer.

Run with the benchmark's own interpreter (where floe is installed). The kernel runs on
trio with the memory store (``--store memory``) or a SQLite file in the work directory
(``--store sqlite``: WAL, synchronous=NORMAL, the SQLite store's defaults); logging is
off. Besides the peers' two workloads (``sequential``: tasks awaited one after the
other; ``concurrent``: ``task.map``), two more measure replay, each in a process of its
own:

* ``replay-build``: a workflow maps *n* tasks, then pauses (``floe.pause``): a run
  whose every step is journaled and that has not finished;
* ``replay``: resumes that run (built earlier in the same work directory): the *n*
  recorded steps replay from the journal, the pause returns, the run completes. The
  time is the resume call's, in a process that opened the store but never saw the run.

And one floor, ``floor-concurrent``: no floe run at all, a trio nursery spawning *n*
calls that each build their step's two journal events (``_floors.py``), so that the
cost of *n* concurrent steps is shown next to what *n* tasks in flight cost by
themselves in a fresh process of the same size.
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata
from typing import Any

import anyio
from _floors import memory_floor_concurrent
from _protocol import Engine, answer, arguments, measure

import floe


@floe.task
async def step(i: int) -> int:
    return i


@floe.workflow
async def sequential(n: int) -> int:
    total = 0
    for i in range(n):
        total += await step(i)
    return total


@floe.workflow
async def concurrent(n: int) -> int:
    results = await step.map(range(n))
    return sum(results)


@floe.workflow
async def replayed(n: int) -> int:
    results = await step.map(range(n))
    await floe.pause("replay", output=sum(results))
    return sum(results)


def _replay_run_id(n: int) -> str:
    return f"replay-{n}"


async def _run(workload: str, n: int) -> Any:
    if workload == "sequential":
        execution = await sequential.run_async(n, raise_on_error=True)
    elif workload == "concurrent":
        execution = await concurrent.run_async(n, raise_on_error=True)
    elif workload == "replay-build":
        execution = await replayed.run_async(n, run_id=_replay_run_id(n), raise_on_error=True)
        if not execution.paused:
            raise RuntimeError(f"the replay run is {execution.status}, not paused")
    elif workload == "floor-concurrent":
        return await memory_floor_concurrent(n)
    elif workload == "replay":
        execution = await replayed.resume_async(_replay_run_id(n), "go")
        if not execution.succeeded:
            raise RuntimeError(f"the resumed run is {execution.status}: {execution.error}")
    else:
        raise ValueError(f"unknown workload {workload!r}")
    return execution.output


def _store_url(options: argparse.Namespace) -> str:
    if options.store == "memory":
        return "memory://"
    if options.store == "sqlite":
        return f"sqlite:///{(options.workdir / 'floe.db').resolve()}"
    raise ValueError(f"--store must be memory or sqlite, not {options.store!r}")


def _settings(url: str) -> floe.Settings:
    # explicit settings: no settings file or FLOE_* variable of the machine leaks in
    return floe.Settings(store=url, log_format="off")


async def _measure(options: argparse.Namespace) -> dict[str, Any]:
    url = _store_url(options)
    async with floe.open_kernel(_settings(url)):
        engine = Engine("floe", metadata.version("floe-kernel"), options.store, _run)
        return await measure(engine, options)


if __name__ == "__main__":
    parsed = arguments()
    sys.exit(answer(lambda: anyio.run(_measure, parsed, backend="trio")))
