"""What the command line does with stored data it cannot use, as the real ``floe`` console
script in subprocesses: damaged run records in ``floe runs``, reserved run ids in
``floe run``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

# the console-script helpers of the workflow commands' tests, next to this file
from test_cli_workflows import FLOWS, floe_cli

import floe
from floe_json._files import file_name


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "flows.py").write_text(FLOWS, encoding="utf-8")
    return tmp_path


def _run_three(project: Path, *store: str) -> None:
    for run_id in ("first", "broken", "last"):
        done = floe_cli(
            "run", "flows.py:hello", "--input", '"x"', "--run-id", run_id, *store, cwd=project
        )
        assert done.returncode == floe.ExitCode.OK, done.stderr


def _assert_listed_but_broken(project: Path, *store: str) -> None:
    table = floe_cli("runs", *store, cwd=project)
    assert table.returncode == floe.ExitCode.RUN_FAILED, table.stderr
    assert "last" in table.stdout
    assert "first" in table.stdout
    assert "broken" not in table.stdout
    warnings = table.stderr.strip().splitlines()
    assert len(warnings) == 1, table.stderr
    assert warnings[0].startswith("Warning: skipped a damaged run record: ")
    assert "Traceback" not in table.stderr
    listed = floe_cli("runs", "--json", *store, cwd=project)
    assert listed.returncode == floe.ExitCode.RUN_FAILED
    assert [run["run_id"] for run in orjson.loads(listed.stdout)] == ["last", "first"]
    assert listed.stderr == table.stderr


def test_runs_lists_around_a_damaged_sqlite_row(project: Path) -> None:
    _run_three(project)
    database = project / ".floe" / "floe.db"
    with sqlite3.connect(database) as connection:
        changed = connection.execute("UPDATE runs SET doc = '{oops' WHERE run_id = 'broken'")
        assert changed.rowcount == 1
    connection.close()
    _assert_listed_but_broken(project)
    warning = floe_cli("runs", cwd=project).stderr
    assert "Run 'broken' in table runs of" in warning
    assert "is not valid JSON" in warning
    # the other commands still refuse the damaged record itself, naming it
    status = floe_cli("status", "broken", cwd=project)
    assert status.returncode != floe.ExitCode.OK
    assert "broken" in status.stderr


def test_runs_lists_around_a_damaged_json_run_file(project: Path) -> None:
    store = ("--store", f"json:///{project / 'json-store'}")
    _run_three(project, *store)
    path = project / "json-store" / "runs" / file_name("broken")
    path.write_bytes(b'{"format": 1, "run": {"run_id": "broken", "name": 7}}')
    _assert_listed_but_broken(project, *store)
    warning = floe_cli("runs", *store, cwd=project).stderr
    assert "Run 'broken'" in warning
    assert str(path) in warning


def test_runs_without_damage_exits_0_and_warns_nothing(project: Path) -> None:
    _run_three(project)
    table = floe_cli("runs", cwd=project)
    assert table.returncode == floe.ExitCode.OK
    assert table.stderr == ""


def test_run_refuses_a_run_id_reserved_for_components(project: Path) -> None:
    refused = floe_cli(
        "run", "flows.py:hello", "--input", '"x"', "--run-id", "component:x", cwd=project
    )
    assert refused.returncode == floe.ExitCode.USAGE
    assert "Error: Run id 'component:x' starts with 'component:'" in refused.stderr
    assert "reserved for components" in refused.stderr
    assert "Traceback" not in refused.stderr
    listed = floe_cli("runs", "--json", cwd=project)
    assert listed.returncode == floe.ExitCode.OK, listed.stderr
    assert orjson.loads(listed.stdout) == []
