"""Injected parameters: what a task receives by naming a parameter.

A task or workflow body that declares ``this_flow``, ``this_task``, ``flow_data``,
``task_data``, ``secrets`` or ``metadata`` (and is not passed it) gets it from the
``floe_inject`` hook; an argument passed explicitly always wins. A plugin can add names
of its own: here ``Clock`` injects ``region``.

Run it::

    python examples/injection.py

It prints::

    fetch#1 attempt 1 of run injection-demo, region eu-west
    fetch#2 attempt 1 of run injection-demo, region us-east (passed explicitly)
    metadata: {'run_id': 'injection-demo', 'step': 'check#1', 'position': '3', ...}
    flow_data: {'fetched': ['a', 'b']}
"""

from __future__ import annotations

from typing import Any

import anyio

import floe


class Region:
    """A plugin that serves one more injectable name."""

    @floe.hookimpl
    def floe_inject(self, parameter: str, context: floe.InjectionContext) -> Any:
        return "eu-west" if parameter == "region" else None


@floe.task
async def fetch(
    item: str, this_task: Any = None, flow_data: Any = None, region: str = "nowhere"
) -> str:
    flow_data.setdefault("fetched", []).append(item)  # shared by the run's tasks
    return (
        f"{this_task.step} attempt {this_task.attempt} of run {this_task.run_id}, region {region}"
    )


@floe.task(metadata=True)
async def check(metadata: Any = None) -> dict[str, Any]:
    return dict(metadata)


@floe.workflow
async def injection(flow_data: Any = None) -> list[Any]:
    first = await fetch("a")
    second = await fetch("b", region="us-east")
    return [first, second + " (passed explicitly)", await check(), dict(flow_data)]


async def main() -> None:
    async with floe.open_kernel(store="memory://", log_format="off", plugins=[Region()]):
        execution = await injection.run_async(run_id="injection-demo")
    first, second, metadata, flow_data = execution.output
    print(first)
    print(second)
    print("metadata:", metadata)
    print("flow_data:", flow_data)


if __name__ == "__main__":
    anyio.run(main, backend="trio")
