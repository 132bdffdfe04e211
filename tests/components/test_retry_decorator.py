"""The ``retry`` decorator: options checked when decorating, async and sync functions,
bus handlers, metadata, cancellation, exact timing on a mock clock, and the kernel's
retry-policy hook.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import anyio
import pytest
import trio
import trio.testing

import floe
from floe import ConfigError, ExponentialBackoff, Kernel, RetryOptions
from floe.kernel._retry import policy_for, retry


def _mock_clock() -> pytest.MarkDecorator:
    """Run the test on trio with a clock that jumps over every sleep at once."""
    return pytest.mark.parametrize(
        "anyio_backend",
        [
            pytest.param(
                ("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}),
                id="trio-mockclock",
            )
        ],
    )


class Flaky:
    """Fails the first *failures* calls with *error*, then returns *result*."""

    def __init__(self, failures: int, error: type[Exception] = ConnectionError) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0
        self.times: list[float] = []

    def step(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"failure {self.calls}")
        return "ok"


# -- decorating -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 1.5}, "max_attempts"),
        ({"base_delay": -1}, "base_delay"),
        ({"base_delay": "1"}, "base_delay"),
        ({"max_delay": -1}, "max_delay"),
        ({"backoff": 0.5}, "backoff"),
        ({"jitter": 2}, "jitter"),
        ({"jitter": -0.1}, "jitter"),
        ({"retry_on": "ValueError"}, "retry_on"),
        ({"retry_on": ()}, "retry_on"),
        ({"retry_on": (ValueError, 3)}, "retry_on"),
    ],
)
def test_bad_options_fail_when_decorating(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as caught:
        retry(**options)
    assert caught.value.fix


def test_what_cannot_be_decorated() -> None:
    with pytest.raises(ConfigError, match="where a function or keyword options belong"):
        retry(3)  # type: ignore[call-overload]
    decorate = retry(max_attempts=2)
    with pytest.raises(ConfigError, match="can only wrap a function"):
        decorate("not callable")  # type: ignore[arg-type]

    def numbers() -> Any:
        yield 1

    async def more_numbers() -> Any:
        yield 2

    for generator in (numbers, more_numbers):
        with pytest.raises(ConfigError, match="cannot wrap the generator function"):
            decorate(generator)


def test_the_wrapper_keeps_the_functions_metadata() -> None:
    async def fetch(url: str, *, retries: int = 1) -> str:
        """Fetch a page."""
        return url

    def parse(text: str) -> list[str]:
        """Split a page."""
        return text.split()

    for function in (fetch, parse):
        wrapped = retry(max_attempts=4, base_delay=0.5)(function)
        assert wrapped.__name__ == function.__name__
        assert wrapped.__doc__ == function.__doc__
        assert wrapped.__wrapped__ is function  # type: ignore[attr-defined]
        assert inspect.signature(wrapped) == inspect.signature(function)
        assert wrapped.retry_options == RetryOptions(  # type: ignore[attr-defined]
            max_attempts=4, base_delay=0.5, backoff=2.0
        )
    assert inspect.iscoroutinefunction(retry(fetch))
    assert not inspect.iscoroutinefunction(retry(parse))


def test_bare_decorator_uses_the_defaults() -> None:
    @retry
    def parse(text: str) -> str:
        return text

    assert parse("x") == "x"
    assert parse.retry_options == RetryOptions(  # type: ignore[attr-defined]
        max_attempts=3, base_delay=0.1, backoff=2.0
    )


# -- behaviour --------------------------------------------------------------------------


@pytest.mark.anyio
async def test_an_async_function_is_retried_until_it_succeeds() -> None:
    flaky = Flaky(failures=2)

    @retry(max_attempts=3, base_delay=0)
    async def call(value: int) -> tuple[str, int]:
        await anyio.lowlevel.checkpoint()
        return flaky.step(), value

    assert await call(7) == ("ok", 7)
    assert flaky.calls == 3


@pytest.mark.anyio
async def test_the_last_error_propagates_after_max_attempts() -> None:
    flaky = Flaky(failures=10)

    @retry(max_attempts=4, base_delay=0)
    async def call() -> str:
        return flaky.step()

    with pytest.raises(ConnectionError, match="failure 4"):
        await call()
    assert flaky.calls == 4


@pytest.mark.anyio
async def test_only_the_listed_errors_are_retried() -> None:
    flaky = Flaky(failures=5, error=KeyError)

    @retry(max_attempts=5, base_delay=0, retry_on=(ConnectionError, TimeoutError))
    async def call() -> str:
        return flaky.step()

    with pytest.raises(KeyError):
        await call()
    assert flaky.calls == 1


def test_a_sync_function_is_retried() -> None:
    flaky = Flaky(failures=2)
    retried = retry(max_attempts=3, base_delay=0)(flaky.step)
    assert retried() == "ok"
    assert flaky.calls == 3
    stubborn = Flaky(failures=5)
    with pytest.raises(ConnectionError, match="failure 2"):
        retry(max_attempts=2, base_delay=0)(stubborn.step)()


@pytest.mark.anyio
async def test_methods_keep_their_instance() -> None:
    class Client:
        def __init__(self) -> None:
            self.flaky = Flaky(failures=1)

        @retry(max_attempts=2, base_delay=0)
        async def get(self, key: str) -> str:
            return f"{key}={self.flaky.step()}"

    client = Client()
    assert await client.get("a") == "a=ok"
    assert client.flaky.calls == 2


@pytest.mark.anyio
async def test_cancellation_is_never_retried() -> None:
    calls = 0

    @retry(max_attempts=5, base_delay=0)
    async def wait_forever() -> None:
        nonlocal calls
        calls += 1
        await anyio.sleep_forever()

    with anyio.move_on_after(0.05) as scope:
        await wait_forever()
    assert scope.cancelled_caught
    assert calls == 1


@pytest.mark.anyio
async def test_cancellation_during_the_wait_stops_retrying() -> None:
    flaky = Flaky(failures=10)

    @retry(max_attempts=10, base_delay=60)
    async def call() -> str:
        return flaky.step()

    with anyio.move_on_after(0.05):
        await call()
    assert flaky.calls == 1


# -- timing, on a mock clock ------------------------------------------------------------


@_mock_clock()
@pytest.mark.anyio
async def test_delays_double_from_the_base_delay() -> None:
    flaky = Flaky(failures=10)

    @retry(max_attempts=4, base_delay=1, backoff=2)
    async def call() -> str:
        flaky.times.append(trio.current_time())
        return flaky.step()

    with pytest.raises(ConnectionError, match="failure 4"):
        await call()
    start = flaky.times[0]
    assert [time - start for time in flaky.times] == [0, 1, 3, 7]
    assert [b - a for a, b in zip(flaky.times, flaky.times[1:], strict=False)] == [1, 2, 4]


@_mock_clock()
@pytest.mark.anyio
async def test_max_delay_caps_and_jitter_varies_within_its_fraction() -> None:
    capped = Flaky(failures=10)

    @retry(max_attempts=6, base_delay=1, backoff=3, max_delay=5)
    async def call() -> str:
        capped.times.append(trio.current_time())
        return capped.step()

    with pytest.raises(ConnectionError):
        await call()
    waits = [b - a for a, b in zip(capped.times, capped.times[1:], strict=False)]
    assert waits == [1, 3, 5, 5, 5]

    jittered = Flaky(failures=10)

    @retry(max_attempts=8, base_delay=10, backoff=1, jitter=0.2)
    async def shaky() -> str:
        jittered.times.append(trio.current_time())
        return jittered.step()

    with pytest.raises(ConnectionError):
        await shaky()
    waits = [b - a for a, b in zip(jittered.times, jittered.times[1:], strict=False)]
    assert len(waits) == 7
    assert all(8 - 1e-9 <= wait <= 12 + 1e-9 for wait in waits)
    assert len(set(waits)) > 1


# -- as a bus handler -------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_retried_handler_on_the_bus(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    async_flaky, sync_flaky = Flaky(failures=2), Flaky(failures=2)
    failures: list[Any] = []
    delivered: list[str] = []

    @retry(max_attempts=3, base_delay=0)
    async def on_async(data: str) -> None:
        async_flaky.step()
        delivered.append(f"async {data}")

    @retry(max_attempts=3, base_delay=0)
    def on_sync(data: str) -> None:
        sync_flaky.step()
        delivered.append(f"sync {data}")

    @retry(max_attempts=2, base_delay=0)
    async def hopeless(data: str) -> None:
        raise ConnectionError("down")

    async with floe_kernel_factory() as kernel:
        bus = kernel.bus
        bus.subscribe("order.placed", "async-observer", on_async)
        bus.subscribe("order.placed", "sync-observer", on_sync)
        bus.subscribe("order.placed", "hopeless", hopeless)
        bus.subscribe("event.handler.failed", "test", failures.append, inline=True)
        await bus.publish("order.placed", "#1")
    assert sorted(delivered) == ["async #1", "sync #1"]
    assert (async_flaky.calls, sync_flaky.calls) == (3, 3)
    assert [(f.data["owner"], type(f.data["exception"])) for f in failures] == [
        ("hopeless", ConnectionError)
    ]


# -- the kernel's retry policy ----------------------------------------------------------


class FixedWait:
    """A policy plugin: always five attempts, ten seconds apart."""

    floe_plugin_name = "fixed-wait"

    def __init__(self) -> None:
        self.asked: list[RetryOptions] = []

    @floe.hookimpl
    def floe_retry_policy(self, options: RetryOptions) -> ExponentialBackoff:
        self.asked.append(options)
        return ExponentialBackoff(
            RetryOptions(max_attempts=5, base_delay=10, retry_on=options.retry_on)
        )


@_mock_clock()
@pytest.mark.anyio
@pytest.mark.hook("floe_retry_policy")
async def test_a_policy_plugin_changes_the_decorators_behaviour(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    def decorated(flaky: Flaky) -> Callable[[], Any]:
        @retry(max_attempts=2, base_delay=1)
        async def call() -> str:
            flaky.times.append(trio.current_time())
            return flaky.step()

        return call

    outside = Flaky(failures=10)
    with pytest.raises(ConnectionError, match="failure 2"):
        await decorated(outside)()
    assert outside.calls == 2

    plugin = FixedWait()
    inside = Flaky(failures=10)
    async with floe_kernel_factory(plugin):
        with pytest.raises(ConnectionError, match="failure 5"):
            await decorated(inside)()
    assert inside.calls == 5
    assert [b - a for a, b in zip(inside.times, inside.times[1:], strict=False)] == [10] * 4
    # the decorator asked the hook with its own options, once per call
    assert plugin.asked == [RetryOptions(max_attempts=2, base_delay=1, backoff=2.0)]


@pytest.mark.anyio
async def test_a_policy_returning_a_bad_delay_is_reported(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    class Broken:
        floe_plugin_name = "broken-policy"

        @floe.hookimpl
        def floe_retry_policy(self, options: RetryOptions) -> Any:
            return _BrokenPolicy()

    @retry(max_attempts=3, base_delay=0)
    async def call() -> None:
        raise ConnectionError("down")

    async with floe_kernel_factory(Broken()):
        with pytest.raises(ConfigError, match="returned the delay -1") as caught:
            await call()
    assert isinstance(caught.value.__cause__, ConnectionError)


class _BrokenPolicy:
    def next_delay(self, attempt: int, error: BaseException) -> float:
        return -1


def test_outside_a_kernel_the_policy_is_the_kernels_default() -> None:
    options = RetryOptions(max_attempts=3, base_delay=1, backoff=2)
    policy = policy_for(options)
    assert isinstance(policy, ExponentialBackoff)
    assert policy.options is options
