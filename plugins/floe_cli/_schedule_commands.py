"""``floe schedule``: add, list, pause, resume and remove the store's schedules.

``floe schedule add nightly flows.py:report --cron "0 2 * * *"`` stores a schedule; the
workers serving the store (``floe worker``) fire it, one run per tick. Exit codes: 0, or 2
for a bad expression, interval, input or name, an unknown schedule, or a target that does
not load.
"""

from __future__ import annotations

import re
from typing import Any, Final

import click
import orjson

import floe
from floe.storage import to_document, utcnow

from ._options import kernel_for_store, store_option
from ._project import imports_project_code
from ._state import CliState
from ._table import echo_table
from ._workflow_commands import parse_input

__all__ = ["schedule_group"]

_UNITS: Final = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_INTERVAL = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*")


class Interval(click.ParamType):  # type: ignore[type-arg]
    """A duration: ``30`` or ``30s``, ``5m``, ``2h``, ``1d``; seconds as a float."""

    name = "interval"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, float):
            return value
        found = _INTERVAL.fullmatch(str(value))
        if found is None:
            self.fail(f"{value!r} is not an interval such as 30s, 5m, 2h or 1d", param, ctx)
        return float(found.group(1)) * _UNITS[found.group(2)]


@click.group("schedule")
def schedule_group() -> None:
    """Start a workflow at every tick of a cron expression or an interval.

    Schedules live in the store; every worker on it fires them ('floe worker'), and each
    tick makes one run, named schedule:NAME:TICK.
    """


@schedule_group.command("add")
@click.argument("name")
@click.argument("target", metavar="TARGET")
@click.option("--cron", metavar="EXPR", help='A cron expression in UTC, e.g. "*/5 * * * *".')
@click.option("--every", type=Interval(), metavar="INTERVAL", help="An interval: 30s, 5m, 2h, 1d.")
@click.option("--input", "input_text", metavar="JSON|@FILE", help="Every run's input (JSON).")
@click.option("--kwargs", "as_kwargs", is_flag=True, help="The input is keyword arguments.")
@click.option(
    "--catch-up",
    type=click.Choice(["latest", "all"]),
    default="latest",
    show_default=True,
    help="After a time without workers: fire the newest missed tick, or every one.",
)
@click.option("--replace", is_flag=True, help="Replace a schedule of that name.")
@store_option
@click.pass_obj
@imports_project_code
def add_command(
    state: CliState,
    name: str,
    target: str,
    cron: str | None,
    every: float | None,
    input_text: str | None,
    as_kwargs: bool,
    catch_up: str,
    replace: bool,
    store: str | None,
) -> None:
    """Add the schedule NAME: run the workflow TARGET at every tick.

    Give --cron or --every. The input is checked against the workflow now.
    """
    workflow = floe.Workflow.from_target(target)
    args, kwargs = parse_input(input_text, as_kwargs=as_kwargs)

    async def add(kernel: floe.Kernel) -> floe.Schedule:
        return await floe.add_schedule(
            name,
            workflow,
            cron=cron,
            every=every,
            args=args,
            kwargs=kwargs,
            catch_up=catch_up,  # type: ignore[arg-type]
            replace=replace,
        )

    kernel = kernel_for_store(state, store)
    schedule = floe.run_sync(add, kernel, kernel=kernel)
    first = schedule.next_tick(schedule.created_at)
    click.echo(f"schedule {schedule.name!r}: {_when(schedule)}; first tick {_time(first)}")


@schedule_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of the schedules.")
@store_option
@click.pass_obj
def list_command(state: CliState, as_json: bool, store: str | None) -> None:
    """List the schedules: name, workflow, when it ticks, state and next tick."""

    async def load(kernel: floe.Kernel) -> list[floe.Schedule]:
        return await floe.list_schedules()

    kernel = kernel_for_store(state, store)
    schedules = floe.mask(floe.run_sync(load, kernel, kernel=kernel))
    if as_json:
        documents = [to_document(schedule) for schedule in schedules]
        click.echo(orjson.dumps(documents, option=orjson.OPT_INDENT_2).decode())
        return
    if not schedules:
        click.echo("no schedules", err=True)
        return
    now = utcnow()
    rows = [
        (
            schedule.name,
            schedule.workflow,
            _when(schedule),
            "paused" if schedule.paused else "active",
            "-" if schedule.paused else _time(schedule.next_tick(now)),
        )
        for schedule in schedules
    ]
    header = ("NAME", "WORKFLOW", "WHEN", "STATE", "NEXT TICK")
    echo_table(header, rows)


def _set_state(name: str, paused: bool) -> click.Command:
    verb = "pause" if paused else "resume"

    @click.argument("name")
    @store_option
    @click.pass_obj
    def command(state: CliState, name: str, store: str | None) -> None:
        async def change(kernel: floe.Kernel) -> floe.Schedule:
            action = floe.pause_schedule if paused else floe.resume_schedule
            return await action(name)

        kernel = kernel_for_store(state, store)
        schedule = floe.run_sync(change, kernel, kernel=kernel)
        click.echo(f"schedule {schedule.name!r}: {'paused' if paused else 'active'}")

    command.__doc__ = (
        "Pause the schedule NAME: it fires nothing until resumed."
        if paused
        else "Resume the schedule NAME from its next tick (the paused ticks are skipped)."
    )
    return schedule_group.command(verb)(command)


_set_state("pause", paused=True)
_set_state("resume", paused=False)


@schedule_group.command("remove")
@click.argument("name")
@store_option
@click.pass_obj
def remove_command(state: CliState, name: str, store: str | None) -> None:
    """Remove the schedule NAME; the runs it made stay."""

    async def remove(kernel: floe.Kernel) -> None:
        await floe.remove_schedule(name)

    kernel = kernel_for_store(state, store)
    floe.run_sync(remove, kernel, kernel=kernel)
    click.echo(f"schedule {name!r}: removed")


def _when(schedule: floe.Schedule) -> str:
    if schedule.cron is not None:
        return f"cron {schedule.cron}"
    return f"every {schedule.every:g} s"


def _time(moment: Any) -> str:
    return str(moment.strftime("%Y-%m-%d %H:%M:%S UTC"))
