"""Schedules: a workflow run started at every tick of a cron expression or an interval.

``await floe.add_schedule("nightly", report, cron="0 2 * * *")`` stores the schedule in
the store (its key-value space, namespace ``schedules``), so that every worker on that
store sees it; nothing else keeps time. A worker fires what is due each time it looks for
work: for each tick, it creates the run ``schedule:NAME:TICK`` (the tick in ISO 8601,
UTC), pending, for any worker to claim. The run id is the deduplication: a store refuses
a second run with one id, so however many workers look at once, each tick makes one
run. A tick missed while no worker ran is caught up by the schedule's policy:
``latest`` (the default) fires only the newest missed tick, ``all`` fires every one (at
most :data:`MAX_CATCH_UP` at a time). Cron expressions are read by croniter, in UTC.

The newest tick fired is kept under its own key (namespace ``schedule-ticks``), written
only by firing, so that a worker never writes over a pause or a change made meanwhile.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Literal

import attrs
import orjson

from .kernel._errors import ConfigError, NotFoundError, PersistenceError
from .kernel._kernel import Kernel, kernel_for_call
from .kernel._models import FORMAT_VERSION, Run, RunStatus, utcnow
from .kernel._serialize import converter, decode_document, dumps
from .workflows._workflows import Workflow

__all__ = [
    "MAX_CATCH_UP",
    "Schedule",
    "add_schedule",
    "fire_due",
    "list_schedules",
    "pause_schedule",
    "remove_schedule",
    "resume_schedule",
]

logger = logging.getLogger("floe.schedules")

CatchUp = Literal["latest", "all"]
MAX_CATCH_UP: Final = 1000
"""The most ticks one firing makes runs for (policy ``all``, after a long outage)."""
SCHEDULE_PREFIX: Final = "schedule:"
_SCHEDULES: Final = "schedules"
_TICKS: Final = "schedule-ticks"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,199}")
_LONGEST_INTERVAL: Final = 366 * 86400.0


@attrs.frozen
class Schedule:
    """A workflow started at every tick of *cron* or every *every* seconds."""

    name: str
    workflow: str
    """The name of the workflow each tick runs."""
    target: str
    """Where a worker imports it from (``package.module:name``, ``path/file.py:name``)."""
    input: Any
    """The input document every run gets (as the workflow encoded it)."""
    created_at: datetime
    cron: str | None = None
    every: float | None = None
    catch_up: CatchUp = "latest"
    paused: bool = False
    backend: str | None = None
    format: int = FORMAT_VERSION

    def ticks(self, after: datetime, until: datetime) -> list[datetime]:
        """The ticks due after *after*, up to and including *until*, oldest first (at
        most :data:`MAX_CATCH_UP`, the newest of them)."""
        if self.every is not None:  # arithmetic: an outage of a fast schedule is no loop
            first = self.next_tick(after)
            if first > until:
                return []
            step = timedelta(seconds=self.every)
            count = int((until - first) / step) + 1
            start = max(0, count - MAX_CATCH_UP)
            return [first + index * step for index in range(start, count)]
        due: list[datetime] = []
        tick = self.next_tick(after)
        while tick <= until:
            due.append(tick)
            if len(due) > MAX_CATCH_UP:
                del due[0]
            tick = self.next_tick(tick)
        return due

    def next_tick(self, after: datetime) -> datetime:
        """The first tick strictly after *after*."""
        if self.every is not None:
            elapsed = (after - self.created_at).total_seconds()
            count = max(int(elapsed // self.every) + 1, 1)
            tick = self.created_at + timedelta(seconds=count * self.every)
            return tick if tick > after else tick + timedelta(seconds=self.every)
        from croniter import croniter

        assert self.cron is not None
        found: datetime = croniter(self.cron, after).get_next(datetime)
        return found

    def run_id(self, tick: datetime) -> str:
        """The id of the run of *tick*: the same in every worker, so made once."""
        return f"{SCHEDULE_PREFIX}{self.name}:{tick.isoformat(timespec='microseconds')}"


async def add_schedule(
    name: str,
    workflow: Workflow[..., Any],
    *,
    cron: str | None = None,
    every: float | None = None,
    args: Sequence[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    catch_up: CatchUp = "latest",
    replace: bool = False,
) -> Schedule:
    """Store the schedule *name*: *workflow* with *args* and *kwargs* at every tick of
    the cron expression *cron* (UTC) or every *every* seconds (from now).

    An existing schedule of that name is a :class:`ConfigError` unless *replace*. The
    input is encoded and checked against the workflow's parameters now, so a bad one
    fails here, not at every tick. Workers fire it (see the module's description).
    """
    schedule = _new_schedule(name, workflow, cron, every, args, kwargs or {}, catch_up)
    async with kernel_for_call() as kernel:
        store = kernel.store
        if not replace and await store.get_value(_SCHEDULES, name) is not None:
            raise ConfigError(
                f"A schedule named {name!r} exists already",
                fix="Choose another name, remove it first, or replace it "
                "(replace=True, 'floe schedule add --replace').",
                context={"schedule": name},
            )
        await store.put_value(_SCHEDULES, name, _encode(schedule))
        await store.delete_value(_TICKS, name)  # a replaced schedule starts afresh
    return schedule


async def list_schedules() -> list[Schedule]:
    """Every schedule of the store, by name."""
    async with kernel_for_call() as kernel:
        return [await _load(kernel, name) for name in await kernel.store.list_keys(_SCHEDULES)]


async def pause_schedule(name: str) -> Schedule:
    """Stop firing *name* until :func:`resume_schedule`; its ticks meanwhile are skipped."""
    return await _set_paused(name, paused=True)


async def resume_schedule(name: str) -> Schedule:
    """Fire *name* again, from its next tick on (the ticks of the pause are not caught up)."""
    return await _set_paused(name, paused=False)


async def remove_schedule(name: str) -> None:
    """Delete the schedule *name*; the runs it made stay."""
    _check_name(name)
    async with kernel_for_call() as kernel:
        if not await kernel.store.delete_value(_SCHEDULES, name):
            raise _unknown(name)
        await kernel.store.delete_value(_TICKS, name)


async def fire_due(kernel: Kernel, now: datetime | None = None) -> list[str]:
    """Create the runs of every tick due at *now* (default: now) that has none; return
    the ids of the runs this call created (another worker may have made the rest)."""
    now = now or utcnow()
    created: list[str] = []
    for name in await kernel.store.list_keys(_SCHEDULES):
        try:
            schedule = await _load(kernel, name)
        except (PersistenceError, NotFoundError) as error:  # removed meanwhile, or damaged
            logger.warning("Schedule %r is skipped: %s", name, error)
            continue
        if schedule.paused:
            continue
        last = await _last_tick(kernel, schedule)
        due = schedule.ticks(last, now)
        if not due:
            continue
        for tick in due if schedule.catch_up == "all" else due[-1:]:
            if await _create_tick_run(kernel, schedule, tick, now):
                created.append(schedule.run_id(tick))
        await kernel.store.put_value(_TICKS, name, due[-1].isoformat().encode())
    return created


async def _create_tick_run(
    kernel: Kernel, schedule: Schedule, tick: datetime, now: datetime
) -> bool:
    metadata: dict[str, Any] = {
        "target": schedule.target,
        "backend": schedule.backend,
        "schedule": schedule.name,
        "tick": tick.isoformat(),
    }
    run = Run(
        run_id=schedule.run_id(tick),
        name=schedule.workflow,
        kind="workflow",
        status=RunStatus.PENDING,
        created_at=now,
        updated_at=now,
        input=schedule.input,
        runnable_at=now,
        metadata=metadata,
    )
    try:
        await kernel.store.create_run(run)
    except PersistenceError:
        return False  # another worker made this tick's run first
    logger.info("Schedule %r fired its tick %s: run %s", schedule.name, tick, run.run_id)
    return True


async def _last_tick(kernel: Kernel, schedule: Schedule) -> datetime:
    """The newest tick fired, or the schedule's creation (or resumption) time."""
    raw = await kernel.store.get_value(_TICKS, schedule.name)
    if raw is None:
        return schedule.created_at
    try:
        fired = datetime.fromisoformat(raw.decode())
    except ValueError:
        return schedule.created_at
    return max(fired, schedule.created_at)


async def _set_paused(name: str, *, paused: bool) -> Schedule:
    _check_name(name)
    async with kernel_for_call() as kernel:
        schedule = await _load(kernel, name)
        changed = attrs.evolve(schedule, paused=paused)
        await kernel.store.put_value(_SCHEDULES, name, _encode(changed))
        if not paused:  # the ticks of the pause are skipped, not caught up
            await kernel.store.put_value(_TICKS, name, utcnow().isoformat().encode())
        return changed


async def _load(kernel: Kernel, name: str) -> Schedule:
    raw = await kernel.store.get_value(_SCHEDULES, name)
    if raw is None:
        raise _unknown(name)
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise PersistenceError(
            f"The schedule {name!r} is damaged: {error}",
            fix="Remove it ('floe schedule remove NAME') and add it again.",
            context={"schedule": name},
        ) from error
    return decode_document(document, Schedule, where=f"The schedule {name!r}")


def _encode(schedule: Schedule) -> bytes:
    return dumps(converter.unstructure(schedule), where=f"the schedule {schedule.name!r}")


def _new_schedule(
    name: str,
    workflow: Any,
    cron: Any,
    every: Any,
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    catch_up: Any,
) -> Schedule:
    _check_name(name)
    if not isinstance(workflow, Workflow):
        raise ConfigError(
            f"A schedule runs a floe workflow, not {workflow!r}",
            fix="Pass a function decorated with @floe.workflow.",
            context={"schedule": name},
        )
    if "<" in workflow.target:
        raise ConfigError(
            f"Workflow {workflow.name!r} cannot be scheduled: a worker could not import "
            f"its target {workflow.target!r}",
            fix="Define the workflow at the top level of a module or file.",
            context={"schedule": name, "target": workflow.target},
        )
    if (cron is None) == (every is None):
        raise ConfigError(
            f"Schedule {name!r} needs exactly one of cron and every",
            why="A schedule ticks at the times of a cron expression or at an interval.",
            fix='Pass cron="*/5 * * * *" or every=30 (seconds).',
            context={"schedule": name},
        )
    if cron is not None:
        _check_cron(name, cron)
    if every is not None and (
        isinstance(every, bool)
        or not isinstance(every, int | float)
        or not 0.01 <= every <= _LONGEST_INTERVAL
    ):
        raise ConfigError(
            f"Invalid interval every={every!r} for schedule {name!r}",
            fix="Pass every as a number of seconds from 0.01 to a year.",
            context={"schedule": name},
        )
    if catch_up not in ("latest", "all"):
        raise ConfigError(
            f"Invalid catch_up={catch_up!r} for schedule {name!r}",
            why="After a time without workers, 'latest' fires the newest missed tick, "
            "'all' every missed tick.",
            fix="Pass catch_up='latest' or catch_up='all'.",
            context={"schedule": name},
        )
    return Schedule(
        name=name,
        workflow=workflow.name,
        target=workflow.target,
        input=workflow.encode_input(tuple(args), dict(kwargs)),
        created_at=utcnow(),
        cron=cron,
        every=None if every is None else float(every),
        catch_up=catch_up,
        backend=workflow.backend,
    )


def _check_cron(name: str, cron: Any) -> None:
    from croniter import croniter

    if not isinstance(cron, str) or not croniter.is_valid(cron):
        raise ConfigError(
            f"Invalid cron expression {cron!r} for schedule {name!r}",
            why="A cron expression has five fields: minute, hour, day of month, month and "
            "day of week, in UTC.",
            fix='Write e.g. "*/5 * * * *" (every five minutes) or "0 2 * * *" (at 02:00).',
            context={"schedule": name},
        )


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(
            f"Invalid schedule name {name!r}",
            why="A schedule's name is part of its runs' ids: 1-200 letters, digits, '_', '.' "
            "and '-', starting with a letter or digit.",
            fix="Use a short name such as 'nightly-report'.",
        )


def _unknown(name: str) -> NotFoundError:
    return NotFoundError(
        f"No schedule named {name!r}",
        fix="List the schedules with 'floe schedule list'.",
        context={"schedule": name},
    )
