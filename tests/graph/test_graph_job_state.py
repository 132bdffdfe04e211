"""The JobState an execution keeps up to date while it runs is the one its journal gives.

An execution folds each record into the job's state as it makes it (the store is not
read back when the job ends); ``flow.load_job`` folds the stored journal. Both must agree
in every field, whatever happened in the job, on the memory store and on SQLite.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from graph_routines import AsyncRecorder, Failing, Holder, Recorder, Source

from floe import Kernel
from floe.graph import ErrorHandler, ErrorStrategy, ExecutionRecord, Flow, JobState

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _clear_logs() -> None:
    Recorder.log.clear()
    AsyncRecorder.log.clear()
    Failing.calls.clear()


def _with_failing(handler: ErrorHandler | None, failures: int = 10**9) -> Flow:
    flow = Flow("fold-errors")
    first = Recorder()
    first.set_config(name="a")
    flow.add_routine(first, "a")
    failing = Failing()
    failing.set_config(failures=failures)
    failing.set_error_handler(handler)
    flow.add_routine(failing, "failing")
    after = AsyncRecorder()
    after.set_config(name="after")
    flow.add_routine(after, "after")
    flow.connect("a", "output", "failing", "input")
    flow.connect("failing", "output", "after", "input")
    flow.connect("a", "output", "after", "input")
    return flow


def _fan(strategy: Any) -> Flow:
    flow = Flow("fold-fan", execution_strategy=strategy, max_concurrency=3)
    flow.add_routine(Source(), "source")
    for name in ("x", "y"):
        recorder = AsyncRecorder()
        recorder.set_config(name=name)
        flow.add_routine(recorder, name)
        flow.connect("source", "item", name, "input", {"n": "value"})
    flow.add_routine(Holder(), "holder")
    flow.connect("x", "output", "holder", "input")
    return flow


FLOWS: dict[str, tuple[Callable[[], Flow], str, dict[str, Any], str]] = {
    "stop": (lambda: _with_failing(None), "a", {"value": 1}, "failed"),
    "continue": (
        lambda: _with_failing(ErrorHandler(ErrorStrategy.CONTINUE)),
        "a",
        {"value": 1},
        "completed",
    ),
    "skip": (
        lambda: _with_failing(ErrorHandler(ErrorStrategy.SKIP)),
        "a",
        {"value": 1},
        "completed",
    ),
    "retry": (
        lambda: _with_failing(
            ErrorHandler(ErrorStrategy.RETRY, max_retries=3, retry_delay=0.001), failures=2
        ),
        "a",
        {"value": 1},
        "completed",
    ),
    "sequential fan": (lambda: _fan("sequential"), "source", {"count": 5}, "completed"),
    "concurrent fan": (lambda: _fan("concurrent"), "source", {"count": 5}, "completed"),
}


@pytest.mark.parametrize("store", ["memory", "sqlite"])
@pytest.mark.parametrize("case", list(FLOWS))
async def test_the_state_kept_while_running_is_the_journals(
    floe_kernel_factory: Callable[..., Kernel], tmp_path: Path, store: str, case: str
) -> None:
    build, entry, params, status = FLOWS[case]
    url = "memory://" if store == "memory" else f"sqlite:///{tmp_path}/floe.db"
    flow = build()
    async with floe_kernel_factory(store=url):
        job = await flow.execute_async(entry, params)
        loaded = await flow.load_job(job.job_id)
    assert job.status == status
    assert loaded == job
    assert loaded.to_dict() == job.to_dict()
    assert JobState.from_dict(job.to_dict()) == job
    history = job.execution_history
    assert history
    assert all(isinstance(record, ExecutionRecord) for record in history)
    assert all(record.at is not None for record in history)
    handled = sum(state.executions for state in job.routine_states.values())
    assert handled == sum(1 for r in history if r.kind in ("slot_received", "failed"))
    if case == "retry":
        assert job.routine_states["failing"].retry_count == 2
        assert [r.kind for r in history if r.routine_id == "failing"] == [
            "retrying",
            "retrying",
            "slot_received",
            "emitted",
        ]


async def test_an_emit_is_dated_with_the_delivery_that_made_it(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    flow = _fan("sequential")
    async with floe_kernel_factory():
        job = await flow.execute_async("source", {"count": 2})
    history = job.execution_history
    for index, record in enumerate(history):
        if record.kind == "emitted":
            handled = next(
                r
                for r in reversed(history[:index])
                if r.delivery == record.delivery and r.kind != "emitted"
            )
            assert handled.kind == "slot_received"
            assert record.at == handled.at


async def test_the_history_is_built_once_and_kept(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    flow = _fan("sequential")
    async with floe_kernel_factory():
        job = await flow.execute_async("source", {"count": 2})
    first = job.execution_history
    assert job.execution_history is first
    first.append(first[0])  # a list like any other
    assert len(job.execution_history) == len(first)
    with pytest.raises(AttributeError, match="no_such_field"):
        job.no_such_field  # type: ignore[attr-defined]  # noqa: B018
