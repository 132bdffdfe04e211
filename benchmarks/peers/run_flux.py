"""flux-core on the workflows benchmark: async tasks in an async workflow, run inline.

``workflow.run(input)`` executes the workflow in this process and checkpoints its
execution context to flux's SQLite database (``.flux/flux.db`` under the working
directory, so the script works in its work directory). Concurrent tasks use
``task.map``. flux registers a workflow by reading its module's source, so the
workflows live at module level and nothing runs at import.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import metadata

from _protocol import Engine, main

try:
    from flux import ExecutionContext, task, workflow
except ImportError:  # reported by setup(), as any other failure of the engine
    workflow = None
else:

    @task
    async def step(i: int) -> int:
        return i

    @workflow
    async def sequential(ctx: ExecutionContext[int]) -> int:
        total = 0
        for i in range(ctx.input):
            total += await step(i)
        return total

    @workflow
    async def concurrent(ctx: ExecutionContext[int]) -> int:
        results = await step.map(list(range(ctx.input)))
        return sum(results)


def setup(options: argparse.Namespace) -> Engine:
    if workflow is None:
        raise RuntimeError("flux-core is not installed in this environment")
    os.chdir(options.workdir)
    (options.workdir / ".flux").mkdir(exist_ok=True)
    os.environ.setdefault("FLUX_LOG_LEVEL", "ERROR")
    workflows = {"sequential": sequential, "concurrent": concurrent}

    def run(workload: str, n: int) -> int:
        execution = workflows[workload].run(n)
        if not execution.has_succeeded:
            raise RuntimeError(f"the flux workflow did not succeed: {execution.output!r}")
        return execution.output  # type: ignore[no-any-return]

    return Engine("flux-core", metadata.version("flux-core"), "SQLite", run)


if __name__ == "__main__":
    sys.exit(main(setup))
