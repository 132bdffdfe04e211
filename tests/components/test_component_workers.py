"""Messages delivered by workers, in one process: ``engine.send`` stores a message, a
``floe.Worker`` restores the component from its journal and handles it.

Two kernels on one store are two processes as far as leases go; the real-process case
(``floe handle --detach`` and ``floe worker --config``) is in
tests/plugins/test_cli_graph_workers.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

import floe
from floe import Engine, Message, MessageHandle, State, Transitioned

pytestmark = pytest.mark.anyio

ROUND = [("start", None), ("confirm", "confirmed"), ("complete", None)]
"""The default states' round trip: InitialState -> AwaitingConfirmation ->
ProcessingRequest -> InitialState; a message out of order is ignored."""


class Refusing(State):
    """Raises on every message: a state with a bug."""

    async def handle_message(self, message: Message, component: Any) -> tuple[bool, None]:
        raise ValueError(f"cannot take {message.type!r}")


@asynccontextmanager
async def serving(kernel: floe.Kernel, **options: Any) -> AsyncIterator[floe.Worker]:
    worker = floe.Worker(kernel, poll_seconds=0.01, **options)
    async with anyio.create_task_group() as group:
        await group.start(worker.serve)
        yield worker
        worker.drain()


async def registered(kernel: floe.Kernel, name: str = "orders") -> Engine:
    engine = Engine(kernel)
    component = await engine.register_async(floe.Component(name))
    await component.flush()
    return engine


def deliveries(events: list[floe.Event]) -> list[str]:
    return [
        event.data["delivery"]
        for event in events
        if event.kind == floe.EventKind.COMPONENT_MESSAGE_RECEIVED and "delivery" in event.data
    ]


async def test_a_sent_message_waits_until_a_worker_delivers_it(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    async with floe_kernel_factory(store=leased_url) as kernel:
        engine = await registered(kernel)
        handle = await engine.send("orders", "start", message_id="m-1")
        assert handle == MessageHandle("orders", "m-1")
        assert await handle.status_async() is floe.RunStatus.PENDING
        stored = await kernel.store.get_run("m-1")
        assert stored is not None
        assert (stored.kind, stored.name, stored.partition_key) == (
            "message",
            "orders",
            "component:orders",
        )
        assert engine.get("orders").state == "InitialState"  # nothing handled here
        async with serving(kernel):
            with anyio.fail_after(10):
                moved = await handle.result_async()
        assert moved == Transitioned("InitialState", "AwaitingConfirmation")
        done = await kernel.store.get_run("m-1")
        assert done is not None
        assert (done.status, done.lease_owner) == (floe.RunStatus.COMPLETED, None)
        restored = await Engine(kernel).restore("orders")
        assert restored.state == "AwaitingConfirmation"
        assert deliveries(await Engine(kernel).history("orders")) == ["m-1"]
        # sent again with its id: the same message, handled once
        assert await engine.send("orders", "start", message_id="m-1") == handle
        assert deliveries(await Engine(kernel).history("orders")) == ["m-1"]


async def test_one_components_messages_are_handled_once_each_in_the_order_sent(
    floe_kernel_factory: Callable[..., floe.Kernel], shared_url: str
) -> None:
    """Two workers (two lease owners) with four slots each: every round trip only works
    when its three messages are handled in the order they were sent."""
    async with floe_kernel_factory(store=shared_url) as first:
        engine = await registered(first)
        handles = []
        for _ in range(5):
            for kind, content in ROUND:
                handles.append(await engine.send("orders", Message.of(kind, content=content)))
        async with (
            floe_kernel_factory(store=shared_url) as second,
            serving(first, concurrency=4),
            serving(second, concurrency=4),
        ):
            with anyio.fail_after(30):
                outcomes = [await handle.result_async() for handle in handles]
        assert all(outcome is not None for outcome in outcomes), outcomes
        assert [outcome.to_state for outcome in outcomes if outcome] == [
            "AwaitingConfirmation",
            "ProcessingRequest",
            "InitialState",
        ] * 5
        history = await Engine(first).history("orders")
        assert deliveries(history) == [handle.message_id for handle in handles]


async def test_a_message_recorded_before_its_worker_died_is_not_handled_again(
    floe_kernel_factory: Callable[..., floe.Kernel], shared_url: str
) -> None:
    async with floe_kernel_factory(store=shared_url, run_lease_seconds=0.2) as kernel:
        engine = await registered(kernel)
        handle = await engine.send("orders", "start")
        # a worker claims it, the component records it, and the worker dies before it
        # completes the message run: its lease runs out with the run still pending
        [claimed] = await kernel.store.claim_runs("dead-worker", limit=1, lease_seconds=0.2)
        moved = await engine.get("orders").receive(Message.of("start"), delivery=claimed.run_id)
        assert moved == Transitioned("InitialState", "AwaitingConfirmation")
        await anyio.sleep(0.25)
        async with serving(kernel):
            with anyio.fail_after(10):
                assert await handle.result_async() == moved  # the recorded outcome
    async with floe_kernel_factory(store=shared_url) as kernel:
        history = await Engine(kernel).history("orders")
        assert deliveries(history) == [handle.message_id]  # handled once
        assert (await Engine(kernel).restore("orders")).state == "AwaitingConfirmation"


async def test_a_state_that_raises_fails_its_message_and_the_worker_goes_on(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    async with floe_kernel_factory(store=leased_url) as kernel:
        kernel.states.register("Refusing", Refusing)
        engine = Engine(kernel)
        machine = floe.StateMachine("Refusing", registry=kernel.states)
        await (await engine.register_async(floe.Component("broken", state_machine=machine))).flush()
        await registered(kernel, "orders")
        failing = await engine.send("broken", "anything")
        working = await engine.send("orders", "start")
        async with serving(kernel):
            with anyio.fail_after(10):
                with pytest.raises(ValueError, match="cannot take 'anything'"):
                    await failing.result_async()
                assert await working.result_async() is not None
        stored = await kernel.store.get_run(failing.message_id)
        assert stored is not None
        assert stored.status is floe.RunStatus.FAILED
        assert stored.error is not None
        assert stored.error.type == "builtins.ValueError"
        assert deliveries(await Engine(kernel).history("broken")) == []  # nothing recorded


async def test_a_component_whose_states_the_worker_lacks_fails_its_message(
    floe_kernel_factory: Callable[..., floe.Kernel], shared_url: str
) -> None:
    async with floe_kernel_factory(store=shared_url) as sender:
        sender.states.register("Refusing", Refusing)
        engine = Engine(sender)
        machine = floe.StateMachine("Refusing", registry=sender.states)
        await (await engine.register_async(floe.Component("odd", state_machine=machine))).flush()
        handle = await engine.send("odd", "go")
    async with floe_kernel_factory(store=shared_url) as worker_kernel, serving(worker_kernel):
        with anyio.fail_after(10), pytest.raises(floe.TaskFailedError) as caught:
            await handle.result_async()
    assert caught.value.recorded_type == "floe.StateError"
    assert "Unknown state 'Refusing'" in caught.value.recorded_message
    assert "floe worker --config PATH" in caught.value.recorded_message


async def test_bad_sends_are_refused_and_store_nothing(
    floe_kernel_factory: Callable[..., floe.Kernel], leased_url: str
) -> None:
    async with floe_kernel_factory(store=leased_url) as kernel:
        engine = await registered(kernel)
        before = {run.run_id for run in await kernel.store.list_runs()}
        with pytest.raises(floe.NotFoundError, match="No component named 'nobody'"):
            await engine.send("nobody", "start")
        with pytest.raises(floe.StateError, match="needs a 'type'"):
            await engine.send("orders", {"content": "x"})
        with pytest.raises(floe.ConfigError, match="run id"):
            await engine.send("orders", "start", message_id="")
        with pytest.raises(floe.ConfigError, match="queue"):
            await engine.send("orders", "start", queue="")
        with pytest.raises(floe.SerializationError):
            await engine.send("orders", Message.of("start", payload=object()))
        await engine.send("orders", "start", message_id="once")
        with pytest.raises(floe.StateError, match="was sent before, with another message"):
            await engine.send("orders", "complete", message_id="once")
        after = {run.run_id for run in await kernel.store.list_runs()}
        assert after - before == {"once"}


def test_a_sync_result_times_out_with_a_clear_error(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("FLOE_STORE", f"sqlite:///{tmp_path / 'floe.db'}")

    async def send() -> MessageHandle:
        async with floe.open_kernel() as kernel:
            return await (await registered(kernel)).send("orders", "start")

    handle = anyio.run(send)
    with pytest.raises(floe.WorkflowTimeoutError, match=r"did not finish within 0\.2") as caught:
        handle.result(timeout=0.2)
    assert "floe worker" in (caught.value.fix or "")
    assert handle.status() is floe.RunStatus.PENDING
    with pytest.raises(floe.ConfigError, match="timeout"):
        handle.result(timeout=0)


async def test_bad_worker_configs_are_refused(
    floe_kernel_factory: Callable[..., floe.Kernel],
) -> None:
    async with floe_kernel_factory(store="memory://") as kernel:
        for configs in ("orders.yaml", ["orders.yaml"], [42]):
            with pytest.raises(floe.ConfigError, match="Invalid worker config"):
                floe.Worker(kernel, configs=configs)  # type: ignore[arg-type]
