"""One test (at least) per hook spec, through the kernel's typed facade.

The docs test checks that every hook in ``floe.hookspecs`` has a test marked
``@pytest.mark.hook(name)``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import anyio
import click
import pytest
from click.testing import CliRunner

import floe
from floe import Kernel
from floe.kernel._states import State
from floe.testing import HookRecorder

pytestmark = pytest.mark.anyio


@pytest.mark.hook("floe_configure")
async def test_configure_sees_the_settings_once_before_resources_open(
    floe_kernel_factory: Callable[..., Kernel],
    floe_hook_recorder: Callable[[Kernel], HookRecorder],
) -> None:
    seen: list[floe.Settings] = []

    class Configurable:
        floe_plugin_name = "configurable"

        @floe.hookimpl
        def floe_configure(self, settings: floe.Settings) -> None:
            seen.append(settings)

    kernel = floe_kernel_factory(Configurable(), sections={"configurable": {"greeting": "hi"}})
    recorder = floe_hook_recorder(kernel)
    async with kernel:
        pass
    assert seen == [kernel.settings]
    assert seen[0].section("configurable") == {"greeting": "hi"}
    names = recorder.names()
    assert names.index("floe_configure") < names.index("floe_open_store")


@pytest.mark.hook("floe_configure")
async def test_configure_can_reject_settings(floe_kernel_factory: Callable[..., Kernel]) -> None:
    class Picky:
        floe_plugin_name = "picky"

        @floe.hookimpl
        def floe_configure(self, settings: floe.Settings) -> None:
            raise floe.ConfigError("picky needs a port", fix="Set [tool.floe.picky] port.")

    kernel = floe_kernel_factory(Picky())
    with pytest.raises(floe.ConfigError, match="picky needs a port"):
        async with kernel:
            pass


class Idle(State):
    pass


class Busy(State):
    pass


@pytest.mark.hook("floe_register_states")
async def test_state_packs_register_named_states(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    class Pack:
        floe_plugin_name = "my-pack"

        @floe.hookimpl
        def floe_register_states(self, register: Callable[..., None]) -> None:
            register("Idle", Idle)
            register("Busy", Busy)

    async with floe_kernel_factory(Pack()) as kernel:
        assert kernel.states.get("Idle") is Idle
        assert {"Busy", "Idle"} <= set(kernel.states.names())
        assert kernel.states.names() == sorted(kernel.states.names())
        assert kernel.states.provider("Busy") == "plugin 'my-pack'"
        with pytest.raises(floe.StateError, match="Unknown state 'Sleeping'") as caught:
            kernel.states.get("Sleeping")
        assert "Busy" in (caught.value.why or "")
        assert "Idle" in (caught.value.why or "")


@pytest.mark.hook("floe_register_states")
async def test_state_name_clash_names_both_providers(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    def pack(name: str, state: type) -> object:
        class Pack:
            floe_plugin_name = name

            @floe.hookimpl
            def floe_register_states(self, register: Callable[..., None]) -> None:
                register("Idle", state)

        return Pack()

    kernel = floe_kernel_factory(pack("first-pack", Idle), pack("second-pack", Busy))
    with pytest.raises(floe.StateError, match="'Idle' is taken") as caught:
        async with kernel:
            pass
    assert "first-pack" in (caught.value.why or "")
    assert "second-pack" in (caught.value.why or "")


@pytest.mark.hook("floe_register_states")
async def test_register_states_is_called_through_pluggy(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    def pack(name: str, state_name: str) -> object:
        class Pack:
            floe_plugin_name = name

            @floe.hookimpl
            def floe_register_states(self, register: Callable[..., None]) -> None:
                register(state_name, Idle)

        return Pack()

    kernel = floe_kernel_factory(pack("first-pack", "First"), pack("second-pack", "Second"))
    seen: list[tuple[str, list[str]]] = []
    finished: list[str] = []

    def before(hook_name: str, impls: list[Any], kwargs: dict[str, Any]) -> None:
        seen.append((hook_name, [impl.plugin_name for impl in impls]))

    def after(outcome: Any, hook_name: str, impls: list[Any], kwargs: dict[str, Any]) -> None:
        finished.append(hook_name)

    undo = kernel.plugin_manager.add_hookcall_monitoring(before, after)
    try:
        async with kernel:
            # each provider's registrations are still attributed to it
            assert kernel.states.provider("First") == "plugin 'first-pack'"
            assert kernel.states.provider("Second") == "plugin 'second-pack'"
    finally:
        undo()
    calls = [impls for hook_name, impls in seen if hook_name == "floe_register_states"]
    # one call per implementation, in load order, each holding only that plugin
    named = [impls for impls in calls if impls[0] in ("first-pack", "second-pack")]
    assert named == [["first-pack"], ["second-pack"]]
    assert all(len(impls) == 1 for impls in calls)
    assert finished.count("floe_register_states") == len(calls)


@pytest.mark.hook("floe_register_states")
def test_registry_replace_is_explicit() -> None:
    registry = floe.StateRegistry()
    registry.register("Idle", Idle)
    registry.register("Idle", Idle)  # the same class again is harmless
    with pytest.raises(floe.StateError):
        registry.register("Idle", Busy)
    registry.register("Idle", Busy, replace=True)
    assert registry.get("Idle") is Busy
    with pytest.raises(floe.StateError, match="must be a class"):
        registry.register("Thing", Idle())  # type: ignore[arg-type]
    with pytest.raises(floe.StateError, match="Invalid state name"):
        registry.register("", Idle)
    assert "Idle" in registry
    assert len(registry) == 1
    assert list(registry) == ["Idle"]


@pytest.mark.hook("floe_store_schemes")
def test_store_schemes_are_merged(floe_kernel_factory: Callable[..., Kernel]) -> None:
    class Redis:
        floe_plugin_name = "redis-ish"

        @floe.hookimpl
        def floe_store_schemes(self) -> list[str]:
            return ["redis", "memory"]

    schemes = floe_kernel_factory(Redis()).hooks.store_schemes()
    assert schemes == sorted(set(schemes))
    assert {"memory", "redis"} <= set(schemes)


@pytest.mark.hook("floe_open_store")
async def test_open_store_claims_a_scheme(floe_kernel_factory: Callable[..., Kernel]) -> None:
    class Scratch:
        floe_plugin_name = "scratch"

        @floe.hookimpl
        def floe_open_store(self, url: floe.StoreURL) -> floe.Store | None:
            if url.scheme != "scratch":
                return None
            assert url.path == "area/51"
            assert url.query == {"mode": "fast"}
            return floe.MemoryStore(url.raw)

    async with floe_kernel_factory(Scratch(), store="scratch:///area/51?mode=fast") as kernel:
        assert kernel.store.url == "scratch:///area/51?mode=fast"


@pytest.mark.hook("floe_open_store")
async def test_open_store_must_return_a_store(floe_kernel_factory: Callable[..., Kernel]) -> None:
    class Wrong:
        floe_plugin_name = "wrong"

        @floe.hookimpl
        def floe_open_store(self, url: floe.StoreURL) -> object:
            return {"not": "a store"}

    with pytest.raises(floe.ConfigError, match=r"not a floe\.Store"):
        async with floe_kernel_factory(Wrong()):
            pass


@pytest.mark.hook("floe_open_artifact_store")
async def test_open_artifact_store(
    floe_kernel_factory: Callable[..., Kernel], tmp_path: Any
) -> None:
    class Vault:
        floe_plugin_name = "vault"

        @floe.hookimpl
        def floe_open_artifact_store(self, url: floe.StoreURL) -> Any:
            if url.scheme == "vault":
                return floe.DirectoryArtifactStore(tmp_path / url.host)
            return None

    async with floe_kernel_factory(Vault(), artifact_store="vault://shelf") as kernel:
        reference = await kernel.artifacts.put("r1", "a.txt", b"body")
        assert (tmp_path / "shelf" / "r1" / "a.txt").read_bytes() == b"body"
        assert await kernel.artifacts.get(reference) == b"body"


@pytest.mark.hook("floe_open_secrets")
async def test_open_secrets(floe_kernel_factory: Callable[..., Kernel]) -> None:
    class Fixed:
        floe_plugin_name = "fixed-secrets"

        @floe.hookimpl
        def floe_open_secrets(self, url: floe.StoreURL) -> Any:
            if url.scheme == "fixed":
                return floe.EnvironmentSecretStore(prefix="X_", environ={"X_TOKEN": "t0k3n"})
            return None

    async with floe_kernel_factory(Fixed(), secrets="fixed://") as kernel:
        assert await kernel.secrets.get_secrets(["token"]) == {"token": "t0k3n"}
    with pytest.raises(floe.ConfigError, match="secret stores for the scheme 'vault'"):
        async with floe_kernel_factory(secrets="vault://"):
            pass


@pytest.mark.hook("floe_log_handlers")
async def test_log_handlers_get_correlation_fields(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    records: list[logging.LogRecord] = []

    class ListSink:
        floe_plugin_name = "list-sink"

        @floe.hookimpl
        def floe_log_handlers(self, settings: floe.Settings) -> list[logging.Handler]:
            sink = logging.Handler()
            sink.emit = records.append  # type: ignore[method-assign]
            return [sink]

    kernel = floe_kernel_factory(
        ListSink(), log_format="json", log_level="INFO", entry_points=False
    )
    logger = logging.getLogger("floe.test")
    async with kernel:
        with floe.bind_log_context(run_id="r-9", step="fetch#1"):
            logger.info("inside")
        logger.info("outside")
    logger.warning("after the kernel closed")
    assert [r.getMessage() for r in records] == ["inside", "outside"]
    assert (records[0].run_id, records[0].step, records[0].component) == ("r-9", "fetch#1", None)  # type: ignore[attr-defined]
    assert records[1].run_id is None  # type: ignore[attr-defined]
    with (
        pytest.raises(TypeError, match="unknown correlation fields"),
        floe.bind_log_context(user="x"),  # type: ignore[arg-type]
    ):
        pass


@pytest.mark.hook("floe_subscribe")
async def test_subscribe_at_start(floe_kernel_factory: Callable[..., Kernel]) -> None:
    seen: list[str] = []

    class Observer:
        floe_plugin_name = "observer"

        @floe.hookimpl
        def floe_subscribe(self, bus: floe.EventBus) -> None:
            bus.subscribe("run.*", "observer", lambda event: seen.append(event.kind), inline=True)

    async with floe_kernel_factory(Observer()) as kernel:
        await kernel.store.create_run(floe.Run(run_id="r", name="x"))
        await kernel.record([floe.Event(run_id="r", seq=1, kind="run.started")])
    assert seen == ["run.started"]


@pytest.mark.hook("floe_services")
async def test_services_start_ready_and_stop_with_the_kernel(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    lifecycle: list[str] = []

    class Heartbeat:
        floe_plugin_name = "heartbeat"

        @floe.hookimpl
        def floe_services(self, kernel: Kernel) -> list[Any]:
            async def beat(*, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
                lifecycle.append("ready")
                task_status.started()
                try:
                    await anyio.sleep_forever()
                finally:
                    lifecycle.append("stopped")

            return [beat]

    async with floe_kernel_factory(Heartbeat()):
        assert lifecycle == ["ready"]
    assert lifecycle == ["ready", "stopped"]


@pytest.mark.hook("floe_retry_policy")
def test_default_retry_policy_is_exponential_backoff(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    kernel = floe_kernel_factory()
    options = floe.RetryOptions(max_attempts=5, base_delay=1, backoff=2, max_delay=5)
    policy = kernel.retry_policy(options)
    assert isinstance(policy, floe.ExponentialBackoff)
    error = ValueError("x")
    assert [policy.next_delay(attempt, error) for attempt in range(1, 6)] == [1, 2, 4, 5, None]
    narrow = kernel.retry_policy(floe.RetryOptions(max_attempts=3, retry_on=(TimeoutError,)))
    assert narrow.next_delay(1, TimeoutError()) == 0
    assert narrow.next_delay(1, ValueError()) is None
    # cancellation and other BaseExceptions are never retried
    assert narrow.next_delay(1, asyncio.CancelledError()) is None
    assert narrow.next_delay(1, KeyboardInterrupt()) is None


@pytest.mark.hook("floe_retry_policy")
def test_retry_policy_can_be_replaced_or_missing(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    class Never:
        floe_plugin_name = "never-retry"

        def next_delay(self, attempt: int, error: BaseException) -> float | None:
            return None

        @floe.hookimpl
        def floe_retry_policy(self, options: floe.RetryOptions) -> Any:
            return self

    plugin = Never()
    assert floe_kernel_factory(plugin).retry_policy(floe.RetryOptions(max_attempts=9)) is plugin
    bare = floe_kernel_factory(disable_plugins=["floe.backoff"])
    with pytest.raises(floe.ConfigError, match="No plugin provides a retry policy"):
        bare.retry_policy(floe.RetryOptions())


@pytest.mark.hook("floe_inject")
async def test_inject_resolves_names_it_knows(floe_kernel_factory: Callable[..., Kernel]) -> None:
    class StartedBy:
        floe_plugin_name = "started-by"

        @floe.hookimpl
        def floe_inject(self, parameter: str, context: floe.InjectionContext) -> Any:
            if parameter == "started_by":
                return context.data.get("user", "anonymous")
            return None

    async with floe_kernel_factory(StartedBy()) as kernel:
        context = floe.InjectionContext(kernel=kernel, run_id="r", data={"user": "ada"})
        assert kernel.hooks.inject("started_by", context) == "ada"
        assert kernel.hooks.inject("something_else", context) is None


@pytest.mark.hook("floe_cli")
def test_cli_hook_adds_commands(floe_kernel_factory: Callable[..., Kernel]) -> None:
    class Hello:
        floe_plugin_name = "hello-cli"

        @floe.hookimpl
        def floe_cli(self, cli: click.Group) -> None:
            @cli.command()
            @click.argument("name")
            def hello(name: str) -> None:
                click.echo(f"hello {name}")

    group = click.Group("floe")
    floe_kernel_factory(Hello(), entry_points=False).hooks.cli(group)
    result = CliRunner().invoke(group, ["hello", "ada"])
    assert result.exit_code == 0
    assert result.output == "hello ada\n"
