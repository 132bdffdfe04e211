from __future__ import annotations

import re
import threading
from collections.abc import Callable
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import floe
import floe.kernel._logging
from floe import ConfigError, EventBus
from floe.graph import ErrorHandler, ErrorStrategy, Flow, Routine

pytestmark = pytest.mark.anyio


def recorder(log: list[Any], label: str) -> Callable[[Any], Any]:
    async def handler(data: Any) -> None:
        log.append((label, data))

    return handler


# -- subscribing --------------------------------------------------------------------------


@pytest.mark.parametrize("priority", [0, 6, -1, True, False, 2.0, "1", None])
async def test_priority_must_be_an_int_from_1_to_5(priority: Any) -> None:
    bus = EventBus()
    with pytest.raises(ConfigError, match="priority") as caught:
        bus.subscribe("e", "me", recorder([], "x"), priority=priority)
    assert "Fix:" in str(caught.value)
    assert bus.statistics().subscriptions == 0


@pytest.mark.parametrize(
    ("event", "owner", "handler", "match"),
    [
        ("", "me", print, "event name"),
        ("e", "", print, "owner"),
        ("e", "me", "not callable", "not callable"),
    ],
)
async def test_subscribe_validates_its_arguments(
    event: str, owner: str, handler: Any, match: str
) -> None:
    bus = EventBus()
    with pytest.raises(ConfigError, match=match):
        bus.subscribe(event, owner, handler)


async def test_filter_must_be_callable() -> None:
    with pytest.raises(ConfigError, match="Filter"):
        EventBus().subscribe("e", "me", print, filter="yes")  # type: ignore[arg-type]


async def test_priority_order_then_subscription_order() -> None:
    bus = EventBus()
    log: list[Any] = []
    for label, priority in [("p3a", 3), ("p5", 5), ("p1", 1), ("p3b", 3), ("default", 3)]:
        if label == "default":
            bus.subscribe("e", "me", recorder(log, label))
        else:
            bus.subscribe("e", "me", recorder(log, label), priority=priority)
    await bus.publish("e", 7)
    assert [label for label, _ in log] == ["p1", "p3a", "p3b", "default", "p5"]
    assert all(data == 7 for _, data in log)


async def test_globs_match_by_pattern_and_merge_into_priority_order() -> None:
    bus = EventBus()
    log: list[Any] = []
    bus.subscribe("task.*", "me", recorder(log, "task-glob"), priority=2)
    bus.subscribe("*", "me", recorder(log, "all"), priority=4)
    bus.subscribe("task.completed", "me", recorder(log, "exact"), priority=1)
    await bus.publish("task.completed")
    await bus.publish("run.started")
    assert [label for label, _ in log] == ["exact", "task-glob", "all", "all"]


async def test_once_subscription_fires_once_and_respects_its_filter() -> None:
    bus = EventBus()
    log: list[Any] = []
    handle = bus.subscribe(
        "e", "me", recorder(log, "once"), once=True, filter=lambda name, data: data > 1
    )
    await bus.publish("e", 1)
    await bus.publish("e", 2)
    await bus.publish("e", 3)
    assert log == [("once", 2)]
    assert not bus.unsubscribe(handle)


async def test_unsubscribe_is_true_once_then_false() -> None:
    bus = EventBus()
    log: list[Any] = []
    handle = bus.subscribe("e", "me", recorder(log, "x"))
    assert bus.unsubscribe(handle) is True
    assert bus.unsubscribe(handle) is False
    made_up = floe.SubscriptionHandle(event="e", owner="me", priority=3, id=999)
    assert bus.unsubscribe(made_up) is False
    assert bus.unsubscribe("nonsense") is False  # type: ignore[arg-type]
    await bus.publish("e")
    assert log == []


async def test_unsubscribe_all_counts_only_the_owners() -> None:
    bus = EventBus()
    log: list[Any] = []
    bus.subscribe("a", "mine", recorder(log, "a"))
    bus.subscribe("b.*", "mine", recorder(log, "b"))
    bus.subscribe("a", "theirs", recorder(log, "theirs"))
    assert bus.unsubscribe_all("mine") == 2
    assert bus.unsubscribe_all("mine") == 0
    await bus.publish("a")
    await bus.publish("b.x")
    assert log == [("theirs", None)]
    assert [h.owner for h in bus.subscriptions()] == ["theirs"]


# -- publishing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "match"),
    [({"delivery": "parallel"}, "delivery"), ({"on_error": "ignore"}, "on_error")],
)
async def test_bad_options_raise_even_without_subscribers(
    options: dict[str, str], match: str
) -> None:
    bus = EventBus()
    with pytest.raises(ConfigError, match=match):
        await bus.publish("nobody.listens", 1, **options)  # type: ignore[arg-type]


async def test_publish_without_subscribers_is_a_no_op() -> None:
    bus = EventBus()
    await bus.publish("nobody.listens", {"x": 1})
    stats = bus.statistics()
    assert (stats.published, stats.delivered, stats.failed) == (1, 0, 0)


async def test_handler_list_is_snapshotted_at_publish() -> None:
    bus = EventBus()
    log: list[Any] = []
    late = recorder(log, "late")

    async def first(data: Any) -> None:
        log.append(("first", data))
        bus.subscribe("e", "me", late)  # joins for the next publish only
        bus.unsubscribe(second_handle)  # already in this publish's snapshot

    bus.subscribe("e", "me", first, priority=1)
    second_handle = bus.subscribe("e", "me", recorder(log, "second"), priority=2)
    await bus.publish("e", 1)
    assert log == [("first", 1), ("second", 1)]
    log.clear()
    await bus.publish("e", 2)
    assert [label for label, _ in log] == ["first", "late"]


async def test_sync_handlers_run_in_a_worker_thread_unless_inline() -> None:
    bus = EventBus()
    threads: dict[str, threading.Thread] = {}
    bus.subscribe(
        "e", "me", lambda data: threads.__setitem__("threaded", threading.current_thread())
    )
    bus.subscribe(
        "e",
        "me",
        lambda data: threads.__setitem__("inline", threading.current_thread()),
        inline=True,
    )
    await bus.publish("e")
    assert threads["inline"] is threading.current_thread()
    assert threads["threaded"] is not threading.current_thread()


async def test_async_callable_objects_are_awaited() -> None:
    log: list[Any] = []

    class Handler:
        async def __call__(self, data: Any) -> None:
            log.append(data)

    bus = EventBus()
    bus.subscribe("e", "me", Handler())
    await bus.publish("e", 5)
    assert log == [5]


async def test_continue_mode_reports_failures_and_goes_on() -> None:
    bus = EventBus()
    log: list[Any] = []
    failures: list[floe.Event] = []

    async def broken(data: Any) -> None:
        raise ValueError("boom")

    bus.subscribe("e", "breaker", broken, priority=1)
    bus.subscribe("e", "me", recorder(log, "after"), priority=2)
    bus.subscribe("event.handler.failed", "watcher", failures.append, inline=True)
    await bus.publish("e", 1)
    assert log == [("after", 1)]
    (failure,) = failures
    assert isinstance(failure, floe.Event)
    assert (failure.kind, failure.seq, failure.run_id, failure.step) == (
        "event.handler.failed",
        0,
        "",
        None,
    )
    assert failure.data["event_name"] == "e"
    assert failure.data["owner"] == "breaker"
    assert isinstance(failure.data["exception"], ValueError)
    assert bus.statistics().failed == 1


async def test_failing_filter_counts_as_failing_handler() -> None:
    bus = EventBus()
    failures: list[floe.Event] = []
    log: list[Any] = []

    def bad_filter(name: str, data: Any) -> bool:
        raise KeyError("no such field")

    bus.subscribe("e", "filtered", recorder(log, "never"), filter=bad_filter)
    bus.subscribe("event.handler.failed", "watcher", failures.append, inline=True)
    await bus.publish("e")
    assert log == []
    assert [f.data["owner"] for f in failures] == ["filtered"]
    with pytest.raises(KeyError):
        await bus.publish("e", on_error="raise")


async def test_failure_reports_are_never_recursive() -> None:
    bus = EventBus()
    calls: list[str] = []

    async def broken(data: Any) -> None:
        calls.append("broken")
        raise RuntimeError("first")

    async def broken_watcher(data: Any) -> None:
        calls.append("watcher")
        raise RuntimeError("second")

    bus.subscribe("e", "me", broken)
    bus.subscribe("event.handler.failed", "watcher", broken_watcher)
    await bus.publish("e")
    assert calls == ["broken", "watcher"]
    assert bus.statistics().failed == 2


async def test_raise_mode_sequential_stops_at_first_error() -> None:
    bus = EventBus()
    log: list[Any] = []

    async def broken(data: Any) -> None:
        raise ValueError("stop here")

    bus.subscribe("e", "me", recorder(log, "before"), priority=1)
    bus.subscribe("e", "me", broken, priority=2)
    bus.subscribe("e", "me", recorder(log, "after"), priority=3)
    with pytest.raises(ValueError, match="stop here"):
        await bus.publish("e", on_error="raise")
    assert [label for label, _ in log] == ["before"]


async def test_concurrent_delivery_starts_in_priority_order_and_waits_for_all() -> None:
    bus = EventBus()
    started: list[str] = []
    finished: list[str] = []

    def make(label: str, delay: float) -> Callable[[Any], Any]:
        async def handler(data: Any) -> None:
            started.append(label)
            await anyio.sleep(delay)
            finished.append(label)

        return handler

    bus.subscribe("e", "me", make("slow", 0.05), priority=1)
    bus.subscribe("e", "me", make("fast", 0), priority=2)
    await bus.publish("e", delivery="concurrent")
    assert started == ["slow", "fast"]
    assert finished == ["fast", "slow"]


async def test_concurrent_raise_cancels_the_rest_and_raises() -> None:
    bus = EventBus()
    cancelled: list[bool] = []

    async def slow(data: Any) -> None:
        try:
            await anyio.sleep(10)
        except anyio.get_cancelled_exc_class():
            cancelled.append(True)
            raise

    async def broken(data: Any) -> None:
        await anyio.lowlevel.checkpoint()
        raise ValueError("concurrent boom")

    bus.subscribe("e", "me", slow, priority=1)
    bus.subscribe("e", "me", broken, priority=2)
    with anyio.fail_after(5):
        with pytest.raises(ValueError, match="concurrent boom"):
            await bus.publish("e", delivery="concurrent", on_error="raise")
    assert cancelled == [True]


async def test_concurrent_continue_reports_every_failure() -> None:
    bus = EventBus()
    failures: list[floe.Event] = []

    async def broken(data: Any) -> None:
        raise ValueError("x")

    for owner in ("a", "b", "c"):
        bus.subscribe("e", owner, broken)
    bus.subscribe("event.handler.failed", "watcher", failures.append, inline=True)
    await bus.publish("e", delivery="concurrent")
    assert sorted(f.data["owner"] for f in failures) == ["a", "b", "c"]


async def test_cancellation_is_never_swallowed() -> None:
    bus = EventBus()

    async def sleeper(data: Any) -> None:
        await anyio.sleep(10)

    bus.subscribe("e", "me", sleeper)
    with anyio.move_on_after(0.05) as scope:
        await bus.publish("e")
    assert scope.cancelled_caught
    assert bus.statistics().failed == 0


# -- publishing without waiting ------------------------------------------------------------


def inline_recorder(log: list[Any], label: str) -> Callable[[Any], None]:
    return lambda data: log.append((label, data))


async def test_publish_nowait_calls_inline_handlers_at_once_in_order() -> None:
    bus = EventBus()
    log: list[Any] = []
    bus.subscribe("e", "me", inline_recorder(log, "p3"), inline=True)
    bus.subscribe("e.*", "me", inline_recorder(log, "p1"), priority=1, inline=True)
    bus.subscribe("e", "me", inline_recorder(log, "p5"), priority=5, inline=True)
    with anyio.CancelScope() as scope:
        scope.cancel()
        bus.publish_nowait("e", 1)  # no checkpoint: a cancelled scope does not stop it
        bus.publish_nowait("e.x", 2)
        await anyio.lowlevel.checkpoint()  # where the cancellation lands
    assert scope.cancelled_caught
    assert log == [("p3", 1), ("p5", 1), ("p1", 2)]
    stats = bus.statistics()
    assert (stats.published, stats.delivered, stats.failed) == (2, 3, 0)


async def test_publish_nowait_to_nobody_counts_a_publish_and_delivers_nothing() -> None:
    bus = EventBus()
    bus.publish_nowait("nobody.listens", {"x": 1})
    bus.publish_nowait("nobody.listens")
    stats = bus.statistics()
    assert (stats.published, stats.delivered) == (2, 0)


@pytest.mark.parametrize("blocking", ["async", "threaded"])
async def test_publish_nowait_would_block_on_a_handler_it_cannot_call(blocking: str) -> None:
    bus = EventBus()
    log: list[Any] = []
    bus.subscribe("e", "me", inline_recorder(log, "inline"), priority=1, inline=True)
    if blocking == "async":
        bus.subscribe("*", "me", recorder(log, "other"))
    else:
        bus.subscribe("*", "me", inline_recorder(log, "other"))  # runs in a worker thread
    with pytest.raises(anyio.WouldBlock):
        bus.publish_nowait("e", 1)
    assert log == []  # nothing delivered, not even to the inline handler
    assert bus.statistics().published == 0
    await bus.publish("e", 2)
    assert log == [("inline", 2), ("other", 2)]


async def test_publish_nowait_follows_subscription_changes() -> None:
    bus = EventBus()
    log: list[Any] = []
    bus.subscribe("e", "me", inline_recorder(log, "inline"), inline=True)
    bus.publish_nowait("e", 1)
    handle = bus.subscribe("e*", "async", recorder(log, "async"))
    with pytest.raises(anyio.WouldBlock):
        bus.publish_nowait("e", 2)
    assert bus.unsubscribe(handle)
    bus.publish_nowait("e", 3)
    assert log == [("inline", 1), ("inline", 3)]


async def test_publish_nowait_keeps_the_snapshot_at_publish() -> None:
    bus = EventBus()
    log: list[Any] = []

    def first(data: Any) -> None:
        log.append(("first", data))
        bus.subscribe("e", "me", inline_recorder(log, "late"), inline=True)
        bus.unsubscribe(second_handle)

    bus.subscribe("e", "me", first, priority=1, inline=True)
    second_handle = bus.subscribe("e", "me", inline_recorder(log, "second"), inline=True)
    bus.publish_nowait("e", 1)
    assert log == [("first", 1), ("second", 1)]
    log.clear()
    bus.publish_nowait("e", 2)
    assert [label for label, _ in log] == ["first", "late"]


async def test_publish_nowait_applies_filters_and_once() -> None:
    bus = EventBus()
    log: list[Any] = []
    bus.subscribe(
        "e", "me", inline_recorder(log, "even"), filter=lambda name, n: n % 2 == 0, inline=True
    )
    bus.subscribe("e", "me", inline_recorder(log, "once"), once=True, inline=True)
    for number in range(4):
        bus.publish_nowait("e", number)
    assert log == [("even", 0), ("once", 0), ("even", 2)]
    assert bus.statistics().subscriptions == 1


async def test_publish_nowait_reports_failures_at_once_and_goes_on() -> None:
    bus = EventBus()
    log: list[Any] = []
    failures: list[floe.Event] = []

    def broken(data: Any) -> None:
        raise ValueError("boom")

    bus.subscribe("e", "breaker", broken, priority=1, inline=True)
    bus.subscribe("e", "me", inline_recorder(log, "after"), priority=2, inline=True)
    bus.subscribe("event.handler.failed", "watcher", failures.append, inline=True)
    bus.publish_nowait("e", 1)
    assert log == [("after", 1)]
    (failure,) = failures
    assert (failure.kind, failure.data["owner"], failure.data["event_name"]) == (
        "event.handler.failed",
        "breaker",
        "e",
    )
    assert isinstance(failure.data["exception"], ValueError)
    stats = bus.statistics()
    assert (stats.delivered, stats.failed) == (2, 1)  # "after" and the watcher


async def test_publish_nowait_raise_mode_raises_the_first_failure() -> None:
    bus = EventBus()
    log: list[Any] = []

    def broken(data: Any) -> None:
        raise ValueError("boom")

    bus.subscribe("e", "breaker", broken, priority=1, inline=True)
    bus.subscribe("e", "me", inline_recorder(log, "after"), priority=2, inline=True)
    with pytest.raises(ValueError, match="boom"):
        bus.publish_nowait("e", 1, on_error="raise")
    assert log == []
    assert bus.statistics().failed == 1
    with pytest.raises(ConfigError, match="on_error"):
        bus.publish_nowait("e", 1, on_error="ignore")  # type: ignore[arg-type]


async def test_publish_nowait_posts_a_report_its_handlers_cannot_take_at_once(
    floe_kernel_factory: Callable[..., floe.Kernel],
) -> None:
    failures: list[floe.Event] = []

    async def watcher(event: floe.Event) -> None:
        failures.append(event)

    def broken(data: Any) -> None:
        raise ValueError("boom")

    async with floe_kernel_factory() as kernel:
        kernel.bus.subscribe("e", "breaker", broken, inline=True)
        kernel.bus.subscribe("event.handler.failed", "watcher", watcher)
        kernel.bus.publish_nowait("e", 1)
    assert [event.data["owner"] for event in failures] == ["breaker"]


async def test_publish_nowait_only_logs_a_report_nothing_can_deliver(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()  # no kernel: no queue to post the report to
    watched: list[Any] = []

    def broken(data: Any) -> None:
        raise ValueError("boom")

    bus.subscribe("e", "breaker", broken, inline=True)
    bus.subscribe("event.handler.failed", "watcher", recorder(watched, "watcher"))
    bus.publish_nowait("e", 1)
    assert watched == []
    assert "reached no event.handler.failed handler" in caplog.text
    assert bus.statistics().failed == 1


async def test_publish_nowait_fails_a_handler_that_returns_an_awaitable() -> None:
    bus = EventBus()
    failures: list[floe.Event] = []

    async def later(data: Any) -> None:
        raise AssertionError("never awaited")

    bus.subscribe("e", "me", lambda data: later(data), inline=True)
    bus.subscribe("event.handler.failed", "watcher", failures.append, inline=True)
    bus.publish_nowait("e", 1)
    (failure,) = failures
    error = failure.data["exception"]
    assert isinstance(error, floe.FloeError)
    assert "publish_nowait cannot await" in str(error)


@pytest.mark.parametrize("event", [None, 3, ("a",)])
async def test_event_names_are_validated(event: Any) -> None:
    bus = EventBus()
    bus.subscribe("*", "me", print, inline=True)
    with pytest.raises(ConfigError, match="event name"):
        bus.publish_nowait(event)
    with pytest.raises(ConfigError, match="event name"):
        await bus.publish(event)
    with pytest.raises(ConfigError, match="event name"):
        bus.post_nowait(event)


# -- the kernel's lossless queue ---------------------------------------------------------


async def test_slow_observer_does_not_block_posting_and_order_is_kept(
    floe_kernel_factory: Callable[..., floe.Kernel],
) -> None:
    received: list[int] = []
    gate = anyio.Event()

    async def slow_observer(data: int) -> None:
        await gate.wait()
        received.append(data)

    async with floe_kernel_factory() as kernel:
        kernel.bus.subscribe("tick", "slow", slow_observer)
        with anyio.fail_after(2):
            for number in range(500):
                await kernel.bus.post("tick", number)
        assert kernel.bus.statistics().queued >= 499
        gate.set()
    # leaving the kernel drains the queue: nothing is lost
    assert received == list(range(500))
    stats = kernel.bus.statistics()
    assert stats.queued == 0
    assert stats.queue_high_water >= 499


async def test_full_queue_applies_backpressure_without_losing_events(
    floe_kernel_factory: Callable[..., floe.Kernel],
) -> None:
    received: list[int] = []
    async with floe_kernel_factory(bus_queue_size=2) as kernel:
        kernel.bus.subscribe("tick", "observer", received.append, inline=True)
        for number in range(50):
            await kernel.bus.post("tick", number)
    assert received == list(range(50))


async def test_post_without_a_running_drain_publishes_directly() -> None:
    bus = EventBus()
    log: list[Any] = []
    bus.subscribe("e", "me", recorder(log, "x"))
    await bus.post("e", 1)
    assert log == [("x", 1)]


async def test_bus_runs_once() -> None:
    bus = EventBus()
    async with anyio.create_task_group() as group:
        await group.start(bus.run)
        with pytest.raises(floe.FloeError, match="already running"):
            await bus.run()
        bus.close()


async def test_queue_size_is_validated() -> None:
    with pytest.raises(ConfigError, match="queue size"):
        EventBus(queue_size=0)


# -- property: delivery order equals the model -------------------------------------------

subscriptions = st.lists(
    st.tuples(
        st.sampled_from(["a.x", "a.y", "b.x", "a.*", "*", "?.x"]),
        st.integers(1, 5),
        st.sampled_from(["none", "even", "odd"]),
        st.booleans(),
    ),
    max_size=12,
)
publishes = st.lists(
    st.tuples(st.sampled_from(["a.x", "a.y", "b.x", "c.z"]), st.integers(0, 9)), max_size=10
)
FILTERS: dict[str, Callable[[str, int], bool] | None] = {
    "none": None,
    "even": lambda name, data: data % 2 == 0,
    "odd": lambda name, data: data % 2 == 1,
}


@settings(
    max_examples=150,
    # a list here replaces the profile's (tests/conftest.py): extend it
    suppress_health_check=[
        *settings.default.suppress_health_check,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(subs=subscriptions, pubs=publishes)
@pytest.mark.parametrize("nowait", [False, True], ids=["publish", "publish_nowait"])
async def test_delivery_order_matches_the_model(
    subs: list[tuple[str, int, str, bool]], pubs: list[tuple[str, int]], nowait: bool
) -> None:
    bus = EventBus()
    delivered: list[tuple[int, str, int]] = []
    for index, (pattern, priority, filter_name, once) in enumerate(subs):
        bus.subscribe(
            pattern,
            f"owner-{index}",
            lambda data, index=index: delivered.append((index, "", data)),
            priority=priority,
            filter=FILTERS[filter_name],
            once=once,
            inline=True,
        )

    expected: list[tuple[int, str, int]] = []
    fired: set[int] = set()
    for event, data in pubs:
        matching = sorted(
            (priority, index)
            for index, (pattern, priority, _f, _o) in enumerate(subs)
            if fnmatchcase(event, pattern)
        )
        for _priority, index in matching:
            _pattern, _p, filter_name, once = subs[index]
            check = FILTERS[filter_name]
            if check is not None and not check(event, data):
                continue
            if once and index in fired:
                continue
            fired.add(index)
            expected.append((index, "", data))
        if nowait:
            bus.publish_nowait(event, data)
        else:
            await bus.publish(event, data)
    assert delivered == expected


async def test_threaded_sync_handlers_see_the_publishers_context() -> None:
    bus = EventBus()
    seen: list[dict[str, str | None]] = []
    bus.subscribe("e", "me", lambda data: seen.append(floe.kernel._logging.current_log_context()))
    with floe.bind_log_context(run_id="r-7"):
        await bus.publish("e")
    assert seen[0]["run_id"] == "r-7"


# -- every event floe publishes is a floe.Event -------------------------------------------

EVENTS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference" / "events.md"


def documented_kinds() -> set[str]:
    """The event names of the catalogue's tables in the event reference."""
    catalogue = EVENTS_PAGE.read_text(encoding="utf-8").split("## Event catalogue")[1]
    catalogue = catalogue.split("## Bus semantics")[0]
    return set(re.findall(r"^\| `([a-z_.]+)` \|", catalogue, flags=re.MULTILINE))


@floe.task(cache=True)
async def cached(n: int) -> int:
    return n


@floe.task(retries=1, fallback=lambda: "fallback")
async def always_fails() -> str:
    raise ConnectionError("down")


@floe.task(raise_on_error=False, rollback=lambda: None)
async def fails_and_rolls_back() -> None:
    raise KeyError("gone")


@floe.workflow(capture_output=True)
async def every_step_kind() -> str:
    await cached(1)
    await cached(1)
    await always_fails()
    await fails_and_rolls_back()
    await floe.sleep(0)
    floe.add_artifact("report", {"ok": True})
    floe.add_result("answer", "forty-two")
    print("a line of output")
    return str(await floe.pause("approval"))


@floe.workflow
async def fails() -> None:
    raise RuntimeError("body failed")


class Source(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_event("out", ["value"])

    def __call__(self) -> None:
        self.emit("out", value=1)


class Broken(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.take)

    def take(self, value: int) -> None:
        raise ValueError("cannot take it")


async def publish_every_kind(kernel: floe.Kernel) -> None:
    """Make the kernel publish each kind of event of the catalogue at least once."""
    paused = await every_step_kind.run_async(run_id="every-kind")
    assert paused.paused
    assert (await floe.resume("every-kind", "yes")).output == "yes"
    await fails.run_async()
    cancelled = await every_step_kind.run_async(run_id="cancelled")
    await floe.cancel(cancelled.run_id)

    engine = floe.Engine(kernel)
    component = engine.register(floe.Component("door"))
    await component.handle_message("start")
    component.add_rule({"limit": 1})
    await engine.flush()

    flow = Flow("broken-flow")
    flow.add_routine(Source(), "source")
    broken = Broken()
    broken.set_error_handler(ErrorHandler(ErrorStrategy.RETRY, max_retries=1, retry_delay=0))
    flow.add_routine(broken, "broken")
    flow.connect("source", "out", "broken", "input")
    await flow.execute_async("source")


@pytest.mark.parametrize("store", ["memory://", "sqlite:///{tmp}/floe.db"])
async def test_a_star_subscriber_receives_only_events(
    floe_kernel_factory: Callable[..., floe.Kernel], tmp_path: Path, store: str
) -> None:
    received: list[Any] = []

    def failing(event: Any) -> None:
        raise RuntimeError("observer bug")

    async with floe_kernel_factory(store=store.format(tmp=tmp_path)) as kernel:
        kernel.bus.subscribe("*", "everything", received.append, inline=True)
        kernel.bus.subscribe("run.started", "broken", failing, inline=True)
        await publish_every_kind(kernel)
    assert all(isinstance(event, floe.Event) for event in received), {
        type(event).__name__ for event in received
    }
    kinds = {event.kind for event in received}
    assert documented_kinds() <= kinds, documented_kinds() - kinds
    failures = [event for event in received if event.kind == "event.handler.failed"]
    assert {event.data["owner"] for event in failures} == {"broken"}
    # a handler that failed on a run's event: the report belongs to that run
    assert "every-kind" in {event.run_id for event in failures}
