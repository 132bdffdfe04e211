"""Workload 4: messages through components, in memory and on SQLite, next to the bus.

Every message moves a component of the default state pack between two states
(``start`` from InitialState, ``cancel`` back), so each one is decided by its state,
journaled (``component.message.received`` and ``state.changed``, one store write) and
posted to the kernel's bus queue. Two shapes:

* one component, messages sent one after the other (the latency of a message);
* 1,000 components, one task each, all sending at once (throughput: the store's group
  commit shares transactions between components).

Each runs on the memory store and on SQLite (a file in a temporary directory, WAL), in
a kernel on trio, against baselines measured in the same comparison:

* ``bus publish``: one ``EventBus.publish`` to one async handler per message, the bus
  baseline of the bus workload (an observer told about each message);
* ``state machine only``: the same component unregistered, so nothing is journaled or
  posted (the model's own cost: message, state, transition).
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
from _harness import (
    Candidate,
    Goal,
    MeasureConfig,
    Section,
    Timing,
    format_rate,
    format_ratio,
    format_us,
    measure_side_by_side,
)

import floe
import floe_sqlite
import floe_states

__all__ = ["run_components"]

COMPONENTS = 1_000
MESSAGES_PER_COMPONENT = {"memory": 20, "sqlite": 10}
"""Messages each of the 1,000 components handles per sample."""
GOAL_MEMORY = 100_000
GOAL_SQLITE = 20_000
EVENT = "bench.message"

COLUMNS = (
    "store",
    "workload",
    "µs / message",
    "messages/s",
    "vs bus publish",
    "goal",
    "met",
    "spread",
)

Body = Callable[[int], Awaitable[None]]


def run_components(config: MeasureConfig) -> Section:
    """Measure both stores, one component and 1,000, in one trio run."""
    with tempfile.TemporaryDirectory(prefix="floe-bench-") as directory:
        results = anyio.run(_measure, Path(directory), config, backend="trio")
    return _section(results)


async def _measure(directory: Path, config: MeasureConfig) -> dict[str, dict[str, Timing]]:
    results: dict[str, dict[str, Timing]] = {}
    for store, url in (("memory", "memory://"), ("sqlite", f"sqlite:///{directory / 'c.db'}")):
        settings = floe.Settings(store=url, log_format="off", strict_plugins=True)
        kernel = floe.Kernel(settings, plugins=[floe_states, floe_sqlite], entry_points=False)
        async with kernel:
            bench = _ComponentBench(kernel, store)
            await bench.setup()
            results[f"{store} one"] = await measure_side_by_side(bench.one_candidates(), config)
            results[f"{store} many"] = await measure_side_by_side(bench.many_candidates(), config)
    return results


def _next_message(component: floe.Component) -> str:
    # every message is a transition: start from InitialState, cancel back to it
    return "start" if component.state == "InitialState" else "cancel"


async def _drive(component: floe.Component, count: int) -> None:
    handle = component.handle_message
    for _ in range(count):
        await handle(_next_message(component))


class _ComponentBench:
    """Registered components in one kernel, and their unregistered twins."""

    def __init__(self, kernel: floe.Kernel, store: str) -> None:
        self.kernel = kernel
        self.store = store
        self.per_component = MESSAGES_PER_COMPONENT[store]
        self.engine = floe.Engine(kernel)
        self.one: floe.Component | None = None
        self.many: list[floe.Component] = []
        self.plain_one = self._plain("plain")
        self.plain_many = [self._plain(f"plain-{i}") for i in range(COMPONENTS)]
        self.bus = floe.EventBus()

        async def observer(data: Any) -> None:
            return None

        self.bus.subscribe(EVENT, "bench", observer)

    def _plain(self, name: str) -> floe.Component:
        machine = floe.StateMachine.from_name("InitialState", registry=self.kernel.states)
        return floe.Component(name, [{"limit": 10}], machine)

    async def setup(self) -> None:
        # registration is journaled too: done once, untimed
        self.one = self.engine.register(floe.Component("one", [{"limit": 10}]))
        self.many = [
            self.engine.register(floe.Component(f"c{i:04d}", [{"limit": 10}]))
            for i in range(COMPONENTS)
        ]
        await self.engine.flush()

    # -- one component, messages one after the other ---------------------------------------

    def one_candidates(self) -> list[Candidate]:
        assert self.one is not None
        component = self.one
        plain = self.plain_one
        publish = self.bus.publish

        async def registered(ops: int) -> None:
            await _drive(component, ops)

        async def unregistered(ops: int) -> None:
            await _drive(plain, ops)

        async def bus(ops: int) -> None:
            for i in range(ops):
                await publish(EVENT, i)

        return [
            Candidate("bus publish", bus),
            Candidate("state machine only", unregistered),
            Candidate("component", registered),
        ]

    # -- 1,000 components at once ----------------------------------------------------------

    def many_candidates(self) -> list[Candidate]:
        per = self.per_component
        total = per * COMPONENTS
        publish = self.bus.publish

        def concurrently(components: Sequence[floe.Component]) -> Body:
            async def body(ops: int) -> None:
                async with anyio.create_task_group() as group:
                    for component in components:
                        group.start_soon(_drive, component, per)

            return body

        async def publish_some(count: int) -> None:
            for i in range(count):
                await publish(EVENT, i)

        async def bus(ops: int) -> None:
            async with anyio.create_task_group() as group:
                for _ in range(COMPONENTS):
                    group.start_soon(publish_some, per)

        return [
            Candidate("bus publish", bus, ops=total),
            Candidate("state machine only", concurrently(self.plain_many), ops=total),
            Candidate("component", concurrently(self.many), ops=total),
        ]


# -- the report -------------------------------------------------------------------------------


def _section(results: dict[str, dict[str, Timing]]) -> Section:
    rows: list[tuple[str, ...]] = []
    goals: list[Goal] = []
    for store in ("memory", "sqlite"):
        for shape in ("one", "many"):
            timings = results[f"{store} {shape}"]
            bus = timings["bus publish"]
            goal = _goal(store, shape, timings["component"])
            if goal is not None:
                goals.append(goal)
            where = "1 component, sequential" if shape == "one" else f"{COMPONENTS:,} components"
            plain = timings["state machine only"]
            rows += [
                _row("—", f"bus publish, 1 handler ({where}; baseline)", bus, bus),
                _row("—", f"state machine only ({where}; no journal, no bus)", plain, bus),
                _row(store, f"component messages, {where}", timings["component"], bus, goal),
            ]
    return Section(
        key="components",
        title="Components: messages through state machines",
        columns=COLUMNS,
        rows=rows,
        goals=goals,
        notes=[
            "Every message is a transition of the default state pack (start from "
            "InitialState, cancel back), decided by its state, journaled "
            "(`component.message.received` + `state.changed` in one store write) and "
            "posted to the kernel's bus queue.",
            f"{COMPONENTS:,} components: one task per component, all started together, each "
            f"sending {MESSAGES_PER_COMPONENT['memory']} (memory) or "
            f"{MESSAGES_PER_COMPONENT['sqlite']} (SQLite) messages one after the other; "
            "the SQLite store's group commit shares its transactions between components.",
            "`vs bus publish` is throughput relative to one `EventBus.publish` to one async "
            "handler per message, in the same shape (1.00x = as fast). `state machine only` "
            "is the same component unregistered: nothing journaled, nothing posted.",
            "The kernel runs on trio with the memory or the SQLite store (WAL, "
            "synchronous=NORMAL, a temporary file).",
        ],
    )


def _goal(store: str, shape: str, timing: Timing) -> Goal | None:
    if shape != "many":
        return None
    target = GOAL_MEMORY if store == "memory" else GOAL_SQLITE
    label = "in memory" if store == "memory" else "on SQLite (durable)"
    return Goal(
        workload="components",
        figure=f"messages/s across {COMPONENTS:,} components, {label}",
        target=f"≥ {target:,}/s",
        measured=format_rate(timing.per_second),
        met=timing.per_second >= target,
    )


def _row(
    store: str, workload: str, timing: Timing, bus: Timing, goal: Goal | None = None
) -> tuple[str, ...]:
    met = "—" if goal is None or goal.met is None else ("yes" if goal.met else "no")
    return (
        store,
        workload,
        format_us(timing.us_per_op),
        format_rate(timing.per_second),
        format_ratio(timing.speedup_over(bus)),
        goal.target if goal else "—",
        met,
        f"{timing.spread:.0%}",
    )
