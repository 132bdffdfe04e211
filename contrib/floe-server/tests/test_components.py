"""Components and graph jobs over HTTP, on the store the server serves."""

from __future__ import annotations

import anyio
import pytest
from conftest import auth
from floe_server import Role

import floe
from floe.graph import Flow, Transformer

pytestmark = pytest.mark.anyio

READ = auth(Role.READ)
RUN = auth(Role.RUN)


async def test_components_are_listed_and_read_with_their_diagram(make_client):
    async with make_client() as http:
        engine = floe.Engine()
        component = await engine.register_async(floe.Component("orders"))
        await component.flush()
        listed = (await http.get("/components", headers=READ)).json()["components"]
        assert [(item["name"], item["state"]) for item in listed] == [("orders", "InitialState")]
        one = (await http.get("/components/orders", headers=READ)).json()
    assert one["state"] == "InitialState"
    assert one["history"][0]["kind"] == "engine.component.registered"
    assert one["diagram"].startswith("stateDiagram")
    assert "InitialState" in one["diagram"]


async def test_a_message_is_delivered_by_the_servers_worker(make_client):
    async with make_client() as http:
        engine = floe.Engine()
        await (await engine.register_async(floe.Component("orders"))).flush()
        sent = await http.post(
            "/components/orders/messages?message_id=m-1", json={"type": "start"}, headers=RUN
        )
        assert sent.status_code == 202
        assert (sent.json()["run_id"], sent.json()["kind"]) == ("m-1", "message")
        again = await http.post(
            "/components/orders/messages?message_id=m-1", json={"type": "start"}, headers=RUN
        )
        assert again.json()["run_id"] == "m-1"
        with anyio.fail_after(20):
            # the worker is in this process but the test reads what a client sees: poll it
            while (await http.get("/runs/m-1", headers=READ)).json()["status"] != "completed":  # noqa: ASYNC110
                await anyio.sleep(0.02)
        state = (await http.get("/components/orders", headers=READ)).json()["state"]
    assert state == "AwaitingConfirmation"


async def test_unknown_components_and_bad_messages_are_client_errors(make_client):
    async with make_client() as http:
        assert (await http.get("/components/nobody", headers=READ)).status_code == 404
        unknown = await http.post("/components/nobody/messages", json={"type": "x"}, headers=RUN)
        assert unknown.status_code == 404
        await (await floe.Engine().register_async(floe.Component("orders"))).flush()
        for body in ([1, 2], "start", {"no_type": 1}):
            response = await http.post("/components/orders/messages", json=body, headers=RUN)
            assert response.status_code == 422, (body, response.text)
        runs = (await http.get("/runs?kind=message", headers=READ)).json()["runs"]
        assert runs == []


async def test_a_graph_job_shows_each_routine(make_client):
    flow = Flow("copy")
    flow.add_routine(Transformer(), "copy")
    async with make_client() as http:
        state = await flow.execute_async("copy", {"value": 1}, job_id="job-1")
        assert state.status is floe.RunStatus.COMPLETED
        job = (await http.get("/graphs/job-1", headers=READ)).json()
        not_a_job = await http.post("/workflows/hello/run/sync?run_id=w-1", json="x", headers=RUN)
        assert not_a_job.status_code == 200
        wrong_kind = await http.get("/graphs/w-1", headers=READ)
        missing = await http.get("/graphs/nope", headers=READ)
    assert (job["job_id"], job["flow_id"], job["status"]) == ("job-1", "copy", "completed")
    assert job["routine_states"]["copy"]["status"] == "completed"
    assert job["run"]["kind"] == "graph"
    assert (wrong_kind.status_code, missing.status_code) == (404, 404)
