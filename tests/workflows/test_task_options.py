"""Task options: retries, timeouts, fallback, raise_on_error, cache; bad options fail early."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
import trio.testing

import floe
from floe import ConfigError, Kernel, RunStatus

pytestmark = pytest.mark.anyio

mock_clock = pytest.mark.parametrize(
    "anyio_backend",
    [
        pytest.param(
            ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}), id="trio-mockclock"
        )
    ],
)


@mock_clock
async def test_retry_gaps_compound(floe_kernel_factory: Callable[..., Kernel]) -> None:
    attempts: list[float] = []

    @floe.task(retries=3, retry_delay=1, retry_backoff=2)
    async def flaky() -> str:
        attempts.append(anyio.current_time())
        if len(attempts) < 4:
            raise ConnectionError("try again")
        return "ok"

    @floe.workflow
    async def calls_flaky() -> str:
        return await flaky()

    async with floe_kernel_factory():
        execution = await calls_flaky.run_async()
    assert execution.output == "ok"
    gaps = [round(later - earlier, 6) for earlier, later in itertools.pairwise(attempts)]
    assert gaps == [1, 2, 4]
    retries = [e.data for e in execution.events if e.kind == "task.retrying"]
    assert [(r["attempt"], r["delay"]) for r in retries] == [(1, 1), (2, 2), (3, 4)]
    assert retries[0]["error"]["type"] == "builtins.ConnectionError"


@mock_clock
async def test_retry_delay_is_capped_and_filtered(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    attempts: list[float] = []

    @floe.task(retries=4, retry_delay=1, retry_backoff=10, retry_max_delay=3, retry_on=TimeoutError)
    async def capped() -> None:
        attempts.append(anyio.current_time())
        raise TimeoutError("slow") if len(attempts) < 3 else KeyError("not retried")

    @floe.workflow
    async def calls_capped() -> None:
        await capped()

    async with floe_kernel_factory():
        execution = await calls_capped.run_async()
    assert execution.failed
    assert execution.error is not None
    assert execution.error.type == "builtins.KeyError"
    gaps = [round(later - earlier, 6) for earlier, later in itertools.pairwise(attempts)]
    assert gaps == [1, 3]


@mock_clock
async def test_timeout_applies_to_every_attempt(floe_kernel_factory: Callable[..., Kernel]) -> None:
    starts: list[float] = []

    @floe.task(timeout=5, retries=2, retry_delay=1)
    async def slow() -> None:
        starts.append(anyio.current_time())
        await anyio.sleep(60)

    @floe.workflow
    async def calls_slow() -> None:
        await slow()

    async with floe_kernel_factory():
        execution = await calls_slow.run_async()
    assert execution.failed
    assert execution.error is not None
    assert execution.error.type == "floe.TaskTimeoutError"
    assert "timed out after 5" in execution.error.message
    assert [round(s - starts[0], 6) for s in starts] == [0, 6, 12]


async def test_a_blocking_sync_task_is_abandoned_at_its_deadline(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.task(timeout=0.2)
    def blocks() -> None:
        time.sleep(1.5)

    @floe.workflow
    async def calls_blocking() -> None:
        await blocks()

    async with floe_kernel_factory():
        began = time.monotonic()
        execution = await calls_blocking.run_async()
        elapsed = time.monotonic() - began
    assert execution.failed
    assert execution.error is not None
    assert "timed out" in execution.error.message
    assert elapsed < 1.4


async def test_exhausted_retries_persist_and_reload(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.task(retries=1)
    async def always_fails() -> None:
        raise ValueError("broken for good")

    @floe.workflow
    async def doomed() -> None:
        await always_fails()

    async with floe_kernel_factory() as kernel:
        execution = await doomed.run_async(run_id="doomed-1")
        reloaded = await doomed.run_async(run_id="doomed-1")
        run = await kernel.store.get_run("doomed-1")
    assert execution.failed
    assert reloaded == execution
    assert run is not None
    assert run.status is RunStatus.FAILED
    failed = [e for e in execution.events if e.kind == "task.failed"]
    assert failed[0].data["attempt"] == 2


async def test_fallback_after_retries(floe_kernel_factory: Callable[..., Kernel]) -> None:
    calls: list[str] = []

    def cached_answer(city: str) -> str:
        calls.append(f"fallback {city}")
        return f"cached weather for {city}"

    @floe.task(retries=2, fallback=cached_answer)
    async def weather(city: str) -> str:
        calls.append(f"attempt {city}")
        raise ConnectionError("service down")

    @floe.workflow
    async def forecast(city: str) -> str:
        return await weather(city)

    async with floe_kernel_factory():
        execution = await forecast.run_async("Oslo")
    assert execution.output == "cached weather for Oslo"
    assert calls == ["attempt Oslo"] * 3 + ["fallback Oslo"]
    kinds = [e.kind for e in execution.events]
    assert "task.fallback" in kinds
    assert kinds.count("task.retrying") == 2


async def test_raise_on_error_false_returns_none_and_records(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.task(raise_on_error=False)
    async def optional() -> int:
        raise RuntimeError("not important")

    @floe.workflow
    async def tolerant() -> str:
        return f"got {await optional()}"

    async with floe_kernel_factory():
        execution = await tolerant.run_async()
    assert execution.output == "got None"
    failed = [e.data for e in execution.events if e.kind == "task.failed"]
    assert failed[0]["error"]["message"] == "not important"
    assert failed[0]["raised"] is False


async def test_unserializable_result_names_the_task(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    class Socketish:
        pass

    @floe.task
    async def opens() -> Any:
        return {"handle": Socketish()}

    @floe.workflow
    async def leaky() -> None:
        await opens()

    async with floe_kernel_factory():
        execution = await leaky.run_async()
    assert execution.failed
    assert isinstance(execution.exception, floe.SerializationError)
    assert "task 'opens'" in str(execution.exception)
    assert "Socketish" in str(execution.exception)


async def test_unserializable_input_fails_before_anything_is_stored(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.workflow
    async def takes(value: Any) -> None:
        return None

    async with floe_kernel_factory() as kernel:
        with pytest.raises(floe.SerializationError, match="input of workflow 'takes'"):
            await takes.run_async(object())
        assert await kernel.store.list_runs() == []
        with pytest.raises(ConfigError, match="cannot take these arguments"):
            await takes.run_async(1, 2)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"retries": -1}, "retries"),
        ({"retries": 1.5}, "retries"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": "5"}, "timeout"),
        ({"fallback": "not callable"}, "fallback"),
        ({"retry_backoff": 0.5}, "backoff"),
        ({"retry_on": "ValueError"}, "retry_on"),
        ({"retrys": 3}, "Unknown task option 'retrys'"),
    ],
)
def test_bad_task_options_fail_at_definition(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):

        @floe.task(**options)
        async def anything() -> None:
            return None


async def test_with_options_derives_a_variant(floe_kernel_factory: Callable[..., Kernel]) -> None:
    @floe.task
    async def base(n: int) -> int:
        return n

    patient = base.with_options(name="patient", retries=5)
    assert patient.options.retries == 5
    assert base.options.retries == 0

    @floe.workflow
    async def both() -> int:
        return await base(1) + await patient(2)

    async with floe_kernel_factory():
        execution = await both.run_async()
    assert execution.executed_tasks == ["base#1", "patient#1"]


async def test_methods_can_be_tasks(floe_kernel_factory: Callable[..., Kernel]) -> None:
    class Greeter:
        def __init__(self, greeting: str) -> None:
            self.greeting = greeting

        @floe.task
        async def greet(self, name: str) -> str:
            return f"{self.greeting}, {name}"

    greeter = Greeter("Hello")

    @floe.workflow
    async def greeting(name: str) -> str:
        return await greeter.greet(name)

    async with floe_kernel_factory():
        execution = await greeting.run_async("Ada")
    assert execution.output == "Hello, Ada"
    assert execution.executed_tasks == ["Greeter.greet#1"]


async def test_sync_workflows_call_tasks_directly(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.task
    async def fetch(n: int) -> int:
        return n * 3

    @floe.task
    def parse(n: int) -> str:
        return str(n)

    @floe.workflow
    def sync_flow(n: int) -> str:
        value = fetch(n)  # from a sync body, a task call returns its result
        return parse(value) + "!"

    async with floe_kernel_factory():
        execution = await sync_flow.run_async(4)
    assert execution.output == "12!"
    assert execution.executed_tasks == ["fetch#1", "parse#1"]


async def test_context_workflows_get_typed_input(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.task
    async def shout(text: str) -> str:
        return text.upper()

    @floe.workflow
    async def hello(ctx: floe.Context[str]) -> str:
        assert ctx.run_id == "ctx-run"
        assert ctx.workflow == "hello"
        assert [e.kind for e in ctx.events] == ["run.started"]
        return await shout(f"hello {ctx.input}")

    async with floe_kernel_factory():
        execution = await hello.run_async("world", run_id="ctx-run")
    assert execution.output == "HELLO WORLD"


def test_sync_run_uses_the_configured_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLOE_STORE", "memory://")
    monkeypatch.setenv("FLOE_LOG_FORMAT", "off")

    @floe.task
    def add(a: int, b: int) -> int:
        return a + b

    @floe.workflow
    def adder(a: int, b: int) -> int:
        return add(a, b)

    execution = adder.run(2, 3)
    assert execution.succeeded
    assert execution.output == 5


CACHE_SCRIPT = textwrap.dedent(
    """
    import json
    import sys
    import anyio
    import floe

    @floe.task(cache=True)
    async def expensive(n: int) -> int:
        with open(sys.argv[2], "a") as log:
            log.write(f"computed {n}\\n")
        return 0 if n == 0 else n * n

    @floe.workflow
    async def uses_cache(n: int) -> int:
        return await expensive(n)

    async def main() -> None:
        async with floe.open_kernel(store=sys.argv[1], log_format="off"):
            execution = await uses_cache.run_async(int(sys.argv[3]))
            kinds = [e.kind for e in execution.events if e.kind.startswith("task.")]
            print(json.dumps({"output": execution.output, "kinds": kinds}))

    anyio.run(main)
    """
)


def test_cache_hits_across_processes_including_falsy_results(tmp_path: Path) -> None:
    script = tmp_path / "cache_script.py"
    script.write_text(CACHE_SCRIPT)
    store = f"sqlite:///{tmp_path}/cache.db"
    log = tmp_path / "computed.log"
    env = {**os.environ, "FLOE_STRICT_PLUGINS": "1"}
    outputs = []
    for n in (7, 7, 0, 0):
        result = subprocess.run(
            [sys.executable, str(script), store, str(log), str(n)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        # the last line: anything else a process writes (a warning) comes before it
        outputs.append(json.loads(result.stdout.splitlines()[-1]))
    # the task ran once per argument (its side effect, counted in a file) ...
    assert log.read_text().splitlines() == ["computed 7", "computed 0"]
    # ... and each second process was answered from the cache, the falsy 0 included
    ran = ["task.started", "task.completed"]
    hit = ["task.cache_hit", "task.completed"]
    assert outputs == [
        {"output": 49, "kinds": ran},
        {"output": 49, "kinds": hit},
        {"output": 0, "kinds": ran},
        {"output": 0, "kinds": hit},
    ]
