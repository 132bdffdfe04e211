"""Workload 3: cold start, each command in a fresh interpreter, side by side.

Three commands take turns, each run in a new subprocess per sample:
``python -c pass`` (the baseline: the interpreter alone), ``python -c "import floe"``
and ``floe --help`` (the console script installed next to ``sys.executable``). They
run from an empty temporary directory, so no project settings file is picked up.
Byte-code caches are warm (warm-up runs each command first), as they are for anyone
who has run floe once.

A separate subprocess imports floe and reports which heavy modules that loaded: the
kernel promises that ``import floe`` loads neither trio, sqlite3 nor click.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import anyio
from _harness import (
    Candidate,
    Goal,
    MeasureConfig,
    Section,
    Timing,
    format_ms,
    format_ratio,
    measure_side_by_side,
)

__all__ = ["run_startup"]

SAMPLES = 20
GOAL_HELP_MS = 150.0
UNWANTED_MODULES = ("trio", "sqlite3", "click")
COLUMNS = ("command", "median", "vs python -c pass", "over python -c pass", "goal", "met", "spread")

_PROBE = (
    "import sys, json; import floe; "
    f"print(json.dumps({{name: name in sys.modules for name in {list(UNWANTED_MODULES)!r}}}))"
)


def run_startup(config: MeasureConfig) -> Section:
    """Time the three commands and probe the modules ``import floe`` loads."""
    with tempfile.TemporaryDirectory(prefix="floe-bench-") as directory:
        return _measure(Path(directory), config)


def _measure(directory: Path, config: MeasureConfig) -> Section:
    python = sys.executable
    commands: dict[str, list[str]] = {
        "python -c pass": [python, "-c", "pass"],
        'python -c "import floe"': [python, "-c", "import floe"],
    }
    for argv in commands.values():
        # a command that fails would be timed failing fast; stop here instead
        problem = _problem(argv, directory)
        if problem is not None:
            return Section(
                key="startup",
                title="Cold start",
                columns=COLUMNS,
                error=f"{' '.join(argv)} failed: {problem}",
            )
    script = _console_script("floe")
    if script is None:
        help_problem: str | None = "no `floe` console script next to the interpreter"
    else:
        help_problem = _problem([script, "--help"], directory)
        if help_problem is None:
            commands["floe --help"] = [script, "--help"]

    candidates = [
        Candidate(label, _runner(argv, directory), ops=1) for label, argv in commands.items()
    ]
    sampling = MeasureConfig(repeat=max(config.repeat, SAMPLES), min_sample_ns=0)
    timings = anyio.run(measure_side_by_side, candidates, sampling)
    baseline = timings["python -c pass"]

    help_timing = timings.get("floe --help")
    help_goal = Goal(
        workload="startup",
        figure="`floe --help` cold start",
        target=f"≤ {GOAL_HELP_MS:.0f} ms",
        measured=format_ms(help_timing.ms_per_op) if help_timing else "not available",
        met=help_timing.ms_per_op <= GOAL_HELP_MS if help_timing else None,
    )
    loaded = _loaded_modules(python, directory)
    import_goal = Goal(
        workload="startup",
        figure="`import floe` loads neither " + ", ".join(UNWANTED_MODULES),
        target="none loaded",
        measured=", ".join(f"{name}: {loaded[name]}" for name in UNWANTED_MODULES),
        met=not any(loaded.values()),
    )

    rows = [
        _row(label, timing, baseline, help_goal if timing is help_timing else None)
        for label, timing in timings.items()
    ]
    if help_timing is None:
        rows.append(("floe --help", "not available", "—", "—", help_goal.target, "—", "—"))
    rows += [
        (
            f"`import floe` loads {name}",
            str(loaded[name]),
            "—",
            "—",
            "False",
            "yes" if not loaded[name] else "no",
            "—",
        )
        for name in UNWANTED_MODULES
    ]
    notes = [
        f"Each figure is the median of {sampling.repeat} fresh processes per command, the "
        "commands taking turns; `over python -c pass` is the time beyond the bare "
        "interpreter's start.",
    ]
    if help_timing is None:
        notes.insert(0, f"`floe --help` is not available here: {help_problem}")
    return Section(
        key="startup",
        title="Cold start",
        columns=COLUMNS,
        rows=rows,
        goals=[help_goal, import_goal],
        notes=notes,
    )


def _row(label: str, timing: Timing, baseline: Timing, goal: Goal | None) -> tuple[str, ...]:
    over = timing.ms_per_op - baseline.ms_per_op
    return (
        label,
        format_ms(timing.ms_per_op),
        format_ratio(timing.cost_relative_to(baseline)),
        "—" if timing is baseline else f"+{format_ms(over)}",
        goal.target if goal else "—",
        "—" if goal is None else ("yes" if goal.met else "no"),
        f"{timing.spread:.0%}",
    )


def _console_script(name: str) -> str | None:
    """The console script installed with this interpreter (``bin/`` or ``Scripts\\``)."""
    folder = Path(sys.executable).parent
    for candidate in (folder / name, folder / f"{name}.exe"):
        if candidate.is_file():
            return str(candidate)
    return None


def _problem(argv: Sequence[str], directory: Path) -> str | None:
    """None when *argv* exits 0; else its exit code and last line of error output."""
    result = subprocess.run(
        argv, cwd=directory, env=_environment(), capture_output=True, text=True, check=False
    )
    if result.returncode == 0:
        return None
    last_line = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
    return f"exit code {result.returncode}: {last_line}"


def _runner(argv: Sequence[str], directory: Path) -> Callable[[int], None]:
    environment = _environment()

    def run(ops: int) -> None:
        for _ in range(ops):
            subprocess.run(
                argv, cwd=directory, env=environment, stdout=subprocess.DEVNULL, check=True
            )

    return run


def _loaded_modules(python: str, directory: Path) -> dict[str, bool]:
    output = subprocess.run(
        [python, "-c", _PROBE],
        cwd=directory,
        env=_environment(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    loaded: dict[str, bool] = json.loads(output)
    return loaded


def _environment() -> dict[str, str]:
    # settings from the caller's environment could load extra plugins at start
    return {key: value for key, value in os.environ.items() if not key.startswith("FLOE_")}
