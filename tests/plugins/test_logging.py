"""floe_logging: console and JSON-lines sinks, fed through a real kernel."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest

import floe

logger = logging.getLogger("floe.tests.logging")
KernelFactory = Callable[..., floe.Kernel]
ESCAPE = "\x1b["


async def log_from_two_tasks() -> None:
    """Two tasks with their own correlation fields, interleaved across await points.

    Each task logs, waits until both have logged, logs again, then logs from a worker
    thread; a correlation id bound by the parent is inherited by both tasks.
    """
    both_started = anyio.Event()
    started: list[str] = []

    async def work(name: str) -> None:
        with floe.bind_log_context(run_id=f"run-{name}", step=f"step-{name}", component="probe"):
            logger.info("start %s", name)
            started.append(name)
            if len(started) == 2:
                both_started.set()
            await both_started.wait()
            logger.info("resume %s", name)
            await anyio.sleep(0.01 if name == "a" else 0)
            await anyio.to_thread.run_sync(logger.info, f"thread {name}")

    logger.warning("unbound")
    with floe.bind_log_context(correlation_id="request-7"):
        async with anyio.create_task_group() as task_group:
            task_group.start_soon(work, "a")
            task_group.start_soon(work, "b")


def assert_fields_follow_their_task(records: list[dict[str, Any]]) -> None:
    by_message = {record["message"]: record for record in records}
    assert set(by_message) == {
        "unbound",
        *(f"{what} {name}" for what in ("start", "resume", "thread") for name in "ab"),
    }
    unbound = by_message.pop("unbound")
    assert [unbound[key] for key in ("run_id", "step", "component", "correlation_id")] == [None] * 4
    for message, record in by_message.items():
        name = message.split()[-1]
        assert record["run_id"] == f"run-{name}", message
        assert record["step"] == f"step-{name}", message
        assert record["component"] == "probe"
        assert record["correlation_id"] == "request-7"
    # the two tasks really interleaved: both started before either resumed
    order = [record["message"] for record in records]
    assert max(order.index("start a"), order.index("start b")) < min(
        order.index("resume a"), order.index("resume b")
    )


def parse_console_line(line: str) -> dict[str, Any]:
    """``12:00:00.123 INFO     floe.x [run_id=… step=…] message`` back into fields."""
    clock, level, name, rest = line.split(maxsplit=3)
    fields: dict[str, Any] = dict.fromkeys(("run_id", "step", "component", "correlation_id"))
    if rest.startswith("["):
        inside, _, rest = rest[1:].partition("] ")
        fields.update(pair.partition("=")[::2] for pair in inside.split())
    return {"clock": clock, "level": level, "logger": name, "message": rest, **fields}


# -- JSON lines ------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.hook("floe_log_handlers")
async def test_json_lines_carry_correlation_fields_across_tasks(
    floe_kernel_factory: KernelFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    async with floe_kernel_factory(log_format="json", log_level="INFO"):
        await log_from_two_tasks()
    err = capsys.readouterr().err
    records = [orjson.loads(line) for line in err.splitlines()]
    assert all(
        list(record)
        == ["ts", "level", "logger", "message", "run_id", "step", "component", "correlation_id"]
        for record in records
    )
    assert {record["logger"] for record in records} == {"floe.tests.logging"}
    assert records[0]["level"] == "WARNING"
    assert records[0]["ts"].endswith("Z")
    assert_fields_follow_their_task(records)


@pytest.mark.anyio
async def test_json_lines_hold_exceptions_and_extra_fields(
    floe_kernel_factory: KernelFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    async with floe_kernel_factory(log_format="json", log_level="INFO"):
        with floe.bind_log_context(run_id="run-x"):
            try:
                raise ValueError("bad input\non two lines")
            except ValueError:
                logger.exception("step failed", extra={"attempt": 2, "tags": {"retry"}})
    (line,) = capsys.readouterr().err.splitlines()
    record = orjson.loads(line)
    assert (record["level"], record["message"], record["run_id"]) == (
        "ERROR",
        "step failed",
        "run-x",
    )
    assert record["exc_info"].startswith("Traceback (most recent call last):")
    assert record["exc_info"].endswith("ValueError: bad input\non two lines")
    assert (record["attempt"], record["tags"]) == (2, "{'retry'}")


@pytest.mark.anyio
async def test_level_setting_filters_records(
    floe_kernel_factory: KernelFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    async with floe_kernel_factory(log_format="json", log_level="WARNING"):
        logger.info("too quiet")
        logger.error("loud enough")
    messages = [orjson.loads(line)["message"] for line in capsys.readouterr().err.splitlines()]
    assert messages == ["loud enough"]


# -- console ---------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.hook("floe_log_handlers")
async def test_console_lines_carry_correlation_fields_without_colour_off_a_tty(
    floe_kernel_factory: KernelFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    async with floe_kernel_factory(log_format="console", log_level="INFO"):
        await log_from_two_tasks()
    err = capsys.readouterr().err
    assert ESCAPE not in err
    records = [parse_console_line(line) for line in err.splitlines()]
    assert records[0]["level"] == "WARNING"
    assert {record["logger"] for record in records} == {"floe.tests.logging"}
    assert_fields_follow_their_task(records)


@pytest.mark.anyio
async def test_console_shows_the_traceback_under_the_line(
    floe_kernel_factory: KernelFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    async with floe_kernel_factory(log_format="console"):
        try:
            raise KeyError("missing")
        except KeyError:
            logger.exception("lookup failed")
    lines = capsys.readouterr().err.splitlines()
    assert parse_console_line(lines[0])["message"] == "lookup failed"
    assert lines[1] == "Traceback (most recent call last):"
    assert lines[-1] == "KeyError: 'missing'"


@pytest.mark.anyio
@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
@pytest.mark.parametrize(("no_color", "coloured"), [("", True), ("1", False)])
async def test_console_is_coloured_on_a_terminal_unless_no_color(
    floe_kernel_factory: KernelFactory,
    monkeypatch: pytest.MonkeyPatch,
    no_color: str,
    coloured: bool,
) -> None:
    monkeypatch.setenv("NO_COLOR", no_color)
    controller, terminal = os.openpty()
    # a pseudo-terminal opens at once; nothing here waits on the disk
    with os.fdopen(terminal, "w", encoding="utf-8") as terminal_stream:
        monkeypatch.setattr(sys, "stderr", terminal_stream)
        async with floe_kernel_factory(log_format="console", log_level="INFO"):
            with floe.bind_log_context(run_id="run-t"):
                logger.info("on a terminal")
    output = (await anyio.to_thread.run_sync(os.read, controller, 65536)).decode()
    os.close(controller)
    assert "on a terminal" in output
    assert (ESCAPE in output) is coloured
    plain = output
    for code in ("\x1b[0m", "\x1b[2m", "\x1b[32m", "\x1b[36m"):
        plain = plain.replace(code, "")
    assert parse_console_line(plain.strip())["run_id"] == "run-t"


# -- the file sink and the settings section --------------------------------------------


@pytest.mark.anyio
@pytest.mark.hook("floe_configure")
async def test_file_in_the_section_receives_the_lines_instead_of_stderr(
    floe_kernel_factory: KernelFactory, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    log_file = tmp_path / "logs" / "floe.jsonl"
    settings = {"logging": {"file": str(log_file)}}
    async with floe_kernel_factory(log_format="json", log_level="INFO", sections=settings):
        await log_from_two_tasks()
    assert capsys.readouterr().err == ""
    text = await anyio.Path(log_file).read_text(encoding="utf-8")
    assert_fields_follow_their_task([orjson.loads(line) for line in text.splitlines()])

    # a second kernel appends, in the console form when asked
    async with floe_kernel_factory(log_format="console", sections=settings):
        logger.warning("second kernel")
    lines = (await anyio.Path(log_file).read_text(encoding="utf-8")).splitlines()
    assert len(lines) == 8
    assert parse_console_line(lines[-1])["message"] == "second kernel"
    assert ESCAPE not in lines[-1]


@pytest.mark.anyio
@pytest.mark.hook("floe_configure")
@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"fiel": "x.log"}, "Unknown key 'fiel' in the logging settings section"),
        ({"file": 3}, "Invalid value 3 for 'file' in the logging settings section"),
        ({"file": " "}, "Invalid value ' ' for 'file' in the logging settings section"),
    ],
)
async def test_bad_section_is_a_config_error_even_when_logging_is_off(
    floe_kernel_factory: KernelFactory, section: dict[str, Any], message: str
) -> None:
    kernel = floe_kernel_factory(log_format="off", sections={"logging": section})
    with pytest.raises(floe.ConfigError) as caught:
        async with kernel:
            pass
    assert caught.value.what == message
    assert caught.value.context["section"] == "logging"
    assert caught.value.fix


@pytest.mark.hook("floe_log_handlers")
def test_off_means_no_handlers(floe_kernel_factory: KernelFactory) -> None:
    kernel = floe_kernel_factory(log_format="off")
    assert kernel.hooks.log_handlers(kernel.settings) == []
    console = floe_kernel_factory(log_format="console")
    (handler,) = console.hooks.log_handlers(console.settings)
    assert isinstance(handler, logging.StreamHandler)
    handler.close()


# -- correlation fields inside workflows -----------------------------------------------

app_logger = logging.getLogger("floe.tests.app")


@floe.task
async def async_step(n: int) -> int:
    app_logger.info("async task %d", n)
    return n


@floe.task
def sync_step(n: int) -> int:
    # a worker thread of the event loop's: the fields follow into it
    app_logger.info("sync task %d", n)
    return n


@floe.workflow
def sync_child(n: int) -> int:
    app_logger.info("sync child body")
    return sync_step(n)


@floe.workflow
async def logging_parent(n: int) -> int:
    app_logger.info("parent body")
    total = await async_step(n) + await sync_step(n)
    with floe.bind_log_context(step="custom"):
        app_logger.info("bound by the body")
    return total + await floe.call(sync_child, n + 1)


def json_records(err: str, logger_name: str | None = None) -> list[dict[str, Any]]:
    records = [orjson.loads(line) for line in err.splitlines()]
    return [r for r in records if logger_name is None or r["logger"] == logger_name]


def fields(record: dict[str, Any]) -> tuple[Any, ...]:
    return (record["run_id"], record["step"], record["component"], record["correlation_id"])


@pytest.mark.anyio
async def test_records_inside_runs_carry_the_run_and_step(
    floe_kernel_factory: KernelFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    async with floe_kernel_factory(log_format="json", log_level="INFO"):
        execution = await logging_parent.run_async(2, run_id="parent-run")
        app_logger.info("after the run")
    assert execution.output == 7
    by_message = {r["message"]: fields(r) for r in json_records(capsys.readouterr().err)}
    child = "parent-run:sync_child#1"
    assert by_message == {
        "parent body": ("parent-run", None, None, "parent-run"),
        "async task 2": ("parent-run", "async_step#1", None, "parent-run"),
        "sync task 2": ("parent-run", "sync_step#1", None, "parent-run"),
        "bound by the body": ("parent-run", "custom", None, "parent-run"),
        # a child run (its sync body in a worker thread): its own id and steps, and its
        # parent's correlation id
        "sync child body": (child, None, None, "parent-run"),
        "sync task 3": (child, "sync_step#1", None, "parent-run"),
        "after the run": (None, None, None, None),
    }


@pytest.mark.anyio
async def test_a_bound_correlation_id_wins_over_the_runs(
    floe_kernel_factory: KernelFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    async with floe_kernel_factory(log_format="json", log_level="INFO"):
        with floe.bind_log_context(correlation_id="request-42", component="api"):
            await logging_parent.run_async(1, run_id="bound-run")
    records = json_records(capsys.readouterr().err, "floe.tests.app")
    assert {r["correlation_id"] for r in records} == {"request-42"}
    assert {r["component"] for r in records} == {"api"}
    assert {r["run_id"] for r in records} == {"bound-run", "bound-run:sync_child#1"}


@floe.task(retries=1)
def flaky_once(this_task: floe.TaskHandle) -> str:
    if this_task.attempt == 1:
        raise ConnectionError("try again")
    return "ok"


@floe.task(raise_on_error=False)
async def hopeless() -> None:
    raise KeyError("gone")


@floe.workflow
async def eventful() -> str:
    await hopeless()
    return await flaky_once()  # type: ignore[no-any-return]


@pytest.mark.anyio
@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
async def test_steps_are_logged_at_debug_on_the_workflows_logger(
    floe_kernel_factory: KernelFactory, capsys: pytest.CaptureFixture[str], level: str
) -> None:
    async with floe_kernel_factory(log_format="json", log_level=level):
        execution = await eventful.run_async(run_id="eventful-run")
    assert execution.output == "ok"
    records = json_records(capsys.readouterr().err, "floe.workflows")
    if level == "INFO":
        assert records == []
        return
    assert {r["level"] for r in records} == {"DEBUG"}
    assert {(r["run_id"], r["correlation_id"]) for r in records} == {("eventful-run",) * 2}
    steps = [(r["step"], r["task"], r["attempt"], r["message"].split(" ", 2)[2]) for r in records]
    assert [step[:3] for step in steps] == [
        ("hopeless#1", "hopeless", 1),
        ("hopeless#1", "hopeless", 1),
        ("flaky_once#1", "flaky_once", 1),
        ("flaky_once#1", "flaky_once", 1),
        ("flaky_once#1", "flaky_once", 2),
        ("flaky_once#1", "flaky_once", 2),
    ]
    messages = [step[3] for step in steps]
    assert messages[0] == "started: task 'hopeless', attempt 1"
    assert messages[1].startswith("failed after 1 attempt(s), ")
    assert messages[1].endswith(" ms: KeyError('gone')")
    assert messages[3] == "attempt 1 failed (ConnectionError('try again')); retrying in 0 s"
    assert messages[4] == "started: task 'flaky_once', attempt 2"
    assert messages[5].startswith("completed in ")


@pytest.mark.anyio
async def test_a_source_fills_a_field_that_nothing_binds(
    floe_kernel_factory: KernelFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hook the workflow runtime fills ``step`` with, open to any programming model."""
    from contextvars import ContextVar

    from floe.kernel._logging import correlation_var, current_log_context, set_correlation_source

    handling: ContextVar[str | None] = ContextVar("handling", default=None)
    set_correlation_source("component", handling.get)
    try:
        async with floe_kernel_factory(log_format="json", log_level="INFO"):
            app_logger.info("nothing set")
            handling.set("door")
            app_logger.info("from the source")
            await anyio.to_thread.run_sync(app_logger.info, "in a worker thread")
            with floe.bind_log_context(component="bound"):
                app_logger.info("bound wins")
                assert current_log_context()["component"] == "bound"
            token = correlation_var("component").set("set directly")
            app_logger.info("the variable wins")
            correlation_var("component").reset(token)
    finally:
        set_correlation_source("component", None)
    assert current_log_context()["component"] is None
    records = json_records(capsys.readouterr().err)
    assert [(r["message"], r["component"]) for r in records] == [
        ("nothing set", None),
        ("from the source", "door"),
        ("in a worker thread", "door"),
        ("bound wins", "bound"),
        ("the variable wins", "set directly"),
    ]
    for helper in (correlation_var, lambda name: set_correlation_source(name, None)):
        with pytest.raises(KeyError, match="unknown correlation field 'user'"):
            helper("user")


@floe.task(secrets=["api_key"], retries=1, raise_on_error=False)
def rejected(secrets: floe.Secrets) -> None:
    raise PermissionError(f"rejected {secrets.reveal('api_key')}")


@floe.workflow
async def with_a_secret() -> None:
    await rejected()


@pytest.mark.anyio
async def test_step_records_mask_the_runs_secrets(
    floe_kernel_factory: KernelFactory,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    key: str,  # the failure's record holds the secret: it is sealed under this key
) -> None:
    monkeypatch.setenv("SECRET_API_KEY", "s3cr3t-value")
    async with floe_kernel_factory(log_format="json", log_level="DEBUG", secrets="env://SECRET_"):
        await with_a_secret.run_async()
    err = capsys.readouterr().err
    messages = [r["message"] for r in json_records(err, "floe.workflows")]
    assert "s3cr3t-value" not in err
    assert [m for m in messages if "rejected ***" in m] == [
        "Step rejected#1 attempt 1 failed (PermissionError('rejected ***')); retrying in 0 s",
        messages[-1],
    ]
    assert messages[-1].startswith("Step rejected#1 failed after 2 attempt(s), ")
