"""The event loop a workflow needs: ``@workflow(backend=...)`` or read from its code;
recorded with the run; started by the entry points that start a loop (wf.run, floe run,
floe resume); asyncio code meeting trio is a ConfigError that says what to set."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from asyncio import sleep as asyncio_sleep
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import floe
from floe import ConfigError, Kernel

pytestmark = pytest.mark.anyio
FLOE = Path(sys.executable).with_name("floe")


async def aio_helper() -> str:
    await asyncio.sleep(0)
    return "helped"


@floe.task
async def via_module() -> str:
    await asyncio.sleep(0)
    return "module"


@floe.task
async def via_name() -> str:
    await asyncio_sleep(0)
    return "name"


@floe.task
async def via_helper() -> str:
    return await aio_helper()


@floe.task
async def plain() -> str:
    await anyio.sleep(0.001)
    return "plain"


@floe.workflow
async def calls_via_module() -> str:
    return await via_module()


@floe.workflow
async def calls_via_name() -> str:
    return await via_name()


@floe.workflow
async def calls_via_helper() -> str:
    return await via_helper()


@floe.workflow
async def calls_plain() -> str:
    return await plain()


@floe.workflow(backend="trio")
async def pinned_trio() -> str:
    return await via_helper()


@floe.workflow(backend="asyncio")
async def pinned_asyncio() -> str:
    return await plain()


def test_the_backend_is_read_from_the_code_or_the_option() -> None:
    assert calls_via_module.backend == "asyncio"
    assert calls_via_name.backend == "asyncio"  # from asyncio import sleep
    assert calls_via_helper.backend == "asyncio"  # a function the task calls
    assert calls_plain.backend is None  # the settings' loop
    assert pinned_trio.backend == "trio"  # the option wins
    assert pinned_asyncio.backend == "asyncio"

    def local() -> floe.Workflow[[], Any]:
        @floe.task
        async def inner() -> None:
            await asyncio.sleep(0)

        @floe.workflow
        async def outer() -> None:
            await inner()

        return outer

    assert local().backend == "asyncio"  # tasks defined in a function: closures


async def test_the_run_records_the_backend(
    floe_kernel_factory: Callable[..., Kernel], anyio_backend: str
) -> None:
    async with floe_kernel_factory() as kernel:
        await calls_plain.run_async(run_id="plain-1")
        await pinned_asyncio.run_async(run_id="pinned-1")
        recorded_plain = await kernel.store.get_run("plain-1")
        recorded_pinned = await kernel.store.get_run("pinned-1")
    assert recorded_plain is not None
    assert recorded_pinned is not None
    assert recorded_plain.metadata["backend"] == anyio_backend  # the loop it ran on
    assert recorded_pinned.metadata["backend"] == "asyncio"  # the loop it needs


@floe.workflow
async def body_uses_asyncio() -> str:
    await asyncio.sleep(0)
    return "body"


async def test_asyncio_code_runs_on_asyncio_and_is_a_config_error_naming_the_fix_on_trio(
    floe_kernel_factory: Callable[..., Kernel], anyio_backend: str
) -> None:
    if anyio_backend == "asyncio":
        async with floe_kernel_factory():
            workflows = (calls_via_module, calls_via_name, calls_via_helper, body_uses_asyncio)
            executions = [await workflow.run_async() for workflow in workflows]
        assert [execution.output for execution in executions] == [
            "module",
            "name",
            "helped",
            "body",
        ]
        return
    async with floe_kernel_factory():
        in_task = await pinned_trio.run_async()
        in_body = await body_uses_asyncio.run_async()
        with pytest.raises(ConfigError, match="uses asyncio, but the run executes on a trio"):
            await pinned_trio.run_async(raise_on_error=True)
    assert in_task.error is not None
    assert in_task.error.type == "floe.ConfigError"
    assert "Task 'via_helper' uses asyncio" in in_task.error.message
    assert "@floe.workflow(backend='asyncio')" in in_task.error.message
    assert "FLOE_BACKEND=asyncio" in in_task.error.message
    assert in_body.error is not None
    assert "Workflow 'body_uses_asyncio' uses asyncio" in in_body.error.message


def test_run_sync_refuses_an_unknown_backend() -> None:
    async def nothing() -> None:
        return None

    with pytest.raises(ConfigError, match="Invalid run_sync's backend='curio'"):
        floe.run_sync(nothing, backend="curio")


FLOWS = """
import asyncio

import floe


@floe.task
async def fetch(item: str) -> str:
    await asyncio.sleep(0.01)  # an asyncio library call
    return item.upper()


@floe.workflow
async def approve(item: str) -> str:
    fetched = await fetch(item)
    answer = await floe.pause("approve", output=fetched)
    return f"{fetched}: {await fetch(answer)}"
"""


def floe_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLOE_")}
    env["FLOE_STRICT_PLUGINS"] = "1"
    return subprocess.run(
        [str(FLOE), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_the_command_line_runs_and_resumes_asyncio_workflows_on_asyncio(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text(textwrap.dedent(FLOWS), encoding="utf-8")
    run = floe_cli(tmp_path, "run", "flows.py:approve", "--input", '"a"', "--run-id", "ap-1")
    assert run.returncode == 0, run.stderr
    assert "waiting at 'approve'" in run.stderr
    other = floe_cli(tmp_path, "run", "flows.py:approve", "--input", '"b"', "--run-id", "ap-1")
    assert other.returncode == floe.ExitCode.USAGE
    assert "Run 'ap-1' was started with another input" in other.stderr
    same = floe_cli(tmp_path, "run", "flows.py:approve", "--input", '"a"', "--run-id", "ap-1")
    assert same.returncode == 0, same.stderr
    resumed = floe_cli(tmp_path, "resume", "ap-1", "--input", '"ok"')
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == '"A: OK"\n'
    status = floe_cli(tmp_path, "status", "ap-1", "--json")
    assert '"backend": "asyncio"' in status.stdout or '"backend":"asyncio"' in status.stdout
