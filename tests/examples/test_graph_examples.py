"""The routine-graph examples run as a user would run them and print what they promise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(name: str, *args: str, cwd: Path, env: dict[str, str] | None = None) -> list[str]:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "error", **(env or {})},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_quickstart_works_as_written(tmp_path: Path) -> None:
    lines = _run("graph_quickstart.py", cwd=tmp_path, env={"FLOE_STORE": "memory://"})
    assert lines == [
        "completed",
        "{'processed_count': 1}",
        "{'result': \"Processed: {'result': 'Processed: test'}\"}",
    ]


def test_quickstart_uses_the_default_store(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLOE_")}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "graph_quickstart.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "completed"
    assert (tmp_path / ".floe" / "floe.db").is_file()


@pytest.mark.parametrize("store", ["memory://", "sqlite:///pipeline.db"])
def test_pipeline(tmp_path: Path, store: str) -> None:
    assert _run("graph_pipeline.py", store, cwd=tmp_path) == [
        "job completed: 4 orders",
        "price {'priced': 3}",
        "large_orders {'orders': 2, 'revenue': 1019.0}",
        "small_orders {'orders': 1, 'revenue': 79.0}",
        "rejects {'rejected': 1}",
    ]


def test_fan_out_fan_in(tmp_path: Path) -> None:
    assert _run("graph_fan_out_in.py", cwd=tmp_path) == [
        "cheapest: south at 14.4",
        "job completed after 8 deliveries",
    ]


def test_error_strategies(tmp_path: Path) -> None:
    lines = _run("graph_error_strategies.py", cwd=tmp_path)
    assert [line.split()[:4] for line in lines] == [
        ["STOP", "job", "failed", "sink"],
        ["CONTINUE", "job", "completed", "sink"],
        ["SKIP", "job", "completed", "sink"],
        ["RETRY", "job", "completed", "sink"],
    ]
    assert "saw [1] parse: 1 ok, 1 failed, 0 skipped, 0 retries" in lines[0]
    assert "saw [1, 3] parse: 2 ok, 1 failed, 0 skipped, 0 retries" in lines[1]
    assert "saw [1, 3] parse: 2 ok, 0 failed, 1 skipped, 0 retries" in lines[2]
    assert "saw [1, 0, 3] parse: 3 ok, 0 failed, 0 skipped, 1 retries" in lines[3]


def test_pause_resume(tmp_path: Path) -> None:
    assert _run("graph_pause_resume.py", cwd=tmp_path) == [
        "paused: waiting for an editor (1 pending) after ['draft', 'approval']",
        "completed: ran ['publish']; published 'All about durable graphs'",
    ]
    assert (tmp_path / "article.db").is_file()
