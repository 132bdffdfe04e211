"""A bounded load test on loopback: 1,000 runs submitted at once over HTTP to a real
``floe server`` all complete, none lost and none twice; 100 clients follow runs by
server-sent events at once. Figures (requests/s, latency) are the benchmarks' business
(benchmarks/bench_server.py), never asserted here."""

from __future__ import annotations

import anyio
import httpx
import orjson
import pytest
from processes import TOKEN, serve

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

HEADERS = {"Authorization": f"Bearer {TOKEN}"}
SUBMISSIONS = 1000
FOLLOWERS = 100


@pytest.fixture
def anyio_backend() -> str:
    return "trio"  # the client's loop; the server runs in its own process


async def all_runs(http: httpx.AsyncClient, **filters: str) -> list[dict]:
    found: list[dict] = []
    cursor = None
    while True:
        params = {**filters, "limit": "500", **({"cursor": cursor} if cursor else {})}
        page = (await http.get("/runs", params=params)).json()
        found += page["runs"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


async def test_a_thousand_concurrent_submissions_all_complete_once(tmp_path, started):
    server, address = serve(tmp_path, started, "--workers", "4")
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(
        base_url=address, headers=HEADERS, limits=limits, timeout=60
    ) as http:
        answers: dict[int, httpx.Response] = {}

        async def submit(n: int) -> None:
            answers[n] = await http.post(f"/workflows/hello/run/async?run_id=load-{n}", json=str(n))

        async with anyio.create_task_group() as group:
            for n in range(SUBMISSIONS):
                group.start_soon(submit, n)
        assert {answer.status_code for answer in answers.values()} == {202}
        # a retried submission returns the run the first one made
        async with anyio.create_task_group() as group:
            for n in range(0, SUBMISSIONS, 10):
                group.start_soon(submit, n)
        assert {answers[n].json()["run_id"] for n in range(0, SUBMISSIONS, 10)} == {
            f"load-{n}" for n in range(0, SUBMISSIONS, 10)
        }
        with anyio.fail_after(300):
            # the runs complete in the server's process: poll what a client sees
            while len(await all_runs(http, status="completed")) < SUBMISSIONS:  # noqa: ASYNC110
                await anyio.sleep(0.5)
        runs = await all_runs(http)
    assert len(runs) == SUBMISSIONS  # none made twice
    assert {run["run_id"] for run in runs} == {f"load-{n}" for n in range(SUBMISSIONS)}
    assert all(run["output"] == f"Hello, {run['input']['args'][0].upper()}!" for run in runs)
    assert server.stop()[0] == 0


async def test_a_hundred_clients_follow_runs_at_once(tmp_path, started):
    server, address = serve(tmp_path, started, "--workers", "4")
    limits = httpx.Limits(max_connections=FOLLOWERS + 10)
    async with httpx.AsyncClient(
        base_url=address, headers=HEADERS, limits=limits, timeout=120
    ) as http:
        gate = tmp_path / "gate"
        ids = []
        for n in range(FOLLOWERS // 10):  # ten runs, each followed by ten clients
            submitted = await http.post(f"/workflows/gated/run/async?run_id=g-{n}", json=str(gate))
            ids.append(submitted.json()["run_id"])
        ends: list[dict] = []

        async def follow(run_id: str) -> None:
            async with http.stream("GET", f"/runs/{run_id}/events") as response:
                assert response.status_code == 200
                kind = None
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        kind = line.removeprefix("event: ")
                    elif line.startswith("data: ") and kind == "end":
                        ends.append(orjson.loads(line.removeprefix("data: ")))

        async with anyio.create_task_group() as group:
            for index in range(FOLLOWERS):
                group.start_soon(follow, ids[index % len(ids)])
            await anyio.sleep(1)  # every client connected and waiting
            gate.touch()
    assert len(ends) == FOLLOWERS
    assert {end["status"] for end in ends} == {"completed"}
    assert server.stop()[0] == 0
