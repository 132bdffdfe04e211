"""Workload 1: event bus publish, side by side with bare loops, blinker and pyee.

Every contender delivers one payload to *k* subscribed handlers that do nothing, so
what is timed is the dispatch machinery alone. Each of floe's two ways to publish is
compared with what does the same work:

* async: ``await EventBus.publish(event, x)`` to async handlers, against a bare loop
  that checkpoints once per publish (``await anyio.lowlevel.checkpoint()``, then ``for
  h in handlers: await h(x)``): every async function checkpoints (trio's rule), so this
  is the least an async bus can do. The bare loop without the checkpoint, blinker's
  ``send_async`` (which does not checkpoint either) and pyee are references;
* sync: ``EventBus.publish_nowait(event, x)`` to sync ``inline=True`` handlers,
  against blinker's ``Signal.send(x)`` to sync receivers (blinker's main path), with a
  bare loop of plain calls for reference.

pyee (``TrioEventEmitter`` on trio, ``AsyncIOEventEmitter`` on asyncio, the emitters
meant for async handlers) has no awaited delivery: ``emit`` starts one task per async
handler, so its figure is emit plus waiting for those tasks (in batches of
:data:`PYEE_BATCH` publishes).

The kernel queue (``EventBus.post``, drained by the kernel's task) is measured as
events delivered per second against a bare anyio memory stream drained by one task.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import blinker
import pyee.asyncio
import pyee.trio
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

__all__ = ["BACKENDS", "run_bus"]

BACKENDS = ("trio", "asyncio")
HANDLER_COUNTS = (1, 10)
EVENT = "bench.event"
PYEE_BATCH = 100
"""Publishes between two waits for pyee's handler tasks (bounds the tasks in flight)."""
QUEUE_SIZE = 10_000
"""Capacity of the bare queue baseline, equal to the kernel's default bus queue."""

GOAL_VS_BARE = 0.5
GOAL_VS_BLINKER = 4.0

AsyncHandler = Callable[[Any], Awaitable[None]]
SyncHandler = Callable[[Any], None]

BARE_CHECKPOINT = "bare loop + one checkpoint (baseline of publish)"
FLOE = "floe publish (async handlers)"
BARE = "bare loop, no checkpoint (reference)"
BLINKER_ASYNC = "blinker send_async (no checkpoint; reference)"
BLINKER = "blinker send, sync receivers (baseline of publish_nowait)"
FLOE_NOWAIT = "floe publish_nowait (sync inline handlers)"
BARE_SYNC = "bare loop of sync calls (reference)"
SYNC_CONTENDERS = (BLINKER, FLOE_NOWAIT, BARE_SYNC)
"""The contenders compared with blinker send; the others, with the checkpointing loop."""
COLUMNS = (
    "backend",
    "handlers",
    "contender",
    "µs / publish",
    "publishes/s",
    "vs baseline",
    "spread",
)


def run_bus(config: MeasureConfig) -> Section:
    """Measure publish on both backends; one section with every line and the goals."""
    rows: list[tuple[str, ...]] = []
    goals: list[Goal] = []
    for backend in BACKENDS:
        backend_rows, backend_goals = anyio.run(_measure_backend, backend, config, backend=backend)
        rows += backend_rows
        goals += backend_goals
    return Section(
        key="bus",
        title="Event bus: publish with sequential delivery",
        columns=COLUMNS,
        rows=rows,
        goals=goals,
        notes=[
            "Like for like: `await publish` is compared with a bare loop that checkpoints "
            "once per publish (`await anyio.lowlevel.checkpoint()`, then `for h in "
            "handlers: await h(x)`), the least an async bus that obeys trio's rule (every "
            "async call checkpoints) can do; `publish_nowait`, the sync twin, calling sync "
            "`inline=True` handlers without a checkpoint, is compared with blinker `send` "
            "to sync receivers.",
            "`vs baseline` is throughput relative to the baseline named in the cell, on the "
            "same backend (1.00x = as fast; 0.50x = half as fast; 4.0x = four times as "
            "fast). Sync contenders run in a worker thread, each timed inside it.",
            "References: the bare loop without a checkpoint and blinker `send_async` (which "
            "awaits async receivers one by one and never checkpoints) show what the "
            "checkpoint costs; pyee runs on `TrioEventEmitter` (trio) and "
            "`AsyncIOEventEmitter` (asyncio): each emit starts one task per async handler, "
            f"and the figure includes waiting for those tasks, {PYEE_BATCH} publishes at a "
            "time.",
            "The kernel queue lines post events through a running `floe.Kernel`'s bus and "
            "count them as delivered when the subscribed handler has seen them all; the "
            "baseline is an anyio memory stream of the same capacity drained by one task, "
            "and `vs stream` is throughput relative to it.",
        ],
    )


async def _measure_backend(
    backend: str, config: MeasureConfig
) -> tuple[list[tuple[str, ...]], list[Goal]]:
    rows: list[tuple[str, ...]] = []
    goals: list[Goal] = []
    for count in HANDLER_COUNTS:
        timings = await measure_side_by_side(_publish_candidates(backend, count), config)
        rows += [_publish_row(backend, count, timing, timings) for timing in timings.values()]
        if count == 1:
            goals += _publish_goals(backend, timings)
    rows += await _queue_rows(backend, config)
    return rows, goals


def _publish_row(
    backend: str, count: int, timing: Timing, timings: dict[str, Timing]
) -> tuple[str, ...]:
    baseline = BLINKER if timing.label in SYNC_CONTENDERS else BARE_CHECKPOINT
    if timing.label == baseline:
        ratio = "1.00x (baseline)"
    else:
        against = "blinker send" if baseline == BLINKER else "bare + checkpoint"
        ratio = f"{format_ratio(timing.speedup_over(timings[baseline]))} vs {against}"
    return (
        backend,
        str(count),
        timing.label,
        format_us(timing.us_per_op),
        format_rate(timing.per_second),
        ratio,
        f"{timing.spread:.0%}",
    )


def _publish_goals(backend: str, timings: dict[str, Timing]) -> list[Goal]:
    vs_bare = timings[FLOE].speedup_over(timings[BARE_CHECKPOINT])
    vs_blinker = timings[FLOE_NOWAIT].speedup_over(timings[BLINKER])
    return [
        Goal(
            workload="bus",
            figure=f"publish, 1 handler, {backend}: throughput vs a bare loop that "
            "checkpoints once",
            target=f"≥ {GOAL_VS_BARE:.1f}x",
            measured=format_ratio(vs_bare),
            met=vs_bare >= GOAL_VS_BARE,
        ),
        Goal(
            workload="bus",
            figure=f"publish_nowait, 1 handler, {backend}: throughput vs blinker send",
            target=f"≥ {GOAL_VS_BLINKER:.0f}x",
            measured=format_ratio(vs_blinker),
            met=vs_blinker >= GOAL_VS_BLINKER,
        ),
    ]


# -- the contenders -----------------------------------------------------------------------


def _async_handlers(count: int) -> list[AsyncHandler]:
    def make() -> AsyncHandler:
        async def handler(data: Any) -> None:
            return None

        return handler

    return [make() for _ in range(count)]


def _sync_handlers(count: int) -> list[SyncHandler]:
    def make() -> SyncHandler:
        def handler(data: Any) -> None:
            return None

        return handler

    return [make() for _ in range(count)]


def _publish_candidates(backend: str, count: int) -> list[Candidate]:
    return [
        *_async_candidates(count),
        Candidate(_pyee_label(backend), _pyee_body(backend, count)),
        *_sync_candidates(count),
    ]


def _async_candidates(count: int) -> list[Candidate]:
    handlers = _async_handlers(count)
    checkpoint = anyio.lowlevel.checkpoint

    async def bare_publish(data: Any) -> None:
        await checkpoint()
        for handler in handlers:
            await handler(data)

    async def bare_checkpoint(ops: int) -> None:
        for i in range(ops):
            await bare_publish(i)

    async def bare_publish_unchecked(data: Any) -> None:
        for handler in handlers:
            await handler(data)

    async def bare(ops: int) -> None:
        for i in range(ops):
            await bare_publish_unchecked(i)

    bus = floe.EventBus()
    for handler in _async_handlers(count):
        bus.subscribe(EVENT, "bench", handler)

    async def floe_publish(ops: int) -> None:
        publish = bus.publish
        for i in range(ops):
            await publish(EVENT, i)

    async_signal = blinker.Signal()
    for async_receiver in _async_handlers(count):
        async_signal.connect(async_receiver, weak=False)

    async def blinker_send_async(ops: int) -> None:
        send = async_signal.send_async
        for i in range(ops):
            await send(i)

    return [
        Candidate(BARE_CHECKPOINT, bare_checkpoint),
        Candidate(FLOE, floe_publish),
        Candidate(BARE, bare),
        Candidate(BLINKER_ASYNC, blinker_send_async),
    ]


def _sync_candidates(count: int) -> list[Candidate]:
    handlers = _sync_handlers(count)

    def bare_sync(ops: int) -> None:
        for i in range(ops):
            for handler in handlers:
                handler(i)

    bus = floe.EventBus()
    for handler in _sync_handlers(count):
        bus.subscribe(EVENT, "bench", handler, inline=True)

    def floe_publish_nowait(ops: int) -> None:
        publish_nowait = bus.publish_nowait
        for i in range(ops):
            publish_nowait(EVENT, i)

    signal = blinker.Signal()
    for receiver in _sync_handlers(count):
        signal.connect(receiver, weak=False)

    def blinker_send(ops: int) -> None:
        send = signal.send
        for i in range(ops):
            send(i)

    return [
        Candidate(BLINKER, blinker_send),
        Candidate(FLOE_NOWAIT, floe_publish_nowait),
        Candidate(BARE_SYNC, bare_sync),
    ]


def _pyee_label(backend: str) -> str:
    return "pyee TrioEventEmitter" if backend == "trio" else "pyee AsyncIOEventEmitter"


def _pyee_body(backend: str, count: int) -> Callable[[int], Awaitable[None]]:
    handlers = _async_handlers(count)
    if backend == "trio":

        async def trio_emit(ops: int) -> None:
            for first in range(0, ops, PYEE_BATCH):
                # leaving the emitter's context waits for the handler tasks it started
                async with pyee.trio.TrioEventEmitter() as emitter:
                    for handler in handlers:
                        emitter.add_listener(EVENT, handler)
                    for i in range(first, min(first + PYEE_BATCH, ops)):
                        emitter.emit(EVENT, i)

        return trio_emit

    emitter = pyee.asyncio.AsyncIOEventEmitter()
    for handler in handlers:
        emitter.add_listener(EVENT, handler)

    async def asyncio_emit(ops: int) -> None:
        for first in range(0, ops, PYEE_BATCH):
            for i in range(first, min(first + PYEE_BATCH, ops)):
                emitter.emit(EVENT, i)
            await emitter.wait_for_complete()

    return asyncio_emit


# -- the kernel queue ---------------------------------------------------------------------


class _Counter:
    """A handler that signals once it has seen the number of events it waits for."""

    def __init__(self) -> None:
        self.seen = 0
        self.target = 0
        self.done = anyio.Event()

    def expect(self, count: int) -> None:
        self.seen = 0
        self.target = count
        self.done = anyio.Event()

    async def __call__(self, data: Any) -> None:
        self.seen += 1
        if self.seen == self.target:
            self.done.set()


async def _queue_rows(backend: str, config: MeasureConfig) -> list[tuple[str, ...]]:
    settings = floe.Settings(store="memory://", log_format="off")
    kernel_counter = _Counter()
    bare_counter = _Counter()
    send, receive = anyio.create_memory_object_stream[Any](QUEUE_SIZE)

    async def drain() -> None:
        async with receive:
            async for item in receive:
                await bare_counter(item)

    async def kernel_post(ops: int) -> None:
        kernel_counter.expect(ops)
        post = kernel.bus.post
        for i in range(ops):
            await post(EVENT, i)
        await kernel_counter.done.wait()

    async def bare_post(ops: int) -> None:
        bare_counter.expect(ops)
        for i in range(ops):
            try:
                send.send_nowait(i)
            except anyio.WouldBlock:
                await send.send(i)
        await bare_counter.done.wait()

    async with (
        floe.Kernel(settings, entry_points=False) as kernel,
        anyio.create_task_group() as group,
    ):
        kernel.bus.subscribe(EVENT, "bench", kernel_counter)
        group.start_soon(drain)
        async with send:
            timings = await measure_side_by_side(
                [
                    Candidate("bare memory stream", bare_post),
                    Candidate("floe post", kernel_post),
                ],
                config,
            )
    queued = timings["floe post"]
    bare = timings["bare memory stream"]
    return [
        (
            backend,
            "1",
            "bare memory stream + drain task (baseline of post)",
            format_us(bare.us_per_op),
            format_rate(bare.per_second),
            "—",
            f"{bare.spread:.0%}",
        ),
        (
            backend,
            "1",
            "floe post (kernel queue, delivered)",
            format_us(queued.us_per_op),
            format_rate(queued.per_second),
            f"{format_ratio(queued.speedup_over(bare))} vs stream",
            f"{queued.spread:.0%}",
        ),
    ]
