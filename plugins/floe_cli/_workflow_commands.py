"""Workflow commands: run, resume and cancel workflows; inspect runs and their journals.

``floe run examples/hello.py:hello --input '"World"'`` runs a workflow on the store in
effect (``.floe/floe.db`` by default) and prints its output as JSON. stdout carries only
that output (or, with ``--json``, the whole execution summary); progress goes to the
terminal as a live display, or to stderr as plain lines when stdout is not a terminal.

Exit codes (:class:`floe.ExitCode`): 0 when the run completed or paused, 1 when it
failed or was cancelled, 2 for a bad target, bad input or an unknown run.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TypeVar

import click
import orjson

import floe
from floe.storage import to_document, utcnow

from ._lookup import check_kind, find_run, recorded_backend, run_busy
from ._lookup import store_url as _store_url
from ._options import COUNT, checked_run_id, kernel_for_store, store_option
from ._progress import (
    Progress,
    elapsed,
    format_error,
    format_run_duration,
    format_seconds,
    open_progress,
    run_seconds,
)
from ._project import imports_project_code
from ._state import CliState

__all__ = ["COMMANDS", "RunFailedError"]

_T = TypeVar("_T")

_STATUS_COLOURS: Final = {
    "completed": "green",
    "failed": "red",
    "cancelled": "red",
    "paused": "yellow",
    "running": "cyan",
    "pending": "cyan",
    "interrupted": "magenta",
    "sleeping": "blue",
}
_RESERVED_KEYWORDS: Final = frozenset({"run_id", "raise_on_error"})
"""Keyword arguments of ``Workflow.run_async`` itself, which ``--kwargs`` cannot pass."""
_DATA_WIDTH: Final = 72
_STEP_DATA_KEYS: Final = frozenset({"task", "position"})
_DELIVERY_ENDS: Final = frozenset(
    {floe.EventKind.ROUTINE_SLOT_RECEIVED, floe.EventKind.ROUTINE_FAILED}
)
"""The events that end a delivery of a flow's job (its steps)."""
"""Keys of step events that the STEP column already shows."""


class RunFailedError(floe.FloeError, RuntimeError):
    """The run the command executed failed or was cancelled (exit code 1)."""

    exit_code = floe.ExitCode.RUN_FAILED


# -- shared options and plumbing ---------------------------------------------------------


def _json_option(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--json", "as_json", is_flag=True, help=help)


def _in_kernel(
    kernel: floe.Kernel,
    function: Callable[[floe.Kernel], Awaitable[_T]],
    backend: str | None = None,
) -> _T:
    """Run ``function(kernel)`` inside *kernel*, on *backend*'s loop (default: its own)."""

    async def main() -> _T:
        return await function(kernel)

    return floe.run_sync(main, kernel=kernel, backend=backend)


async def _require_run(kernel: floe.Kernel, run_id: str) -> floe.Run:
    """The run *run_id* names: its whole id or a unique start of it (see _lookup)."""
    return await find_run(kernel, run_id)


def _execute(
    kernel: floe.Kernel,
    function: Callable[[floe.Kernel], Awaitable[floe.Execution]],
    run_id: str,
    backend: str | None,
) -> floe.Execution:
    """Run ``function(kernel)``, an execution of *run_id*, that another process may own."""
    try:
        return _in_kernel(kernel, function, backend)
    except floe.SequenceConflictError as conflict:
        written = conflict.context.get("run_id", run_id)
        raise run_busy(str(written), kernel.settings.store) from conflict


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()


def _progress_for(run_id: str, workflow: str, quiet: bool) -> Progress:
    return open_progress(run_id, workflow=workflow, interactive=sys.stdout.isatty(), quiet=quiet)


# -- input -------------------------------------------------------------------------------


def parse_input(text: str | None, *, as_kwargs: bool = False) -> tuple[list[Any], dict[str, Any]]:
    """The workflow's arguments from ``--input`` (JSON, ``@file`` or ``@-`` for stdin).

    Without ``--kwargs`` the JSON value is the one positional argument; with it, the
    value must be an object whose members are the keyword arguments. No ``--input`` means
    no arguments.
    """
    if text is None:
        return [], {}
    value = _load_json(text)
    if not as_kwargs:
        return [value], {}
    if not isinstance(value, dict):
        raise floe.ConfigError(
            f"--kwargs needs a JSON object as input, got {type(value).__name__} {_short(value)}",
            why="With --kwargs the input's members are the workflow's keyword arguments.",
            fix='Pass an object, e.g. --input \'{"name": "World"}\', or leave out --kwargs to '
            "pass the value as the one argument.",
            context={"option": "--input"},
        )
    reserved = sorted(_RESERVED_KEYWORDS & set(value))
    if reserved:
        raise floe.ConfigError(
            f"--kwargs cannot pass the keyword argument {reserved[0]!r}",
            why=f"{', '.join(sorted(_RESERVED_KEYWORDS))} are options of the run itself.",
            fix="Use --run-id for the run's id, or rename the workflow's parameter.",
            context={"option": "--input"},
        )
    return [], value


def _load_json(text: str) -> Any:
    source = "--input"
    raw: str | bytes = text
    if text.startswith("@"):
        name = text[1:]
        if name == "-":
            source = "stdin"
            raw = sys.stdin.buffer.read()
        else:
            source = name
            try:
                raw = Path(name).read_bytes()
            except OSError as error:
                raise floe.ConfigError(
                    f"Cannot read the input file {name!r}",
                    why=f"{type(error).__name__}: {error.strerror or error}",
                    fix="Check the path after '@' (relative to the working directory).",
                    context={"option": "--input", "path": name},
                ) from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise floe.ConfigError(
            f"The input from {source} is not valid JSON: {error}",
            why="--input takes a JSON document; a string needs its double quotes, as in "
            "--input '\"World\"'.",
            fix="Quote strings and check the document, or pass @FILE to read it from a file.",
            context={"option": "--input", "input": _clip(text, 60)},
        ) from None


# -- reporting an execution --------------------------------------------------------------


def summary(execution: floe.Execution) -> dict[str, Any]:
    """What ``--json`` prints about an execution."""
    document: dict[str, Any] = {
        "run_id": execution.run_id,
        "workflow": execution.workflow,
        "status": str(execution.status),
        "output": execution.output,
        "error": to_document(execution.error) if execution.error is not None else None,
        "executed_tasks": execution.executed_tasks,
        "duration": execution.duration,
    }
    if execution.paused:
        point = _pause_point(execution.events)
        document["pause"] = floe.data_of(point) if point is not None else None
    return document


def _report(execution: floe.Execution, *, as_json: bool, store: str) -> int:
    """Print an execution's outcome; return its exit code (or raise for a failed run)."""
    execution = floe.mask(execution)  # exact for the program, masked for people
    if as_json:
        click.echo(_dumps(summary(execution)))
    elif execution.succeeded:
        click.echo(_dumps(execution.output))
    if execution.paused:
        _print_paused(execution)
        return floe.ExitCode.OK
    if execution.failed or execution.cancelled:
        raise _run_failed(execution, store)
    return floe.ExitCode.OK


def _pause_point(events: Sequence[floe.Event]) -> floe.RunPaused | floe.JobPaused | None:
    """The last pause of a workflow run or a flow's job."""
    for event in reversed(events):
        if event.kind == floe.EventKind.RUN_PAUSED:
            point = floe.payload_of(event)
            assert isinstance(point, floe.RunPaused | floe.JobPaused)
            return point
    return None


def _print_paused(execution: floe.Execution) -> None:
    point = _pause_point(execution.events)
    paused = point if isinstance(point, floe.RunPaused) else None
    where = f" at {paused.name!r}" if paused and paused.name else ""
    lines = [
        f"run {execution.run_id} of workflow {execution.workflow!r} is waiting{where}.",
        f"Resume it with: floe resume {execution.run_id} --input JSON",
    ]
    if paused is not None and paused.output is not None:
        lines.insert(1, f"Output: {orjson.dumps(paused.output).decode()}")
    label = click.style("Paused:", fg="yellow", bold=True)
    click.echo(f"{label} " + "\n".join(lines), err=True)


def _run_failed(execution: floe.Execution, store: str) -> RunFailedError:
    context = {"run_id": execution.run_id, "workflow": execution.workflow, "store": store}
    inspect = f"See its journal with 'floe events {execution.run_id}'"
    if execution.cancelled:
        error = RunFailedError(
            f"Run {execution.run_id!r} of workflow {execution.workflow!r} was cancelled",
            why="It was cancelled ('floe cancel') before it finished; the rollbacks of its "
            "completed tasks ran.",
            fix=f"{inspect}, or start a new run.",
            context=context,
        )
    else:
        info = execution.error
        failure = f"{info.type.rpartition('.')[2]}: {info.message}" if info else "unknown error"
        error = RunFailedError(
            f"Workflow {execution.workflow!r} failed: {failure}",
            why=_failure_reason(execution.events),
            fix=f"{inspect}; rerun with --traceback to see where it raised.",
            context=context,
        )
    if execution.exception is not None:
        # with --traceback, the body's own traceback is printed as the cause
        error.__cause__ = execution.exception
    return error


def _failure_reason(events: Sequence[floe.Event]) -> str:
    for event in reversed(events):
        if event.kind == floe.EventKind.TASK_FAILED:
            failed = floe.payload_of(event)
            assert isinstance(failed, floe.TaskFailed)
            attempts = failed.attempt
            plural = "s" if attempts != 1 else ""
            return (
                f"Step {event.step!r} failed after {attempts} attempt{plural} and the workflow "
                "did not handle the error."
            )
    return "The workflow's body raised it."


# -- run / resume / cancel ---------------------------------------------------------------


@click.command("run")
@click.argument("target", metavar="TARGET")
@click.option(
    "--input",
    "input_text",
    metavar="JSON|@FILE",
    help="The workflow's input: a JSON document, @FILE to read one, @- for stdin.",
)
@click.option(
    "--kwargs",
    "as_kwargs",
    is_flag=True,
    help="Pass the input's members (a JSON object) as keyword arguments.",
)
@click.option(
    "--run-id",
    metavar="ID",
    callback=checked_run_id,
    help="The run's id; an unfinished run resumes by replay.",
)
@click.option(
    "--detach",
    is_flag=True,
    help="Submit the run for a worker ('floe worker') and print its id; run nothing here.",
)
@click.option("--queue", metavar="QUEUE", help="With --detach: the queue the run waits in.")
@click.option(
    "--priority",
    type=int,
    help="With --detach: higher priorities are claimed first (default 0).",
)
@click.option(
    "--partition-key",
    metavar="KEY",
    help="With --detach: runs of the queue with this key run one at a time, in order.",
)
@store_option
@_json_option("Print the execution summary as JSON instead of the output.")
@click.option("-q", "--quiet", is_flag=True, help="Show no progress while the run executes.")
@click.pass_obj
@imports_project_code
def run_command(
    state: CliState,
    target: str,
    input_text: str | None,
    as_kwargs: bool,
    run_id: str | None,
    detach: bool,
    queue: str | None,
    priority: int | None,
    partition_key: str | None,
    store: str | None,
    as_json: bool,
    quiet: bool,
) -> int:
    """Run the workflow TARGET and print its output as JSON.

    TARGET is path/to/file.py:name or package.module:name. The input JSON is the
    workflow's one argument (with --kwargs, an object of keyword arguments). With the
    --run-id of an unfinished run, the run resumes by replay from its stored input; with
    that of a finished run, its stored outcome is printed and nothing runs.

    With --detach the run is stored pending for a worker ('floe worker') and its id
    printed (with --json, as a JSON object); the --run-id of a run submitted before
    prints that run's id again, so a retried submission makes no second run. --queue,
    --priority and --partition-key place it (see 'floe queue').

    Exit code: 0 completed or paused, 1 failed or cancelled, 2 bad target or input.
    """
    placed = queue is not None or priority is not None or partition_key is not None
    if placed and not detach:
        raise floe.ConfigError(
            "--queue, --priority and --partition-key place a submitted run",
            why="A run executed here waits in no queue.",
            fix="Add --detach to submit the run for a worker, or leave those options out.",
        )
    workflow = floe.Workflow.from_target(target)
    args, kwargs = parse_input(input_text, as_kwargs=as_kwargs)
    kernel = kernel_for_store(state, store)
    if detach:
        queued = workflow.queued(
            floe.DEFAULT_QUEUE if queue is None else queue,
            priority=priority or 0,
            partition_key=partition_key,
        )
        return _submit(kernel, queued, args, kwargs, run_id, as_json=as_json)
    given = run_id
    run_id = run_id or uuid.uuid4().hex
    progress = _progress_for(run_id, workflow.name, quiet)

    async def execute(kernel: floe.Kernel) -> floe.Execution:
        existing = await kernel.store.get_run(given) if given else None
        if existing is not None:
            check_kind(existing, "run")
            progress.follow(existing)
        return await workflow.run_async(*args, run_id=run_id, **kwargs)

    with progress.following(kernel.bus):
        execution = progress.ended(_execute(kernel, execute, run_id, workflow.backend))
    return _report(execution, as_json=as_json, store=kernel.settings.store)


def _submit(
    kernel: floe.Kernel,
    queued: floe.QueuedWorkflow[Any],
    args: list[Any],
    kwargs: dict[str, Any],
    run_id: str | None,
    *,
    as_json: bool,
) -> int:
    workflow = queued.workflow

    async def submit(kernel: floe.Kernel) -> floe.RunHandle[Any]:
        return await queued.submit_async(*args, run_id=run_id, **kwargs)

    handle = _in_kernel(kernel, submit, workflow.backend)
    click.echo(_dumps({"run_id": handle.run_id}) if as_json else handle.run_id)
    click.echo(
        f"submitted run {handle.run_id} of workflow {workflow.name!r}: "
        f"'floe status {handle.run_id}' follows it",
        err=True,
    )
    return 0


@click.command("resume")
@click.argument("run_id", metavar="RUN_ID", callback=checked_run_id)
@click.option(
    "--input",
    "input_text",
    metavar="JSON|@FILE",
    help="The value the paused run receives (JSON, @FILE or @-). Default: null.",
)
@store_option
@_json_option("Print the execution summary as JSON instead of the output.")
@click.option("-q", "--quiet", is_flag=True, help="Show no progress while the run executes.")
@click.pass_obj
@imports_project_code
def resume_command(
    state: CliState,
    run_id: str,
    input_text: str | None,
    store: str | None,
    as_json: bool,
    quiet: bool,
) -> int:
    """Resume the paused run RUN_ID with a value; print its output as JSON.

    The value becomes the result of the 'await floe.pause(name)' the run waits at; the
    run goes on until it completes, fails or pauses again. Exit codes as for 'floe run'.
    """
    from floe import resume

    value = _load_json(input_text) if input_text is not None else None
    kernel = kernel_for_store(state, store)
    progress = _progress_for(run_id, "", quiet)

    async def resume_run(kernel: floe.Kernel) -> floe.Execution:
        run = await _require_run(kernel, run_id)
        check_kind(run, "resume")
        progress.follow(run)
        return await resume(run.run_id, value)

    with progress.following(kernel.bus):
        execution = progress.ended(
            _execute(kernel, resume_run, run_id, recorded_backend(kernel.settings, run_id))
        )
    return _report(execution, as_json=as_json, store=kernel.settings.store)


@click.command("cancel")
@click.argument("run_id", metavar="RUN_ID", callback=checked_run_id)
@store_option
@click.pass_obj
@imports_project_code
def cancel_command(state: CliState, run_id: str, store: str | None) -> None:
    """Cancel the running or paused run RUN_ID.

    The rollbacks of its completed tasks that have one run, and the run is recorded as
    cancelled.
    """
    from floe import cancel

    kernel = kernel_for_store(state, store)

    async def cancel_run(kernel: floe.Kernel) -> floe.Run:
        run = await _require_run(kernel, run_id)
        check_kind(run, "cancel")
        await cancel(run.run_id)
        return await _require_run(kernel, run.run_id)

    run = _in_kernel(kernel, cancel_run, recorded_backend(kernel.settings, run_id))
    what = f"job {run.run_id} of flow" if run.kind == "graph" else f"run {run.run_id} of workflow"
    click.echo(f"{what} {run.name!r}: {_status(str(run.status))}")


# -- status / runs / events --------------------------------------------------------------


@click.command("status")
@click.argument("run_id", metavar="RUN_ID", callback=checked_run_id)
@click.option("--detailed", is_flag=True, help="Add the run's journal, event by event.")
@store_option
@_json_option("Print the run (and with --detailed its events) as JSON.")
@click.pass_obj
def status_command(
    state: CliState, run_id: str, detailed: bool, store: str | None, as_json: bool
) -> None:
    """Show the status of run RUN_ID: status, times, input, output or error, steps."""
    kernel = kernel_for_store(state, store)

    async def load(kernel: floe.Kernel) -> tuple[floe.Run, list[floe.Event]]:
        run = await _require_run(kernel, run_id)
        return run, await kernel.store.read_events(run.run_id)

    run, events = floe.mask(_in_kernel(kernel, load))
    execution = floe.Execution.from_run(run, events)
    if as_json:
        document = to_document(run)
        document["duration"] = run_seconds(run)
        document["executed_tasks"] = execution.executed_tasks
        if detailed:
            document["events"] = [to_document(event) for event in events]
        click.echo(_dumps(document))
        return
    click.echo(_status_text(run, execution))
    if detailed:
        click.echo()
        click.echo(_timeline(run, events))


def _status_text(run: floe.Run, execution: floe.Execution) -> str:
    steps = execution.executed_tasks
    rows: list[tuple[str, str]] = [
        ("run", run.run_id),
        ("name", f"{run.name} ({run.kind})"),
        ("status", _status(_shown_status(run, utcnow()))),
        ("created", _timestamp(run.created_at)),
        ("updated", _timestamp(run.updated_at)),
        ("duration", format_run_duration(run)),
    ]
    executor = _executor(run)
    if executor:
        rows.append(("executed by", executor))
    if run.parent_id:
        rows.append(("parent", run.parent_id))
    if (run.queue, run.priority, run.partition_key) != (floe.DEFAULT_QUEUE, 0, None):
        place = f"{run.queue}, priority {run.priority}"
        if run.partition_key is not None:
            place += f", partition {run.partition_key}"
        rows.append(("queue", place))
    target = run.metadata.get("target") if isinstance(run.metadata, Mapping) else None
    if target:
        rows.append(("target", str(target)))
    rows.append(("input", _clip(_compact(run.input), _DATA_WIDTH)))
    if run.status is floe.RunStatus.COMPLETED:
        rows.append(("output", _clip(_compact(run.output), _DATA_WIDTH)))
    if run.error is not None:
        rows.append(("error", f"{run.error.type}: {run.error.message}"))
    if run.status is floe.RunStatus.PAUSED:
        point = _pause_point(execution.events)
        # a workflow pauses at a named step; a flow's job records why it paused
        at = point.name if isinstance(point, floe.RunPaused) else getattr(point, "reason", None)
        rows.append(("waiting at", str(at or "?")))
    label = "steps"
    if run.kind == "graph":  # a flow's job: its steps are deliveries to routines' slots
        label = "deliveries"
        steps = [
            event.step for event in execution.events if event.kind in _DELIVERY_ENDS and event.step
        ]
    rows.append(
        (label, f"{len(steps)} finished" + (f": {_clip(', '.join(steps), 60)}" * bool(steps)))
    )
    width = max(len(label) for label, _ in rows)
    return "\n".join(
        f"{click.style(label.ljust(width), bold=True)}  {value}" for label, value in rows
    )


@click.command("runs")
@click.option(
    "--status",
    type=click.Choice([status.value for status in floe.RunStatus]),
    help="Only runs with this status.",
)
@click.option("--workflow", metavar="NAME", help="Only runs of this workflow (or component).")
@click.option(
    "--kind", metavar="KIND", help="Only runs of this kind: workflow, component or graph."
)
@click.option(
    "--limit",
    type=COUNT,
    default=20,
    show_default=True,
    help="At most this many runs.",
)
@click.option(
    "--after",
    metavar="RUN_ID",
    callback=checked_run_id,
    help="Only the runs listed after this one (older): the next page after its last run.",
)
@store_option
@_json_option("Print a JSON array of runs instead of a table.")
@click.pass_obj
def runs_command(
    state: CliState,
    status: str | None,
    workflow: str | None,
    kind: str | None,
    limit: int,
    after: str | None,
    store: str | None,
    as_json: bool,
) -> floe.ExitCode:
    """List runs, newest first.

    Page through them with --after: the next page starts after the last run of this one,
    and runs created in between do not shift it (they are newer). A run record the store
    cannot read is skipped with a one-line warning on stderr, and the command then exits
    1; the readable runs are listed all the same.
    """
    kernel = kernel_for_store(state, store)

    async def load(kernel: floe.Kernel) -> tuple[floe.RunListing, str]:
        # the cursor is a whole run id or a unique start of one, as other commands take
        cursor = None if after is None else (await _require_run(kernel, after)).run_id
        query = floe.RunQuery(
            status=floe.RunStatus(status) if status else None,
            name=workflow,
            kind=kind,
            limit=limit,
            after=cursor,
        )
        return await kernel.store.list_runs_checked(query), _store_url(kernel)

    listing, store_url = _in_kernel(kernel, load)
    runs = floe.mask(listing.runs)
    for damaged in listing.damaged:
        label = click.style("Warning:", fg="yellow", bold=True)
        click.echo(f"{label} skipped a damaged run record: {damaged.why}", err=True)
    exit_code = floe.ExitCode.RUN_FAILED if listing.damaged else floe.ExitCode.OK
    if as_json:
        click.echo(_dumps([to_document(run) for run in runs]))
        return exit_code
    if not runs:
        readable = "readable " if listing.damaged else ""
        later = f" after {after}" if after else ""
        matching = " match" if status or workflow or kind else ""
        click.echo(f"No {readable}runs in {store_url}{later}{matching}")
        return exit_code
    header = ("RUN ID", "NAME", "KIND", "STATUS", "CREATED", "DURATION")
    now = utcnow()  # one instant for every run still going
    rows = [
        (
            run.run_id,
            run.name,
            run.kind,
            _shown_status(run, now),
            _timestamp(run.created_at),
            format_run_duration(run, now),
        )
        for run in runs
    ]
    click.echo(_table(header, rows, status_column=3))
    return exit_code


@click.command("events")
@click.argument("run_id", metavar="RUN_ID", callback=checked_run_id)
@store_option
@_json_option("Print the events as a JSON array instead of a timeline.")
@click.pass_obj
def events_command(state: CliState, run_id: str, store: str | None, as_json: bool) -> None:
    """Show the journal of run RUN_ID as a timeline: seq, time, kind, step, data."""
    kernel = kernel_for_store(state, store)

    async def load(kernel: floe.Kernel) -> tuple[floe.Run, list[floe.Event]]:
        run = await _require_run(kernel, run_id)
        return run, await kernel.store.read_events(run.run_id)

    run, events = floe.mask(_in_kernel(kernel, load))
    if as_json:
        click.echo(_dumps([to_document(event) for event in events]))
        return
    click.echo(_timeline(run, events))


def _timeline(run: floe.Run, events: Sequence[floe.Event]) -> str:
    if not events:
        return "(no events)"
    header = ("SEQ", "TIME (UTC)", "ELAPSED", "KIND", "STEP", "DATA")
    rows = [
        (
            str(event.seq),
            event.at.strftime("%H:%M:%S.%f")[:-3],
            format_seconds(elapsed(run.created_at, event.at)),
            event.kind,
            event.step or "-",
            _short_data(event),
        )
        for event in events
    ]
    return _table(header, rows)


def _short_data(event: floe.Event) -> str:
    data = event.data
    if isinstance(data, dict):
        data = {
            key: format_error(value) if key == "error" else value
            for key, value in data.items()
            if not (event.step and key in _STEP_DATA_KEYS)
        }
    if data is None or data == {}:
        return ""
    return _clip(_compact(data), _DATA_WIDTH)


# -- formatting ---------------------------------------------------------------------------


def _table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, status_column: int | None = None
) -> str:
    # the last column is not padded, so long values do not widen the table
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]

    def line(cells: Sequence[str], bold: bool = False) -> str:
        parts = []
        for index, cell in enumerate(cells):
            text = cell.ljust(widths[index]) if index < len(widths) else cell
            if bold:
                text = click.style(text, bold=True)
            elif index == status_column:
                text = click.style(text, fg=_STATUS_COLOURS.get(cell))
            parts.append(text)
        return "  ".join(parts).rstrip()

    return "\n".join([line(header, bold=True), *(line(row) for row in rows)])


def _shown_status(run: floe.Run, now: datetime) -> str:
    if run.is_interrupted(now):
        return "interrupted"
    return "sleeping" if _suspended(run, now) else str(run.status)


def _suspended(run: floe.Run, now: datetime) -> bool:
    """A running run nobody executes that waits for its durable timer to be due."""
    if run.status is not floe.RunStatus.RUNNING or run.runnable_at is None:
        return False
    leased = run.lease_owner is not None and (run.lease_expires_at or now) > now
    return run.runnable_at > now and not leased


def _executor(run: floe.Run) -> str | None:
    """Who executes a running run, for ``floe status``: the lease's owner and its end."""
    if run.status is not floe.RunStatus.RUNNING:
        return None
    now = utcnow()
    if _suspended(run, now) and run.runnable_at is not None:
        return f"nobody until {_timestamp(run.runnable_at)}: it sleeps; a worker continues it then"
    if run.lease_owner is None:
        return "nobody: no process holds its lease" if run.is_interrupted() else None
    until = _timestamp(run.lease_expires_at) if run.lease_expires_at else "?"
    if run.is_interrupted():
        return f"nobody: the lease of {run.lease_owner} ran out at {until}"
    return f"{run.lease_owner} (lease until {until})"


def _status(status: str) -> str:
    return click.style(status, fg=_STATUS_COLOURS.get(status))


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _compact(value: Any) -> str:
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return repr(value)


def _short(value: Any) -> str:
    return _clip(_compact(value), 40)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


COMMANDS: tuple[click.Command, ...] = (
    run_command,
    resume_command,
    cancel_command,
    status_command,
    runs_command,
    events_command,
)
"""The workflow commands, as ``floe --help`` lists them (alphabetically)."""
