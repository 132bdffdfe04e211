"""Component messages on ``floe worker`` processes, on one SQLite file and on PostgreSQL:
``floe handle MESSAGE --detach`` stores a message, workers started with ``--config``
deliver it to the component restored from the store.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
import pytest
from test_cli_workers import Project, floe_cli, runs, start_worker, stop, wait_for

import floe
from floe.testing import open_store

ROUNDS = 3


@pytest.fixture(params=["sqlite", "postgresql"])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Project:
    (tmp_path / "orders.yaml").write_text("name: orders\n")
    if request.param == "postgresql":
        return Project(tmp_path, str(request.getfixturevalue("postgres_url")))
    return Project(tmp_path, f"sqlite:///{tmp_path / '.floe' / 'floe.db'}")


def history(project: Project) -> list[floe.Event]:
    async def read() -> list[floe.Event]:
        async with open_store(project.store) as store:
            return await store.read_events("component:orders")

    return anyio.run(read)


def test_detached_messages_are_delivered_by_two_workers_in_the_order_sent(
    project: Project, processes: list[subprocess.Popen[str]]
) -> None:
    registered = floe_cli(project, "register", "--config", "orders.yaml")
    assert registered.returncode == 0, registered.stderr
    ids = []
    for _ in range(ROUNDS):
        for message in (["start"], ["confirm", "--content", "confirmed"], ["complete"]):
            sent = floe_cli(project, "handle", "--config", "orders.yaml", *message, "--detach")
            assert sent.returncode == 0, sent.stderr
            ids.append(sent.stdout.strip())
    again = floe_cli(
        project, "handle", "--config", "orders.yaml", "start", "--detach", "--message-id", ids[0]
    )
    assert again.stdout.strip() == ids[0]  # sent again with its id: not sent twice
    assert {runs(project)[message_id].status for message_id in ids} == {floe.RunStatus.PENDING}
    workers = [
        start_worker(project, "--config", "orders.yaml", "--poll-seconds", "0.05") for _ in range(2)
    ]
    processes.extend(workers)
    wait_for(
        lambda: all(runs(project)[message_id].status.finished for message_id in ids), "messages"
    )
    for worker in workers:
        code, stderr = stop(worker)
        assert code == 0, stderr
    stored = runs(project)
    assert {stored[message_id].status for message_id in ids} == {floe.RunStatus.COMPLETED}
    events = history(project)
    delivered = [e.data["delivery"] for e in events if e.kind == "component.message.received"]
    assert delivered == ids  # each once, in the order sent
    changes = [
        (e.data["from_state"], e.data["to_state"]) for e in events if e.kind == "state.changed"
    ]
    assert (
        changes
        == [
            ("InitialState", "AwaitingConfirmation"),
            ("AwaitingConfirmation", "ProcessingRequest"),
            ("ProcessingRequest", "InitialState"),
        ]
        * ROUNDS
    )
    status = floe_cli(project, "status", ids[0])
    assert status.returncode == 0, status.stderr
    assert "completed" in status.stdout


def test_bad_detached_messages_and_worker_configs_are_usage_errors(project: Project) -> None:
    assert floe_cli(project, "register", "--config", "orders.yaml").returncode == 0
    before = set(runs(project))
    result = floe_cli(project, "handle", "--config", "orders.yaml", "start", "--queue", "q")
    assert result.returncode == floe.ExitCode.USAGE
    assert result.stderr.startswith("Error: --message-id, --queue and --priority are for")
    result = floe_cli(
        project, "handle", "--config", "orders.yaml", "start", "--detach", "--queue", ""
    )
    assert result.returncode == floe.ExitCode.USAGE
    assert "Traceback" not in result.stderr
    result = floe_cli(project, "worker", "--config", "missing.yaml")
    assert result.returncode == floe.ExitCode.USAGE
    assert "missing.yaml" in result.stderr
    assert "Traceback" not in result.stderr
    assert set(runs(project)) == before  # nothing stored
