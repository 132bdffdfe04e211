"""examples/embedded_app runs as its README says: the state pack installed, two processes.

The pack (examples/embedded_app/order-states) is a distribution of its own. It is copied,
installed with ``pip install --target`` (no network: no dependencies, no build isolation)
and put on PYTHONPATH, exactly as an installed plugin would be; then ``app.py`` runs
twice against one SQLite file, the second process continuing the first one's order.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "embedded_app"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("order-states")
    source = work / "source"
    shutil.copytree(
        EXAMPLE / "order-states",
        source,
        ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"),
    )
    target = work / "site"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "--quiet",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"pip could not install the pack:\n{result.stderr}"
    return target


def run_app(*args: str, site: Path | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLOE_")}
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    env["FLOE_STRICT_PLUGINS"] = "1"
    env["PYTHONWARNINGS"] = "error"
    return subprocess.run(
        [sys.executable, str(EXAMPLE / "app.py"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_order_survives_a_restart_with_snapshots_pruned(site: Path, tmp_path: Path) -> None:
    first = run_app("pay:900", "pay:120", "ship", site=site, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "order-1001: registered in New (rules: [{'max_amount': 500}])",
        "pay 900: ignored (stays in New)",
        "pay 120: New -> Paid",
        "ship: Paid -> Shipped",
        "observed: 3 messages; New -> Paid, Paid -> Shipped",
        "snapshots (newest first): Shipped, Paid; pruned 0",
    ]
    assert (tmp_path / "orders.db").is_file()

    # a new process: the order is restored from its journal, in the state it reached
    messages = ("deliver", "return", "cancel")
    second = run_app(*messages, "--export", "order.json", site=site, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == [
        "order-1001: restored in Shipped",
        "deliver: Shipped -> Delivered",
        "return: Delivered -> Returned",
        "cancel: ignored (stays in Returned)",
        "observed: 3 messages; Shipped -> Delivered, Delivered -> Returned",
        # four transitions snapshotted, the history pruned to the newest three
        "snapshots (newest first): Returned, Delivered, Shipped; pruned 1",
        "exported order-1001 in Returned to order.json",
    ]
    exported = orjson.loads((tmp_path / "order.json").read_bytes())
    assert exported["component"] == "order-1001"
    assert exported["state"] == "Returned"
    assert exported["rules"] == [{"max_amount": 500}]
    assert exported["metadata"] == {"exported_by": "app.py"}


def test_the_store_is_chosen_by_the_app(site: Path, tmp_path: Path) -> None:
    result = run_app("--db", "elsewhere.db", "cancel", site=site, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == "cancel: New -> Cancelled"
    assert (tmp_path / "elsewhere.db").is_file()
    assert not (tmp_path / "orders.db").exists()


def test_without_the_pack_the_state_names_are_unknown(tmp_path: Path) -> None:
    result = run_app("pay:120", site=None, cwd=tmp_path)
    assert result.returncode != 0
    assert "names an unknown state 'New'" in result.stderr
