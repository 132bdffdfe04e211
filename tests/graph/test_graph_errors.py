"""Error strategies on entry and downstream routines; RETRY through the shared policy."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import anyio
import pytest
import trio.testing
from graph_routines import AsyncRecorder, Failing, Recorder

import floe
from floe import Kernel
from floe.graph import ErrorHandler, ErrorStrategy, Flow, JobState, Routine

pytestmark = pytest.mark.anyio

mock_clock = pytest.mark.parametrize(
    "anyio_backend",
    [
        pytest.param(
            ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}), id="trio-mockclock"
        )
    ],
)


@pytest.fixture(autouse=True)
def _clear_logs() -> None:
    Recorder.log.clear()
    AsyncRecorder.log.clear()
    Failing.calls.clear()


def _named(routine: Any, name: str) -> Any:
    routine.set_config(name=name)
    return routine


def _downstream_flow(handler: ErrorHandler | None, failures: int = 10**9) -> Flow:
    """a -> failing -> after ; a -> sibling (connected after the failing branch)."""
    flow = Flow("errors")
    flow.add_routine(_named(Recorder(), "a"), "a")
    failing = Failing()
    failing.set_config(failures=failures)
    failing.set_error_handler(handler)
    flow.add_routine(failing, "failing")
    flow.add_routine(_named(Recorder(), "after"), "after")
    flow.add_routine(_named(Recorder(), "sibling"), "sibling")
    flow.connect("a", "output", "failing", "input")
    flow.connect("failing", "output", "after", "input")
    flow.connect("a", "output", "sibling", "input")
    return flow


async def _run(
    factory: Callable[..., Kernel], flow: Flow, entry: str = "a", **params: Any
) -> tuple[JobState, list[floe.Event]]:
    async with factory() as kernel:
        job = await flow.execute_async(entry, params or {"value": 0})
        return job, await kernel.store.read_events(job.job_id)


async def test_stop_fails_the_job_and_drops_pending_deliveries(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    job, events = await _run(floe_kernel_factory, _downstream_flow(None))
    assert job.status == "failed"
    assert [name for name, _ in Recorder.log] == ["a"]  # neither 'after' nor 'sibling'
    assert job.routine_states["failing"].status == "failed"
    assert job.error is not None
    assert "ConnectionError: attempt 1 failed" in job.error
    failed = next(event for event in events if event.kind == "routine.failed")
    assert failed.data["strategy"] == "stop"
    assert failed.data["outcome"] == "stopped"
    assert failed.data["error"]["type"] == "builtins.ConnectionError"
    assert events[-1].kind == "run.failed"
    assert events[-1].data["step"] == "failing.input#2"
    assert job.pending_deliveries == 1  # the sibling, never run


async def test_continue_records_the_error_and_delivers_what_was_emitted(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    job, _ = await _run(floe_kernel_factory, _downstream_flow(ErrorHandler(ErrorStrategy.CONTINUE)))
    assert job.status == "completed"
    assert Recorder.log == [("a", 0), ("after", "partial-0>a"), ("sibling", "0>a")]
    state = job.routine_states["failing"]
    assert (state.status, state.failed, state.executions) == ("failed", 1, 1)
    assert state.error == "ConnectionError: attempt 1 failed"


async def test_skip_drops_the_delivery_and_goes_on(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    job, events = await _run(
        floe_kernel_factory, _downstream_flow(ErrorHandler(ErrorStrategy.SKIP))
    )
    assert job.status == "completed"
    assert Recorder.log == [("a", 0), ("sibling", "0>a")]  # what 'failing' emitted is dropped
    assert job.routine_states["failing"].status == "skipped"
    assert job.routine_states["failing"].skipped == 1
    assert not [e for e in events if e.kind == "routine.emitted" and e.data["routine"] == "failing"]


async def test_flow_handler_applies_unless_the_routine_has_its_own(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    flow = _downstream_flow(None)
    flow.set_error_handler(ErrorHandler(ErrorStrategy.SKIP))
    job, _ = await _run(floe_kernel_factory, flow)
    assert job.routine_states["failing"].status == "skipped"
    flow.get_routine("failing").set_error_handler(ErrorHandler(ErrorStrategy.STOP))
    job, _ = await _run(floe_kernel_factory, flow)
    assert job.status == "failed"


@pytest.mark.parametrize(
    ("strategy", "status", "routine_status"),
    [
        (ErrorStrategy.STOP, "failed", "failed"),
        (ErrorStrategy.CONTINUE, "completed", "failed"),
        (ErrorStrategy.SKIP, "completed", "skipped"),
    ],
)
async def test_strategies_apply_to_the_entry(
    floe_kernel_factory: Callable[..., Kernel],
    strategy: ErrorStrategy,
    status: str,
    routine_status: str,
) -> None:
    flow = Flow("entry-errors")
    failing = Failing()
    failing.set_error_handler(ErrorHandler(strategy))
    flow.add_routine(failing, "failing")
    flow.add_routine(_named(Recorder(), "after"), "after")
    flow.connect("failing", "output", "after", "input")
    job, _ = await _run(floe_kernel_factory, flow, "failing", value=1)
    assert job.status == status
    assert job.routine_states["failing"].status == routine_status
    expected = [("after", "partial-1")] if strategy is ErrorStrategy.CONTINUE else []
    assert Recorder.log == expected


async def test_retry_until_success_delivers_only_the_last_attempt(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    handler = ErrorHandler(ErrorStrategy.RETRY, max_retries=3, retry_delay=0.001, retry_backoff=1)
    job, events = await _run(floe_kernel_factory, _downstream_flow(handler, failures=2))
    assert job.status == "completed"
    assert Recorder.log == [("a", 0), ("after", "partial-0>a"), ("sibling", "0>a")]
    state = job.routine_states["failing"]
    assert (state.status, state.retry_count, state.executions) == ("completed", 2, 1)
    retries = [event.data for event in events if event.kind == "routine.retrying"]
    assert [(r["attempt"], r["delay"]) for r in retries] == [(1, 0.001), (2, 0.001)]
    assert retries[0]["error"]["message"] == "attempt 1 failed"
    completed = [
        e for e in events if e.kind == "routine.slot_received" and e.data["routine"] == "failing"
    ]
    assert completed[0].data["attempts"] == 3


@pytest.mark.parametrize(("critical", "status"), [(True, "failed"), (False, "completed")])
async def test_retries_running_out(
    floe_kernel_factory: Callable[..., Kernel], critical: bool, status: str
) -> None:
    handler = ErrorHandler(
        ErrorStrategy.RETRY, max_retries=2, retry_delay=0, retry_backoff=1, is_critical=critical
    )
    job, events = await _run(floe_kernel_factory, _downstream_flow(handler))
    assert job.status == status
    assert len(Failing.calls) == 3
    state = job.routine_states["failing"]
    assert (state.status, state.retry_count) == ("failed", 2)
    failed = next(event for event in events if event.kind == "routine.failed")
    assert failed.data["outcome"] == ("stopped" if critical else "continued")
    ran = [name for name, _ in Recorder.log]
    assert ran == (["a"] if critical else ["a", "after", "sibling"])


async def test_retry_counts_are_per_execution(floe_kernel_factory: Callable[..., Kernel]) -> None:
    handler = ErrorHandler(ErrorStrategy.RETRY, max_retries=1, retry_delay=0, retry_backoff=1)
    flow = _downstream_flow(handler)
    first, _ = await _run(floe_kernel_factory, flow)
    second, _ = await _run(floe_kernel_factory, flow)
    assert first.routine_states["failing"].retry_count == 1
    assert second.routine_states["failing"].retry_count == 1


async def test_only_retryable_exceptions_are_retried(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    handler = ErrorHandler(
        ErrorStrategy.RETRY, max_retries=5, retry_delay=0, retryable_exceptions=(TimeoutError,)
    )
    job, _ = await _run(floe_kernel_factory, _downstream_flow(handler))
    assert len(Failing.calls) == 1
    assert job.routine_states["failing"].retry_count == 0


@mock_clock
async def test_retry_backoff_timing(floe_kernel_factory: Callable[..., Kernel]) -> None:
    flow = Flow("timing")
    failing = Failing()
    failing.set_config(failures=3)
    failing.set_as_critical(max_retries=3, retry_delay=1.0, retry_backoff=2.0)
    flow.add_routine(failing, "failing")
    job, events = await _run(floe_kernel_factory, flow, "failing", value=1)
    assert job.status == "completed"
    gaps = [round(later - earlier, 6) for earlier, later in itertools.pairwise(Failing.calls)]
    assert gaps == [1, 2, 4]
    wakes = [event.data["wake_at"] for event in events if event.kind == "routine.retrying"]
    assert len(wakes) == 3


@mock_clock
async def test_retry_uses_the_kernel_retry_policy(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    asked: list[floe.RetryOptions] = []

    class Fixed:
        def next_delay(self, attempt: int, error: BaseException) -> float | None:
            return 5.0 if attempt < 3 else None

    class Plugin:
        @floe.hookimpl
        def floe_retry_policy(self, options: floe.RetryOptions) -> Any:
            asked.append(options)
            return Fixed()

    flow = Flow("policy")
    failing = Failing()
    failing.set_as_critical(max_retries=9, retry_delay=1.0)
    flow.add_routine(failing, "failing")
    async with floe_kernel_factory(Plugin()):
        job = await flow.execute_async("failing", {"value": 1})
    assert job.status == "failed"
    assert asked[0].max_attempts == 10
    assert asked[0].base_delay == 1.0
    gaps = [round(later - earlier, 6) for earlier, later in itertools.pairwise(Failing.calls)]
    assert gaps == [5, 5]


async def test_stop_cancels_deliveries_in_flight_when_concurrent(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    finished: list[str] = []

    class Sleeper(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=self.handle)

        async def handle(self, value: Any) -> None:
            await anyio.sleep(30)
            finished.append("sleeper")

    flow = Flow("concurrent-stop", execution_strategy="concurrent")
    flow.add_routine(_named(Recorder(), "a"), "a")
    flow.add_routine(Sleeper(), "sleeper")
    flow.add_routine(Failing(), "failing")
    flow.connect("a", "output", "sleeper", "input")
    flow.connect("a", "output", "failing", "input")
    with anyio.fail_after(10):
        job, _ = await _run(floe_kernel_factory, flow)
    assert job.status == "failed"
    assert finished == []
    assert "sleeper" not in job.routine_states or job.routine_states["sleeper"].executions == 0
