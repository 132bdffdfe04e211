"""Workload 5: durable workflows, next to their baselines and to peer engines.

Every workflow is made of trivial async tasks (``step(i)`` returns ``i``), so only the
engine is timed: starting the step, journaling its result, handing it back.

In this process, on trio, side by side with their baselines (one kernel per store):

* 1,000 steps sequential (a loop awaiting one task after the other), against a trio
  loop awaiting a plain async function that checkpoints once
  (``trio.lowlevel.checkpoint()``) per call, in memory; against one raw sqlite3
  INSERT + COMMIT per step (WAL, synchronous=NORMAL) on SQLite;
* 1,000 steps concurrent (``step.map(range(1000))``), against a trio nursery spawning
  one task per call (the concurrency floor), and on SQLite against raw sqlite3 writing
  1,000 rows in one transaction (what perfect group commit could reach).

In fresh processes (``peers/run_floe.py``, the peers' protocol): the peak RSS growth of
each 1,000-step run; 100,000 concurrent steps in memory in one run (time per step,
peak RSS); the replay of a 100,000-step run (a map of 100,000 steps, then a pause: the
resume replays every step from the SQLite journal, in a process that never saw the
run); and floe's reference figures for the peer comparison.

Peer engines (Prefect, DBOS, flux-core, osbot-utils flows) each run in their own
virtual environment (``peers/install.py``), one process per workload, with the same
protocol as floe's fresh-process runs; a peer too slow for 1,000 steps within its time
budget runs 100, and floe is compared at the same number of steps.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import anyio
import orjson
import trio
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
from peers._floors import memory_floor, memory_floor_concurrent, plain_step
from peers.engines import PEERS
from peers.processes import BIG_STEPS, STEPS, WORKLOADS, EngineResult, FreshRuns, floe_store

import floe

__all__ = ["run_workflows"]


GOAL_MEMORY_SEQUENTIAL_RATIO = 3.0
GOAL_MEMORY_CONCURRENT_US = 15.0
GOAL_SQLITE_SEQUENTIAL_RATIO = 2.0
GOAL_SQLITE_CONCURRENT_US = 10.0
GOAL_PEER_AHEAD = 50.0
GOAL_RSS_GROWTH_MIB = 10.0
GOAL_BIG_PEAK_GIB = 1.0
GOAL_REPLAY_SECONDS = 1.0

COLUMNS = (
    "contender",
    "store",
    "workload",
    "µs / step",
    "vs baseline",
    "floe ahead",
    "peak RSS growth",
    "goal",
    "met",
    "spread",
)

_RAW_SCHEMA = "CREATE TABLE IF NOT EXISTS steps (run_id TEXT, step TEXT, result BLOB)"
_RAW_INSERT = "INSERT INTO steps VALUES (?, ?, ?)"
_FLOOR_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS journal (run_id TEXT NOT NULL, seq INTEGER NOT NULL,"
    " kind TEXT NOT NULL, step TEXT, at TEXT NOT NULL, data BLOB NOT NULL,"
    " format INTEGER NOT NULL, PRIMARY KEY (run_id, seq)) WITHOUT ROWID"
)
_FLOOR_CHECK = "SELECT coalesce(max(seq), 0) FROM journal WHERE run_id = ?"
_FLOOR_INSERT = "INSERT INTO journal VALUES (?, ?, ?, ?, ?, ?, ?)"


# -- the workflows measured in this process ----------------------------------------------


@floe.task
async def step(i: int) -> int:
    return i


@floe.workflow
async def sequential(n: int) -> int:
    total = 0
    for i in range(n):
        total += await step(i)
    return total


@floe.workflow
async def concurrent(n: int) -> int:
    results = await step.map(range(n))
    return sum(results)


# -- the same, with a secret in play ------------------------------------------------------

_SECRET_PREFIX = "FLOE_BENCH_SECRET_"
_NO_SECRETS = floe.Secrets()


@floe.task(secrets=["token"])
async def token_length(secrets: floe.Secrets = _NO_SECRETS) -> int:
    return len(secrets.reveal("token"))


@floe.task(secrets=["token"])
async def token(secrets: floe.Secrets = _NO_SECRETS) -> str:
    return secrets.reveal("token")


@floe.task
async def echo(i: int, text: str) -> str:
    return text


@floe.workflow
async def sequential_in_play(n: int) -> int:
    """The secret is resolved first; no later value holds it: every write is checked."""
    total = await token_length()
    for i in range(n - 1):
        total += await step(i)
    return total


@floe.workflow
async def sequential_sealed(n: int) -> int:
    """Every step's result holds the secret's value: every result is sealed."""
    value = await token()
    for i in range(n - 1):
        await echo(i, value)
    return n


async def _trio_loop(ops: int) -> None:
    total = 0
    for i in range(ops):
        total += await plain_step(i)


async def _trio_nursery(ops: int) -> None:
    results = [0] * ops

    async def spawned(i: int) -> None:
        results[i] = await plain_step(i)

    async with trio.open_nursery() as nursery:
        for i in range(ops):
            nursery.start_soon(spawned, i)


async def _run_sequential(ops: int) -> None:
    await sequential.run_async(ops, raise_on_error=True)


async def _run_concurrent(ops: int) -> None:
    await concurrent.run_async(ops, raise_on_error=True)


async def _run_in_play(ops: int) -> None:
    await sequential_in_play.run_async(ops, raise_on_error=True)


async def _run_sealed(ops: int) -> None:
    await sequential_sealed.run_async(ops, raise_on_error=True)


@contextmanager
def _secret_environment() -> Iterator[None]:
    """The benchmark's secret (env://) and a key to seal with, for this process only."""
    from floe_secrets import generate_key

    added = {f"{_SECRET_PREFIX}TOKEN": "bench-token-5f2c9a-e8d1"}
    if not os.environ.get("FLOE_SECRET_KEY"):
        added["FLOE_SECRET_KEY"] = generate_key()
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            del os.environ[name]


class _RawSQLite:
    """The baseline: one row per step, written with sqlite3 directly (the harness's thread)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.batch = 0

    def commit_each(self, ops: int) -> None:
        execute, commit = self.connection.execute, self.connection.commit
        for i in range(ops):
            execute(_RAW_INSERT, ("raw", f"step#{i}", b"%d" % i))
            commit()

    def journal_floor(self, ops: int) -> None:
        """What a durable step cannot do without, in floe's journal table: one
        transaction that checks the run's last seq and inserts the step's two events
        (started, completed), timestamps formatted and data JSON-encoded per event."""
        self.batch += 1
        run_id = f"floor-{self.batch}"
        execute = self.connection.execute
        for i in range(ops):
            execute("BEGIN IMMEDIATE")
            (last,) = execute(_FLOOR_CHECK, (run_id,)).fetchone()
            at = datetime.now(UTC).isoformat()
            data = orjson.dumps({"task": "step", "position": str(i), "result": i})
            rows = [
                (run_id, last + 1, "task.started", f"step#{i}", at, data, 1),
                (run_id, last + 2, "task.completed", f"step#{i}", at, data, 1),
            ]
            self.connection.executemany(_FLOOR_INSERT, rows)
            execute("COMMIT")

    async def concurrent_floor(self, ops: int) -> None:
        """What concurrent durable steps cannot do without: a task spawned per call that
        makes its two rows and checkpoints once, then one transaction for all of them."""
        self.batch += 1
        run_id = f"floor-concurrent-{self.batch}"
        rows: list[tuple[object, ...]] = []

        async def spawned(i: int) -> None:
            at = datetime.now(UTC).isoformat()
            data = orjson.dumps({"task": "step", "position": str(i), "result": i})
            rows.append((run_id, "task.started", f"step#{i}", at, data, 1))
            rows.append((run_id, "task.completed", f"step#{i}", at, data, 1))
            await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as nursery:
            for i in range(ops):
                nursery.start_soon(spawned, i)
        execute = self.connection.execute
        execute("BEGIN IMMEDIATE")
        (last,) = execute(_FLOOR_CHECK, (run_id,)).fetchone()
        numbered = [(r[0], last + n, *r[1:]) for n, r in enumerate(rows, 1)]
        self.connection.executemany(_FLOOR_INSERT, numbered)
        execute("COMMIT")

    def one_transaction(self, ops: int) -> None:
        self.batch += 1
        rows = [(f"raw-{self.batch}", f"step#{i}", b"%d" % i) for i in range(ops)]
        self.connection.executemany(_RAW_INSERT, rows)
        self.connection.commit()


@contextmanager
def _raw_connection(path: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(path, check_same_thread=False)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(_RAW_SCHEMA)
        connection.execute(_FLOOR_SCHEMA)
        connection.commit()
        yield connection
    finally:
        connection.close()


async def _measure_in_process(
    directory: Path, connection: sqlite3.Connection, config: MeasureConfig
) -> dict[str, Timing]:
    timings: dict[str, Timing] = {}
    async with floe.open_kernel(_settings("memory://")):
        await _warm_up()
        timings |= await measure_side_by_side(
            [
                Candidate("trio loop", _trio_loop),
                Candidate("memory floor", memory_floor),
                Candidate("memory sequential", _run_sequential, ops=STEPS),
            ],
            config,
        )
        timings |= await measure_side_by_side(
            [
                Candidate("trio nursery", _trio_nursery, ops=STEPS),
                Candidate("memory floor concurrent", memory_floor_concurrent, ops=STEPS),
                Candidate("memory concurrent", _run_concurrent, ops=STEPS),
            ],
            config,
        )
    with _secret_environment():
        async with floe.open_kernel(_settings("memory://", secrets=f"env://{_SECRET_PREFIX}")):
            await _warm_up()
            await _run_in_play(STEPS)
            await _run_sealed(STEPS)
            timings |= await measure_side_by_side(
                [
                    Candidate("memory sequential, no secret", _run_sequential, ops=STEPS),
                    Candidate("memory sequential, secret in play", _run_in_play, ops=STEPS),
                    Candidate("memory sequential, sealed", _run_sealed, ops=STEPS),
                ],
                config,
            )
    raw = _RawSQLite(connection)
    url = f"sqlite:///{directory / 'floe.db'}"
    async with floe.open_kernel(_settings(url)):
        await _warm_up()
        timings |= await measure_side_by_side(
            [
                Candidate("raw commit", raw.commit_each),
                Candidate("journal floor", raw.journal_floor),
                Candidate("sqlite sequential", _run_sequential, ops=STEPS),
            ],
            config,
        )
        timings |= await measure_side_by_side(
            [
                Candidate("raw transaction", raw.one_transaction, ops=STEPS),
                Candidate("journal floor concurrent", raw.concurrent_floor, ops=STEPS),
                Candidate("sqlite concurrent", _run_concurrent, ops=STEPS),
            ],
            config,
        )
    return timings


def _settings(url: str, *, secrets: str | None = None) -> floe.Settings:
    # explicit settings: no settings file or FLOE_* variable of the machine leaks in
    return floe.Settings(store=url, log_format="off", secrets=secrets)


async def _warm_up() -> None:
    # the harness does not warm up bodies with a fixed size: one untimed run of each
    await _run_sequential(STEPS)
    await _run_concurrent(STEPS)


# -- the workload -------------------------------------------------------------------------


def run_workflows(config: MeasureConfig) -> Section:
    """Measure floe and its baselines in this process, then the fresh-process figures."""
    with tempfile.TemporaryDirectory(prefix="floe-bench-") as name:
        directory = Path(name)
        with _raw_connection(directory / "raw.db") as connection:
            timings = anyio.run(_measure_in_process, directory, connection, config, backend="trio")
        fresh = FreshRuns(directory, config)
        fresh.run_floe()
        fresh.run_peers()
    return _section(timings, fresh)


# -- the report ---------------------------------------------------------------------------


def _section(timings: dict[str, Timing], fresh: FreshRuns) -> Section:
    rows: list[tuple[str, ...]] = []
    goals: list[Goal] = []
    errors: list[str] = []

    def rss(store: str, workload: str) -> str:
        return _mib(fresh.floe_run(store, workload, STEPS).rss_growth_kib)

    # in memory
    trio_loop, trio_nursery = timings["trio loop"], timings["trio nursery"]
    memory_sequential = timings["memory sequential"]
    memory_concurrent = timings["memory concurrent"]
    memory_floor = timings["memory floor"]
    memory_floor_concurrent = timings["memory floor concurrent"]
    sequential_ratio = memory_sequential.cost_relative_to(trio_loop)
    goals.append(
        _goal(
            f"in-memory step, {STEPS:,} sequential: time vs a trio checkpoint loop",
            f"≤ {GOAL_MEMORY_SEQUENTIAL_RATIO:.0f}x",
            format_ratio(sequential_ratio),
            sequential_ratio <= GOAL_MEMORY_SEQUENTIAL_RATIO,
        )
    )
    goals.append(_us_goal(f"in-memory step, {STEPS:,} concurrent", memory_concurrent.us_per_op))
    rows += [
        _row("trio", "—", "loop awaiting a call that checkpoints once (baseline)", trio_loop),
        _row(
            "floe",
            "memory",
            f"{STEPS:,} steps sequential",
            memory_sequential,
            baseline=trio_loop,
            rss=rss("memory", "sequential"),
            goal=goals[-2],
        ),
        _floor_row("memory", _MEMORY_FLOOR, memory_floor, trio_loop),
        _row("floe", "memory", _VS_FLOOR, memory_sequential, baseline=memory_floor),
        _row("trio", "—", f"nursery, one spawn per call, {STEPS:,} calls (baseline)", trio_nursery),
        _row(
            "floe",
            "memory",
            f"{STEPS:,} steps concurrent (map)",
            memory_concurrent,
            baseline=trio_nursery,
            rss=rss("memory", "concurrent"),
            goal=goals[-1],
        ),
        _floor_row("memory", _MEMORY_FLOOR_CONCURRENT, memory_floor_concurrent, trio_nursery),
        _row("floe", "memory", _VS_FLOOR, memory_concurrent, baseline=memory_floor_concurrent),
    ]
    rows += _big_rows(fresh.big, fresh.big_floor, trio_nursery, goals, errors)
    rows += _secret_rows(timings)

    # on SQLite
    raw_commit, raw_transaction = timings["raw commit"], timings["raw transaction"]
    sqlite_sequential = timings["sqlite sequential"]
    sqlite_concurrent = timings["sqlite concurrent"]
    commit_ratio = sqlite_sequential.cost_relative_to(raw_commit)
    goals.append(
        _goal(
            f"SQLite step, {STEPS:,} sequential: time vs raw INSERT + COMMIT",
            f"≤ {GOAL_SQLITE_SEQUENTIAL_RATIO:.0f}x",
            format_ratio(commit_ratio),
            commit_ratio <= GOAL_SQLITE_SEQUENTIAL_RATIO,
        )
    )
    goals.append(
        _us_goal(
            f"SQLite step, {STEPS:,} concurrent",
            sqlite_concurrent.us_per_op,
            GOAL_SQLITE_CONCURRENT_US,
        )
    )
    floor = timings["journal floor"]
    sqlite_floor_concurrent = timings["journal floor concurrent"]
    rows += [
        _row("sqlite3", "raw", "INSERT + COMMIT per step (baseline)", raw_commit),
        _row(
            "sqlite3",
            "raw",
            "a step's unavoidable write in floe's journal table (floor; vs the baseline)",
            floor,
            baseline=raw_commit,
        ),
        _row(
            "floe",
            "sqlite",
            f"{STEPS:,} steps sequential",
            sqlite_sequential,
            baseline=raw_commit,
            rss=rss("sqlite", "sequential"),
            goal=goals[-2],
        ),
        _row(
            "floe",
            "sqlite",
            f"{STEPS:,} steps sequential, vs the floor",
            sqlite_sequential,
            baseline=floor,
        ),
        _row("sqlite3", "raw", f"{STEPS:,} rows, one transaction (reference)", raw_transaction),
        _row(
            "floe",
            "sqlite",
            f"{STEPS:,} steps concurrent (map)",
            sqlite_concurrent,
            baseline=raw_transaction,
            rss=rss("sqlite", "concurrent"),
            goal=goals[-1],
        ),
        _floor_row("sqlite3", _SQLITE_FLOOR_CONCURRENT, sqlite_floor_concurrent, raw_transaction),
        _row("floe", "sqlite", _VS_FLOOR, sqlite_concurrent, baseline=sqlite_floor_concurrent),
    ]
    rows.append(_replay_row(fresh.replay, goals, errors))
    goals.append(_rss_goal(fresh, errors))

    # peers, next to floe measured the same way
    rows += _peer_rows(fresh, goals, errors)
    return Section(
        key="workflows",
        title="Workflows: durable steps, next to baselines and peer engines",
        columns=COLUMNS,
        rows=rows,
        goals=goals,
        notes=_notes(fresh),
        error="; ".join(errors) or None,
    )


_VS_FLOOR = f"{STEPS:,} steps, the row above, vs the floor"
_MEMORY_FLOOR = (
    "the loop, each call also appending its step's two journal events to a list "
    "(floor; vs the baseline)"
)
_MEMORY_FLOOR_CONCURRENT = (
    "the nursery, each call also appending its step's two journal events to a list "
    "(floor; vs the baseline)"
)
_SQLITE_FLOOR_CONCURRENT = (
    "a task per call making its two rows, then one transaction for all in floe's "
    "journal table (floor; vs the reference)"
)


def _floor_row(store: str, workload: str, floor: Timing, baseline: Timing) -> tuple[str, ...]:
    """A floor's row: trio with floe's events in memory, raw sqlite3 on SQLite."""
    if store == "sqlite3":
        return _row("sqlite3", "raw", workload, floor, baseline=baseline)
    return _row("trio", "—", workload, floor, baseline=baseline)


def _big_rows(
    big: EngineResult | None,
    floor: EngineResult | None,
    nursery: Timing,
    goals: list[Goal],
    errors: list[str],
) -> list[tuple[str, ...]]:
    """The 100,000-step run's row, with its floor's (the nursery of as many calls, each
    building its two events, in a fresh process) when that ran: the goal then names the
    floor too, which no engine's step can go under on this machine."""
    workload = f"{BIG_STEPS:,} steps concurrent (map), one run, fresh process"
    timing = big.timing if big else None
    if big is None or big.answer is None or timing is None:
        problem = (big.problem if big else None) or "not run"
        errors.append(f"floe, {BIG_STEPS:,} concurrent steps: {problem}")
        goals.append(
            _goal(
                f"in-memory step, {BIG_STEPS:,} concurrent: µs per step",
                f"≤ {GOAL_MEMORY_CONCURRENT_US:.0f} µs",
                problem,
                None,
            )
        )
        goals.append(
            _goal(
                f"peak RSS of the process, {BIG_STEPS:,} concurrent steps in memory",
                f"≤ {GOAL_BIG_PEAK_GIB:.0f} GiB",
                problem,
                None,
            )
        )
        return [_failed_row("floe", "memory", workload, problem)]
    floor_timing = floor.timing if floor else None
    peak_kib = big.answer["peak_rss_kib"]
    peak_gib = peak_kib / 1024 / 1024 if peak_kib is not None else None
    step_goal = _us_goal(f"in-memory step, {BIG_STEPS:,} concurrent", timing.us_per_op)
    if floor_timing is not None:
        vs_floor = format_ratio(timing.cost_relative_to(floor_timing))
        floor_us = format_us(floor_timing.us_per_op)
        measured = f"{step_goal.measured} (floor {floor_us}: {vs_floor} of it)"
        step_goal = dataclasses.replace(step_goal, measured=measured)
    goals.append(step_goal)
    goals.append(
        _goal(
            f"peak RSS of the process, {BIG_STEPS:,} concurrent steps in memory",
            f"≤ {GOAL_BIG_PEAK_GIB:.0f} GiB",
            "unknown" if peak_gib is None else f"{peak_kib / 1024:,.0f} MiB",
            None if peak_gib is None else peak_gib <= GOAL_BIG_PEAK_GIB,
        )
    )
    peak_goal = goals[-1]
    row = _row(
        "floe",
        "memory",
        f"{workload}, peak RSS {_mib(peak_kib)}",
        timing,
        baseline=nursery,
        rss=_mib(big.rss_growth_kib),
    )
    verdicts = [goal.met for goal in (step_goal, peak_goal) if goal.met is not None]
    met = _met_text(all(verdicts) if verdicts else None)
    rows = [(*row[:7], f"{step_goal.target}; peak {peak_goal.target}", met, row[9])]
    if floor_timing is None:
        errors.append(f"the floor of {BIG_STEPS:,} concurrent steps: {floor and floor.problem}")
        return rows
    floor_workload = (
        f"{BIG_STEPS:,} calls in one nursery, each also building its step's two journal "
        "events (floor; fresh process, vs the baseline)"
    )
    return [
        *rows,
        _row("trio", "—", floor_workload, floor_timing, baseline=nursery),
        _row(
            "floe",
            "memory",
            f"{BIG_STEPS:,} steps, the row above, vs the floor",
            timing,
            baseline=floor_timing,
        ),
    ]


def _replay_row(
    replay: EngineResult | None, goals: list[Goal], errors: list[str]
) -> tuple[str, ...]:
    figure = f"replay of a finished {BIG_STEPS:,}-step run (resume of the last step)"
    workload = f"resume of a paused {BIG_STEPS:,}-step run, every step replayed, fresh process"
    timing = replay.timing if replay else None
    if replay is None or timing is None:
        problem = (replay.problem if replay else None) or "not run"
        errors.append(f"floe replay: {problem}")
        goals.append(_goal(figure, f"≤ {GOAL_REPLAY_SECONDS:.0f} s", problem, None))
        return _failed_row("floe", "sqlite", workload, problem)
    seconds = statistics.median(timing.samples_ns) / 1e9
    goals.append(
        _goal(
            figure,
            f"≤ {GOAL_REPLAY_SECONDS:.0f} s",
            f"{seconds:.2f} s",
            seconds <= GOAL_REPLAY_SECONDS,
        )
    )
    return _row(
        "floe",
        "sqlite",
        f"{workload}: {seconds:.2f} s",
        timing,
        rss=_mib(replay.rss_growth_kib),
        goal=goals[-1],
    )


def _secret_rows(timings: dict[str, Timing]) -> list[tuple[str, ...]]:
    """What secrets cost a step: checked writes, and sealed ones (AES-256-GCM)."""
    plain = timings["memory sequential, no secret"]
    return [
        _row("floe", "memory", f"{STEPS:,} steps sequential, no secret (reference)", plain),
        _row(
            "floe",
            "memory",
            f"{STEPS:,} steps sequential, a secret in play (every write checked)",
            timings["memory sequential, secret in play"],
            baseline=plain,
        ),
        _row(
            "floe",
            "memory",
            f"{STEPS:,} steps sequential, every result holding the secret (sealed)",
            timings["memory sequential, sealed"],
            baseline=plain,
        ),
    ]


def _rss_goal(fresh: FreshRuns, errors: list[str]) -> Goal:
    growths: dict[str, int] = {}
    for store in ("memory", "sqlite"):
        for workload in WORKLOADS:
            result = fresh.floe_run(store, workload, STEPS)
            if result.rss_growth_kib is not None:
                growths[f"{store}, {workload}"] = result.rss_growth_kib
            elif result.problem:
                errors.append(f"floe, {store} {workload} (fresh process): {result.problem}")
    figure = f"peak RSS growth of a {STEPS:,}-step run (worst of memory/SQLite, seq./conc.)"
    target = f"≤ {GOAL_RSS_GROWTH_MIB:.0f} MiB"
    if not growths:
        return _goal(figure, target, "not measured", None)
    worst = max(growths, key=lambda key: growths[key])
    return _goal(
        figure,
        target,
        f"{_mib(growths[worst])} ({worst})",
        growths[worst] / 1024 <= GOAL_RSS_GROWTH_MIB,
    )


def _peer_rows(fresh: FreshRuns, goals: list[Goal], errors: list[str]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    shown: set[tuple[str, str, int]] = set()
    for peer in PEERS:
        figure = f"floe ahead of {peer.title} on every workload (time per step)"
        target = f"≥ {GOAL_PEER_AHEAD:.0f}x"
        if peer.key in fresh.unavailable:
            rows.append(
                _failed_row(peer.title, peer.store, "both workloads", fresh.unavailable[peer.key])
            )
            goals.append(_goal(figure, target, "not available", None))
            continue
        aheads: list[tuple[float, str]] = []
        for workload in WORKLOADS:
            result = fresh.peers[(peer.key, workload)]
            timing = result.timing
            if result.answer is None or timing is None:
                rows.append(_failed_row(peer.title, peer.store, workload, result.problem or ""))
                continue
            store = floe_store(peer)
            reference = fresh.floe_run(store, workload, result.steps)
            floe_timing = reference.timing
            if (store, workload, result.steps) not in shown:
                shown.add((store, workload, result.steps))
                rows.append(_floe_reference_row(store, workload, reference))
            if floe_timing is None:
                errors.append(f"floe, {store} {workload} (fresh process): {reference.problem}")
            ahead = timing.ns_per_op / floe_timing.ns_per_op if floe_timing else None
            if ahead is not None:
                aheads.append((ahead, workload))
            answer = result.answer
            rows.append(
                (
                    f"{peer.title} {answer['version']} (Python {answer['python']})",
                    peer.store,
                    _steps_text(workload, result.steps, answer["scaled_down"]),
                    format_us(timing.us_per_op),
                    "—",
                    "—" if ahead is None else f"{ahead:,.0f}x (vs floe {store})",
                    _mib(result.rss_growth_kib),
                    target,
                    _met_text(None if ahead is None else ahead >= GOAL_PEER_AHEAD),
                    _spread(timing),
                )
            )
        if not aheads:
            goals.append(_goal(figure, target, "not measured", None))
            continue
        worst, workload = min(aheads)
        goals.append(
            _goal(figure, target, f"{worst:,.0f}x (lowest: {workload})", worst >= GOAL_PEER_AHEAD)
        )
    return rows


def _floe_reference_row(store: str, workload: str, result: EngineResult) -> tuple[str, ...]:
    label = f"{_steps_text(workload, result.steps, False)}, fresh process (for the peers)"
    timing = result.timing
    if timing is None:
        return _failed_row("floe", store, label, result.problem or "")
    return _row("floe", store, label, timing, rss=_mib(result.rss_growth_kib))


def _steps_text(workload: str, steps: int, scaled_down: bool) -> str:
    shape = "concurrent" if workload == "concurrent" else "sequential"
    text = f"{steps:,} steps {shape}"
    return f"{text} (scaled down from {STEPS:,})" if scaled_down else text


def _notes(fresh: FreshRuns) -> list[str]:
    return [
        "Every step is a trivial async task (it returns its argument): the figures are the "
        "engine's own cost per step — start it, journal its result, hand it back — with "
        "the run's start and end shared out over its steps.",
        "`vs baseline` is time per step relative to the baseline row above it (1.00x = as "
        "fast). In memory: a trio loop awaiting a plain async function that checkpoints "
        "once, and a trio nursery spawning one task per call. On SQLite (WAL, "
        "synchronous=NORMAL, the floe SQLite store's settings): one raw sqlite3 INSERT + "
        "COMMIT per step, and 1,000 rows in one transaction (what perfect group commit "
        "could reach).",
        "`peak RSS growth` is measured in a fresh process: the peak resident set size "
        "(VmHWM) before and after the first timed run, after untimed runs of 10 and 50 "
        "steps loaded what loads lazily. The 1,000-step rows show the growth of floe's "
        "1,000-step run in such a process; the time in those rows is the in-process "
        "figure, side by side with the baseline.",
        f"The {BIG_STEPS:,}-step rows run once each, in a fresh process. Replay: a "
        f"workflow maps {BIG_STEPS:,} tasks then pauses; another process opens the SQLite "
        "store and resumes it, replaying every recorded step from the journal; the time "
        "is that resume call's.",
        "Peers run in their own virtual environments, one process per workload, with "
        "floe's fresh-process protocol: three untimed warm-up runs, then "
        f"{fresh.samples} timed runs of the same size, median. A peer whose run would "
        f"last more than {fresh.budget_seconds:.0f} s at 1,000 steps runs 100; "
        "floe is then measured again the same way at the same size (the `fresh process "
        "(for the peers)` rows). `floe ahead` is the peer's time per step divided by "
        "floe's: durable peers against floe on SQLite, osbot-utils (in memory, no "
        "journal) against floe in memory. Each peer's store is its default: see "
        "benchmarks/README.md for the pins and settings.",
    ]


# -- formatting ---------------------------------------------------------------------------


def _goal(figure: str, target: str, measured: str, met: bool | None) -> Goal:
    return Goal(workload="workflows", figure=figure, target=target, measured=measured, met=met)


def _us_goal(figure: str, us_per_step: float, limit: float = GOAL_MEMORY_CONCURRENT_US) -> Goal:
    return _goal(
        f"{figure}: µs per step", f"≤ {limit:.0f} µs", format_us(us_per_step), us_per_step <= limit
    )


def _row(
    contender: str,
    store: str,
    workload: str,
    timing: Timing,
    *,
    baseline: Timing | None = None,
    rss: str = "—",
    goal: Goal | None = None,
) -> tuple[str, ...]:
    return (
        contender,
        store,
        workload,
        format_us(timing.us_per_op),
        "—" if baseline is None else format_ratio(timing.cost_relative_to(baseline)),
        "—",
        rss,
        goal.target if goal else "—",
        _met_text(goal.met) if goal else "—",
        _spread(timing),
    )


def _spread(timing: Timing) -> str:
    return "— (one run)" if len(timing.samples_ns) < 2 else f"{timing.spread:.0%}"


def _failed_row(contender: str, store: str, workload: str, problem: str) -> tuple[str, ...]:
    return (contender, store, workload, f"not available: {problem}", *("—",) * 6)


def _met_text(met: bool | None) -> str:
    return "—" if met is None else ("yes" if met else "no")


def _mib(kib: int | None) -> str:
    return "—" if kib is None else f"{kib / 1024:,.1f} MiB"
