"""Every example runs as a user would run it, and prints what its docstring promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(name: str, *args: str, cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "error"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("store", ["memory://", "sqlite:///tour.db", "json:///tour-json"])
def test_kernel_tour(tmp_path: Path, store: str) -> None:
    lines = run_example("kernel_tour.py", store, cwd=tmp_path).splitlines()
    assert lines[0].startswith("plugins: floe.memory, floe.backoff")
    assert "sqlite" in lines[0]
    assert lines[1].startswith("fenced: Journal of run 'tour-1' is at seq 2")
    assert lines[2] == "journal: [(1, 'run.started'), (2, 'task.completed')]"
    assert lines[3] == "observed: run.started#1, task.completed#2"
