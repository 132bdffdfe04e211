"""``floe server`` as a real process: started, called over HTTP, stopped with SIGTERM;
with its own worker, and with a separate ``floe worker`` process executing the runs."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx
import pytest
from processes import FLOE, HERE, TOKEN, Started, environment, serve


def test_a_server_with_its_own_worker_runs_what_it_is_sent(tmp_path, started):
    server, address = serve(tmp_path, started, "--workers", "1")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=address, timeout=30) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        assert http.get("/runs").status_code == 401
        ran = http.post("/workflows/hello/run/sync", json="CLI", headers=headers)
        assert (ran.status_code, ran.json()["output"]) == (200, "Hello, CLI!")
        assert "swagger" in http.get("/docs").text.lower()
    code, stderr = server.stop()
    assert code == 0, stderr
    assert "floe server stopped" in stderr
    assert TOKEN not in stderr


def test_runs_submitted_over_http_are_executed_by_a_floe_worker(tmp_path, started):
    server, address = serve(tmp_path, started)  # --workers 0: the worker process runs them
    worker = Started(tmp_path, "worker", "--poll-seconds", "0.05")
    started.append(worker)
    worker.wait_for("serving")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=address, timeout=30) as http:
        submitted = [
            http.post(f"/workflows/hello/run/async?run_id=w-{n}", json=str(n), headers=headers)
            for n in range(5)
        ]
        assert {response.status_code for response in submitted} == {202}
        deadline = time.monotonic() + 60
        while True:
            listed = http.get("/runs?status=completed", headers=headers).json()["runs"]
            if len(listed) == 5 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert sorted(run["output"] for run in listed) == [f"Hello, {n}!" for n in range(5)]
    assert worker.stop()[0] == 0
    assert server.stop()[0] == 0


@pytest.mark.parametrize(("hops", "secure"), [(None, False), ("1", True)])
def test_forwarded_headers_count_only_behind_the_proxies_named(tmp_path, started, hops, secure):
    _, address = serve(tmp_path, started, *(["--proxy-hops", hops] if hops else []))
    # what a TLS-terminating proxy adds; trusted only with --proxy-hops
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    with httpx.Client(base_url=address, timeout=30) as http:
        signed = http.post("/sign-in", data={"token": TOKEN}, headers=forwarded)
    assert signed.status_code == 303, signed.text
    assert ("Secure" in signed.headers["set-cookie"]) is secure


def test_a_client_gone_mid_request_is_no_error_of_the_servers(tmp_path, started):
    server, address = serve(tmp_path, started)
    host, port = address.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(
            b"POST /workflows/hello/run/async HTTP/1.1\r\nHost: floe\r\n"
            + f"Authorization: Bearer {TOKEN}\r\n".encode()
            + b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"par'
        )  # 100 bytes announced, 4 sent, then the client is gone
    with httpx.Client(base_url=address, timeout=30) as http:  # still serving
        assert http.get("/healthz").status_code == 200
    code, log = server.stop()
    assert code == 0
    assert "Traceback" not in log
    assert "ERROR" not in log


def test_other_commands_load_no_web_framework(tmp_path):
    # every floe command loads this plugin: FastAPI is for `floe server` alone
    probe = (
        "import sys\n"
        "from floe_cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(set(sys.modules) & {'fastapi', 'hypercorn', 'pydantic', 'starlette'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=HERE,
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "  server " in result.stdout  # the command is there all the same
    assert result.stdout.splitlines()[-1] == "[]", result.stdout


def test_a_server_without_a_token_does_not_start(tmp_path):
    result = subprocess.run(
        [str(FLOE), "server", "--port", "0"],
        cwd=HERE,
        env={**environment(tmp_path), "FLOE_API_TOKEN": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "The server has no API token" in result.stderr
    assert "FLOE_API_TOKEN" in result.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--port", "70000"], "70000"),
        (["--import", "no_such_module"], "Cannot import 'no_such_module'"),
        (["--allow-uploads"], "Uploads are allowed but have no folder"),
        (["--cors-origin", "*"], "cors_origins"),
        (["--proxy-hops", "11"], "11"),
        (["--store", "memory://"], "has no workers to execute submitted runs"),
        (["--token-file", "absent.toml"], "Cannot read the token file"),
    ],
)
def test_bad_options_exit_2_with_one_error(tmp_path, options, message):
    result = subprocess.run(
        [str(FLOE), "server", "--port", "0", *options],
        cwd=HERE,
        env=environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
