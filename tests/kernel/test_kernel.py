from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import floe
from floe import ConfigError, FloeError, Kernel

pytestmark = pytest.mark.anyio


async def test_kernel_opens_and_closes_its_store(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    kernel = floe_kernel_factory()
    with pytest.raises(FloeError, match="has not been started"):
        _ = kernel.store
    async with kernel as entered:
        assert entered is kernel
        assert isinstance(kernel.store, floe.MemoryStore)
        assert floe.current_kernel() is kernel
    with pytest.raises(FloeError, match="no store"):
        _ = kernel.store
    with pytest.raises(FloeError, match="No floe kernel is running"):
        floe.current_kernel()


async def test_a_kernel_is_entered_once(floe_kernel_factory: Callable[..., Kernel]) -> None:
    kernel = floe_kernel_factory()
    async with kernel:
        pass
    with pytest.raises(FloeError, match="already started"):
        async with kernel:
            pass


async def test_kernels_are_independent(floe_kernel_factory: Callable[..., Kernel]) -> None:
    async with floe_kernel_factory() as first, floe_kernel_factory() as second:
        await first.store.create_run(floe.Run(run_id="only-in-first", name="x"))
        assert await second.store.get_run("only-in-first") is None
        assert first.bus is not second.bus
        assert first.states is not second.states
        assert floe.current_kernel() is second


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("nope://x", "No plugin provides stores for the scheme 'nope'"),
        ("not a url", "Malformed store URL"),
        ("memory://?colour=blue", "Unknown option 'colour'"),
    ],
)
async def test_bad_store_urls_fail_clearly(
    floe_kernel_factory: Callable[..., Kernel], url: str, match: str
) -> None:
    kernel = floe_kernel_factory(store=url)
    with pytest.raises(ConfigError, match=match) as caught:
        async with kernel:
            pass
    assert caught.value.fix
    if "nope" in url:
        assert "memory" in (caught.value.why or "")


async def test_record_journals_then_publishes_in_order(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    seen: list[tuple[str, int]] = []
    async with floe_kernel_factory() as kernel:
        kernel.bus.subscribe("*", "observer", lambda e: seen.append((e.kind, e.seq)), inline=True)
        await kernel.store.create_run(floe.Run(run_id="r", name="wf"))
        events = [
            floe.Event(run_id="r", seq=1, kind="run.started"),
            floe.Event(run_id="r", seq=2, kind="task.completed", step="a#1"),
        ]
        await kernel.record(events)
        await kernel.record([])
        stored = await kernel.store.read_events("r")
        assert stored == events
        with pytest.raises(floe.SequenceConflictError):
            await kernel.record([floe.Event(run_id="r", seq=2, kind="stale")])
    assert seen == [("run.started", 1), ("task.completed", 2)]


WRITERS = 50


async def _create_runs(kernel: Kernel, count: int) -> None:
    for index in range(count):
        await kernel.store.create_run(floe.Run(run_id=f"together-{index}", name="wf"))


async def _record_together(kernel: Kernel, count: int) -> None:
    """*count* runs (made by _create_runs), each recorded by its own task, all at once."""

    async def write(index: int) -> None:
        await kernel.record([floe.Event(run_id=f"together-{index}", seq=1, kind="run.started")])

    async with anyio.create_task_group() as group:
        for index in range(count):
            group.start_soon(write, index)
    for index in range(count):
        assert [e.seq for e in await kernel.store.read_events(f"together-{index}")] == [1]


async def test_writers_arriving_together_share_the_sqlite_store_s_transactions(
    floe_kernel_factory: Callable[..., Kernel], tmp_path: Path
) -> None:
    async with floe_kernel_factory(store=f"sqlite:///{tmp_path / 'k.db'}") as kernel:
        store = kernel.store
        assert store.groups_appends
        await _create_runs(kernel, WRITERS)
        before = store.statistics()  # type: ignore[attr-defined]
        await _record_together(kernel, WRITERS)
        after = store.statistics()  # type: ignore[attr-defined]
        # one commit for the lone writer left at the end at most, not one per writer
        assert after.immediate - before.immediate <= 1
        assert after.transactions - before.transactions < WRITERS // 5
        await kernel.store.create_run(floe.Run(run_id="alone", name="wf"))
        lone = store.statistics()  # type: ignore[attr-defined]
        await kernel.record([floe.Event(run_id="alone", seq=1, kind="run.started")])
        assert store.statistics().immediate - lone.immediate == 1  # type: ignore[attr-defined]


async def test_a_store_that_does_not_group_lets_every_writer_record_at_once(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    answers: list[bool] = []
    async with floe_kernel_factory() as kernel:
        assert not kernel.store.groups_appends

        async def arrive() -> None:
            answers.append(await kernel.arrive())

        async with anyio.create_task_group() as group:
            for _ in range(10):
                group.start_soon(arrive)
        await _create_runs(kernel, WRITERS)
        await _record_together(kernel, WRITERS)
    assert answers == [True] * 10


async def test_arrive_tells_the_writers_that_met_at_their_checkpoint(
    floe_kernel_factory: Callable[..., Kernel], tmp_path: Path
) -> None:
    answers: list[bool] = []
    async with floe_kernel_factory(store=f"sqlite:///{tmp_path / 'k.db'}") as kernel:

        async def arrive() -> None:
            answers.append(await kernel.arrive())

        async with anyio.create_task_group() as group:
            for _ in range(10):
                group.start_soon(arrive)
        answers.append(await kernel.arrive())
    # the first nine resumed while others were still at their checkpoint; the last
    # of them, and a writer on its own, found nobody
    assert answers == [False] * 9 + [True, True]


async def test_artifact_and_secret_stores_open_from_settings(
    floe_kernel_factory: Callable[..., Kernel], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MYAPP_API_KEY", "s3cret")
    kernel = floe_kernel_factory(
        artifact_store=f"file:///{tmp_path}/artifacts", secrets="env://MYAPP_"
    )
    async with kernel:
        reference = await kernel.artifacts.put("run-1", "report.json", b'{"ok": true}')
        assert await kernel.artifacts.get(reference) == b'{"ok": true}'
        assert (tmp_path / "artifacts" / "run-1" / "report.json").read_bytes() == b'{"ok": true}'
        with pytest.raises(floe.NotFoundError):
            await kernel.artifacts.get("run-1/missing.json")
        with pytest.raises(ConfigError, match="Invalid key"):
            await kernel.artifacts.put("run-1", "../escape", b"x")
        assert await kernel.secrets.get_secrets(["api_key"]) == {"api_key": "s3cret"}
        with pytest.raises(floe.NotFoundError, match="Missing secrets: db_password, token"):
            await kernel.secrets.get_secrets(["api_key", "token", "db_password"])


async def test_artifacts_are_absent_unless_configured_and_secrets_default_to_the_store(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    async with floe_kernel_factory() as kernel:
        with pytest.raises(FloeError, match="artifact_store"):
            _ = kernel.artifacts
        assert type(kernel.secrets).__module__.startswith("floe_secrets")
    # without the secrets plugin there is no default secret store, and no error
    async with floe_kernel_factory(disable_plugins=["secrets"]) as kernel:
        with pytest.raises(FloeError, match="secrets"):
            _ = kernel.secrets


async def test_unknown_artifact_scheme_fails_and_closes_the_store(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    kernel = floe_kernel_factory(artifact_store="s3://bucket")
    with pytest.raises(ConfigError, match="artifact stores for the scheme 's3'"):
        async with kernel:
            pass
    with pytest.raises(FloeError, match="no store"):
        _ = kernel.store


async def test_failing_service_start_closes_everything(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    class BrokenService:
        floe_plugin_name = "broken-service"

        @floe.hookimpl
        def floe_services(self, kernel: Kernel) -> list[Any]:
            async def service(*, task_status: Any) -> None:
                raise RuntimeError("cannot start")

            return [service]

    kernel = floe_kernel_factory(BrokenService())
    with pytest.raises(RuntimeError, match="cannot start"):
        async with kernel:
            pass
    with pytest.raises(FloeError):
        _ = kernel.store


async def test_start_service_runs_until_the_kernel_closes(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    stopped = anyio.Event()

    async def ticker(*, task_status: Any) -> None:
        task_status.started("ready")
        try:
            await anyio.sleep_forever()
        finally:
            stopped.set()

    async with floe_kernel_factory() as kernel:
        assert await kernel.start_service(ticker) == "ready"
        assert not stopped.is_set()
    assert stopped.is_set()


async def test_open_kernel_takes_settings_or_overrides(tmp_path: Path) -> None:
    settings = floe.load_settings(tmp_path, env={}, store="memory://", log_format="off")
    async with floe.open_kernel(settings) as kernel:
        assert kernel.settings is settings
    with pytest.raises(FloeError, match="not both"):
        floe.open_kernel(settings, store="memory://")
    async with floe.open_kernel(root=tmp_path, store="memory://", log_format="off") as kernel:
        assert kernel.settings.store == "memory://"


def _count_runs_sync(settings: floe.Settings) -> int:
    async def work() -> int:
        kernel = floe.current_kernel()
        await kernel.store.create_run(floe.Run(run_id="sync-run", name="x"))
        return len(await kernel.store.list_runs())

    return floe.run_sync(work, settings=settings)


@pytest.mark.parametrize("backend", ["trio", "asyncio"])
def test_run_sync_starts_a_loop_and_a_kernel(tmp_path: Path, backend: str) -> None:
    settings = floe.load_settings(
        tmp_path, env={}, store="memory://", log_format="off", backend=backend
    )
    assert _count_runs_sync(settings) == 1


def test_run_sync_inside_a_running_loop_uses_a_worker_thread(tmp_path: Path) -> None:
    settings = floe.load_settings(tmp_path, env={}, store="memory://", log_format="off")
    threads: list[threading.Thread] = []

    async def work() -> str:
        threads.append(threading.current_thread())
        return "done"

    async def host() -> str:
        # as in a notebook: sync floe call from code that already runs an event loop
        return floe.run_sync(work, settings=settings)

    assert asyncio.run(host()) == "done"
    assert threads[0] is not threading.main_thread()


def test_run_sync_propagates_errors(tmp_path: Path) -> None:
    settings = floe.load_settings(tmp_path, env={}, store="memory://", log_format="off")

    async def fail() -> None:
        raise floe.NotFoundError("no such run")

    with pytest.raises(floe.NotFoundError, match="no such run"):
        floe.run_sync(fail, settings=settings)


async def test_bus_handlers_see_the_running_kernel(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    seen: list[Kernel] = []
    async with floe_kernel_factory() as kernel:
        kernel.bus.subscribe(
            "ping", "observer", lambda data: seen.append(floe.current_kernel()), inline=True
        )
        await kernel.bus.post("ping", None)
    assert seen == [kernel]


async def test_the_bodys_exception_propagates_unwrapped_after_the_bus_drains(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    delivered: list[Any] = []
    kernel = floe_kernel_factory()

    async def slow_observer(data: Any) -> None:
        await anyio.lowlevel.checkpoint()
        # the store is still open while the bus drains
        delivered.append((data, await kernel.store.get_run("none")))

    async def body() -> None:
        async with kernel:
            kernel.bus.subscribe("queued", "observer", slow_observer)
            for index in range(5):
                await kernel.bus.post("queued", index)
            raise ValueError("the body's own")

    with pytest.raises(ValueError, match="the body's own") as caught:
        await body()
    assert type(caught.value) is ValueError
    assert delivered == [(index, None) for index in range(5)]
    with pytest.raises(FloeError, match="no store"):
        _ = kernel.store


async def test_a_failed_start_undoes_what_started_in_reverse(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    steps: list[str] = []

    class RecordingStore(floe.MemoryStore):
        async def open(self) -> None:
            await super().open()
            steps.append("store opened")

        async def close(self) -> None:
            steps.append("store closed")
            await super().close()

    class Handler(logging.Handler):
        def close(self) -> None:
            steps.append("log handler closed")
            super().close()

    class Plugin:
        floe_plugin_name = "start-fails"

        @floe.hookimpl
        def floe_open_store(self, url: floe.StoreURL) -> Any:
            return RecordingStore() if url.scheme == "recording" else None

        @floe.hookimpl
        def floe_log_handlers(self, settings: Any) -> list[logging.Handler]:
            return [Handler()]

        @floe.hookimpl
        def floe_services(self, kernel: Kernel) -> list[Any]:
            async def first(*, task_status: Any) -> None:
                task_status.started()
                steps.append("service started")
                try:
                    await anyio.sleep_forever()
                finally:
                    steps.append("service stopped")

            async def second(*, task_status: Any) -> None:
                raise RuntimeError("cannot start")

            return [first, second]

    handlers = list(logging.getLogger("floe").handlers)
    kernel = floe_kernel_factory(Plugin(), store="recording://", log_format="json")
    with pytest.raises(RuntimeError, match="cannot start") as caught:
        async with kernel:
            pytest.fail("the body runs only once the kernel started")
    assert type(caught.value) is RuntimeError
    assert steps == [
        "store opened",
        "service started",
        "service stopped",
        "store closed",
        "log handler closed",
    ]
    assert logging.getLogger("floe").handlers == handlers
    with pytest.raises(FloeError, match="No floe kernel is running"):
        floe.current_kernel()
    with pytest.raises(FloeError, match="no store"):
        _ = kernel.store
