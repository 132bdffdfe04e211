"""schemathesis against a real ``floe server`` on loopback: requests generated from the
OpenAPI schema (bounded), with an admin token, answer no 500 and conform to the schema."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import SECRET_KEY
from processes import TOKEN, Started

HEADERS = {"Authorization": f"Bearer {TOKEN}"}
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("fuzz")
    server = Started(
        folder,
        "server",
        "--port",
        "0",
        "--import",
        "server_flows",
        "--workers",
        "2",
        "--sync-timeout",
        "1",
        "--allow-uploads",
        "--upload-dir",
        str(folder / "uploads"),
        FLOE_SECRET_KEY=SECRET_KEY,
    )
    try:
        address = server.wait_for(r"listening on (http://\S+)").group(1)
        with httpx.Client(base_url=address, headers=HEADERS, timeout=30) as http:
            # something to find: a finished run, a paused one, a component
            http.post("/workflows/hello/run/sync?run_id=fuzz-1", json="x")
            http.post("/workflows/approval/run/sync?run_id=fuzz-2", json=1)
        yield address
    finally:
        server.stop()


ACCEPTED = ["2xx", "3xx", 401, 403, 404, 409, 429]
"""What positive_data_acceptance takes for valid data by default (its 5xx stays a failure
through not_a_server_error)."""
BODIES = "^/(workflows/[^/]+/run/[^/]+|runs/[^/]+/resume|components/[^/]+/messages|schedules)$"
"""The operations whose body is any JSON value."""
CONFIG = f"""
[[operations]]
include-path = "/workflows"
include-method = "POST"
# an uploaded file's name must be NAME.py, which no OpenAPI schema can say: a file of
# another name is refused (422), as test_workflows.py tests
checks.positive_data_acceptance.enabled = false

# bodies of any JSON value: floe stores integers of at most 64 bits, and no JSON Schema
# bounds the integers nested in an arbitrary value; such a value is refused with 422
[[operations]]
include-path-regex = "{BODIES}"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = {[*ACCEPTED, 422]!r}

# the run endpoint runs a real workflow, so that its bodies reach the workflow
[[operations]]
include-path = "/workflows/{{name}}/run/{{mode}}"
include-method = "POST"
parameters = {{ "name" = "hello" }}
"""


def test_no_request_the_schema_allows_breaks_the_server(served: str, tmp_path: Path) -> None:
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    # every check schemathesis has: no 5xx, documented status codes and content types,
    # answers that match their schema, refused bad input (negative cases too)
    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(tmp_path / "schemathesis.toml"),
            "run",
            f"{served}/openapi.json",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--checks",
            "all",
            "--max-examples",
            "20",
            "--seed",
            "7",
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
            "--workers",
            "1",
            # the token is the one given above, never one made up from the schema
            "--generation-with-security-parameters",
            "false",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=tmp_path,
    )
    (tmp_path.parent / "schemathesis.txt").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
