"""``await floe.sleep(seconds)``: a durable timer.

Inside a workflow the timer is a step (``floe.sleep#1``): its wake-up time is journaled
(``timer.scheduled``, with the run's ``runnable_at`` set to it in the same write), then
the run sleeps and journals ``timer.fired``. A replay returns at once from a timer that
fired, and sleeps only the time that is left of one that did not, so a process that dies
mid-sleep wakes up when it was due. Outside a workflow it is :func:`anyio.sleep`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import anyio

from ..kernel._errors import ConfigError
from ..kernel._models import utcnow
from ..kernel._runs import sleep_until
from ..kernel._schema import TimerFired, TimerScheduled, data_of, payload_of
from ._runtime import (
    RunState,
    allocate_step,
    call_from_worker,
    current_run,
    in_worker_thread,
    stop_for_cancel,
)

__all__ = ["SLEEP_STEP", "sleep"]

SLEEP_STEP = "floe.sleep"


def sleep(seconds: float) -> Any:
    """Sleep *seconds* durably: ``await floe.sleep(3600)``.

    Inside a workflow the wake-up time survives the process (see the module's
    description); a sync workflow body calls it without ``await``. Outside a workflow
    it is :func:`anyio.sleep`. *seconds* is a number >= 0.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds >= 0:
        raise ConfigError(
            f"Invalid sleep of {seconds!r} seconds",
            why="floe.sleep() waits a number of seconds >= 0.",
            fix="Pass the seconds as an int or float, e.g. floe.sleep(1.5).",
        )
    state = current_run()
    if state is None:
        return anyio.sleep(seconds)
    key, position = allocate_step(state, SLEEP_STEP)
    if in_worker_thread():
        return call_from_worker(state, durable_sleep, state, float(seconds), key, position)
    return durable_sleep(state, float(seconds), key, position)


async def durable_sleep(state: RunState, seconds: float, key: str, position: str) -> None:
    """The timer step *key* at *position* of *state*'s run."""
    replay = state.replay
    replay.check(position, SLEEP_STEP, key)
    if position in replay.timers_fired:
        return
    if state.cancel_requested:
        await stop_for_cancel(state)
    scheduled = replay.timers_scheduled.get(position)
    if scheduled is None:
        wake = utcnow() + timedelta(seconds=seconds)
        timer = TimerScheduled(
            task=SLEEP_STEP, position=position, seconds=seconds, wake_at=wake.isoformat()
        )
        run = state.evolve_run(runnable_at=wake)
        await state.journal.write([(timer.kind, key, data_of(timer))], run=run)
        state.suspend_if_long(seconds)
        await anyio.sleep(seconds)
    else:
        recorded = payload_of(scheduled)
        assert isinstance(recorded, TimerScheduled)
        left = (datetime.fromisoformat(recorded.wake_at) - utcnow()).total_seconds()
        state.suspend_if_long(left)
        await sleep_until(recorded.wake_at)
    run = state.evolve_run(runnable_at=utcnow())
    fired = TimerFired(task=SLEEP_STEP, position=position)
    await state.journal.write([(fired.kind, key, data_of(fired))], run=run)
