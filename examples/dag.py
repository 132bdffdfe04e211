"""Graphs: tasks wired into a DAG with ``floe.TaskGraph``, with a conditional edge.

::

    load ──▶ flag_large ──▶ report      (only when an order is over 1000)
      └────▶ total ─────────▶ ┘

``load`` receives the graph's input. ``flag_large`` runs only when its edge's condition
holds for ``load``'s result; ``total`` always runs, side by side with it. ``report`` has
two parents, so it receives a dict of the results of the parents whose edge was taken.

Run it as a script (the runs live in memory, nothing is left behind)::

    python examples/dag.py 120 1500 80

It prints the output as JSON, then the graph's steps::

    {"report": "3 orders, 1700.0 in all; large: #2", "skipped": []}
    review#1/flag_large#1, review#1/load#1, review#1/report#1, review#1/total#1

With ``python examples/dag.py 120 80`` no order is large: ``flag_large`` is skipped
(``"skipped": ["flag_large"]``) and the report says ``2 orders, 200.0 in all``. With the
command line, on the default store (``.floe/floe.db``)::

    floe run examples/dag.py:orders --input '[120, 1500, 80]'
"""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio

import floe

LARGE = 1000.0


@floe.task
async def load(amounts: list[float]) -> list[dict[str, Any]]:
    return [{"id": number, "amount": amount} for number, amount in enumerate(amounts, 1)]


@floe.task
async def flag_large(orders: list[dict[str, Any]]) -> list[int]:
    return [order["id"] for order in orders if order["amount"] > LARGE]


@floe.task
async def total(orders: list[dict[str, Any]]) -> dict[str, Any]:
    return {"count": len(orders), "sum": float(sum(order["amount"] for order in orders))}


def report(parents: dict[str, Any]) -> str:
    # a plain function is a node too (a sync one runs in a worker thread)
    summary = parents["total"]
    line = f"{summary['count']} orders, {summary['sum']} in all"
    if "flag_large" in parents:  # present only when that edge was taken
        line += "; large: " + ", ".join(f"#{number}" for number in parents["flag_large"])
    return line


def has_large_orders(orders: list[dict[str, Any]]) -> bool:
    # a condition is called with the source node's result; it runs again on replay,
    # on the recorded result, so like a workflow body it must be deterministic
    return any(order["amount"] > LARGE for order in orders)


# add_node and add_edge return the graph, so calls chain; validate() (also done by every
# run) names unknown nodes, cycles, and nodes the start cannot reach or that lead nowhere
graph = (
    floe.TaskGraph("review", start="load", end="report")
    .add_node("load", load)
    .add_node("flag_large", flag_large)
    .add_node("total", total)
    .add_node("report", report)
    .add_edge("load", "flag_large", when=has_large_orders)
    .add_edge("load", "total")
    .add_edge("flag_large", "report")
    .add_edge("total", "report")
)
graph.validate()


@floe.workflow
async def orders(amounts: list[float]) -> dict[str, Any]:
    # Inside a workflow the graph takes one step slot (review#1) and each node is a step
    # in it (review#1/load#1 ...), so a resumed run replays the nodes that finished.
    result = await graph.run(amounts)
    return {"report": result.output, "skipped": list(result.skipped)}


async def main(amounts: list[float]) -> None:
    # memory:// keeps the runs in this process only; floe run uses the default store
    async with floe.open_kernel(store="memory://"):
        execution = await orders.run_async(amounts)
    print(json.dumps(execution.output))
    print(", ".join(sorted(execution.executed_tasks)))


if __name__ == "__main__":
    anyio.run(main, [float(a) for a in sys.argv[1:]] or [120.0, 1500.0, 80.0], backend="trio")
