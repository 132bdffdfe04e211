"""osbot-utils flows on the workflows benchmark: async tasks in an async flow.

Flows run in memory (osbot-utils journals nothing): ``flow(...).execute()`` per run,
with the default configuration (logs kept in memory, nothing printed). Concurrent tasks
are started with ``asyncio.gather`` in the flow body; osbot-utils has no map.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from importlib import metadata

from _protocol import Engine, main


def setup(options: argparse.Namespace) -> Engine:
    from osbot_utils.helpers.flows.decorators.flow import flow
    from osbot_utils.helpers.flows.decorators.task import task

    @task()
    async def step(i: int) -> int:
        return i

    @flow()
    async def sequential(n: int) -> int:
        total = 0
        for i in range(n):
            total += await step(i)
        return total

    @flow()
    async def concurrent(n: int) -> int:
        results = await asyncio.gather(*(step(i) for i in range(n)))
        return sum(results)

    flows = {"sequential": sequential, "concurrent": concurrent}

    def run(workload: str, n: int) -> int:
        return flows[workload](n).execute().flow_return_value  # type: ignore[no-any-return]

    return Engine("osbot-utils", metadata.version("osbot-utils"), "memory (no journal)", run)


if __name__ == "__main__":
    sys.exit(main(setup))
