"""Artifacts, results and captured output: what a run reports besides its output.

``summarize`` adds a JSON artifact and a Markdown one through ``this_flow``, the workflow
records a named result with ``floe.add_result``, and everything the tasks print is
journaled as ``log.message`` events because the workflow captures its output. All of it
is in the run's journal, so ``floe events RUN_ID`` shows it later, from any process.

Run it (in memory, so it leaves nothing behind)::

    python examples/artifacts.py 3 1 2

It prints::

    output: 6
    artifact stats (json): {'count': 3, 'total': 6}
    artifact report (markdown): # Report ...
    result total: 3 numbers add up to 6
    log: summing 3 numbers
    log: the largest is 3

With the command line, on the default store::

    floe run examples/artifacts.py:report --input '[3, 1, 2]'
"""

from __future__ import annotations

import sys
from typing import Any

import anyio

import floe


@floe.task
def summarize(numbers: list[int], this_flow: Any = None) -> int:
    print(f"summing {len(numbers)} numbers")  # captured: the workflow has capture_output
    total = sum(numbers)
    this_flow.add_artifact("stats", {"count": len(numbers), "total": total})
    this_flow.add_artifact(
        "report",
        f"# Report\n\n{len(numbers)} numbers, total {total}.",
        artifact_type="markdown",
        description="for people",
    )
    print(f"the largest is {max(numbers)}")
    return total


@floe.workflow(capture_output=True)
async def report(numbers: list[int]) -> int:
    total = await summarize(numbers)
    floe.add_result("total", f"{len(numbers)} numbers add up to {total}")
    return total


async def main(numbers: list[int]) -> None:
    async with floe.open_kernel(store="memory://", log_format="off"):
        execution = await report.run_async(numbers)
    print("output:", execution.output)
    for artifact in execution.artifacts:
        shown = artifact.value if artifact.artifact_type == "json" else artifact.value[:8] + " ..."
        print(f"artifact {artifact.key} ({artifact.artifact_type}): {shown}")
    for result in execution.results:
        print(f"result {result.key}: {result.description}")
    for line in execution.captured_logs():
        print("log:", line)


if __name__ == "__main__":
    anyio.run(main, [int(arg) for arg in sys.argv[1:]] or [3, 1, 2], backend="trio")
