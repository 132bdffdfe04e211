"""Fan-in under the concurrent strategy: a routine's slot handlers run one at a time,
in delivery order, unless the routine is reentrant; every item arrives exactly once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from floe import Kernel
from floe.graph import Aggregator, Flow, Routine

pytestmark = pytest.mark.anyio


class Fan(Routine):
    """The entry: emits ``count`` numbered items."""

    def __init__(self) -> None:
        super().__init__()
        self.define_event("item", ["n"])

    def __call__(self, count: int = 1) -> None:
        for n in range(count):
            self.emit("item", n=n)


class Work(Routine):
    """Passes each item on after the config's ``delay`` (seconds), sync or async."""

    reentrant = True

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.handle)
        self.define_slot("later", handler=self.handle_async)
        self.define_event("output", ["n"])

    def handle(self, n: int) -> None:
        time.sleep(self.get_config("delay", 0))
        self.emit("output", n=n)

    async def handle_async(self, n: int) -> None:
        await anyio.sleep(self.get_config("delay", 0))
        self.emit("output", n=n)


class Buffered(Routine):
    """A user fan-in: appends to a slot buffer, emits and clears it every ``size`` items."""

    batches: ClassVar[list[list[int]]] = []

    def __init__(self) -> None:
        super().__init__()
        self.input = self.define_slot("input", handler=self.handle, merge_strategy="append")
        self.define_event("output", ["items"])

    def handle(self, n: list[int]) -> None:
        time.sleep(self.get_config("delay", 0))
        if len(n) >= self.get_config("size", 5):
            self.input.clear()
            Buffered.batches.append(list(n))
            self.emit("output", items=n)


class Collect(Routine):
    """Records each batch it receives."""

    batches: ClassVar[list[list[Any]]] = []

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.handle)

    def handle(self, items: list[Any]) -> None:
        Collect.batches.append(list(items))


def _fan_in(width: int, concurrency: int, delay: float, aggregator: Routine, slot: str) -> Flow:
    flow = Flow("fan-in", execution_strategy="concurrent", max_concurrency=concurrency)
    flow.add_routine(Fan(), "fan")
    work = Work()
    work.set_config(delay=delay)
    flow.add_routine(work, "work")
    flow.add_routine(aggregator, "aggregate")
    flow.add_routine(Collect(), "collect")
    flow.connect("fan", "item", "work", slot)
    flow.connect("work", "output", "aggregate", "input")
    flow.connect("aggregate", "output", "collect", "input")
    return flow


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    width=st.integers(1, 30),
    concurrency=st.integers(1, 8),
    size=st.integers(1, 6),
    delay=st.sampled_from([0.0, 0.0005, 0.001, 0.002]),
    async_work=st.booleans(),
    user_routine=st.booleans(),
)
async def test_fan_in_delivers_every_item_exactly_once(
    floe_kernel_factory: Callable[..., Kernel],
    width: int,
    concurrency: int,
    size: int,
    delay: float,
    async_work: bool,
    user_routine: bool,
) -> None:
    Collect.batches.clear()
    Buffered.batches.clear()
    aggregator: Routine
    if user_routine:
        aggregator = Buffered()
        aggregator.set_config(size=size, delay=delay / 2)
    else:
        aggregator = Aggregator()
        aggregator.set_config(count=size)
    flow = _fan_in(width, concurrency, delay, aggregator, "later" if async_work else "input")
    async with floe_kernel_factory():
        job = await flow.execute_async("fan", {"count": width})
    assert job.status == "completed"
    batches = Collect.batches
    assert all(len(batch) == size for batch in batches)
    if user_routine:
        items = [n for batch in batches for n in batch]
    else:
        items = [item["n"] for batch in batches for item in batch]
    held = aggregator.get_slot("input").data  # type: ignore[union-attr]
    left = held.get("n", []) if user_routine else [item["n"] for item in held.get("items", [])]
    assert sorted(items + left) == list(range(width))
    assert len(batches) == width // size


class Serial(Routine):
    """Logs each item as its handler starts and ends (a worker thread, or the loop)."""

    log: ClassVar[list[tuple[str, int]]] = []

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.handle)
        self.define_slot("later", handler=self.handle_async)

    def handle(self, n: int) -> None:
        Serial.log.append(("start", n))
        time.sleep(0.001)
        Serial.log.append(("end", n))

    async def handle_async(self, n: int) -> None:
        Serial.log.append(("start", n))
        await anyio.sleep(0.001)
        Serial.log.append(("end", n))


@pytest.mark.parametrize("slot", ["input", "later"])
async def test_a_routine_handles_its_deliveries_one_at_a_time_in_order(
    floe_kernel_factory: Callable[..., Kernel], slot: str
) -> None:
    Serial.log.clear()
    flow = Flow("serial", execution_strategy="concurrent", max_concurrency=6)
    flow.add_routine(Fan(), "fan")
    flow.add_routine(Serial(), "serial")
    flow.connect("fan", "item", "serial", slot)
    async with floe_kernel_factory():
        job = await flow.execute_async("fan", {"count": 12})
    assert job.status == "completed"
    assert Serial.log == [(edge, n) for n in range(12) for edge in ("start", "end")]


class Meeting(Routine):
    """Reentrant: each of the first two deliveries waits until the other one runs."""

    reentrant = True

    def __init__(self) -> None:
        super().__init__()
        self.barrier = threading.Barrier(2, timeout=30)
        self.met: list[int] = []
        self.define_slot("input", handler=self.handle)

    def handle(self, n: int) -> None:
        if n < 2:
            self.barrier.wait()  # a BrokenBarrierError if the two never overlap
        self.met.append(n)


async def test_a_reentrant_routine_handles_deliveries_concurrently(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    flow = Flow("reentrant", execution_strategy="concurrent", max_concurrency=4)
    flow.add_routine(Fan(), "fan")
    meeting = Meeting()
    flow.add_routine(meeting, "meeting")
    flow.connect("fan", "item", "meeting", "input")
    async with floe_kernel_factory():
        job = await flow.execute_async("fan", {"count": 4})
    assert job.status == "completed", job.error
    assert sorted(meeting.met) == [0, 1, 2, 3]
    assert Routine.reentrant is False
