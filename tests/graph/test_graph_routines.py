"""Routines: slots, events, config, stats, handler calling rules and merge strategies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import floe
from floe import ConfigError, Kernel, SerializationError
from floe.graph import ErrorHandler, ErrorStrategy, Flow, Routine

pytestmark = pytest.mark.anyio


class Plain(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_event("output", ["result"])


def test_definitions_and_lookups() -> None:
    routine = Plain()
    slot = routine.define_slot("input")
    assert routine.get_slot("input") is slot
    assert routine.get_slot("other") is None
    assert routine.get_event("output") is not None
    assert list(routine.slots) == ["input"]
    assert list(routine.events) == ["output"]


@pytest.mark.parametrize(
    ("define", "match"),
    [
        (lambda r: r.define_event("output"), "already has an event named 'output'"),
        (lambda r: (r.define_slot("x"), r.define_slot("x")), "already has a slot named 'x'"),
        (lambda r: r.define_slot("bad name"), "Invalid slot name"),
        (lambda r: r.define_slot("x", merge_strategy="sum"), "Unknown merge strategy"),
        (lambda r: r.define_slot("x", handler=42), "is not callable"),
        (lambda r: r.define_event("e", [1]), "Invalid output_params"),
    ],
)
def test_bad_definitions_are_clear_errors(define: Callable[[Routine], Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        define(Plain())


def test_emit_checks_the_event_and_its_output_params() -> None:
    routine = Plain()
    with pytest.raises(ConfigError, match="undefined event 'missing'") as undefined:
        routine.emit("missing", result=1)
    assert "output" in str(undefined.value)
    with pytest.raises(ConfigError, match="without its output parameter 'result'"):
        routine.emit("output", other=1)
    with pytest.raises(SerializationError):
        routine.emit("output", result=object())
    routine.emit("output", result=1, extra=2)  # outside an execution: checks only


def test_config_and_stats_are_copies() -> None:
    routine = Plain()
    routine.set_config(threshold=3, name="p")
    assert routine.get_config("threshold") == 3
    assert routine.get_config("absent", "default") == "default"
    config = routine.config()
    config["threshold"] = 99
    assert routine.get_config("threshold") == 3
    routine.set_stat("seen", 1)
    assert routine.increment_stat("seen") == 2
    assert routine.increment_stat("total", 2.5) == 2.5
    stats = routine.stats()
    stats["seen"] = 100
    assert routine.get_stat("seen") == 2
    routine.reset_stats()
    assert routine.stats() == {}


def test_error_handler_shortcuts() -> None:
    routine = Plain()
    routine.set_as_critical(max_retries=2, retry_delay=0.5, retry_backoff=3)
    handler = routine.get_error_handler()
    assert handler == ErrorHandler(
        ErrorStrategy.RETRY, max_retries=2, retry_delay=0.5, retry_backoff=3, is_critical=True
    )
    routine.set_as_optional()
    assert routine.get_error_handler() == ErrorHandler(ErrorStrategy.CONTINUE)
    routine.set_as_optional(ErrorStrategy.SKIP)
    assert routine.get_error_handler() == ErrorHandler(ErrorStrategy.SKIP)
    with pytest.raises(ConfigError, match="CONTINUE or SKIP"):
        routine.set_as_optional(ErrorStrategy.RETRY)
    with pytest.raises(ConfigError, match="takes an ErrorHandler"):
        routine.set_error_handler("retry")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="Unknown error strategy"):
        ErrorHandler("sometimes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_retries"):
        ErrorHandler(ErrorStrategy.RETRY, max_retries=-1)
    with pytest.raises(ConfigError, match="backoff"):
        ErrorHandler(ErrorStrategy.RETRY, retry_backoff=0.5)


class Calls(Routine):
    """One slot per calling rule; each handler records what it got."""

    def __init__(self) -> None:
        super().__init__()
        self.got: list[tuple[str, Any]] = []
        self.define_slot("everything", handler=self.everything)
        self.define_slot("by_key", handler=self.by_key)
        self.define_slot("whole", handler=self.whole)
        self.define_slot("subset", handler=self.subset)
        self.define_slot("nothing", handler=self.nothing)
        self.define_slot("required", handler=self.required)
        self.define_slot("asynchronous", handler=self.asynchronous)

    def everything(self, **data: Any) -> None:
        self.got.append(("everything", data))

    def by_key(self, data: Any) -> None:
        self.got.append(("by_key", data))

    def whole(self, message: Any) -> None:
        self.got.append(("whole", message))

    def subset(self, a: Any, b: Any = "default") -> None:
        self.got.append(("subset", (a, b)))

    def nothing(self) -> None:
        self.got.append(("nothing", None))

    def required(self, a: Any, b: Any) -> None:
        self.got.append(("required", (a, b)))

    async def asynchronous(self, value: Any) -> None:
        self.got.append(("asynchronous", value))


class Feeder(Routine):
    """Entry: emits its params on the event named by 'to'."""

    def __init__(self) -> None:
        super().__init__()
        for name in (
            "everything",
            "by_key",
            "whole",
            "subset",
            "nothing",
            "required",
            "asynchronous",
        ):
            self.define_event(name)

    def __call__(self, to: str, **data: Any) -> None:
        self.emit(to, **data)


async def _feed(
    floe_kernel_factory: Callable[..., Kernel], to: str, data: dict[str, Any]
) -> tuple[floe.graph.JobState, Calls]:
    flow = Flow("calls")
    feeder, calls = Feeder(), Calls()
    flow.add_routine(feeder, "feeder")
    flow.add_routine(calls, "calls")
    flow.connect("feeder", to, "calls", to)
    async with floe_kernel_factory():
        job = await flow.execute_async("feeder", {"to": to, **data})
    return job, calls


@pytest.mark.parametrize(
    ("slot", "data", "expected"),
    [
        ("everything", {"x": 1, "y": 2}, {"x": 1, "y": 2}),
        ("by_key", {"data": "test"}, "test"),  # a parameter named like a key gets the value
        ("whole", {"x": 1, "y": 2}, {"x": 1, "y": 2}),  # a lone unmatched one gets the dict
        ("subset", {"a": 1, "c": 3}, (1, "default")),
        ("subset", {"a": 1, "b": 2, "c": 3}, (1, 2)),
        ("nothing", {"x": 1}, None),
        ("asynchronous", {"value": 7}, 7),
    ],
)
async def test_handlers_are_called_by_their_signature(
    floe_kernel_factory: Callable[..., Kernel], slot: str, data: dict[str, Any], expected: Any
) -> None:
    job, calls = await _feed(floe_kernel_factory, slot, data)
    assert job.status == "completed"
    assert calls.got == [(slot, expected)]


async def test_a_required_parameter_left_unfilled_names_routine_slot_and_parameter(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    job, calls = await _feed(floe_kernel_factory, "required", {"a": 1})
    assert job.status == "failed"
    assert calls.got == []
    state = job.routine_states["calls"]
    assert state.status == "failed"
    assert state.error is not None
    assert "ConfigError" in state.error
    assert "routine 'calls', slot 'required'" in state.error
    assert "'b'" in state.error


class Merging(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.got: list[tuple[str, Any]] = []
        self.define_slot("override", handler=self.record("override"))
        self.define_slot("append", handler=self.record("append"), merge_strategy="append")
        self.define_slot("custom", handler=self.record("custom"), merge_strategy=self.total)

    def record(self, name: str) -> Callable[..., None]:
        def handler(**data: Any) -> None:
            self.got.append((name, data))

        return handler

    @staticmethod
    def total(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        return {"total": old.get("total", 0) + new["n"], "last": new["n"]}


class Emitter(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_event("out")

    def __call__(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            self.emit("out", **message)


@pytest.mark.parametrize(
    ("slot", "messages", "expected", "held"),
    [
        (
            "override",
            [{"a": 1, "b": 1}, {"a": 2}],
            [{"a": 1, "b": 1}, {"a": 2}],
            {"a": 2},
        ),
        (
            "append",
            [{"a": 1, "b": 1}, {"a": 2}, {"b": 3}],
            [{"a": [1], "b": [1]}, {"a": [1, 2]}, {"b": [1, 3]}],
            {"a": [1, 2], "b": [1, 3]},
        ),
        (
            "custom",
            [{"n": 1}, {"n": 2}, {"n": 4}],
            [{"total": 1, "last": 1}, {"total": 3, "last": 2}, {"total": 7, "last": 4}],
            {"total": 7, "last": 4},
        ),
    ],
)
async def test_merge_strategies(
    floe_kernel_factory: Callable[..., Kernel],
    slot: str,
    messages: list[dict[str, Any]],
    expected: list[dict[str, Any]],
    held: dict[str, Any],
) -> None:
    flow = Flow("merging")
    merging = Merging()
    flow.add_routine(Emitter(), "emitter")
    flow.add_routine(merging, "merging")
    flow.connect("emitter", "out", "merging", slot)
    async with floe_kernel_factory():
        job = await flow.execute_async("emitter", {"messages": messages})
    assert job.status == "completed"
    assert merging.got == [(slot, message) for message in expected]
    assert merging.get_slot(slot).data == held  # type: ignore[union-attr]


async def test_a_merge_function_must_return_a_dict(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    class BadMerge(Routine):
        def __init__(self) -> None:
            super().__init__()
            self.define_slot("input", handler=lambda **data: None, merge_strategy=lambda o, n: 3)

    flow = Flow("bad-merge")
    flow.add_routine(Emitter(), "emitter")
    flow.add_routine(BadMerge(), "bad")
    flow.connect("emitter", "out", "bad", "input")
    async with floe_kernel_factory():
        job = await flow.execute_async("emitter", {"messages": [{"a": 1}]})
    assert job.status == "failed"
    assert "returned int, not a dict" in (job.routine_states["bad"].error or "")
