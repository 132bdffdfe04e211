"""What every engine script shares: arguments, the timing loop, peak RSS, the JSON answer.

Standard library only: the scripts run in the peers' own virtual environments, where
nothing of floe's is installed. An engine script defines how to set itself up and how
to run one workflow of *n* trivial steps, and hands that to :func:`main`:

* ``--workload sequential``: one workflow whose body awaits *n* tasks one after the other;
* ``--workload concurrent``: one workflow that starts *n* tasks together and awaits all.

One process measures one workload. It first runs three small workflows, untimed: the
first starts whatever the engine starts lazily (servers, connection pools), the next
two, of 10 and 50 steps, tell the cost of a run apart from the cost of a step. It then
picks the number of steps (``--steps``, or with ``--steps auto`` 1,000 when such a run
fits in ``--budget-seconds``, else 100), reads the process's peak resident
set size (``VmHWM``), runs the timed workflows one after the other and reads it again.
The growth of the peak across the first timed run is the memory that run needed beyond
everything loaded before it.

The answer is one JSON object on stdout; a failure is ``{"error": ...}`` with exit code
1, so the caller can report the engine as not available instead of crashing.
"""

from __future__ import annotations

import argparse
import inspect
import json
import platform
import sys
import time
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Engine", "answer", "arguments", "expected_output", "main", "measure", "peak_rss_kib"]

AUTO_STEPS = (1_000, 100)
"""Step counts ``--steps auto`` chooses from, largest first; the last is used even when
its run outlasts the budget, as fewer steps would time little more than a run's start."""
WARM_UP_STEPS = 10


@dataclass(frozen=True)
class Engine:
    """One engine, ready to run: ``run(workload, n)`` runs one workflow of *n* steps.

    ``run`` (sync, or async for engines measured inside an event loop) returns the
    workflow's output, checked against :func:`expected_output`, so that a run that did
    not do its steps cannot pass for a fast one. ``close`` (optional) shuts the engine
    down once the timed runs are done.
    """

    name: str
    version: str
    store: str
    run: Callable[[str, int], Any]
    close: Callable[[], None] | None = None


def expected_output(workload: str, n: int) -> int:
    """Every engine's workflow returns the sum of its steps' results, 0 + 1 + ... + n-1."""
    return n * (n - 1) // 2


def peak_rss_kib() -> int | None:
    """The process's peak resident set size so far (``VmHWM``), None where unknown."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    try:
        import resource
    except ImportError:
        return None
    # ru_maxrss is KiB on Linux, bytes on macOS
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", required=True)
    parser.add_argument("--steps", default="auto", help="a number, or auto")
    parser.add_argument("--samples", type=int, default=3, help="timed runs")
    parser.add_argument("--budget-seconds", type=float, default=2.0)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--store", default="", help="the engine's store, where it has a choice")
    parser.add_argument("--warm-up", type=int, default=WARM_UP_STEPS, help="0: none")
    options = parser.parse_args(argv)
    options.workdir.mkdir(parents=True, exist_ok=True)
    return options


def main(
    setup: Callable[[argparse.Namespace], Engine],
    argv: list[str] | None = None,
    *,
    event_loop: Callable[[Coroutine[Any, Any, dict[str, Any]]], dict[str, Any]] | None = None,
) -> int:
    """Parse the arguments, set the engine up, measure, print the JSON answer.

    An engine whose ``run`` is async names the *event_loop* that runs the measurement
    (``asyncio.run``); without one, ``run`` is sync and so is the measurement.
    """
    options = arguments(argv)

    def measured() -> dict[str, Any]:
        engine = setup(options)
        try:
            return (event_loop or _run_without_loop)(measure(engine, options))
        finally:
            if engine.close is not None:
                engine.close()

    return answer(measured)


def answer(measured: Callable[[], dict[str, Any]]) -> int:
    """Print what *measured* returns as JSON, or its failure as ``{"error": ...}``."""
    try:
        payload = measured()
    except Exception as error:  # the caller reports it as not available
        traceback.print_exc(file=sys.stderr)
        _print_json({"error": f"{type(error).__name__}: {error}"})
        return 1
    _print_json(payload)
    return 0


def _run_without_loop(coroutine: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    # with a sync engine the measurement never awaits anything that suspends, so one
    # send runs it to the end (and an engine may start event loops of its own inside)
    try:
        coroutine.send(None)
    except StopIteration as finished:
        return finished.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("a sync engine's measurement suspended: give main() an event_loop")


async def measure(engine: Engine, options: argparse.Namespace) -> dict[str, Any]:
    """Warm up, choose the number of steps, time the runs, read the peak RSS around them."""
    workload = options.workload
    cost: tuple[float, float] | None = None
    if options.warm_up:
        await _checked_run(engine, workload, options.warm_up)  # starts what starts lazily
        cost = await _estimate_cost(engine, workload, options.warm_up)
    steps, scaled_down = _steps(options, cost)

    rss_before = peak_rss_kib()
    samples: list[int] = []
    rss_after_first: int | None = None
    for _ in range(options.samples):
        samples.append(await _timed_run(engine, workload, steps))
        if rss_after_first is None:
            rss_after_first = peak_rss_kib()
    return {
        "engine": engine.name,
        "version": engine.version,
        "store": engine.store,
        "python": platform.python_version(),
        "workload": workload,
        "steps": steps,
        "scaled_down": scaled_down,
        "samples_ns": samples,
        "peak_rss_before_kib": rss_before,
        "peak_rss_after_kib": rss_after_first,
        "peak_rss_kib": peak_rss_kib(),
    }


async def _estimate_cost(engine: Engine, workload: str, small: int) -> tuple[float, float]:
    """(ns per run, ns per step) from two small runs: a run may cost far more than its steps."""
    larger = small * 5
    time_small = await _timed_run(engine, workload, small)
    time_larger = await _timed_run(engine, workload, larger)
    per_step = max((time_larger - time_small) / (larger - small), 0.0)
    return max(time_small - per_step * small, 0.0), per_step


async def _timed_run(engine: Engine, workload: str, steps: int) -> int:
    started = time.perf_counter_ns()
    await _checked_run(engine, workload, steps)
    return time.perf_counter_ns() - started


def _steps(options: argparse.Namespace, cost: tuple[float, float] | None) -> tuple[int, bool]:
    if options.steps != "auto":
        return int(options.steps), False
    if cost is None:
        return AUTO_STEPS[0], False
    per_run, per_step = cost
    budget_ns = options.budget_seconds * 1e9
    for steps in AUTO_STEPS:
        if per_run + per_step * steps <= budget_ns:
            return steps, steps != AUTO_STEPS[0]
    return AUTO_STEPS[-1], True


async def _checked_run(engine: Engine, workload: str, steps: int) -> None:
    output = engine.run(workload, steps)
    if inspect.isawaitable(output):
        output = await output
    wanted = expected_output(workload, steps)
    if output != wanted:
        raise RuntimeError(
            f"{engine.name} {workload} with {steps} steps returned {output!r}, not {wanted}"
        )


def _print_json(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()
