"""Workload 7: memory, so that a long-lived worker's memory is known and bounded.

Every figure is measured in a fresh process of this interpreter (this file, run with
``--probe``), which prints one JSON object; resident set sizes come from
``/proc/self/status`` (``VmRSS``, and ``VmHWM`` for the peak, reset through
``/proc/self/clear_refs`` before a read where the kernel allows it), or from
``resource.getrusage`` elsewhere. ``gc.collect()`` runs before every reading.

* runs kept: one kernel (trio, logging off) finishes 1,000, then 5,000 small runs (one
  workflow awaiting one task), after 200 untimed runs have loaded whatever loads
  lazily; the figure is the RSS growth per 1,000 runs, on the memory store (which keeps
  every run in RAM) and on SQLite (which should keep nothing);
* events read: a process appends 100,000 journal events (shaped as a step's
  ``task.completed``) to one run in a SQLite file; another opens the file, reads them
  with ``read_events`` and reports the RSS growth while they are held, the peak, and
  what is still held once they are dropped;
* replay: a workflow maps ``REPLAY_STEPS`` tasks and pauses; a fresh process resumes it
  (every step replayed from the journal) and reports the same three figures, scaled to
  100,000 events read.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _harness import Goal, MeasureConfig, Section

import floe

__all__ = ["run_memory"]

RUNS_WARMUP = 200
RUNS_COUNTS = (1_000, 5_000)
EVENTS = 100_000
REPLAY_STEPS = 20_000
"""Steps of the replayed run (two events each): building it costs seconds per 10,000."""
APPEND_BATCH = 1_000
GOAL_SQLITE_MIB_PER_1000_RUNS = 1.0
GOAL_MIB_PER_100K_EVENTS = 64.0
PROBE_TIMEOUT_S = 300
COLUMNS = ("figure", "store", "measured", "per unit", "goal", "met")


def run_memory(config: MeasureConfig) -> Section:
    """Run every probe in its own process and turn the readings into the table."""
    del config  # one reading per figure: memory does not need samples to settle
    with tempfile.TemporaryDirectory(prefix="floe-bench-memory-") as directory:
        work = Path(directory)
        runs = {store: _probe("runs", store, work) for store in ("memory", "sqlite")}
        _probe("build-events", "sqlite", work)
        read = _probe("read-events", "sqlite", work)
        _probe("build-replay", "sqlite", work)
        replay = _probe("replay", "sqlite", work)
    rows: list[tuple[str, ...]] = []
    goals: list[Goal] = []
    for store, result in runs.items():
        _runs_rows(store, result, rows, goals)
    _events_rows("read_events of 100,000 events", read, EVENTS, rows, goals)
    _events_rows(f"replay of a {REPLAY_STEPS:,}-step run", replay, replay["events"], rows, goals)
    return Section(
        key="memory",
        title="Memory: runs kept and journal events read",
        columns=COLUMNS,
        rows=rows,
        goals=goals,
        notes=_notes(),
    )


def _probe(kind: str, store: str, work: Path) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, __file__, "--probe", kind, store, str(work)],
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT_S,
        cwd=work,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the {kind} probe on {store} failed:\n{completed.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def _runs_rows(
    store: str, result: dict[str, Any], rows: list[tuple[str, ...]], goals: list[Goal]
) -> None:
    base = result["rss"][0]
    for count, rss in zip(RUNS_COUNTS, result["rss"][1:], strict=True):
        growth = _mib(rss - base)
        per_1000 = growth / (count / 1000)
        goal = GOAL_SQLITE_MIB_PER_1000_RUNS if store == "sqlite" else None
        met = None if goal is None else per_1000 <= goal
        target = "—" if goal is None else f"≤ {goal:g} MiB per 1,000"
        rows.append(
            (
                f"RSS growth, {count:,} runs finished and kept",
                store,
                f"{growth:.1f} MiB",
                f"{per_1000:.2f} MiB per 1,000 runs",
                target,
                _met(met),
            )
        )
        if goal is not None and count == RUNS_COUNTS[-1]:
            figure = "RSS per 1,000 runs kept"
            measured = f"{per_1000:.2f} MiB"
            goals.append(Goal("memory", figure, target, measured, met))


def _events_rows(
    figure: str,
    result: dict[str, Any],
    events: int,
    rows: list[tuple[str, ...]],
    goals: list[Goal],
) -> None:
    scale = EVENTS / events
    held = _mib(result["held"] - result["before"]) * scale
    peak = _mib(result["peak"] - result["before"]) * scale
    after = _mib(result["after"] - result["before"]) * scale
    target = f"≤ {GOAL_MIB_PER_100K_EVENTS:g} MiB"
    met = peak <= GOAL_MIB_PER_100K_EVENTS
    unit = "per 100,000 events"
    rows.append((f"{figure}: held", "sqlite", f"{held:.1f} MiB", unit, "—", "—"))
    rows.append((f"{figure}: peak", "sqlite", f"{peak:.1f} MiB", unit, target, _met(met)))
    rows.append((f"{figure}: still held after", "sqlite", f"{after:.1f} MiB", unit, "—", "—"))
    goals.append(Goal("memory", f"peak RSS growth, {figure}", target, f"{peak:.1f} MiB", met))


def _notes() -> list[str]:
    return [
        "RSS readings in fresh processes, gc.collect() first; growth is from the reading "
        f"after {RUNS_WARMUP} untimed runs (runs) or after the store is open and a "
        "small read has loaded what loads lazily (events).",
        "'held': with the events (or the finished replay's execution) still referenced; "
        "'peak': the high-water mark during the read; 'still held after': once they are "
        "dropped. Memory the allocator keeps for reuse counts as held.",
        f"The replay figures are scaled from {REPLAY_STEPS:,} steps (two journal events "
        "each, plus the run's own) to 100,000 events.",
    ]


def _met(met: bool | None) -> str:
    return "—" if met is None else ("yes" if met else "no")


def _mib(kib: int) -> float:
    return kib / 1024


# -- the probes, each in a fresh process --------------------------------------------------


def _status_kib(field: str) -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _rss() -> int:
    gc.collect()
    return _status_kib("VmRSS")


def _reset_peak() -> None:
    """Lower the high-water mark to the current RSS (Linux 4.0+), where allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _settings(store: str, work: Path) -> Any:
    # explicit settings: no settings file or FLOE_* variable of the machine leaks in
    url = "memory://" if store == "memory" else f"sqlite:///{work / 'floe.db'}"
    return floe.Settings(store=url, log_format="off")


@floe.task
async def step(i: int) -> int:
    return i


@floe.workflow
async def small(i: int) -> int:
    return await step(i)


@floe.workflow
async def replayed(n: int) -> int:
    results = await step.map(range(n))
    await floe.pause("replay", output=sum(results))
    return sum(results)


async def _probe_runs(store: str, work: Path) -> dict[str, Any]:
    readings: list[int] = []
    async with floe.open_kernel(_settings(store, work)):
        done = 0
        for target in (RUNS_WARMUP, *(RUNS_WARMUP + count for count in RUNS_COUNTS)):
            while done < target:
                await small.run_async(done, raise_on_error=True)
                done += 1
            readings.append(_rss())
    return {"rss": readings}


async def _build_events(store: str, work: Path) -> dict[str, Any]:
    async with floe.open_kernel(_settings(store, work)) as kernel:
        for run_id, count in (("small", 100), ("long", EVENTS)):
            await kernel.store.create_run(floe.Run(run_id=run_id, name="events"))
            for first in range(1, count + 1, APPEND_BATCH):
                batch = [
                    floe.Event(
                        run_id=run_id,
                        seq=seq,
                        kind="task.completed",
                        step=f"step#{seq}",
                        data={"task": "step", "position": str(seq), "result": seq},
                    )
                    for seq in range(first, min(first + APPEND_BATCH, count + 1))
                ]
                await kernel.store.append_events(run_id, batch)
    return {}


async def _read_events(store: str, work: Path) -> dict[str, Any]:
    async with floe.open_kernel(_settings(store, work)) as kernel:
        await kernel.store.read_events("small")
        return await _held(lambda: kernel.store.read_events("long"), len)


async def _held(read: Callable[[], Any], count: Callable[[Any], int]) -> dict[str, Any]:
    """RSS before, while *read*'s result is held, at its peak and once it is dropped."""
    before = _rss()
    _reset_peak()
    result = await read()
    held = _rss()
    peak = _status_kib("VmHWM")
    events = count(result)
    del result
    return {"before": before, "held": held, "peak": peak, "after": _rss(), "events": events}


async def _build_replay(store: str, work: Path) -> dict[str, Any]:
    async with floe.open_kernel(_settings(store, work)):
        execution = await replayed.run_async(REPLAY_STEPS, run_id="replay", raise_on_error=True)
        if not execution.paused:
            raise RuntimeError(f"the replay run is {execution.status}, not paused")
    return {}


async def _replay(store: str, work: Path) -> dict[str, Any]:
    async with floe.open_kernel(_settings(store, work)) as kernel:
        await kernel.store.read_events("small")

        async def resume() -> Any:
            execution = await replayed.resume_async("replay", "go")
            if not execution.succeeded:
                raise RuntimeError(f"the resumed run is {execution.status}: {execution.error}")
            return execution

        result = await _held(resume, lambda _execution: 0)
        result["events"] = len(await kernel.store.read_events("replay"))
        return result


PROBES = {
    "runs": _probe_runs,
    "build-events": _build_events,
    "read-events": _read_events,
    "build-replay": _build_replay,
    "replay": _replay,
}


def _main(kind: str, store: str, work: str) -> None:
    import anyio

    result = anyio.run(PROBES[kind], store, Path(work), backend="trio")
    print(json.dumps(result))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--probe":
        _main(*sys.argv[2:])
    else:
        sys.exit("usage: bench_memory.py --probe KIND STORE WORKDIR (run through run.py)")
