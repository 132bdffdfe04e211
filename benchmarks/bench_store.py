"""Workload 2: journal appends through the real stores, side by side with raw sqlite3.

* sequential: one ``Store.append_events`` of one event per call (one commit each),
  against one raw ``sqlite3`` INSERT plus COMMIT of a comparable row (same columns,
  the data serialized with orjson, the timestamp formatted per row) with the same
  pragmas, ``journal_mode=WAL`` and ``synchronous=NORMAL``;
* concurrent: 1,000 runs created beforehand (untimed), then one event appended to each
  by 1,000 tasks started together in one task group, against raw sqlite3 writing the
  same 1,000 rows in one transaction (what perfect group commit could reach).

The SQLite store is opened by URL through the plugin hooks, exactly as the kernel opens
it; the memory store runs the same workload as a reference line. Everything runs on
trio, the kernel's default backend. The raw baseline runs in a worker thread with the
clock read inside that thread, so it pays no thread hop; the store pays its own.
"""

from __future__ import annotations

import itertools
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import anyio
import anyio.lowlevel
import orjson
from _harness import (
    Candidate,
    Goal,
    MeasureConfig,
    Section,
    Timing,
    format_rate,
    format_ratio,
    format_us,
    measure_side_by_side,
    open_store,
)

import floe

__all__ = ["run_store"]

CONCURRENT_RUNS = 1_000
KIND = "task.completed"
GOAL_SEQUENTIAL_RATIO = 2.0
GOAL_CONCURRENT_US = 5.0

COLUMNS = ("store", "workload", "µs / event", "events/s", "vs raw sqlite3", "goal", "met", "spread")
_RAW_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    step TEXT,
    at TEXT NOT NULL,
    data BLOB,
    format INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
)
"""
_RAW_INSERT = "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)"

RawRow = tuple[str, int, str, str, str, bytes, int]


def run_store(config: MeasureConfig) -> Section:
    """Measure both stores against raw sqlite3 in one trio run."""
    with tempfile.TemporaryDirectory(prefix="floe-bench-") as name:
        directory = Path(name)
        # opened here, off the event loop, as sqlite3 blocks
        with _raw_connection(directory / "raw.db") as connection:
            return anyio.run(_measure, directory, connection, config, backend="trio")


async def _measure(
    directory: Path, connection: sqlite3.Connection, config: MeasureConfig
) -> Section:
    sqlite_url = f"sqlite:///{directory / 'bench.db'}"
    try:
        sqlite_store: floe.Store | None = open_store(sqlite_url)
        unavailable = None
    except floe.FloeError as error:
        sqlite_store, unavailable = None, error.what
    memory_store = open_store("memory://")

    async with memory_store:
        memory = _StoreBench(memory_store, "memory")
        await memory.setup()
        if sqlite_store is None:
            timings = await _measure_all(connection, memory, None, config)
        else:
            async with sqlite_store:
                sqlite = _StoreBench(sqlite_store, "sqlite")
                await sqlite.setup()
                timings = await _measure_all(connection, memory, sqlite, config)
    return _section(timings, unavailable)


async def _measure_all(
    connection: sqlite3.Connection,
    memory: _StoreBench,
    sqlite: _StoreBench | None,
    config: MeasureConfig,
) -> dict[str, Timing]:
    raw = _RawBench(connection)
    sequential = [Candidate("raw sequential", raw.sequential)]
    concurrent = [
        Candidate("raw concurrent", raw.one_transaction, ops=CONCURRENT_RUNS),
        Candidate("spawn floor", _spawn_tasks, ops=CONCURRENT_RUNS),
    ]
    for bench in (sqlite, memory):
        if bench is None:
            continue
        sequential.append(Candidate(f"{bench.name} sequential", bench.sequential))
        concurrent.append(
            Candidate(
                f"{bench.name} concurrent",
                bench.concurrent,
                prepare=bench.create_runs,
                ops=CONCURRENT_RUNS,
            )
        )
    return {
        **await measure_side_by_side(sequential, config),
        **await measure_side_by_side(concurrent, config),
    }


class _StoreBench:
    """The floe side: one long run for sequential appends, fresh runs per concurrent batch."""

    def __init__(self, store: floe.Store, name: str) -> None:
        self.store = store
        self.name = name
        self._sequential_run = f"{name}-sequential"
        self._last_seq = 0
        self._batches = itertools.count(1)
        self._batch: list[str] = []

    async def setup(self) -> None:
        await self.store.create_run(floe.Run(run_id=self._sequential_run, name="bench"))

    async def sequential(self, ops: int) -> None:
        append = self.store.append_events
        run_id = self._sequential_run
        for seq in range(self._last_seq + 1, self._last_seq + ops + 1):
            await append(run_id, [_event(run_id, seq)])
        self._last_seq += ops

    async def create_runs(self, ops: int) -> None:
        batch = next(self._batches)
        self._batch = [f"{self.name}-{batch}-{i}" for i in range(ops)]
        for run_id in self._batch:
            await self.store.create_run(floe.Run(run_id=run_id, name="bench"))

    async def concurrent(self, ops: int) -> None:
        append = self.store.append_events
        async with anyio.create_task_group() as group:
            for run_id in self._batch:
                group.start_soon(append, run_id, [_event(run_id, 1)])


async def _spawn_tasks(ops: int) -> None:
    """The floor under any concurrent append: start *ops* tasks that each checkpoint once."""
    async with anyio.create_task_group() as group:
        for _ in range(ops):
            group.start_soon(anyio.lowlevel.checkpoint)


def _event(run_id: str, seq: int) -> floe.Event:
    return floe.Event(run_id=run_id, seq=seq, kind=KIND, step=f"step#{seq}", data={"n": seq})


class _RawBench:
    """The baseline: the same rows written with sqlite3 directly, on the calling thread."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self._last_seq = 0
        self._batches = itertools.count(1)

    def sequential(self, ops: int) -> None:
        execute, commit = self.connection.execute, self.connection.commit
        for seq in range(self._last_seq + 1, self._last_seq + ops + 1):
            execute(_RAW_INSERT, _raw_row("raw-sequential", seq))
            commit()
        self._last_seq += ops

    def one_transaction(self, ops: int) -> None:
        batch = next(self._batches)
        rows = [_raw_row(f"raw-{batch}-{i}", 1) for i in range(ops)]
        self.connection.executemany(_RAW_INSERT, rows)
        self.connection.commit()


def _raw_row(run_id: str, seq: int) -> RawRow:
    at = datetime.now(UTC).isoformat()
    return (run_id, seq, KIND, f"step#{seq}", at, orjson.dumps({"n": seq}), 1)


@contextmanager
def _raw_connection(path: Path) -> Iterator[sqlite3.Connection]:
    # used from the harness's worker threads, one at a time
    connection = sqlite3.connect(path, check_same_thread=False)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(_RAW_SCHEMA)
        connection.commit()
        yield connection
    finally:
        connection.close()


# -- the report ---------------------------------------------------------------------------


def _section(timings: dict[str, Timing], unavailable: str | None) -> Section:
    raw_sequential = timings["raw sequential"]
    raw_concurrent = timings["raw concurrent"]
    sequential_goal, concurrent_goal = goals = _goals(timings)
    concurrently = f"{CONCURRENT_RUNS:,} concurrent appends"
    rows = [
        _row("raw sqlite3", "INSERT + COMMIT, sequential (baseline)", raw_sequential),
        _row(
            "sqlite",
            "append_events, sequential",
            timings.get("sqlite sequential"),
            raw_sequential,
            sequential_goal,
        ),
        _row(
            "memory",
            "append_events, sequential (reference)",
            timings["memory sequential"],
            raw_sequential,
        ),
        _row(
            "raw sqlite3", f"{CONCURRENT_RUNS:,} rows, one transaction (baseline)", raw_concurrent
        ),
        _row(
            "sqlite",
            concurrently,
            timings.get("sqlite concurrent"),
            raw_concurrent,
            concurrent_goal,
        ),
        _row("memory", f"{concurrently} (reference)", timings["memory concurrent"], raw_concurrent),
        _row(
            "anyio",
            f"{CONCURRENT_RUNS:,} tasks that only checkpoint (floor)",
            timings["spawn floor"],
            raw_concurrent,
        ),
    ]
    notes = [
        "`vs raw sqlite3` is time per event relative to the raw baseline of the same "
        "shape (1.00x = as fast; 2.00x = twice the time).",
        "Sequential: each call is one transaction with one event. Concurrent: "
        f"{CONCURRENT_RUNS:,} tasks started together, one event each to its own run; "
        "the raw baseline writes the same rows in one transaction.",
        "The floor line starts the same number of tasks in one task group, each doing "
        "nothing but one checkpoint: no concurrent append can cost less per event than "
        "that on this machine.",
    ]
    if unavailable is not None:
        notes.insert(0, f"The SQLite store is not available here: {unavailable}")
    return Section(
        key="store",
        title="Store: appending journal events",
        columns=COLUMNS,
        rows=rows,
        goals=list(goals),
        notes=notes,
    )


def _row(
    store: str,
    workload: str,
    timing: Timing | None,
    baseline: Timing | None = None,
    goal: Goal | None = None,
) -> tuple[str, ...]:
    target = goal.target if goal else "—"
    met = "—" if goal is None or goal.met is None else ("yes" if goal.met else "no")
    if timing is None:
        return (store, workload, "not available", "—", "—", target, met, "—")
    ratio = "—" if baseline is None else format_ratio(timing.cost_relative_to(baseline))
    return (
        store,
        workload,
        format_us(timing.us_per_op),
        format_rate(timing.per_second),
        ratio,
        target,
        met,
        f"{timing.spread:.0%}",
    )


def _goals(timings: dict[str, Timing]) -> tuple[Goal, Goal]:
    sequential = timings.get("sqlite sequential")
    concurrent = timings.get("sqlite concurrent")
    ratio = sequential.cost_relative_to(timings["raw sequential"]) if sequential else None
    return (
        Goal(
            workload="store",
            figure="SQLite append, sequential: time vs raw INSERT + COMMIT",
            target=f"≤ {GOAL_SEQUENTIAL_RATIO:.0f}x",
            measured="not available" if ratio is None else format_ratio(ratio),
            met=None if ratio is None else ratio <= GOAL_SEQUENTIAL_RATIO,
        ),
        Goal(
            workload="store",
            figure=f"SQLite append, {CONCURRENT_RUNS:,} concurrent: µs per event",
            target=f"≤ {GOAL_CONCURRENT_US:.0f} µs",
            measured="not available" if concurrent is None else format_us(concurrent.us_per_op),
            met=None if concurrent is None else concurrent.us_per_op <= GOAL_CONCURRENT_US,
        ),
    )
