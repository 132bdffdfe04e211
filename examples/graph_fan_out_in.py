"""Fan-out / fan-in: one request goes to three price sources concurrently; an Aggregator
collects the three quotes and a routine picks the cheapest.

Runs with ``execution_strategy="concurrent"``: the quotes are fetched side by side and
``execute`` returns only once every delivery has finished. Prints the chosen quote and
how many deliveries the job made.
"""

from __future__ import annotations

import sys
from typing import Any

import anyio

import floe
from floe.graph import Aggregator, Flow, Routine


class Request(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_event("asked", ["item"])

    def __call__(self, item: str) -> None:
        self.emit("asked", item=item)


class Quote(Routine):
    """A price source; its latency and price factor are config."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.quote)
        self.define_event("quoted", ["source", "price"])

    async def quote(self, item: str) -> None:
        await anyio.sleep(self.get_config("latency", 0.01))
        price = round(len(item) * self.get_config("factor", 1.0), 2)
        self.emit("quoted", source=self.get_config("source"), item=item, price=price)


class Cheapest(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.choose)
        self.chosen: dict[str, Any] | None = None

    def choose(self, items: list[dict[str, Any]]) -> None:
        self.chosen = min(items, key=lambda quote: quote["price"])


async def main(store: str) -> None:
    flow = Flow("best-price", execution_strategy="concurrent", max_concurrency=3)
    flow.add_routine(Request(), "request")
    gather = Aggregator()
    gather.set_config(count=3)
    flow.add_routine(gather, "gather")
    cheapest = Cheapest()
    flow.add_routine(cheapest, "cheapest")
    for source, latency, factor in (
        ("north", 0.03, 1.2),
        ("south", 0.01, 0.9),
        ("east", 0.02, 1.0),
    ):
        quote = Quote()
        quote.set_config(source=source, latency=latency, factor=factor)
        flow.add_routine(quote, source)
        flow.connect("request", "asked", source, "input")  # fan-out
        flow.connect(source, "quoted", "gather", "input")  # fan-in
    flow.connect("gather", "output", "cheapest", "input")
    async with floe.open_kernel(store=store, log_format="off"):
        job = await flow.execute_async("request", {"item": "espresso machine"})
    assert cheapest.chosen is not None
    print(f"cheapest: {cheapest.chosen['source']} at {cheapest.chosen['price']}")
    deliveries = sum(state.executions for state in job.routine_states.values())
    print(f"job {job.status} after {deliveries} deliveries")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else "memory://")
