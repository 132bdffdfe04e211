"""Pause and resume: a run waits for a human, and another process carries it on.

An expense is checked, then the run pauses until someone approves it; ``floe.pause``
returns the value it is resumed with. Between the two halves the process exits: the run
is stored as ``paused`` in the default store, ``.floe/floe.db`` under the working
directory (set ``FLOE_STORE`` to use another one).

As two scripts runs::

    python examples/pause_resume.py start 120 exp-1
    # paused at 'approval' waiting with {"amount": 120}
    # resume it with: python examples/pause_resume.py resume exp-1 NAME

    python examples/pause_resume.py resume exp-1 Grace
    # completed: paid 120, approved by Grace

The check runs once, in the first process: the second one replays it from the journal
(each task writes ``checking ...`` / ``paying ...`` on stderr when it really runs).
With the command line, on the same store::

    floe run examples/pause_resume.py:expense --input 120 --run-id exp-2
    floe resume exp-2 --input '"Grace"'
"""

from __future__ import annotations

import json
import sys

import floe


@floe.task
async def check_expense(amount: int) -> int:
    print(f"checking an expense of {amount}", file=sys.stderr, flush=True)
    if amount <= 0:
        raise ValueError(f"an expense is a positive amount, not {amount}")
    return amount


@floe.task
async def pay(amount: int, approver: str) -> str:
    print(f"paying {amount}", file=sys.stderr, flush=True)
    return f"paid {amount}, approved by {approver}"


@floe.workflow
async def expense(amount: int) -> str:
    checked = await check_expense(amount)
    # The run is journaled as paused (with this output for whoever looks at it) and the
    # body unwinds; run() returns a paused execution. floe.resume(run_id, value) — from
    # any process — replays the journal up to here and the pause returns value.
    approver = await floe.pause("approval", output={"amount": checked})
    result: str = await pay(checked, approver)
    return result


def start(amount: int, run_id: str) -> None:
    # wf.run() opens a kernel on the store in the settings (default .floe/floe.db)
    execution = expense.run(amount, run_id=run_id)
    print(f"{execution.status} at {execution.pause_name!r} waiting with", end=" ")
    print(json.dumps(execution.output))
    print(f"resume it with: python examples/pause_resume.py resume {run_id} NAME")


def resume(run_id: str, approver: str) -> None:
    try:
        execution = expense.resume(run_id, approver)
    except (floe.NotFoundError, floe.StateError) as error:
        # an unknown run id, or a run that is not paused (say, resumed already)
        sys.exit(f"Error: {error}")
    print(f"{execution.status}: {execution.output}")


if __name__ == "__main__":
    match sys.argv[1:]:
        case ["start", amount, run_id]:
            start(int(amount), run_id)
        case ["resume", run_id, approver]:
            resume(run_id, approver)
        case _:
            sys.exit(
                "usage: python examples/pause_resume.py start AMOUNT RUN_ID\n"
                "       python examples/pause_resume.py resume RUN_ID APPROVER"
            )
