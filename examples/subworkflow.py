"""Subworkflows: a workflow that runs other workflows as its steps.

``month_end`` runs ``invoice`` once per order. Each invoice is a child run with its own
journal, linked to its parent (``parent_id``) and named after the step that started it
(``month-end-1:invoice#1`` ...). The parent journals each child's outcome as one step, so
a replay of the parent does not touch a child that finished.

Run it as a script (the runs live in memory, nothing is left behind)::

    python examples/subworkflow.py A-1 B-2

It prints the parent's output as JSON, then each child run with its status::

    {"total": 181.5, "largest": "B-2", "rechecked": true}
    month-end-1:invoice#1 completed 60.5
    month-end-1:invoice#2 completed 121.0
    month-end-1:invoice#3 completed 121.0

With the command line, on the default store (``.floe/floe.db``)::

    floe run examples/subworkflow.py:month_end --input '["A-1", "B-2"]' --run-id month-end-1
    floe runs               # the parent and its children
"""

from __future__ import annotations

import json
import sys

import anyio

import floe

PRICES = {"A-1": 50.0, "B-2": 100.0, "C-3": 20.0}


@floe.task
async def price_of(order_id: str) -> float:
    return PRICES[order_id]


@floe.task
async def add_tax(amount: float) -> float:
    return round(amount * 1.21, 2)


@floe.workflow
async def invoice(order_id: str) -> float:
    amount = await price_of(order_id)
    total: float = await add_tax(amount)
    return total


@floe.workflow
async def month_end(order_ids: list[str]) -> dict[str, object]:
    totals: dict[str, float] = {}
    for order_id in order_ids:
        # floe.call returns the child's output (and raises its error, if it failed)
        totals[order_id] = await floe.call(invoice, order_id)
    largest = max(totals, key=lambda order_id: totals[order_id])
    # run_async inside a workflow also starts a child run, and returns its Execution
    # (failed ones too: check.failed, check.error)
    check = await invoice.run_async(largest)
    return {
        "total": round(sum(totals.values()), 2),
        "largest": largest,
        "rechecked": check.succeeded and check.output == totals[largest],
    }


async def main(order_ids: list[str]) -> None:
    # memory:// keeps the runs in this process only; floe run uses the default store
    async with floe.open_kernel(store="memory://") as kernel:
        execution = await month_end.run_async(order_ids, run_id="month-end-1")
        print(json.dumps(execution.output))
        children = await kernel.store.list_runs(floe.RunQuery(parent_id=execution.run_id))
        for child in sorted(children, key=lambda run: run.run_id):
            print(child.run_id, child.status, child.output)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1:] or ["A-1", "B-2"], backend="trio")
