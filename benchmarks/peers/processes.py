"""Engine scripts in fresh processes: floe's own runs and the peers', one workload each.

Used by ``bench_workflows.py`` (with the benchmark's interpreter, so ``_harness`` is
importable); the engine scripts themselves only need the standard library. A process
that fails, times out or answers nonsense becomes an :class:`EngineResult` with a
``problem`` and no answer: the report shows it as not available, never crashes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _harness import MeasureConfig, Timing

from peers.engines import PEERS, Peer

__all__ = ["BIG_STEPS", "STEPS", "WORKLOADS", "EngineResult", "FreshRuns", "floe_store"]

STEPS = 1_000
BIG_STEPS = 100_000
WORKLOADS = ("sequential", "concurrent")
PEERS_DIR = Path(__file__).resolve().parent

PEER_TIMEOUT_SECONDS = 900
"""One engine process (one workload) is given this long before it counts as broken."""
BUDGET_SAMPLE_LENGTHS = 100
"""A peer's run may last this many of the harness's sample lengths before it is scaled
down: 1 s with --quick, 4 s in a full run."""
MAX_PEER_SAMPLES = 5


@dataclass(frozen=True)
class EngineResult:
    """What one engine process answered, or why there is no answer."""

    answer: dict[str, Any] | None
    problem: str | None = None

    @property
    def timing(self) -> Timing | None:
        if self.answer is None:
            return None
        return Timing(self.answer["engine"], self.answer["steps"], tuple(self.answer["samples_ns"]))

    @property
    def steps(self) -> int:
        return int(self.answer["steps"]) if self.answer else 0

    @property
    def rss_growth_kib(self) -> int | None:
        if self.answer is None:
            return None
        before, after = self.answer["peak_rss_before_kib"], self.answer["peak_rss_after_kib"]
        return None if before is None or after is None else after - before


def _run_engine(
    python: Path | str,
    script: str,
    workdir: Path,
    workload: str,
    *,
    steps: int | str = "auto",
    samples: int = 3,
    budget_seconds: float = 2.0,
    store: str = "",
    warm_up: bool = True,
) -> EngineResult:
    command = [
        str(python),
        str(PEERS_DIR / script),
        "--workload",
        workload,
        "--steps",
        str(steps),
        "--samples",
        str(samples),
        "--budget-seconds",
        str(budget_seconds),
        "--workdir",
        str(workdir),
        "--store",
        store,
    ]
    if not warm_up:
        command += ["--warm-up", "0"]
    environment = {key: value for key, value in os.environ.items() if not key.startswith("FLOE_")}
    try:
        # a session of its own, so that a timeout ends the servers an engine started too
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=workdir,
            env=environment,
            start_new_session=True,
        )
    except OSError as error:
        return EngineResult(None, f"could not start: {error}")
    try:
        stdout, stderr = process.communicate(timeout=PEER_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        _kill_session(process)
        return EngineResult(None, f"timed out after {PEER_TIMEOUT_SECONDS} s")
    result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    lines = result.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        answer = {}
    if "error" in answer:
        return EngineResult(None, f"failed: {answer['error']}")
    if result.returncode != 0 or "samples_ns" not in answer:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return EngineResult(None, f"failed (exit {result.returncode}): {last}")
    return EngineResult(answer)


def _kill_session(process: subprocess.Popen[str]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (AttributeError, ProcessLookupError):  # no process groups here, or gone
        process.kill()
    process.communicate()


class FreshRuns:
    """floe's and the peers' runs in processes of their own, one workload each."""

    def __init__(self, directory: Path, config: MeasureConfig) -> None:
        self.directory = directory
        self.samples = max(1, min(config.repeat, MAX_PEER_SAMPLES))
        self.budget_seconds = BUDGET_SAMPLE_LENGTHS * config.min_sample_ns / 1e9
        self.floe: dict[tuple[str, str, int], EngineResult] = {}
        self.peers: dict[tuple[str, str], EngineResult] = {}
        self.unavailable: dict[str, str] = {}
        self.big: EngineResult | None = None
        self.big_floor: EngineResult | None = None
        self.replay: EngineResult | None = None
        self._count = 0

    def _workdir(self, name: str) -> Path:
        self._count += 1
        path = self.directory / f"{self._count:02d}-{name}"
        path.mkdir()
        return path

    def floe_run(self, store: str, workload: str, steps: int) -> EngineResult:
        key = (store, workload, steps)
        if key not in self.floe:
            self.floe[key] = _run_engine(
                sys.executable,
                "run_floe.py",
                self._workdir(f"floe-{store}-{workload}"),
                workload,
                steps=steps,
                samples=self.samples,
                store=store,
            )
        return self.floe[key]

    def run_floe(self) -> None:
        for store in ("memory", "sqlite"):
            for workload in WORKLOADS:
                self.floe_run(store, workload, STEPS)
        self.big = _run_engine(
            sys.executable,
            "run_floe.py",
            self._workdir("floe-big"),
            "concurrent",
            steps=BIG_STEPS,
            samples=1,
            store="memory",
        )
        self.big_floor = _run_engine(
            sys.executable,
            "run_floe.py",
            self._workdir("floor-big"),
            "floor-concurrent",
            steps=BIG_STEPS,
            samples=1,
            store="memory",
        )
        workdir = self._workdir("floe-replay")
        built = _run_engine(
            sys.executable,
            "run_floe.py",
            workdir,
            "replay-build",
            steps=BIG_STEPS,
            samples=1,
            store="sqlite",
            warm_up=False,
        )
        if built.answer is None:
            self.replay = EngineResult(None, f"building the run {built.problem}")
            return
        self.replay = _run_engine(
            sys.executable,
            "run_floe.py",
            workdir,
            "replay",
            steps=BIG_STEPS,
            samples=1,
            store="sqlite",
            warm_up=False,
        )

    def run_peers(self) -> None:
        for peer in PEERS:
            if not peer.installed():
                self.unavailable[peer.key] = (
                    f"not installed here (`python benchmarks/peers/install.py {peer.key}` "
                    "or `nox -s bench` installs it)"
                )
                continue
            for workload in WORKLOADS:
                result = _run_engine(
                    peer.python(),
                    peer.script,
                    self._workdir(f"{peer.key}-{workload}"),
                    workload,
                    samples=self.samples,
                    budget_seconds=self.budget_seconds,
                )
                self.peers[(peer.key, workload)] = result
                if result.answer is not None:
                    # floe, measured the same way at the same size, for the comparison
                    self.floe_run(floe_store(peer), workload, result.steps)


def floe_store(peer: Peer) -> str:
    return "sqlite" if peer.durable else "memory"
