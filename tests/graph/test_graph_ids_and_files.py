"""Job ids a caller gives are checked like run ids; flow and job files are owner-only."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from graph_routines import Recorder

import floe
from floe import ConfigError, Kernel, PersistenceError
from floe.graph import Flow, JobState

pytestmark = pytest.mark.anyio


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _flow() -> Flow:
    flow = Flow("ids")
    flow.add_routine(Recorder(), "r")
    return flow


@pytest.mark.parametrize(
    ("job_id", "match"),
    [
        ("component:orders", "reserved for components"),
        ("", "it is empty"),
        ("bad\x00id", "control character"),
        ("x" * 1025, "more than 1024"),
    ],
)
async def test_a_job_id_is_validated_before_anything_is_stored(
    floe_kernel_factory: Callable[..., Kernel], job_id: str, match: str
) -> None:
    flow = _flow()
    async with floe_kernel_factory():
        with pytest.raises(ConfigError, match=match):
            await flow.execute_async("r", {"value": 1}, job_id=job_id)
        if job_id:
            with pytest.raises(ConfigError, match=match):
                await flow.resume_async(job_id)
            with pytest.raises(ConfigError, match=match):
                await flow.load_job(job_id)
        listing = await floe.current_kernel().store.list_runs()
    assert list(listing) == []
    Recorder.log.clear()


async def test_a_chosen_job_id_is_used(floe_kernel_factory: Callable[..., Kernel]) -> None:
    async with floe_kernel_factory():
        job = await _flow().execute_async("r", {"value": 1}, job_id="nightly-2024-01-01")
    assert job.job_id == "nightly-2024-01-01"
    assert job.status == "completed"
    Recorder.log.clear()


async def test_flow_and_job_files_are_owner_only(
    floe_kernel_factory: Callable[..., Kernel], tmp_path: Path
) -> None:
    flow = _flow()
    saved = flow.save(tmp_path / "new" / "flow.json")
    assert _mode(saved) == 0o600
    assert _mode(saved.parent) == 0o700
    async with floe_kernel_factory():
        job = await flow.execute_async("r", {"value": 1})
    written = job.save(tmp_path / "job.json")
    assert _mode(written) == 0o600
    assert JobState.load(written).job_id == job.job_id
    # a file the user opened up keeps its mode when it is written again
    saved.chmod(0o644)
    flow.save(saved)
    assert _mode(saved) == 0o644
    (tmp_path / "blocked").write_text("a file where a directory should be")
    with pytest.raises(PersistenceError, match="Cannot write the job state file"):
        job.save(tmp_path / "blocked" / "job.json")
    Recorder.log.clear()
