"""Durable steps on PostgreSQL, side by side with raw psycopg on the same server.

The workflows are those of the workflows benchmark, made of trivial async tasks
(``step(i)`` returns ``i``), so only the engine and the database are timed:

* sequential steps (a loop awaiting one task after the other), against one raw psycopg
  INSERT of a comparable journal row plus COMMIT per step, on a connection of its own
  (one round trip to the server each, what a durable step cannot do without);
* 1,000 concurrent steps (``step.map(range(1000))``), against raw psycopg writing the
  same 1,000 rows in one transaction (what perfect group commit could reach).

The store is floe-postgres, opened by URL through the plugin hooks, in a schema made for
the run and dropped after it (``FLOE_BENCH_POSTGRES_URL``, default the local ``test``
database). The raw baseline runs in a worker thread with the clock read inside it, so it
pays no thread hop; the store pays its own. Everything runs on trio.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import anyio
import orjson
from _harness import (
    Candidate,
    Goal,
    MeasureConfig,
    Section,
    Timing,
    format_ratio,
    format_us,
    measure_side_by_side,
)
from bench_workers import POSTGRES_URL, _postgres_url
from bench_workflows import concurrent, sequential

import floe

__all__ = ["run_postgres"]

TITLE = "PostgreSQL: durable steps next to raw psycopg"
SEQUENTIAL_STEPS = 200
CONCURRENT_STEPS = 1_000
GOAL_SEQUENTIAL_RATIO = 2.0
COLUMNS = ("contender", "workload", "µs / step", "vs raw psycopg", "goal", "met", "spread")


def run_postgres(config: MeasureConfig) -> Section:
    """Measure floe-postgres and raw psycopg on the same server in one trio run."""
    with _postgres_url() as url:
        if url is None:
            return Section(
                "postgres",
                TITLE,
                COLUMNS,
                unavailable=f"floe-postgres or a PostgreSQL server at {POSTGRES_URL} missing",
            )
        raw = _RawPsycopg(url)
        try:
            timings = anyio.run(_measure, url, raw, config, backend="trio")
        finally:
            raw.close()
    return _section(timings)


async def _measure(url: str, raw: _RawPsycopg, config: MeasureConfig) -> dict[str, Timing]:
    settings = floe.Settings(store=url, log_format="off")
    async with floe.open_kernel(settings):
        await sequential.run_async(SEQUENTIAL_STEPS, raise_on_error=True)  # warm up
        await concurrent.run_async(CONCURRENT_STEPS, raise_on_error=True)
        timings = await measure_side_by_side(
            [
                Candidate("raw commit", raw.commit_each),
                Candidate("postgres sequential", _runner(sequential), ops=SEQUENTIAL_STEPS),
            ],
            config,
        )
        timings |= await measure_side_by_side(
            [
                Candidate("raw transaction", raw.one_transaction, ops=CONCURRENT_STEPS),
                Candidate("postgres concurrent", _runner(concurrent), ops=CONCURRENT_STEPS),
            ],
            config,
        )
    return timings


def _runner(workflow: floe.Workflow[[int], int]) -> Callable[[int], Any]:
    async def run(ops: int) -> None:
        await workflow.run_async(ops, raise_on_error=True)

    return run


class _RawPsycopg:
    """The baseline: journal-like rows written with psycopg, no floe in between."""

    def __init__(self, url: str) -> None:
        import psycopg

        schema = url.rsplit("schema=", 1)[1]
        self._connection = psycopg.connect(url.split("?", 1)[0], options=f"-c search_path={schema}")
        with self._connection.transaction():
            self._connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            self._connection.execute(
                "CREATE TABLE raw_events (run_id text NOT NULL, seq bigint NOT NULL,"
                " kind text NOT NULL, step text, at text NOT NULL, data text NOT NULL,"
                " format integer NOT NULL, PRIMARY KEY (run_id, seq))"
            )
        self._seq = 0

    def _row(self) -> tuple[Any, ...]:
        self._seq += 1
        data = orjson.dumps({"value": self._seq}).decode()
        at = datetime.now(UTC).isoformat()
        return ("raw", self._seq, "task.completed", f"step#{self._seq}", at, data, 1)

    def commit_each(self, ops: int) -> None:
        insert = "INSERT INTO raw_events VALUES (%s, %s, %s, %s, %s, %s, %s)"
        for _ in range(ops):
            with self._connection.transaction():
                self._connection.execute(insert, self._row())

    def one_transaction(self, ops: int) -> None:
        insert = "INSERT INTO raw_events VALUES (%s, %s, %s, %s, %s, %s, %s)"
        rows = [self._row() for _ in range(ops)]
        with self._connection.transaction(), self._connection.cursor() as cursor:
            cursor.executemany(insert, rows)

    def close(self) -> None:
        self._connection.close()


def _section(timings: dict[str, Timing]) -> Section:
    raw_commit, raw_transaction = timings["raw commit"], timings["raw transaction"]
    floe_sequential = timings["postgres sequential"]
    floe_concurrent = timings["postgres concurrent"]
    ratio = floe_sequential.cost_relative_to(raw_commit)
    goal = Goal(
        "postgres",
        f"PostgreSQL step, {SEQUENTIAL_STEPS} sequential: time vs raw psycopg INSERT + COMMIT",
        f"≤ {GOAL_SEQUENTIAL_RATIO:.0f}x",
        format_ratio(ratio),
        ratio <= GOAL_SEQUENTIAL_RATIO,
    )
    rows = [
        _row("psycopg", "INSERT + COMMIT per step (baseline)", raw_commit),
        _row(
            "floe",
            f"{SEQUENTIAL_STEPS} steps sequential",
            floe_sequential,
            baseline=raw_commit,
            goal=goal,
        ),
        _row("psycopg", f"{CONCURRENT_STEPS:,} rows, one transaction (reference)", raw_transaction),
        _row(
            "floe",
            f"{CONCURRENT_STEPS:,} steps concurrent (map)",
            floe_concurrent,
            baseline=raw_transaction,
        ),
    ]
    notes = [
        "Concurrent steps are group-committed: the steps of a run that finish together "
        "are one append, and the appends queued while one batch is written (of any runs) "
        "are the next batch, one transaction.",
    ]
    return Section("postgres", TITLE, COLUMNS, rows=rows, notes=notes, goals=[goal])


def _row(
    contender: str,
    workload: str,
    timing: Timing,
    *,
    baseline: Timing | None = None,
    goal: Goal | None = None,
) -> tuple[str, ...]:
    return (
        contender,
        workload,
        format_us(timing.us_per_op),
        "—" if baseline is None else format_ratio(timing.cost_relative_to(baseline)),
        goal.target if goal else "—",
        ("yes" if goal.met else "no") if goal else "—",
        f"{timing.spread:.0%}",
    )
