"""Workers: submit runs, and let two worker processes execute them.

An application submits orders without running them (``wf.submit`` stores each run
``pending`` and returns a handle); two ``floe worker`` processes on the same store claim
the runs — each one goes to one worker — and execute them; the application waits for
each result through its handle. Try it::

    python examples/workers.py 6

It starts the two workers on the store in effect (``.floe/floe.db`` under the working
directory; set ``FLOE_STORE`` to share another, a PostgreSQL database included), submits
six orders, prints each receipt as its run completes, then stops the workers with SIGTERM
(they drain: they finish what they hold and exit) and prints how many runs each executed
(the split between them varies)::

    order-0: charged 10.00
    ...
    order-5: charged 10.05
    worker host:4242:9f3a2c: executed 4 runs
    worker host:4243:1b7e0d: executed 2 runs

The order number is the run id, so submitting an order twice (a retried request) makes
no second run. The same from the command line::

    floe worker &
    floe run examples/workers.py:checkout --kwargs --input '{"order": "o-9", "cents": 990}' --detach
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from typing import IO

import floe


@floe.task
async def charge(order: str, cents: int) -> str:
    return f"{order}: charged {cents / 100:.2f}"


@floe.workflow
async def checkout(order: str, cents: int) -> str:
    return await charge(order, cents)


def start_worker(files: ExitStack) -> tuple[subprocess.Popen[str], IO[str]]:
    """A ``floe worker`` process, once it serves the store, and the file of its log."""
    log = files.enter_context(tempfile.TemporaryFile("w+"))  # noqa: SIM115 (a pipe would fill)
    options = ["--concurrency", "2", "--poll-seconds", "0.05"]
    worker = subprocess.Popen(
        [sys.executable, "-m", "floe_cli", "worker", *options], stderr=log, text=True
    )
    while "serving" not in _read(log):  # its first line: "Worker HOST:PID:ID serving ..."
        time.sleep(0.05)
    return worker, log


def _read(log: IO[str]) -> str:
    log.seek(0)
    return log.read()


def main(count: int) -> None:
    with ExitStack() as files:
        workers = [start_worker(files), start_worker(files)]
        submit_and_wait(count, workers)


def submit_and_wait(count: int, workers: list[tuple[subprocess.Popen[str], IO[str]]]) -> None:
    try:
        handles = [
            checkout.submit(order=f"order-{index}", cents=1000 + index, run_id=f"order-{index}")
            for index in range(count)
        ]
        for handle in handles:
            print(handle.result(timeout=60), flush=True)
    finally:
        for worker, _ in workers:
            worker.send_signal(signal.SIGTERM)
        for worker, log in workers:
            worker.wait(timeout=60)
            print(_read(log).strip().splitlines()[-1])  # "worker ...: executed N runs"


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 6)
