"""A multi-stage pipeline: validate orders, price them, route them by size, summarise.

Stages are ordinary routines plus two built-ins (Validator, ConditionalRouter); param
each stage's handler takes the keys it names. Runs sequentially, so each order's chain finishes
before the next order starts. Prints one line per routine: its id and its stats.
"""

from __future__ import annotations

import sys
from typing import Any

import anyio

import floe
from floe.graph import ConditionalRouter, Flow, Routine, Validator


class Orders(Routine):
    """Entry: emits each order of the batch, its fields as the message's keys."""

    def __init__(self) -> None:
        super().__init__()
        self.define_event("order")

    def __call__(self, orders: list[dict[str, Any]]) -> None:
        for order in orders:
            self.emit("order", **order)


class Pricer(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.price)
        self.define_event("priced", ["sku", "total"])

    def price(self, sku: str, quantity: int, unit_price: float) -> None:
        self.increment_stat("priced")
        self.emit("priced", sku=sku, total=round(quantity * unit_price, 2))


class Ledger(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.book)

    def book(self, sku: str, total: float) -> None:
        self.increment_stat("orders")
        self.set_stat("revenue", round(self.get_stat("revenue", 0) + total, 2))


class Rejects(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.reject)

    def reject(self, errors: list[str]) -> None:
        self.increment_stat("rejected")


def build() -> Flow:
    flow = Flow("orders-pipeline")
    validator = Validator()
    validator.set_config(
        required=["sku", "quantity", "unit_price"],
        types={"quantity": "int", "unit_price": "number"},
    )
    router = ConditionalRouter()
    router.add_route("large", key="total", op="ge", value=100)
    flow.add_routine(Orders(), "orders")
    flow.add_routine(validator, "validate")
    flow.add_routine(Pricer(), "price")
    flow.add_routine(router, "route")
    flow.add_routine(Ledger(), "large_orders")
    flow.add_routine(Ledger(), "small_orders")
    flow.add_routine(Rejects(), "rejects")
    flow.connect("orders", "order", "validate", "input")
    flow.connect("validate", "valid", "price", "input")
    flow.connect("validate", "invalid", "rejects", "input")
    flow.connect("price", "priced", "route", "input")
    flow.connect("route", "large", "large_orders", "input")
    flow.connect("route", "unmatched", "small_orders", "input")
    return flow


async def main(store: str) -> None:
    flow = build()
    orders = [
        {"sku": "kettle", "quantity": 2, "unit_price": 39.5},
        {"sku": "sofa", "quantity": 1, "unit_price": 899.0},
        {"sku": "mug", "quantity": "three", "unit_price": 4.0},
        {"sku": "lamp", "quantity": 4, "unit_price": 30.0},
    ]
    async with floe.open_kernel(store=store, log_format="off"):
        job = await flow.execute_async("orders", {"orders": orders})
    print(f"job {job.status}: {job.routine_states['validate'].executions} orders")
    for routine_id in ("price", "large_orders", "small_orders", "rejects"):
        print(routine_id, flow.get_routine(routine_id).stats())


if __name__ == "__main__":
    anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else "memory://")
