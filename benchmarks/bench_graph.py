"""Workload: deliveries through routine graphs, in memory and on SQLite.

Two shapes, each one flow execution (one durable job) per sample:

* a 10-stage linear graph: the entry emits N/10 items, each travels through ten
  routines (N deliveries);
* a 1-to-100 fan-out: the entry emits N/100 messages on an event connected to 100
  routines (N deliveries).

Each runs with ``execution_strategy="sequential"`` (depth-first, one delivery at a time)
and ``"concurrent"`` (up to 100 deliveries at once), on the memory store and on SQLite
(WAL, a temporary file): every delivery is journaled (``routine.slot_received``,
``routine.emitted``, group-committed) and posted to the bus. The
handlers are async and trivial, so the figures are the graph's own cost. The baseline is
the same handlers awaited in a plain loop (what the routines cost without a flow).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio
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
)

import floe
import floe_sqlite
from floe.graph import ExecutionStrategy, Flow, Routine

__all__ = ["run_graph"]

STAGES = 10
FAN_OUT = 100
CONCURRENCY = 100
DELIVERIES = 20_000
"""Deliveries per sample (one job)."""
GOAL_MEMORY = 100_000
"""Deliveries/s in memory, sequential."""
GOAL_SQLITE = 20_000
"""Deliveries/s on SQLite, concurrent (group commit)."""

STRATEGIES: tuple[ExecutionStrategy, ...] = ("sequential", "concurrent")

COLUMNS = (
    "store",
    "workload",
    "µs / delivery",
    "deliveries/s",
    "vs plain calls",
    "goal",
    "met",
    "spread",
)


class _Entry(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_event("out", ["n"])

    async def __call__(self, count: int) -> None:
        for n in range(count):
            self.emit("out", n=n)


class _Stage(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.handle)
        self.define_event("out", ["n"])

    async def handle(self, n: int) -> None:
        self.emit("out", n=n)


def _linear(strategy: ExecutionStrategy) -> Flow:
    flow = Flow(f"bench-linear-{strategy}", strategy, CONCURRENCY, max_deliveries=10**8)
    flow.add_routine(_Entry(), "entry")
    previous = "entry"
    for index in range(STAGES):
        flow.add_routine(_Stage(), f"stage{index}")
        flow.connect(previous, "out", f"stage{index}", "input")
        previous = f"stage{index}"
    return flow


def _fan_out(strategy: ExecutionStrategy) -> Flow:
    flow = Flow(f"bench-fan-{strategy}", strategy, CONCURRENCY, max_deliveries=10**8)
    flow.add_routine(_Entry(), "entry")
    for index in range(FAN_OUT):
        flow.add_routine(_Stage(), f"leaf{index}")
        flow.connect("entry", "out", f"leaf{index}", "input")
    return flow


def _candidates() -> list[Candidate]:
    stage = _Stage()

    async def plain(ops: int) -> None:
        handle = stage.handle
        for n in range(ops):
            await handle(n)

    candidates = [Candidate("plain calls", plain)]
    for shape, build, per_message in (("linear", _linear, STAGES), ("fan-out", _fan_out, FAN_OUT)):
        for strategy in STRATEGIES:
            flow = build(strategy)

            async def body(ops: int, flow: Flow = flow, per_message: int = per_message) -> None:
                job = await flow.execute_async("entry", {"count": ops // per_message})
                assert job.status == "completed", job.error

            # whole messages only: a sample's deliveries are exactly its ops
            candidates.append(Candidate(f"{shape} {strategy}", body, ops=DELIVERIES))
    return candidates


def run_graph(config: MeasureConfig) -> Section:
    """Measure both shapes and strategies on both stores, in trio runs."""
    with tempfile.TemporaryDirectory(prefix="floe-bench-") as directory:
        results = anyio.run(_measure, Path(directory), config, backend="trio")
    return _section(results)


async def _measure(directory: Path, config: MeasureConfig) -> dict[str, dict[str, Timing]]:
    results: dict[str, dict[str, Timing]] = {}
    for store, url in (("memory", "memory://"), ("sqlite", f"sqlite:///{directory / 'g.db'}")):
        settings = floe.Settings(store=url, log_format="off", strict_plugins=True)
        kernel = floe.Kernel(settings, plugins=[floe_sqlite], entry_points=False)
        async with kernel:
            results[store] = await measure_side_by_side(_candidates(), config)
    return results


def _section(results: dict[str, dict[str, Timing]]) -> Section:
    rows: list[tuple[str, ...]] = []
    goals: list[Goal] = []
    for store in ("memory", "sqlite"):
        timings = results[store]
        plain = timings["plain calls"]
        rows.append(_row("—", "plain handler calls (baseline)", plain, plain))
        for shape, label in (
            ("linear", f"{STAGES}-stage linear"),
            ("fan-out", f"1-to-{FAN_OUT} fan-out"),
        ):
            for strategy in ("sequential", "concurrent"):
                timing = timings[f"{shape} {strategy}"]
                goal = _goal(store, shape, strategy, timing)
                if goal is not None:
                    goals.append(goal)
                rows.append(_row(store, f"{label}, {strategy}", timing, plain, goal))
    return Section(
        key="graph",
        title="Routine graphs: deliveries through flows",
        columns=COLUMNS,
        rows=rows,
        goals=goals,
        notes=[
            f"One flow execution (one durable job) per sample: the {STAGES}-stage graph "
            f"carries N/{STAGES} items through {STAGES} routines, the fan-out sends N/"
            f"{FAN_OUT} messages to {FAN_OUT} routines; N deliveries either way.",
            "Every delivery is journaled (`routine.slot_received`, and `routine.emitted` "
            "per emit), the records of consecutive deliveries sharing one store "
            "write, and posted to the kernel's bus; the job's state is kept up to date "
            "record by record as they are written (nothing is read back when it ends).",
            f"`concurrent` runs up to {CONCURRENCY} deliveries at once. Handlers are async "
            "and only emit; `vs plain calls` is throughput relative to awaiting the same "
            "handler in a loop (no flow, no journal).",
            "The kernel runs on trio with the memory or the SQLite store (WAL, "
            "synchronous=NORMAL, a temporary file).",
        ],
    )


def _goal(store: str, shape: str, strategy: str, timing: Timing) -> Goal | None:
    if shape != "linear":
        return None
    if store == "memory" and strategy == "sequential":
        target, label = GOAL_MEMORY, "in memory, sequential"
    elif store == "sqlite" and strategy == "concurrent":
        target, label = GOAL_SQLITE, "on SQLite (durable), concurrent"
    else:
        return None
    return Goal(
        workload="graph",
        figure=f"deliveries/s, {STAGES}-stage linear graph, {label}",
        target=f"≥ {target:,}/s",
        measured=format_rate(timing.per_second),
        met=timing.per_second >= target,
    )


def _row(
    store: str, workload: str, timing: Timing, plain: Timing, goal: Goal | None = None
) -> tuple[str, ...]:
    met = "—" if goal is None or goal.met is None else ("yes" if goal.met else "no")
    return (
        store,
        workload,
        format_us(timing.us_per_op),
        format_rate(timing.per_second),
        format_ratio(timing.speedup_over(plain)),
        goal.target if goal else "—",
        met,
        f"{timing.spread:.0%}",
    )


if __name__ == "__main__":
    import sys

    quick = MeasureConfig(repeat=3, min_sample_ns=20_000_000, max_ops=50_000)
    section = run_graph(quick if "--quick" in sys.argv else MeasureConfig())
    print(" | ".join(section.columns))
    for row in section.rows:
        print(" | ".join(row))
    for goal in section.goals:
        print(goal)
