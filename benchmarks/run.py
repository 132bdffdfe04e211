"""Run the benchmark suite: ``python benchmarks/run.py [--only bus,store,workflows,...]``.

Prints one table per workload and a summary of the goals; with ``--output`` also writes
the Markdown report (``benchmarks/RESULTS.md`` in the ``bench`` nox session). Timings
are reported, never asserted: the exit code is 1 only when a workload broke.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from _harness import MeasureConfig, Section
from _report import describe_machine, render_markdown, render_text

Workload = Callable[[MeasureConfig], Section]

TITLES = {
    "bus": "Event bus: publish with sequential delivery",
    "store": "Store: appending journal events",
    "startup": "Cold start",
    "components": "Components: messages through state machines",
    "workflows": "Workflows: durable steps, next to baselines and peer engines",
    "graph": "Routine graphs: deliveries through flows",
    "memory": "Memory: runs kept and journal events read",
    "workers": "Workers: runs through worker processes",
    "postgres": "PostgreSQL: durable steps next to raw psycopg",
    "server": "HTTP server: run/async submissions over loopback",
}


def _bus(config: MeasureConfig) -> Section:
    from bench_bus import run_bus

    return run_bus(config)


def _store(config: MeasureConfig) -> Section:
    from bench_store import run_store

    return run_store(config)


def _startup(config: MeasureConfig) -> Section:
    from bench_startup import run_startup

    return run_startup(config)


def _components(config: MeasureConfig) -> Section:
    from bench_components import run_components

    return run_components(config)


def _workflows(config: MeasureConfig) -> Section:
    from bench_workflows import run_workflows

    return run_workflows(config)


def _graph(config: MeasureConfig) -> Section:
    from bench_graph import run_graph

    return run_graph(config)


def _memory(config: MeasureConfig) -> Section:
    from bench_memory import run_memory

    return run_memory(config)


def _workers(config: MeasureConfig) -> Section:
    from bench_workers import run_workers

    return run_workers(config)


def _postgres(config: MeasureConfig) -> Section:
    from bench_postgres import run_postgres

    return run_postgres(config)


def _server(config: MeasureConfig) -> Section:
    from bench_server import run_server

    return run_server(config)


# imported when chosen, so one workload's missing library does not stop the others
WORKLOADS: dict[str, Workload] = {
    "bus": _bus,
    "store": _store,
    "startup": _startup,
    "components": _components,
    "workflows": _workflows,
    "graph": _graph,
    "memory": _memory,
    "workers": _workers,
    "postgres": _postgres,
    "server": _server,
}


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    config = (
        MeasureConfig(repeat=3, min_sample_ns=10_000_000)
        if arguments.quick
        else MeasureConfig(repeat=arguments.repeat)
    )
    machine = describe_machine()
    sections = []
    for name in arguments.only:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        sections.append(_run_one(name, config))
        print(f"  {name}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)

    print(render_text(sections))
    if arguments.output is not None:
        command = " ".join(["python benchmarks/run.py", *(argv or sys.argv[1:])])
        arguments.output.write_text(
            render_markdown(sections, machine, config, command), encoding="utf-8"
        )
        print(f"\nwrote {arguments.output}", file=sys.stderr)
    return 1 if any(section.error for section in sections) else 0


def _run_one(name: str, config: MeasureConfig) -> Section:
    try:
        return WORKLOADS[name](config)
    except Exception as error:
        missing = _missing_module(error)
        if missing is not None:
            print(f"  {name}: not available ({missing})", file=sys.stderr)
            return Section(key=name, title=TITLES[name], columns=(), unavailable=missing)
        # reported in the results and the exit code, so the other workloads still run
        traceback.print_exc()
        return Section(
            key=name,
            title=TITLES[name],
            columns=(),
            error=f"{type(error).__name__}: {error}",
        )


def _missing_module(error: Exception) -> str | None:
    """Why a workload cannot run here, when a module it needs is absent; else None.

    A workload whose file or library is not here is not available, which is no failure;
    a floe module missing is a broken installation, and fails like any other error.
    """
    if not isinstance(error, ModuleNotFoundError) or error.name is None:
        return None
    if error.name.split(".")[0] in ("floe", "_harness", "_report"):
        return None
    if error.name.startswith("bench_"):
        return f"benchmarks/{error.name}.py does not exist yet"
    return f"the module {error.name!r} is not installed here"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/run.py",
        description="floe's benchmarks, each side by side with its baseline.",
    )
    parser.add_argument(
        "--only",
        type=_workload_list,
        default=list(WORKLOADS),
        metavar="NAMES",
        help=f"comma-separated workloads to run (default: all of {','.join(WORKLOADS)})",
    )
    parser.add_argument(
        "--output", type=Path, metavar="PATH", help="also write the Markdown report here"
    )
    parser.add_argument(
        "--repeat",
        type=_positive,
        default=MeasureConfig().repeat,
        help="samples per figure, the median is reported (default: %(default)s)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer, shorter samples: to check that everything runs, not for numbers",
    )
    return parser


def _workload_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in WORKLOADS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown workload {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(WORKLOADS)}"
        )
    return list(dict.fromkeys(names))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a whole number >= 1")
    return value


if __name__ == "__main__":
    sys.exit(main())
