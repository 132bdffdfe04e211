"""Runs over HTTP: submit (sync, async, stream), list, read, resume, cancel, follow, artifacts.

The server executes the runs with its own worker (``workers=2``) on a real SQLite file.
"""

from __future__ import annotations

from urllib.parse import quote

import anyio
import orjson
import pytest
from conftest import auth
from floe_server import Role

pytestmark = pytest.mark.anyio

RUN = auth(Role.RUN)
READ = auth(Role.READ)


def sse(text: str) -> list[dict[str, str]]:
    """The events of a server-sent event stream, each a dict of its fields."""
    events = []
    for block in text.replace("\r\n", "\n").strip().split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line and not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        if fields:
            events.append(fields)
    return events


async def settled(http, run_id: str) -> dict:
    with anyio.fail_after(20):
        while True:
            run = (await http.get(f"/runs/{run_id}", headers=READ)).json()
            if run["status"] in ("completed", "failed", "cancelled", "paused"):
                return run
            await anyio.sleep(0.02)


async def test_run_sync_answers_with_the_finished_run(make_client):
    async with make_client() as http:
        response = await http.post("/workflows/hello/run/sync", json="World", headers=RUN)
        assert response.status_code == 200
        run = response.json()
        assert (run["status"], run["output"], run["name"]) == (
            "completed",
            "Hello, WORLD!",
            "hello",
        )
        assert response.headers["location"] == f"/runs/{run['run_id']}"
        keywords = await http.post(
            "/workflows/greet/run/sync?kwargs=true",
            json={"name": "Ada", "punctuation": "?"},
            headers=RUN,
        )
        assert keywords.json()["output"] == "Hi Ada?"


async def test_run_sync_past_its_timeout_answers_202_with_the_run(make_client, tmp_path):
    gate = tmp_path / "gate"
    async with make_client(sync_timeout=0.2) as http:
        response = await http.post("/workflows/gated/run/sync", json=str(gate), headers=RUN)
        assert response.status_code == 202
        run = response.json()
        assert run["status"] in ("pending", "running")
        gate.touch()
        assert (await settled(http, run["run_id"]))["output"] == str(gate)


async def test_run_async_is_idempotent_by_run_id_or_key(make_client):
    async with make_client() as http:
        first = await http.post("/workflows/hello/run/async?run_id=greet-1", json="A", headers=RUN)
        assert first.status_code == 202
        assert first.json()["run_id"] == "greet-1"
        again = await http.post(
            "/workflows/hello/run/async", json="A", headers={**RUN, "Idempotency-Key": "greet-1"}
        )
        assert again.status_code in (200, 202)
        assert again.json()["run_id"] == "greet-1"
        assert (await settled(http, "greet-1"))["output"] == "Hello, A!"
        listed = (await http.get("/runs?name=hello", headers=READ)).json()["runs"]
        assert [run["run_id"] for run in listed] == ["greet-1"]
        # the same id with another input is a conflict of the caller's, not a new run
        other = await http.post("/workflows/hello/run/async?run_id=greet-1", json="B", headers=RUN)
        assert other.status_code == 422
        assert "greet-1" in other.json()["title"]


async def test_run_stream_sends_the_journal_until_the_run_ends(make_client):
    async with make_client() as http:
        response = await http.post("/workflows/hello/run/stream", json="S", headers=RUN)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse(response.text)
    kinds = [event.get("event") for event in events]
    assert kinds[0] == "run.started"
    assert "task.completed" in kinds
    assert kinds[-2:] == ["run.completed", "end"]
    assert orjson.loads(events[-1]["data"])["output"] == "Hello, S!"
    seqs = [int(event["id"]) for event in events[:-1]]
    assert seqs == sorted(set(seqs))


async def test_events_resume_after_the_last_event_id(make_client):
    async with make_client() as http:
        run = (await http.post("/workflows/hello/run/sync", json="E", headers=RUN)).json()
        url = f"/runs/{run['run_id']}/events"
        everything = sse((await http.get(url, headers=READ)).text)
        middle = int(everything[1]["id"])
        rest = sse((await http.get(url, headers={**READ, "Last-Event-ID": str(middle)})).text)
    assert [event.get("id") for event in rest] == [event.get("id") for event in everything[2:]]
    assert rest[-1]["event"] == "end"


async def test_a_paused_run_is_resumed_with_the_body(make_client):
    async with make_client() as http:
        paused = (await http.post("/workflows/approval/run/sync", json=120, headers=RUN)).json()
        assert (paused["status"], paused["output"]) == ("paused", {"amount": 120})
        run_id = paused["run_id"]
        resumed = await http.post(f"/runs/{run_id}/resume", json={"ok": True}, headers=RUN)
        assert resumed.status_code == 202
        done = await settled(http, run_id)
        assert (done["status"], done["output"]) == (
            "completed",
            {"amount": 120, "decision": {"ok": True}},
        )
        again = await http.post(f"/runs/{run_id}/resume", json=1, headers=RUN)
        assert again.status_code == 409
        assert again.json()["context"]["status"] == "completed"


@pytest.mark.parametrize("run_id", ["etl/2026-12-04", "a%2Fb", "100% done/ünï", "x/events"])
async def test_a_run_id_with_a_slash_or_a_percent_is_reached_at_every_path(make_client, run_id):
    quoted = quote(run_id, safe="")  # what a client sends: '/' as %2F, '%' as %25
    async with make_client() as http:
        submitted = await http.post(
            f"/workflows/approval/run/sync?run_id={quoted}", json=7, headers=RUN
        )
        assert (submitted.status_code, submitted.json()["run_id"]) == (200, run_id)
        assert submitted.headers["location"] == f"/runs/{quoted}"
        read = await http.get(f"/runs/{quoted}", headers=READ)
        assert (read.status_code, read.json()["run_id"]) == (200, run_id)
        flux = await http.get(f"/workflows/approval/status/{quoted}", headers=READ)
        assert flux.json()["run_id"] == run_id
        events = sse((await http.get(f"/runs/{quoted}/events", headers=READ)).text)
        assert events[0]["event"] == "run.started"
        resumed = await http.post(f"/runs/{quoted}/resume", json={"ok": 1}, headers=RUN)
        assert resumed.status_code == 202
        assert (await settled(http, quoted))["status"] == "completed"
        unknown = await http.get(f"/runs/{quote(run_id + '/x', safe='')}", headers=READ)
        assert unknown.status_code == 404
        assert unknown.json()["context"]["run_id"] == run_id + "/x"


async def test_cancel_stops_a_paused_run(make_client):
    async with make_client() as http:
        paused = (await http.post("/workflows/approval/run/sync", json=5, headers=RUN)).json()
        cancelled = await http.post(f"/runs/{paused['run_id']}/cancel", headers=RUN)
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        twice = await http.post(f"/runs/{paused['run_id']}/cancel", headers=RUN)
        assert twice.status_code == 409


async def test_a_failed_run_shows_its_error(make_client):
    async with make_client() as http:
        failed = (await http.post("/workflows/broken/run/sync", headers=RUN)).json()
    assert failed["status"] == "failed"
    assert failed["error"]["type"] == "builtins.ValueError"
    assert "broken on purpose" in failed["error"]["message"]


async def test_a_run_is_read_with_its_journal_on_request(make_client):
    async with make_client() as http:
        run = (await http.post("/workflows/hello/run/sync", json="D", headers=RUN)).json()
        plain = (await http.get(f"/runs/{run['run_id']}", headers=READ)).json()
        detailed = (await http.get(f"/runs/{run['run_id']}?detailed=true", headers=READ)).json()
    assert "events" not in plain
    assert detailed["executed_tasks"] == ["shout#1"]
    assert [event["seq"] for event in detailed["events"]] == list(
        range(1, len(detailed["events"]) + 1)
    )


async def test_a_run_is_read_at_fluxs_path_under_its_workflow(make_client):
    async with make_client() as http:
        run = (await http.post("/workflows/hello/run/sync", json="F", headers=RUN)).json()
        path = f"/workflows/hello/status/{run['run_id']}"
        plain = await http.get(path, headers=READ)
        detailed = await http.get(f"{path}?detailed=true", headers=READ)
        other = await http.get(f"/workflows/greet/status/{run['run_id']}", headers=READ)
    assert plain.json()["output"] == "Hello, F!"
    assert detailed.json()["events"][0]["kind"] == "run.started"
    assert other.status_code == 404
    assert other.json()["fix"] == f"Read it with GET /runs/{run['run_id']}."


async def test_runs_are_paged_with_a_cursor_that_new_runs_do_not_shift(make_client):
    async with make_client() as http:
        for index in range(5):
            await http.post(f"/workflows/hello/run/sync?run_id=page-{index}", json="p", headers=RUN)
        first = (await http.get("/runs?limit=2&name=hello", headers=READ)).json()
        assert [run["run_id"] for run in first["runs"]] == ["page-4", "page-3"]
        await http.post("/workflows/hello/run/sync?run_id=page-new", json="p", headers=RUN)
        seen = [run["run_id"] for run in first["runs"]]
        cursor = first["next_cursor"]
        while cursor is not None:
            page = (
                await http.get(f"/runs?limit=2&name=hello&cursor={cursor}", headers=READ)
            ).json()
            seen += [run["run_id"] for run in page["runs"]]
            cursor = page["next_cursor"]
        assert seen == ["page-4", "page-3", "page-2", "page-1", "page-0"]
        unknown = await http.get("/runs?cursor=no-such-run", headers=READ)
        assert unknown.status_code == 404
        filtered = (await http.get("/runs?status=failed", headers=READ)).json()
        assert filtered == {"runs": [], "next_cursor": None}


async def test_artifacts_are_served_with_their_media_type(make_client):
    async with make_client() as http:
        run = (await http.post("/workflows/report/run/sync", headers=RUN)).json()
        summary = await http.get(f"/runs/{run['run_id']}/artifacts/summary", headers=READ)
        notes = await http.get(f"/runs/{run['run_id']}/artifacts/notes", headers=READ)
        missing = await http.get(f"/runs/{run['run_id']}/artifacts/absent", headers=READ)
    assert (summary.headers["content-type"], summary.json()) == ("application/json", {"rows": 3})
    assert notes.headers["content-type"].startswith("text/markdown")
    assert notes.text == "# Notes\n\nall fine"
    assert missing.status_code == 404
    assert "summary, notes" in missing.json()["detail"]


# -- bad input: a clear problem, nothing stored -------------------------------------------


async def test_unknown_workflows_and_runs_are_404(make_client):
    async with make_client() as http:
        for method, path in [
            ("POST", "/workflows/nope/run/sync"),
            ("GET", "/workflows/nope"),
            ("GET", "/runs/nope"),
            ("GET", "/runs/nope/events"),
            ("POST", "/runs/nope/resume"),
            ("POST", "/runs/nope/cancel"),
            ("GET", "/runs/nope/artifacts/a"),
        ]:
            response = await http.request(method, path, headers=RUN)
            assert response.status_code == 404, (method, path)
            problem = response.json()
            assert response.headers["content-type"] == "application/problem+json"
            assert problem["status"] == 404
            assert problem["title"]
            assert problem["fix"]
        assert (await http.get("/runs", headers=READ)).json()["runs"] == []


async def test_bad_bodies_and_options_are_client_errors(make_client):
    async with make_client() as http:
        cases = [
            ("/workflows/hello/run/sync", b"{not json", {}, 400),
            ("/workflows/hello/run/sync?kwargs=true", b'"text"', {}, 422),
            ("/workflows/hello/run/sync?kwargs=true", b'{"run_id": "x"}', {}, 422),
            ("/workflows/hello/run/sync?kwargs=true", b'{"nobody": 1}', {}, 422),
            ("/workflows/hello/run/fast", b'"x"', {}, 422),
            ("/workflows/hello/run/async?run_id=a&priority=x", b'"x"', {}, 422),
            ("/workflows/hello/run/async?run_id=a", b'"x"', {"Idempotency-Key": "b"}, 409),
            ("/workflows/hello/run/async?run_id=%01bad", b'"x"', {}, 422),
            ("/workflows/hello/run/async?queue=", b'"x"', {}, 422),
        ]
        for url, body, headers, status in cases:
            response = await http.post(url, content=body, headers={**RUN, **headers})
            assert response.status_code == status, (url, body, response.text)
            assert response.json()["status"] == status
        assert (await http.get("/runs", headers=READ)).json()["runs"] == []


async def test_a_body_over_the_limit_is_refused(make_client):
    async with make_client(max_body_bytes=64) as http:
        response = await http.post("/workflows/hello/run/sync", json="x" * 100, headers=RUN)
        assert response.status_code == 413
        assert (await http.get("/runs", headers=READ)).json()["runs"] == []


async def test_resume_refuses_a_value_that_cannot_be_stored(make_client):
    async with make_client() as http:
        paused = (await http.post("/workflows/approval/run/sync", json=1, headers=RUN)).json()
        big = await http.post(f"/runs/{paused['run_id']}/resume", content=b"1e999", headers=RUN)
        assert big.status_code in (400, 422)
        assert (await http.get(f"/runs/{paused['run_id']}", headers=READ)).json()[
            "status"
        ] == "paused"
