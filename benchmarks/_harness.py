"""Timing and reporting primitives shared by the workloads.

One measurement is a *sample*: a body runs ``ops`` operations while a
``perf_counter_ns`` clock is read around it. Every candidate of a comparison is first
warmed up (which also calibrates ``ops`` so one sample lasts long enough to read the
clock reliably), then sampled ``repeat`` times, the candidates taking turns in a rotating
order so slow drift of the machine (frequency, page cache, a neighbour's load) lands
on all of them alike. The figure reported is the median sample.

Nothing here keeps state between calls: a workload builds its candidates, hands them to
:func:`measure_side_by_side` and turns the :class:`Timing` objects into a
:class:`Section` of the report.
"""

from __future__ import annotations

import gc
import inspect
import math
import statistics
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from time import perf_counter_ns
from typing import cast

import anyio
import anyio.to_thread

import floe

__all__ = [
    "Candidate",
    "Goal",
    "MeasureConfig",
    "Section",
    "Timing",
    "format_ms",
    "format_rate",
    "format_ratio",
    "format_us",
    "measure_side_by_side",
]

SyncBody = Callable[[int], None]
AsyncBody = Callable[[int], Awaitable[None]]
Prepare = Callable[[int], Awaitable[None]]

_MAX_GROWTH = 10
"""Calibration grows ``ops`` by at most this factor per warm-up round."""


@dataclass(frozen=True)
class MeasureConfig:
    """How hard to measure: samples per candidate and the length of one sample."""

    repeat: int = 9
    min_sample_ns: int = 40_000_000
    max_ops: int = 200_000
    """Upper bound on operations per sample, to keep memory-hungry bodies in check."""


@dataclass(frozen=True)
class Candidate:
    """One contender: ``body(ops)`` performs *ops* operations and is timed as a whole.

    A sync body runs in a worker thread (the clock is read inside that thread), so the
    event loop stays free and the body is timed without any thread hop. ``prepare(ops)``,
    when given, runs untimed before every sample (to create the runs a sample appends to,
    say). ``ops`` fixes the operations per sample; ``None`` lets warm-up calibrate it.
    """

    label: str
    body: SyncBody | AsyncBody
    prepare: Prepare | None = None
    ops: int | None = None


@dataclass(frozen=True)
class Timing:
    """The samples of one candidate: total nanoseconds for ``ops`` operations each."""

    label: str
    ops: int
    samples_ns: tuple[int, ...]

    @property
    def ns_per_op(self) -> float:
        return statistics.median(self.samples_ns) / self.ops

    @property
    def us_per_op(self) -> float:
        return self.ns_per_op / 1_000

    @property
    def ms_per_op(self) -> float:
        return self.ns_per_op / 1_000_000

    @property
    def per_second(self) -> float:
        return 1e9 / self.ns_per_op

    @property
    def spread(self) -> float:
        """(slowest - fastest) / median over the samples: how noisy the figure is."""
        median = statistics.median(self.samples_ns)
        return (max(self.samples_ns) - min(self.samples_ns)) / median

    def speedup_over(self, baseline: Timing) -> float:
        """Throughput relative to *baseline* (above 1: faster than the baseline)."""
        return baseline.ns_per_op / self.ns_per_op

    def cost_relative_to(self, baseline: Timing) -> float:
        """Time per operation relative to *baseline* (above 1: slower than the baseline)."""
        return self.ns_per_op / baseline.ns_per_op


@dataclass(frozen=True)
class Goal:
    """One budget figure: what was promised, what was measured, whether it holds."""

    workload: str
    figure: str
    target: str
    measured: str
    met: bool | None
    """None when the figure could not be measured."""


@dataclass(frozen=True)
class Section:
    """One workload's part of the report: a table plus what to know to read it."""

    key: str
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    unavailable: str | None = None
    """Why the workload could not run here (a missing plugin, say); not a failure."""
    error: str | None = None
    """The workload broke: reported, and the runner exits non-zero."""


async def measure_side_by_side(
    candidates: Sequence[Candidate], config: MeasureConfig
) -> dict[str, Timing]:
    """Warm up (and calibrate) every candidate, then sample them in rotating turns."""
    ops = {c.label: c.ops or await _calibrate(c, config) for c in candidates}
    samples: dict[str, list[int]] = {c.label: [] for c in candidates}
    for round_index in range(config.repeat):
        shift = round_index % len(candidates)
        for candidate in [*candidates[shift:], *candidates[:shift]]:
            samples[candidate.label].append(await _sample(candidate, ops[candidate.label]))
    return {c.label: Timing(c.label, ops[c.label], tuple(samples[c.label])) for c in candidates}


async def _calibrate(candidate: Candidate, config: MeasureConfig) -> int:
    ops = 1
    while True:
        elapsed = await _sample(candidate, ops)
        if elapsed >= config.min_sample_ns or ops >= config.max_ops:
            # one more run at the final size, so the first real sample is not the first
            # time the body sees that many operations
            await _sample(candidate, ops)
            return ops
        wanted = math.ceil(ops * config.min_sample_ns / max(elapsed, 1))
        ops = min(max(wanted, ops + 1), ops * _MAX_GROWTH, config.max_ops)


async def _sample(candidate: Candidate, ops: int) -> int:
    if candidate.prepare is not None:
        await candidate.prepare(ops)
    gc.collect()
    body = candidate.body
    if inspect.iscoroutinefunction(body):
        start = perf_counter_ns()
        await body(ops)
        return perf_counter_ns() - start
    return await anyio.to_thread.run_sync(_time_sync, cast(SyncBody, body), ops)


def _time_sync(body: SyncBody, ops: int) -> int:
    start = perf_counter_ns()
    body(ops)
    return perf_counter_ns() - start


# -- formatting ---------------------------------------------------------------------------


def format_us(value: float) -> str:
    return f"{value:,.2f} µs" if value < 100 else f"{value:,.0f} µs"


def format_ms(value: float) -> str:
    return f"{value:,.1f} ms"


def format_rate(per_second: float) -> str:
    return f"{per_second:,.0f}/s"


def format_ratio(value: float) -> str:
    return f"{value:.2f}x"


def open_store(url: str) -> floe.Store:
    """An unopened store for *url*, found through the plugin hooks as the kernel does.

    The same lookup as ``floe.testing.open_store``, without the ``floe[test]`` extra
    (pytest), which the benchmark session does not install.
    """
    settings = floe.Settings(store=url, log_format="off", strict_plugins=True)
    return floe.Kernel(settings).hooks.open_store(url)
