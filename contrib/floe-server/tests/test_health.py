"""Health checks and Prometheus metrics."""

from __future__ import annotations

import pytest
from conftest import auth
from floe_server import Role
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.anyio


async def test_health_and_readiness_need_no_token(make_client, store_url):
    async with make_client() as http:
        health = await http.get("/healthz")
        ready = await http.get("/readyz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_count_runs_queues_workers_and_step_latency(make_client):
    async with make_client() as http:
        for index in range(3):
            await http.post("/workflows/hello/run/sync", json=str(index), headers=auth(Role.RUN))
        await http.post("/workflows/approval/run/sync", json=1, headers=auth(Role.RUN))
        response = await http.get("/metrics", headers=auth(Role.READ))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = metric_samples(response.text)
    assert samples[("floe_runs", (("status", "completed"),))] == 3
    assert samples[("floe_runs", (("status", "paused"),))] == 1
    assert samples[("floe_runs", (("status", "failed"),))] == 0
    assert samples[("floe_step_seconds_count", ())] == 3  # one task per hello run
    assert samples[("floe_workers", ())] == 1  # the server's own (--workers 2: one worker)
    assert samples[("floe_bus_queued", ())] >= 0


async def test_queue_depth_counts_the_pending_runs_of_each_queue(make_client):
    async with make_client(workers=0) as http:  # nothing executes: the runs stay pending
        for queue, count in (("emails", 3), ("default", 1)):
            for index in range(count):
                url = f"/workflows/hello/run/async?queue={queue}"
                submitted = await http.post(url, json=str(index), headers=auth(Role.RUN))
                assert submitted.status_code == 202
        samples = metric_samples((await http.get("/metrics", headers=auth(Role.READ))).text)
        workers = (await http.get("/workers", headers=auth(Role.READ))).json()["workers"]
    assert samples[("floe_queue_depth", (("queue", "emails"),))] == 3
    assert samples[("floe_queue_depth", (("queue", "default"),))] == 1
    assert samples[("floe_runs", (("status", "pending"),))] == 4
    assert (samples[("floe_workers", ())], workers) == (0, [])
