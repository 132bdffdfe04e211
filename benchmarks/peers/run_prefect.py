"""Prefect 3 on the workflows benchmark: sync tasks in a sync flow.

Prefect's main path: ``@flow`` and ``@task`` on plain functions; concurrent tasks with
``task.map`` (submitted to the default thread-pool task runner) and the futures'
results. There is no Prefect server here, so the first flow starts Prefect's ephemeral
one (a SQLite database under ``PREFECT_HOME``, which the caller points at the work
directory); that start is part of the untimed warm-up. Logging is kept at errors and
telemetry is off. These variables must be set before Prefect is imported, so the
script sets them itself.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import metadata

from _protocol import Engine, main


def setup(options: argparse.Namespace) -> Engine:
    home = options.workdir / "prefect-home"
    os.environ.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_LOGGING_LEVEL": "ERROR",
            "PREFECT_LOGGING_TO_API_ENABLED": "false",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
        }
    )
    from prefect import flow, task

    @task
    def step(i: int) -> int:
        return i

    @flow
    def sequential(n: int) -> int:
        total = 0
        for i in range(n):
            total += step(i)
        return total

    @flow
    def concurrent(n: int) -> int:
        return sum(step.map(range(n)).result())

    flows = {"sequential": sequential, "concurrent": concurrent}

    def run(workload: str, n: int) -> int:
        return flows[workload](n)  # type: ignore[no-any-return]

    return Engine("prefect", metadata.version("prefect"), "ephemeral server, SQLite", run)


if __name__ == "__main__":
    sys.exit(main(setup))
