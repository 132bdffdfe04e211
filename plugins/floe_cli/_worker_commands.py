"""Worker commands: ``floe worker`` serves a store's runs; ``floe workers`` lists who
serves it; ``floe recover`` continues the interrupted ones once.

``floe worker --concurrency 4`` claims submitted runs (``floe run TARGET --detach``) and
interrupted ones, executes them and logs what it does (worker id and run id on every
record). SIGTERM or Ctrl-C drains it: it claims nothing more, lets what it holds finish
for ``--drain-seconds``, then releases the rest to other workers; a second signal stops
it at once. Exit codes: 0 after a drain, 2 for a bad option or a store without leases.
"""

from __future__ import annotations

import os
import signal
import sys
from datetime import datetime
from pathlib import Path

import anyio
import anyio.abc
import attrs
import click
import orjson

import floe
from floe.storage import to_document, utcnow

from ._options import COUNT, kernel_for_store, store_option
from ._process import freeze_start_up_objects
from ._project import import_named_module, imports_project_code
from ._state import CliState
from ._table import echo_table

__all__ = ["COMMANDS"]

# Windows delivers no SIGTERM to a console program
_SIGNALS = (signal.SIGINT,) if sys.platform == "win32" else (signal.SIGTERM, signal.SIGINT)


@click.command("worker")
@store_option
@click.option(
    "--concurrency",
    type=COUNT,
    default=4,
    show_default=True,
    help="How many runs to execute at once.",
)
@click.option(
    "--queue",
    "queues",
    metavar="QUEUE",
    multiple=True,
    help="Claim only from QUEUE (repeatable; default: every queue).",
)
@click.option(
    "--import",
    "modules",
    metavar="MODULE",
    multiple=True,
    help="Import MODULE first (repeatable): the workflows it defines are found by name.",
)
@click.option(
    "--allow",
    "allowed",
    metavar="PATH",
    multiple=True,
    help="Let the flow documents of submitted jobs import PATH: a module, a "
    "'module:Class' target or a script (repeatable; default: the built-in routines only).",
)
@click.option(
    "--config",
    "config_paths",
    metavar="PATH",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=True),
    help="A component config to restore its component with when delivering its messages "
    "(repeatable; default: $FLOE_CONFIG, if set).",
)
@click.option(
    "--drain-seconds",
    type=click.FloatRange(min=0, max=86400),
    default=30.0,
    show_default=True,
    help="On SIGTERM, how long the runs held may take to finish before they are released.",
)
@click.option(
    "--poll-seconds",
    type=click.FloatRange(min=0.001, max=3600),
    default=0.5,
    show_default=True,
    help="How long an idle worker waits before it looks for runs again.",
)
@click.option(
    "--suspend-sleeps-over",
    type=click.FloatRange(min=0, max=86400),
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="A durable sleep or retry backoff longer than this frees the run's slot until it ends.",
)
@click.pass_obj
@imports_project_code
def worker_command(
    state: CliState,
    store: str | None,
    concurrency: int,
    queues: tuple[str, ...],
    modules: tuple[str, ...],
    allowed: tuple[str, ...],
    config_paths: tuple[Path, ...],
    drain_seconds: float,
    poll_seconds: float,
    suspend_sleeps_over: float,
) -> None:
    """Claim and execute the store's runnable runs until stopped (SIGTERM, Ctrl-C).

    A worker executes submitted runs ('floe run TARGET --detach') and continues
    interrupted ones by replay, importing each workflow by the target its run recorded.
    Start as many as you like, on one SQLite file or on a shared database: each run goes
    to one worker at a time. A run in a long durable sleep holds no slot: it is claimed
    again when the sleep is due. With --queue, it claims only the runs of those queues;
    the limits set with 'floe queue set' hold across all workers. Submitted graph jobs
    ('flow.submit') are executed too, their flows built from the documents they
    recorded: --allow names what those documents may import. So are messages sent to
    components ('floe handle --detach', 'engine.send'), each component restored with
    its --config (or the states of the installed plugins).
    """
    for module in modules:
        import_named_module(module)
    configs = [floe.load_config(path) for path in config_paths or _default_config()]
    settings = state.settings
    if "log_level" not in settings.sources:
        # a worker says what it does unless told otherwise: which run it takes, how it ends
        settings = attrs.evolve(settings, log_level="INFO")
    if store is not None:
        settings = floe.load_settings(store=store, log_level=settings.log_level)
    kernel = floe.Kernel(settings)

    async def serve(kernel: floe.Kernel) -> floe.Worker:
        worker = floe.Worker(
            kernel,
            concurrency=concurrency,
            poll_seconds=poll_seconds,
            suspend_sleeps_over=suspend_sleeps_over,
            queues=queues or None,
            allow=allowed,
            configs=configs,
        )
        async with anyio.create_task_group() as group:
            await group.start(_drain_on_signal, worker, drain_seconds)  # before serving
            freeze_start_up_objects()  # the store is open, the plugins loaded: serving
            await worker.serve()
            group.cancel_scope.cancel()
        return worker

    worker = floe.run_sync(serve, kernel, kernel=kernel)
    click.echo(f"worker {worker.worker_id}: executed {worker.executed} runs", err=True)


async def _drain_on_signal(
    worker: floe.Worker,
    grace_seconds: float,
    *,
    task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    with anyio.open_signal_receiver(*_SIGNALS) as signals:
        task_status.started()  # SIGTERM drains from here on, rather than kill
        async for received in signals:
            if worker.executing and not worker.draining:
                click.echo(
                    f"{signal.Signals(received).name}: draining {len(worker.executing)} runs "
                    f"(up to {grace_seconds:g} s; again to stop now)",
                    err=True,
                )
                worker.drain(grace_seconds)
            else:
                worker.drain(0)


@click.command("recover")
@store_option
@click.option(
    "--older-than",
    "older_than",
    type=click.FloatRange(min=0),
    default=0.0,
    metavar="SECONDS",
    help="Only runs interrupted at least SECONDS ago.",
)
@click.pass_obj
@imports_project_code
def recover_command(state: CliState, store: str | None, older_than: float) -> int:
    """Continue every interrupted run by replay, here, and print how each ended.

    An interrupted run is one that was running when its process died (or stopped):
    nobody holds its lease. Each continues from its journal — completed steps are not
    run again — until it finishes or pauses. Exit code 0 when every run recovered
    completed or paused, 1 otherwise.
    """
    kernel = kernel_for_store(state, store)

    async def recover(kernel: floe.Kernel) -> list[floe.Recovered]:
        return await floe.recover(older_than=older_than)

    recovered = floe.run_sync(recover, kernel, kernel=kernel)
    if not recovered:
        click.echo("no interrupted runs", err=True)
        return 0
    failed = 0
    for item in recovered:
        run = item.run
        if item.execution is not None:
            status = str(item.execution.status)
            failed += status in ("failed", "cancelled")
            click.echo(f"run {run.run_id} of workflow {run.name!r}: {status}")
        else:
            failed += 1
            click.echo(f"run {run.run_id} of workflow {run.name!r}: not recovered")
            if item.error is not None:
                click.echo(f"  {floe.mask(item.error.what)}", err=True)
    return 1 if failed else 0


@click.command("workers")
@store_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of the workers.")
@click.pass_obj
def workers_command(state: CliState, store: str | None, as_json: bool) -> None:
    """List the workers serving the store: what each holds and its last heartbeat.

    A worker that stopped without saying so (killed, or its machine gone) is listed as
    stale once its heartbeat is older than a run lease, and forgotten an hour later.
    """
    kernel = kernel_for_store(state, store)

    async def load(kernel: floe.Kernel) -> list[floe.WorkerInfo]:
        return await floe.list_workers()

    workers = floe.run_sync(load, kernel, kernel=kernel)
    if as_json:
        documents = [to_document(worker) for worker in workers]
        click.echo(orjson.dumps(documents, option=orjson.OPT_INDENT_2).decode())
        return
    if not workers:
        click.echo("no workers", err=True)
        return
    now = utcnow()
    rows = [
        (
            worker.worker_id,
            "every" if worker.queues is None else ",".join(worker.queues),
            f"{len(worker.executing)}/{worker.concurrency}",
            str(worker.executed),
            _worker_state(worker, now),
            f"{(now - worker.heartbeat_at).total_seconds():.0f} s ago",
        )
        for worker in workers
    ]
    echo_table(("WORKER", "QUEUES", "RUNNING", "EXECUTED", "STATE", "HEARTBEAT"), rows)


def _worker_state(worker: floe.WorkerInfo, now: datetime) -> str:
    if not worker.live(now):
        return "stale"
    return "draining" if worker.draining else "serving"


COMMANDS: tuple[click.Command, ...] = (recover_command, worker_command, workers_command)
"""The worker commands."""


def _default_config() -> list[Path]:
    """$FLOE_CONFIG, the config the component commands read without --config."""
    from ._component_commands import CONFIG_ENV

    named = os.environ.get(CONFIG_ENV, "").strip()
    return [Path(named)] if named else []
