"""Workers: trivial runs through 1, 2 and 4 ``floe worker`` processes, and how soon a
submitted run starts.

**Throughput.** 400 one-step runs are submitted up front; then N worker processes
(concurrency 8 each) are started and the clock runs from the first run's ``run.started``
to the last run's completion, both read from the store, so process start-up is not
counted. The machine has 2 cores: more than 2 workers share them.

**Submit-to-start latency.** One idle worker serves the store; runs are submitted one at
a time, 50 ms apart, and each one's latency is its ``run.started`` time minus its
creation time. An idle worker looks for work every ``--poll-seconds``; a store that can
wake it (PostgreSQL's LISTEN/NOTIFY, where floe-postgres provides it) starts runs sooner.

Stores: a SQLite file, and PostgreSQL (``FLOE_BENCH_POSTGRES_URL``, default the local
``test`` database) where floe-postgres is installed and a server answers.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from _harness import Goal, MeasureConfig, Section, format_ms, open_store

import floe

if TYPE_CHECKING:
    import psycopg

COLUMNS = ("store", "figure", "workers", "value", "note")
RUNS = 400
LATENCY_SAMPLES = 60
GOAL_P50_MS = 20.0
GOAL_P99_MS = 100.0
GOAL_AHEAD_OF_DBOS = 20.0
POSTGRES_URL = os.environ.get(
    "FLOE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

FLOWS = """
import floe


@floe.task
async def one(n: int) -> int:
    return n


@floe.workflow
async def trivial(n: int) -> int:
    return await one(n)
"""


def run_workers(config: MeasureConfig) -> Section:
    rows: list[tuple[str, ...]] = []
    goals: list[Goal] = []
    notes = [
        f"{RUNS} one-step runs per throughput figure, {LATENCY_SAMPLES} runs per latency "
        "figure; workers run with concurrency 8 and log warnings only.",
    ]
    for label, url_of in _stores():
        with url_of() as url:
            if url is None:
                notes.append(f"{label}: not available (floe-postgres or a server missing)")
                continue
            throughput = _throughput(label, url)
            rows += throughput
            if label == "PostgreSQL":
                floe_rate = float(throughput[0][3].replace(",", ""))  # one worker
                floor_rate = _postgres_floor(url.split("?", 1)[0])
                rows.append((label, FLOOR_FIGURE, "1", f"{floor_rate:,.0f}", FLOOR_NOTE))
                rows_dbos, goal, note = _dbos_queues(url, floe_rate, floor_rate)
                rows += rows_dbos
                goals += [goal]
                notes += [note, FLOOR_TEXT]
        with url_of() as url:
            assert url is not None
            poll = "0.05" if label == "SQLite" else "0.5"
            p50, p99 = _latency(url, poll)
            rows.append((label, "submit-to-start p50", "1", format_ms(p50), f"poll {poll} s"))
            rows.append((label, "submit-to-start p99", "1", format_ms(p99), f"poll {poll} s"))
            goals.append(
                Goal(
                    workload="workers",
                    figure=f"submit-to-start latency, {label}",
                    target=f"p50 ≤ {GOAL_P50_MS:.0f} ms, p99 ≤ {GOAL_P99_MS:.0f} ms",
                    measured=f"p50 {format_ms(p50)}, p99 {format_ms(p99)}",
                    met=p50 <= GOAL_P50_MS and p99 <= GOAL_P99_MS,
                )
            )
    return Section(
        key="workers",
        title="Workers: runs through worker processes",
        columns=COLUMNS,
        rows=rows,
        notes=notes,
        goals=goals,
    )


def _dbos_queues(
    url: str, floe_rate: float, floor_rate: float
) -> tuple[list[tuple[str, ...]], Goal, str]:
    """DBOS's queues on the same server and workload, in its own environment."""
    from peers.engines import PEERS

    [dbos] = [peer for peer in PEERS if peer.key == "dbos"]
    figure = f"floe ahead of DBOS queues on PostgreSQL, runs/s through one worker ({RUNS} runs)"
    target = f"≥ {GOAL_AHEAD_OF_DBOS:.0f}x"
    if not dbos.installed():
        why = "DBOS is not installed (python benchmarks/peers/install.py dbos)"
        return [], Goal("workers", figure, target, "—", None), why
    script = Path(__file__).resolve().parent / "peers" / "run_dbos_queue.py"
    server = url.split("?", 1)[0]
    command = [str(dbos.python()), str(script), "--server", server, "--runs", str(RUNS)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    try:
        answer = json.loads(result.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        answer = {"error": result.stderr[-500:]}
    if "error" in answer:
        why = f"DBOS queues: not available ({answer['error'].strip().splitlines()[-1]})"
        return [], Goal("workers", figure, target, "—", None), why
    rate = answer["runs"] / answer["seconds"]
    ahead = floe_rate / rate
    row = (
        "PostgreSQL",
        "runs/s (one step each), DBOS queues",
        "1",
        f"{rate:,.0f}",
        f"DBOS {answer['version']}, worker concurrency 8, polled every 0.05 s",
    )
    note = (
        "DBOS queues: one DBOS process executes a queue with worker_concurrency 8, polled "
        "every 0.05 s (floe's worker polls as often); its clock runs from the first "
        "workflow's start to the last one's end, read from DBOS's workflow_status table."
    )
    measured = f"{ahead:.1f}x (the floor: {floor_rate / rate:.1f}x)"
    return [row], Goal("workers", figure, target, measured, ahead >= GOAL_AHEAD_OF_DBOS), note


FLOOR_FIGURE = "runs/s (one step each), the writes alone (floor)"
FLOOR_NOTE = "raw psycopg, 8 runs at a time, each stage one pipelined transaction"
FLOOR_TEXT = (
    "The floor: no engine, only the writes a one-step durable run cannot do without, "
    f"made by one raw psycopg connection for {RUNS} runs, 8 at a time as one worker of "
    "concurrency 8 holds them: a claim of 8 (one UPDATE ... FOR UPDATE SKIP LOCKED), then "
    "the runs' starts, their steps (two events each) and their ends, each stage one "
    "transaction for the 8 sent as one pipeline, each append fenced as floe's are."
)
_FLOOR_APPEND = (
    "WITH moved AS (UPDATE runs SET status = coalesce(%s, status), last_seq = %s"
    " WHERE run_id = %s AND last_seq = %s RETURNING 1)"
    " INSERT INTO events SELECT * FROM unnest(%s::text[], %s::integer[], %s::text[],"
    " %s::jsonb[]) WHERE EXISTS (SELECT FROM moved)"
)
_FLOOR_STAGES = (  # (status after, the stage's events)
    ("running", ("run.started",)),
    (None, ("task.started", "task.completed")),
    ("completed", ("run.completed",)),
)


def _postgres_floor(server: str) -> float:
    """Runs/s of the writes alone: see FLOOR_TEXT (in a schema made for it, dropped after)."""
    import psycopg
    from psycopg import sql

    schema = f"bench_floor_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        try:
            connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
            connection.execute(
                "CREATE TABLE runs (run_id text PRIMARY KEY, position bigint NOT NULL,"
                " status text NOT NULL, last_seq integer NOT NULL DEFAULT 0)"
            )
            connection.execute("CREATE INDEX runs_by_status ON runs (status, position)")
            connection.execute(
                "CREATE TABLE events (run_id text, seq integer, kind text, data jsonb,"
                " PRIMARY KEY (run_id, seq))"
            )
            with connection.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO runs VALUES (%s, %s, 'pending')",
                    [(f"r{index}", index) for index in range(RUNS)],
                )
            started = time.perf_counter()
            done = 0
            while done < RUNS:
                claimed = [row[0] for row in connection.execute(_FLOOR_CLAIM).fetchall()]
                _floor_stages(connection, claimed)
                done += len(claimed)
            return RUNS / (time.perf_counter() - started)
        finally:
            drop = sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema))
            connection.execute(drop)


_FLOOR_CLAIM = (
    "UPDATE runs SET status = 'claimed' WHERE run_id IN (SELECT run_id FROM runs"
    " WHERE status = 'pending' ORDER BY position LIMIT 8 FOR UPDATE SKIP LOCKED)"
    " RETURNING run_id"
)


def _floor_stages(connection: psycopg.Connection[Any], claimed: list[str]) -> None:
    """The starts, steps and ends of the *claimed* runs: one pipelined transaction each."""
    last = 0
    for status, kinds in _FLOOR_STAGES:
        seqs = list(range(last + 1, last + 1 + len(kinds)))
        with connection.pipeline():
            connection.execute("BEGIN")
            for run_id in claimed:
                data = [json.dumps({"run_id": run_id, "kind": kind}) for kind in kinds]
                columns = ([run_id] * len(kinds), seqs, list(kinds), data)
                connection.execute(_FLOOR_APPEND, (status, seqs[-1], run_id, last, *columns))
            connection.execute("COMMIT")
        last = seqs[-1]


def _stores() -> list[tuple[str, object]]:
    return [("SQLite", _sqlite_url), ("PostgreSQL", _postgres_url)]


@contextmanager
def _sqlite_url() -> Iterator[str | None]:
    with tempfile.TemporaryDirectory(prefix="floe-bench-") as directory:
        yield f"sqlite:///{Path(directory) / 'floe.db'}"


@contextmanager
def _postgres_url() -> Iterator[str | None]:
    try:
        import floe_postgres  # noqa: F401  (the store's plugin)
        import psycopg
        from psycopg import sql
    except ImportError:
        yield None
        return
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=2):
            pass
    except psycopg.Error:
        yield None
        return
    schema = f"bench_{secrets.token_hex(4)}"
    try:
        yield f"{POSTGRES_URL}?schema={schema}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            connection.execute(drop)


def _throughput(label: str, url: str) -> list[tuple[str, ...]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="floe-bench-") as directory:
        folder = Path(directory)
        (folder / "flows.py").write_text(FLOWS)
        for count in (1, 2, 4):
            ids = _submit(folder, url, RUNS, prefix=f"w{count}-")
            workers = [_start_worker(folder, url, "0.05") for _ in range(count)]
            try:
                seconds = _elapsed_until_done(url, ids)
            finally:
                _stop(workers)
            rate = RUNS / seconds
            rows.append((label, "runs/s (one step each)", str(count), f"{rate:,.0f}", ""))
    return rows


def _latency(url: str, poll: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="floe-bench-") as directory:
        folder = Path(directory)
        (folder / "flows.py").write_text(FLOWS)
        worker = _start_worker(folder, url, poll)
        try:
            time.sleep(1.0)  # serving, idle
            ids = _submit(folder, url, LATENCY_SAMPLES, prefix="lat-", spacing=0.05)
            _elapsed_until_done(url, ids)
            latencies = anyio.run(_start_latencies, url, ids)
        finally:
            _stop([worker])
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


def _submit(folder: Path, url: str, count: int, *, prefix: str, spacing: float = 0) -> list[str]:
    trivial = floe.Workflow.from_target(f"{folder / 'flows.py'}:trivial")

    async def main() -> list[str]:
        ids = []
        async with floe.open_kernel(store=url, log_format="off"):
            for index in range(count):
                handle = await trivial.submit_async(index, run_id=f"{prefix}{index}")
                ids.append(handle.run_id)
                if spacing:
                    await anyio.sleep(spacing)
        return ids

    return anyio.run(main)


def _start_worker(folder: Path, url: str, poll: str) -> subprocess.Popen[bytes]:
    script = Path(sys.executable).with_name("floe")
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLOE_")}
    env.update(FLOE_STORE=url, FLOE_LOG_LEVEL="WARNING")
    options = ["--concurrency", "8", "--poll-seconds", poll]
    return subprocess.Popen(
        [str(script), "worker", *options],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait(timeout=60)


def _elapsed_until_done(url: str, ids: list[str]) -> float:
    """Seconds from the first run's start to the last run's end, once all are done."""
    deadline = time.monotonic() + 300
    while True:
        times = anyio.run(_span, url, ids)
        if times is not None:
            return times
        if time.monotonic() > deadline:
            raise RuntimeError("the workers did not finish the runs within 300 s")
        time.sleep(0.5)


async def _span(url: str, ids: list[str]) -> float | None:
    async with open_store(url) as store:
        runs = await store.list_runs(floe.RunQuery(limit=100_000))
        wanted = {run.run_id: run for run in runs if run.run_id in set(ids)}
        if len(wanted) < len(ids) or not all(run.status.finished for run in wanted.values()):
            return None
        starts = []
        for run_id in (ids[0], *ids[1::50]):
            events = await store.read_events(run_id, limit=1)
            starts.append(events[0].at)
        first = min(starts)
        last = max(run.updated_at for run in wanted.values())
        return (last - first).total_seconds()


async def _start_latencies(url: str, ids: list[str]) -> list[float]:
    async with open_store(url) as store:
        latencies = []
        for run_id in ids:
            run = await store.get_run(run_id)
            events = await store.read_events(run_id, limit=1)
            assert run is not None
            assert events[0].kind == floe.EventKind.RUN_STARTED
            latencies.append((events[0].at - run.created_at).total_seconds() * 1000)
        return latencies
