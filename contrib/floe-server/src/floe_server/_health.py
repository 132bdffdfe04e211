"""Health checks and metrics: ``/healthz``, ``/readyz``, ``/metrics``.

``/healthz`` answers while the process serves; ``/readyz`` only when the store answers
too (a load balancer sends traffic to ready servers). Both need no token. ``/metrics``
is the Prometheus text format (prometheus-client), read role: the runs of the store by
status and the pending runs by queue (``Store.count_runs``, read at scrape time), the
live workers, the bus's queue depth, and a histogram of the latency
of the steps executed in this process (``--workers N``; a ``floe worker`` process
reports its own steps in its logs).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

import floe

from ._auth import Role, gate
from ._problems import problem_response
from ._runtime import JSON, Runtime, runtime_of

__all__ = ["Metrics", "router"]

router = APIRouter(tags=["health"])

_OPEN_STEPS: Final = 100_000
_PENDING: Final = floe.RunStatus.PENDING
_STARTED: Final = "task.started"
_ENDED: Final = ("task.completed", "task.failed")


@router.get("/healthz")
async def healthz() -> JSON:
    """The server is up."""
    return JSON({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    """The server is up and its store answers (503 otherwise)."""
    store = runtime_of(request).kernel.store
    try:
        await store.list_runs(floe.RunQuery(limit=1))
    except floe.FloeError as error:
        unready = floe.PersistenceError(
            "The store does not answer", why=error.what, fix=error.fix, context=error.context
        )
        return problem_response(unready, request)
    except OSError as error:
        unready = floe.PersistenceError("The store does not answer", why=str(error))
        return problem_response(unready, request)
    return JSON({"status": "ready", "store": store.url})


@router.get("/metrics", **gate(Role.READ), response_class=Response)
async def metrics(request: Request) -> Response:
    runtime = runtime_of(request)
    collected: Metrics = request.app.state.metrics
    await collected.refresh(runtime)
    return Response(generate_latest(collected.registry), media_type=CONTENT_TYPE_LATEST)


class Metrics(Collector):
    """The server's registry: store counts read at each scrape, step latencies observed
    on the kernel's bus."""

    def __init__(self, kernel: floe.Kernel) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.steps = Histogram(
            "floe_step_seconds",
            "Latency of the steps executed in this process, from start to end.",
            registry=self.registry,
        )
        self._started: dict[tuple[str, str | None], datetime] = {}
        self._gauges: list[GaugeMetricFamily] = []
        self.registry.register(self)
        kernel.bus.subscribe("task.*", "floe-server-metrics", self._on_task, inline=True)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._gauges

    async def refresh(self, runtime: Runtime) -> None:
        """Read the figures the next :meth:`collect` reports."""
        kernel = runtime.kernel
        counts = await kernel.store.count_runs()  # one query, however many runs
        runs = GaugeMetricFamily("floe_runs", "Runs in the store by status.", labels=["status"])
        for status in floe.RunStatus:
            total = sum(count for (counted, _), count in counts.items() if counted is status)
            runs.add_metric([str(status)], total)
        depth = GaugeMetricFamily("floe_queue_depth", "Pending runs by queue.", labels=["queue"])
        pending = {queue: n for (status, queue), n in counts.items() if status is _PENDING}
        for queue, count in sorted(pending.items()):
            depth.add_metric([queue], count)
        workers = GaugeMetricFamily("floe_workers", "Live workers on the store.")
        workers.add_metric([], sum(worker.live() for worker in await floe.list_workers()))
        statistics = kernel.bus.statistics()
        bus = GaugeMetricFamily("floe_bus_queued", "Events waiting on this server's bus.")
        bus.add_metric([], statistics.queued)
        self._gauges = [runs, depth, workers, bus]

    def _on_task(self, event: Any) -> None:
        if not isinstance(event, floe.Event):
            return
        key = (event.run_id, event.step)
        if event.kind == _STARTED:
            if len(self._started) >= _OPEN_STEPS:  # steps that never ended (their run died)
                self._started.clear()
            self._started[key] = event.at
        elif event.kind in _ENDED:
            began = self._started.pop(key, None)
            if began is not None:
                seconds = (event.at - began).total_seconds()
                if math.isfinite(seconds) and seconds >= 0:
                    self.steps.observe(seconds)
