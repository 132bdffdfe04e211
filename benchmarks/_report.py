"""Rendering a run's sections: plain text for the terminal, Markdown for RESULTS.md."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from _harness import Goal, MeasureConfig, Section

__all__ = ["Machine", "describe_machine", "render_markdown", "render_text"]

LIBRARIES = ("floe-kernel", "anyio", "trio", "blinker", "pyee")

HOW_TO_READ = (
    "Every figure is measured side by side with its baseline in the same process and "
    "run, the contenders taking turns, and is the median of several samples; a sample "
    "times a whole batch of operations with `time.perf_counter_ns`. The ratios are what "
    "carries over between machines; the absolute numbers say what the ratios mean on "
    "the machine above (a shared 2-core virtual machine is slow and noisy, so compare "
    "ratios, not microseconds, across runs). `spread` is (slowest - fastest) / median "
    "over the samples: a large spread means the machine was busy, so rerun before "
    "drawing conclusions. Throughput ratios above 1 mean faster than the baseline; "
    "time ratios above 1 mean slower. A goal marked `—` could not be measured here."
)


@dataclass(frozen=True)
class Machine:
    """Where and when the numbers were taken."""

    cpu: str
    cores: int
    python: str
    platform: str
    versions: dict[str, str]
    date: datetime
    load: str


def describe_machine() -> Machine:
    return Machine(
        cpu=_cpu_model(),
        cores=os.cpu_count() or 0,
        python=f"{platform.python_implementation()} {platform.python_version()}",
        platform=platform.platform(),
        versions={name: _version(name) for name in LIBRARIES},
        date=datetime.now(UTC),
        load=" / ".join(f"{value:.2f}" for value in os.getloadavg())
        if hasattr(os, "getloadavg")
        else "unknown",
    )


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine() or "unknown"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


# -- plain text ---------------------------------------------------------------------------


def render_text(sections: Sequence[Section]) -> str:
    parts: list[str] = []
    for section in sections:
        parts.append(f"== {section.title} ==")
        if section.error:
            parts.append(f"ERROR: {section.error}")
        if section.unavailable:
            parts.append(f"not available: {section.unavailable}")
        if section.rows:
            parts.append(_text_table(section.columns, section.rows))
        parts.append("")
    goals = [goal for section in sections for goal in section.goals]
    if goals:
        parts.append("== Goals ==")
        parts.append(_text_table(_GOAL_COLUMNS, [_goal_row(goal) for goal in goals]))
    return "\n".join(parts)


def _text_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in [columns, *rows]) for i in range(len(columns))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(columns), rule, *(line(row) for row in rows)]).rstrip()


# -- Markdown -----------------------------------------------------------------------------

_GOAL_COLUMNS = ("workload", "figure", "goal", "measured", "met")


def render_markdown(
    sections: Sequence[Section], machine: Machine, config: MeasureConfig, command: str
) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{command}` on {machine.date:%Y-%m-%d %H:%M} UTC. Rerun it to refresh "
        "this page; `benchmarks/README.md` explains each workload.",
        "",
        "## Machine",
        "",
        *_markdown_table(("what", "value"), _machine_rows(machine, config)),
        "",
        "## How to read this",
        "",
        HOW_TO_READ,
        "",
    ]
    goals = [goal for section in sections for goal in section.goals]
    if goals:
        lines += ["## Goals", "", *_markdown_table(_GOAL_COLUMNS, map(_goal_row, goals)), ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        if section.error:
            lines += [f"**Error:** {section.error}", ""]
        if section.unavailable:
            lines += [f"Not available: {section.unavailable}", ""]
        if section.rows:
            lines += [*_markdown_table(section.columns, section.rows), ""]
        lines += [f"- {note}" for note in section.notes]
        if section.notes:
            lines.append("")
    return "\n".join(lines) + "\n"


def _machine_rows(machine: Machine, config: MeasureConfig) -> list[tuple[str, str]]:
    versions = ", ".join(f"{name} {version}" for name, version in machine.versions.items())
    return [
        ("CPU", machine.cpu),
        ("cores", str(machine.cores)),
        ("Python", machine.python),
        ("platform", machine.platform),
        ("floe", machine.versions["floe-kernel"]),
        ("libraries", versions),
        ("date", f"{machine.date:%Y-%m-%d %H:%M:%S} UTC"),
        ("load average at start (1 / 5 / 15 min)", machine.load),
        (
            "sampling",
            f"{config.repeat} samples per figure, each at least "
            f"{config.min_sample_ns / 1e6:.0f} ms (cold start: one process per sample)",
        ),
    ]


def _goal_row(goal: Goal) -> tuple[str, ...]:
    met = "—" if goal.met is None else ("yes" if goal.met else "no")
    return (goal.workload, goal.figure, goal.target, goal.measured, met)


def _markdown_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    body = [line(row) for row in rows]
    return [line(columns), "|" + "|".join("---" for _ in columns) + "|", *body]
