"""Built-in routines and drawing a flow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import floe
from floe import ConfigError, Kernel
from floe.graph import Aggregator, ConditionalRouter, Flow, Routine, Transformer, Validator

pytestmark = pytest.mark.anyio


class Sink(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.got: list[dict[str, Any]] = []
        self.define_slot("input", handler=lambda **data: self.got.append(data))


class Feed(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_event("out")

    def __call__(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            self.emit("out", **message)


async def _through(
    factory: Callable[..., Kernel],
    routine: Routine,
    messages: list[dict[str, Any]],
    events: list[str],
) -> dict[str, list[dict[str, Any]]]:
    flow = Flow("builtin")
    flow.add_routine(Feed(), "feed")
    flow.add_routine(routine, "routine")
    flow.connect("feed", "out", "routine", "input")
    sinks = {}
    for event in events:
        sinks[event] = Sink()
        flow.add_routine(sinks[event], f"sink_{event}")
        flow.connect("routine", event, f"sink_{event}", "input")
    # round-trips through serialization first: built-ins keep their settings in config
    copy = Flow.deserialize(flow.serialize(), allow=[Feed, Sink, "graph_routines:double"])
    assert copy.get_routine("routine").config() == routine.config()
    async with factory():
        job = await flow.execute_async("feed", {"messages": messages})
    assert job.status == "completed"
    return {event: sink.got for event, sink in sinks.items()}


async def test_conditional_router(floe_kernel_factory: Callable[..., Kernel]) -> None:
    router = ConditionalRouter()
    router.add_route("big", key="amount", op="gt", value=100)
    router.add_route("vip", key="tier", op="in", value=["gold", "platinum"])
    got = await _through(
        floe_kernel_factory,
        router,
        [{"amount": 500}, {"amount": 5, "tier": "gold"}, {"amount": 5}, {"amount": "n/a"}],
        ["big", "vip", "unmatched"],
    )
    assert got == {
        "big": [{"amount": 500}],
        "vip": [{"amount": 5, "tier": "gold"}],
        "unmatched": [{"amount": 5}, {"amount": "n/a"}],
    }
    assert router.stats() == {"routed_big": 1, "routed_vip": 1, "unmatched": 2}
    with pytest.raises(ConfigError, match="Unknown route operator"):
        router.add_route("odd", key="x", op="approximately")
    with pytest.raises(ConfigError, match="Invalid route"):
        router.set_config(routes=[{"event": "e"}])


async def test_validator(floe_kernel_factory: Callable[..., Kernel]) -> None:
    validator = Validator()
    validator.set_config(required=["name"], types={"age": "int"})
    got = await _through(
        floe_kernel_factory,
        validator,
        [{"name": "ada", "age": 36}, {"age": "old"}, {"name": "bob", "age": True}],
        ["valid", "invalid"],
    )
    assert got["valid"] == [{"name": "ada", "age": 36}]
    assert got["invalid"] == [
        {"data": {"age": "old"}, "errors": ["missing 'name'", "'age' is str, not int"]},
        {"data": {"name": "bob", "age": True}, "errors": ["'age' is bool, not int"]},
    ]


async def test_transformer(floe_kernel_factory: Callable[..., Kernel]) -> None:
    transformer = Transformer()
    transformer.set_config(
        function="graph_routines:double",
        rename={"value": "amount"},
        defaults={"currency": "EUR"},
        exclude=["secret"],
    )
    got = await _through(
        floe_kernel_factory, transformer, [{"value": 2, "secret": "x"}], ["output"]
    )
    assert got["output"] == [{"amount": 4, "currency": "EUR"}]


async def test_aggregator_fans_in(floe_kernel_factory: Callable[..., Kernel]) -> None:
    aggregator = Aggregator()
    aggregator.set_config(count=3)
    got = await _through(floe_kernel_factory, aggregator, [{"n": n} for n in range(7)], ["output"])
    assert got["output"] == [
        {"items": [{"n": 0}, {"n": 1}, {"n": 2}]},
        {"items": [{"n": 3}, {"n": 4}, {"n": 5}]},
    ]
    assert aggregator.input.data == {"items": [{"n": 6}]}
    with pytest.raises(ConfigError, match="count"):
        aggregator.set_config(count=0)


def test_visualize_draws_a_flow() -> None:
    flow = Flow("drawn")
    flow.add_routine(Feed(), "feed")
    flow.add_routine(Validator(), "check me")
    flow.add_routine(Sink(), "sink")
    flow.connect("feed", "out", "check me", "input", {"payload": "data"})
    flow.connect("check me", "valid", "sink", "input")
    assert floe.visualize(flow) == (
        "flowchart LR\n"
        '    feed["feed<br/><i>Feed</i>"]\n'
        '    routine_1["check me<br/><i>Validator</i>"]\n'
        '    sink["sink<br/><i>Sink</i>"]\n'
        '    feed -- "out → input (payload→data)" --> routine_1\n'
        '    routine_1 -- "valid → input" --> sink\n'
    )
    with pytest.raises(ConfigError, match="Unknown diagram format"):
        floe.visualize(flow, format="dot")
