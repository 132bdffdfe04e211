"""Durable sleep: a timer that survives the process.

A reminder sends a welcome, waits, then sends tips. ``await floe.sleep(seconds)`` journals
the wake-up time before it starts waiting, so when the process dies during the wait,
running the same run again sleeps only the time that is left — and does not send the
welcome twice: the finished step is replayed from the journal.

The runs live in the default store, ``.floe/floe.db`` under the working directory (set
``FLOE_STORE`` to use another one). Try it::

    FLOE_RUN_LEASE_SECONDS=1 python examples/durable_sleep.py welcome-1 5 &
    sleep 2; kill -9 %1          # the process dies in the middle of the sleep
    sleep 1                      # the lease it held on the run runs out (30 s by default)
    python examples/durable_sleep.py welcome-1 5

The first process writes ``sent 'welcome' to ada`` on stderr, the second only ``sent
'tips' to ada``; the second prints the output and the run's timer events::

    ["welcome -> ada", "tips -> ada"]
    timer.scheduled floe.sleep#1
    timer.fired floe.sleep#1

With the command line, on the same store (``--kwargs``: the input holds the keyword
arguments)::

    floe run examples/durable_sleep.py:reminder --kwargs --input '{"user": "ada", "seconds": 5}'
"""

from __future__ import annotations

import json
import sys

import floe


@floe.task
async def send(user: str, message: str) -> str:
    # a side effect you can count: one line each time a message is really sent
    print(f"sent {message!r} to {user}", file=sys.stderr, flush=True)
    return f"{message} -> {user}"


@floe.workflow
async def reminder(user: str, seconds: float = 5.0) -> list[str]:
    welcome = await send(user, "welcome")
    # A step like any other (floe.sleep#1): timer.scheduled records the wake-up time, and
    # timer.fired that it came. Outside a workflow floe.sleep is a plain anyio.sleep.
    await floe.sleep(seconds)
    tips = await send(user, "tips")
    return [welcome, tips]


if __name__ == "__main__":
    run_id = sys.argv[1] if len(sys.argv) > 1 else "welcome-1"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
    # The same call starts the run, resumes it if it is unfinished (its process died),
    # or returns it as stored once it has finished. wf.run() opens a kernel on the store
    # in the settings (default .floe/floe.db).
    execution = reminder.run("ada", seconds=seconds, run_id=run_id)
    print(json.dumps(execution.output))
    for event in execution.events:
        if event.kind.startswith("timer."):
            print(event.kind, event.step)
