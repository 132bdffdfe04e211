"""DBOS (``dbos``) on the workflows benchmark: async steps in an async workflow.

The system database is a SQLite file in the work directory (DBOS's own default kind,
no PostgreSQL). Concurrent steps are started with ``asyncio.gather`` inside the
workflow, DBOS's way of running steps of an async workflow side by side. Logging is
kept at warnings and the admin server is off.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from importlib import metadata

from _protocol import Engine, main


def setup(options: argparse.Namespace) -> Engine:
    from dbos import DBOS

    @DBOS.step()
    async def step(i: int) -> int:
        return i

    @DBOS.workflow()
    async def sequential(n: int) -> int:
        total = 0
        for i in range(n):
            total += await step(i)
        return total

    @DBOS.workflow()
    async def concurrent(n: int) -> int:
        results = await asyncio.gather(*(step(i) for i in range(n)))
        return sum(results)

    database = options.workdir / "dbos.sqlite"
    DBOS(
        config={
            "name": "floe-bench",
            "system_database_url": f"sqlite:///{database}",
            "run_admin_server": False,
            "log_level": "WARNING",
        }
    )
    DBOS.launch()
    workflows = {"sequential": sequential, "concurrent": concurrent}

    async def run(workload: str, n: int) -> int:
        return await workflows[workload](n)  # type: ignore[no-any-return]

    return Engine("dbos", metadata.version("dbos"), "SQLite system database", run, DBOS.destroy)


if __name__ == "__main__":
    sys.exit(main(setup, event_loop=asyncio.run))
