"""``floe queue``: set, list and remove the limits of the store's queues.

``floe queue set emails --concurrency 5 --rate 100/1m`` stores the limits of the queue
``emails``; every worker serving the store (``floe worker``) keeps them from its next
claim on. Exit codes: 0, or 2 for a bad name, limit or rate, or an unknown queue.
"""

from __future__ import annotations

import re
from typing import Any

import click
import orjson

import floe
from floe.storage import to_document

from ._options import COUNT, kernel_for_store, store_option
from ._schedule_commands import Interval
from ._state import CliState
from ._table import echo_table

__all__ = ["queue_group"]

_RATE = re.compile(r"\s*(\d+)\s*/\s*(.+)")


class Rate(click.ParamType):  # type: ignore[type-arg]
    """A rate limit: ``N/INTERVAL`` (``100/1m``: 100 starts a minute); (N, seconds)."""

    name = "rate"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        found = _RATE.fullmatch(str(value))
        if found is None:
            self.fail(f"{value!r} is not a rate such as 100/1m or 5/30s", param, ctx)
        period = Interval().convert(found.group(2), param, ctx)
        return int(found.group(1)), period


@click.group("queue")
def queue_group() -> None:
    """Limit the queues runs wait in: concurrency, per worker, rate.

    A run names its queue when it is submitted ('floe run TARGET --detach --queue Q');
    workers ('floe worker --queue Q') keep the limits stored here, all together.
    """


@queue_group.command("set")
@click.argument("name")
@click.option("--concurrency", type=COUNT, help="The most runs executing at once, all workers.")
@click.option("--worker-concurrency", type=COUNT, help="The most runs one worker executes at once.")
@click.option("--rate", type=Rate(), metavar="N/INTERVAL", help="The most starts per interval.")
@store_option
@click.pass_obj
def set_command(
    state: CliState,
    name: str,
    concurrency: int | None,
    worker_concurrency: int | None,
    rate: tuple[int, float] | None,
    store: str | None,
) -> None:
    """Set the limits of the queue NAME (the limits left out are none)."""
    rate_limit, rate_period = rate if rate is not None else (None, None)
    queue = floe.Queue(
        name,
        concurrency=concurrency,
        worker_concurrency=worker_concurrency,
        rate_limit=rate_limit,
        rate_period=rate_period,
    )

    async def store_limits(kernel: floe.Kernel) -> floe.Queue:
        return await floe.set_queue(queue)

    kernel = kernel_for_store(state, store)
    floe.run_sync(store_limits, kernel, kernel=kernel)
    click.echo(f"queue {queue.name!r}: {_limits(queue)}")


@queue_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of the queues.")
@store_option
@click.pass_obj
def list_command(state: CliState, as_json: bool, store: str | None) -> None:
    """List the queues with limits: name, concurrency, per worker, rate."""

    async def load(kernel: floe.Kernel) -> list[floe.Queue]:
        return await floe.list_queues()

    kernel = kernel_for_store(state, store)
    queues = floe.run_sync(load, kernel, kernel=kernel)
    if as_json:
        documents = [to_document(queue) for queue in queues]
        click.echo(orjson.dumps(documents, option=orjson.OPT_INDENT_2).decode())
        return
    if not queues:
        click.echo("no queues with limits", err=True)
        return
    rows = [
        (
            queue.name,
            _number(queue.concurrency),
            _number(queue.worker_concurrency),
            _rate(queue),
        )
        for queue in queues
    ]
    header = ("NAME", "CONCURRENCY", "PER WORKER", "RATE")
    echo_table(header, rows)


@queue_group.command("remove")
@click.argument("name")
@store_option
@click.pass_obj
def remove_command(state: CliState, name: str, store: str | None) -> None:
    """Remove the limits of the queue NAME: its runs are claimed without limits."""

    async def remove(kernel: floe.Kernel) -> None:
        await floe.remove_queue(name)

    kernel = kernel_for_store(state, store)
    floe.run_sync(remove, kernel, kernel=kernel)
    click.echo(f"queue {name!r}: limits removed")


def _number(limit: int | None) -> str:
    return "-" if limit is None else str(limit)


def _rate(queue: floe.Queue) -> str:
    if queue.rate_limit is None:
        return "-"
    return f"{queue.rate_limit}/{queue.rate_period:g}s"


def _limits(queue: floe.Queue) -> str:
    parts = [
        f"concurrency {_number(queue.concurrency)}",
        f"per worker {_number(queue.worker_concurrency)}",
        f"rate {_rate(queue)}",
    ]
    return ", ".join(parts)
