"""Schedules, workers and secrets over HTTP."""

from __future__ import annotations

import pytest
from conftest import SECRET_READER, auth
from floe_server import Role

import floe

pytestmark = pytest.mark.anyio

READ = auth(Role.READ)
ADMIN = auth(Role.ADMIN)
KEEPER = auth(SECRET_READER)


async def test_schedules_are_added_listed_paused_resumed_and_removed(make_client):
    async with make_client() as http:
        added = await http.post(
            "/schedules",
            json={"name": "nightly", "workflow": "hello", "cron": "0 3 * * *", "input": "N"},
            headers=ADMIN,
        )
        assert added.status_code == 201
        assert (added.json()["name"], added.json()["workflow"]) == ("nightly", "hello")
        assert added.json()["input"] == {"args": ["N"], "kwargs": {}}
        listed = (await http.get("/schedules", headers=READ)).json()["schedules"]
        assert [item["name"] for item in listed] == ["nightly"]
        paused = await http.post("/schedules/nightly/pause", headers=ADMIN)
        assert paused.json()["paused"] is True
        resumed = await http.post("/schedules/nightly/resume", headers=ADMIN)
        assert resumed.json()["paused"] is False
        assert (await http.delete("/schedules/nightly", headers=ADMIN)).status_code == 204
        assert (await http.get("/schedules", headers=READ)).json()["schedules"] == []
        assert await floe.list_schedules() == []


async def test_workers_lists_the_servers_own_worker_with_its_heartbeat(make_client):
    async with make_client(workers=3) as http:
        response = await http.get("/workers", headers=READ)
        assert response.status_code == 200
        (worker,) = response.json()["workers"]
        assert worker["worker_id"] == floe.current_kernel().owner_id
        assert (worker["concurrency"], worker["queues"], worker["live"]) == (3, None, True)
        assert worker["heartbeat_at"] <= worker["stale_at"]
    async with make_client(workers=0) as http:  # the first one deleted its record
        assert (await http.get("/workers", headers=READ)).json()["workers"] == []


async def test_bad_schedules_are_refused_and_nothing_is_stored(make_client):
    async with make_client() as http:
        cases = [
            ({"name": "a", "workflow": "nope", "every": 5}, 404),
            ({"name": "a", "workflow": "hello", "cron": "not cron"}, 422),
            ({"name": "a", "workflow": "hello"}, 422),
            ({"name": "a", "workflow": "hello", "every": 5, "cron": "* * * * *"}, 422),
            ({"name": "a", "workflow": "hello", "every": -1}, 422),
            ({"name": "", "workflow": "hello", "every": 5}, 422),
            ({"name": "a", "workflow": "hello", "every": 5, "catch_up": "none"}, 422),
        ]
        for body, status in cases:
            response = await http.post("/schedules", json=body, headers=ADMIN)
            assert response.status_code == status, (body, response.text)
        assert (await http.get("/schedules", headers=READ)).json()["schedules"] == []
        for path in ("/schedules/nope/pause", "/schedules/nope/resume"):
            assert (await http.post(path, headers=ADMIN)).status_code == 404
        assert (await http.delete("/schedules/nope", headers=ADMIN)).status_code == 404
        twice = {"name": "b", "workflow": "hello", "every": 60, "input": "x"}
        assert (await http.post("/schedules", json=twice, headers=ADMIN)).status_code == 201
        assert (await http.post("/schedules", json=twice, headers=ADMIN)).status_code == 422


async def test_secrets_are_set_listed_and_removed_and_read_only_with_their_permission(
    make_client,
):
    value = "s3cr3t-value-of-the-test"
    async with make_client() as http:
        put = await http.post(
            "/admin/secrets", json={"name": "api_key", "value": value}, headers=ADMIN
        )
        assert put.status_code == 204
        listed = await http.get("/admin/secrets", headers=ADMIN)
        assert listed.json() == {"secrets": ["api_key"]}
        refused = await http.get("/admin/secrets/api_key", headers=ADMIN)
        assert refused.status_code == 403
        assert value not in refused.text
        read = await http.get("/admin/secrets/api_key", headers=KEEPER)
        assert read.json() == {"name": "api_key", "value": value}
        assert (await http.delete("/admin/secrets/api_key", headers=ADMIN)).status_code == 204
        assert (await http.get("/admin/secrets", headers=ADMIN)).json() == {"secrets": []}
        assert (await http.delete("/admin/secrets/api_key", headers=ADMIN)).status_code == 404
        assert (await http.get("/admin/secrets/api_key", headers=KEEPER)).status_code == 404


async def test_bad_secrets_are_refused(make_client):
    async with make_client() as http:
        for body in (
            {"name": "api_key", "value": "short"},
            {"name": "bad name!", "value": "long enough value"},
            {"name": "api_key"},
            {"value": "long enough value"},
        ):
            response = await http.post("/admin/secrets", json=body, headers=ADMIN)
            assert response.status_code == 422, (body, response.text)
            assert "long enough value" not in response.text
        assert (await http.get("/admin/secrets", headers=ADMIN)).json() == {"secrets": []}
        assert (await http.get("/admin/secrets/bad%20name", headers=KEEPER)).status_code == 422


async def test_a_secret_a_run_returned_is_masked_in_every_response(make_client):
    value = "s3cr3t-value-of-the-test"
    async with make_client() as http:
        await http.post("/admin/secrets", json={"name": "api_key", "value": value}, headers=ADMIN)
        run = await http.post("/workflows/leak/run/sync", headers=auth(Role.RUN))
        assert run.status_code == 200
        run_id = run.json()["run_id"]
        texts = [
            run.text,
            (await http.get(f"/runs/{run_id}?detailed=true", headers=READ)).text,
            (await http.get(f"/runs/{run_id}/events", headers=READ)).text,
            (await http.get("/runs", headers=READ)).text,
        ]
        # the journal keeps the value exactly (sealed): what the task returned
        stored = await floe.current_kernel().store.get_run(run_id)
    assert stored is not None
    assert stored.status is floe.RunStatus.COMPLETED
    for text in texts:
        assert value not in text
        assert "***" in text
