"""Log records of a job carry its correlation fields; the engine logs each delivery."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

import floe
from floe import Kernel
from floe.graph import ErrorHandler, ErrorStrategy, Flow, Routine

pytestmark = pytest.mark.anyio

user_logger = logging.getLogger("floe.tests.graph")


class Talker(Routine):
    """Logs from its handler (sync: a worker thread; or async) and passes the value on."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.handle)
        self.define_slot("later", handler=self.handle_async)
        self.define_event("output", ["value"])

    def handle(self, value: Any) -> None:
        user_logger.info("sync %s", value)
        if value == "boom":
            raise ValueError("boom")
        self.emit("output", value=value)

    async def handle_async(self, value: Any) -> None:
        user_logger.info("async %s", value)
        self.emit("output", value=value)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("strategy", ["sequential", "concurrent"])
async def test_handler_records_carry_the_job_and_the_delivery(
    floe_kernel_factory: Callable[..., Kernel], tmp_path: Path, strategy: str
) -> None:
    log_file = tmp_path / "floe.log"
    flow = Flow("talk", execution_strategy=strategy)  # type: ignore[arg-type]
    flow.add_routine(Talker(), "first")
    flow.add_routine(Talker(), "second")
    flow.connect("first", "output", "second", "later")
    sections = {"logging": {"file": str(log_file)}}
    async with floe_kernel_factory(log_format="json", log_level="DEBUG", sections=sections):
        job = await flow.execute_async("first", {"value": "hi"})
        second = Flow("talk-2", execution_strategy=strategy)  # type: ignore[arg-type]
        second.set_error_handler(ErrorHandler(ErrorStrategy.CONTINUE))
        second.add_routine(Talker(), "only")
        failed = await second.execute_async("only", {"value": "boom"})
    assert job.status == "completed"
    assert failed.status == "completed"
    records = _lines(log_file)
    said = {r["message"]: r for r in records if r["logger"] == "floe.tests.graph"}
    assert said["sync hi"]["run_id"] == job.job_id
    assert said["sync hi"]["step"] == "first.input#1"
    assert said["sync hi"]["correlation_id"] == job.job_id
    assert said["async hi"]["run_id"] == job.job_id
    assert said["async hi"]["step"] == "second.later#2"
    assert said["sync boom"]["run_id"] == failed.job_id
    assert said["sync boom"]["step"] == "only.input#1"

    engine = [r for r in records if r["logger"] == "floe.graph"]
    assert [(r["level"], r["run_id"], r["step"]) for r in engine] == [
        ("DEBUG", job.job_id, "first.input#1"),
        ("DEBUG", job.job_id, "second.later#2"),
        ("DEBUG", failed.job_id, "only.input#1"),
    ]
    assert "first.input#1 handled" in engine[0]["message"]
    assert "only.input#1 failed (continued, attempt 1)" in engine[2]["message"]
    assert "boom" in engine[2]["message"]


async def test_a_bound_correlation_id_is_kept(
    floe_kernel_factory: Callable[..., Kernel], caplog: pytest.LogCaptureFixture
) -> None:
    flow = Flow("bound")
    flow.add_routine(Talker(), "first")
    seen: list[dict[str, str | None]] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(floe.kernel._logging.current_log_context())

    catch = Catch()
    caplog.set_level(logging.INFO, logger=user_logger.name)
    user_logger.addHandler(catch)
    try:
        async with floe_kernel_factory():
            with floe.bind_log_context(correlation_id="request-7"):
                job = await flow.execute_async("first", {"value": "x"})
    finally:
        user_logger.removeHandler(catch)
    assert seen == [
        {
            "run_id": job.job_id,
            "step": "first.input#1",
            "component": None,
            "correlation_id": "request-7",
        }
    ]
    assert [record.getMessage() for record in caplog.records] == ["sync x"]
