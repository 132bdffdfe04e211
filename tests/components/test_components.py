"""Components and the engine on real stores: registration, messages, rules, concurrency,
observers, durability across processes and the fencing of stale writers.
"""

from __future__ import annotations

import logging
import os
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

import floe
from floe import (
    Event,
    FloeError,
    Kernel,
    NotFoundError,
    Run,
    SequenceConflictError,
    SerializationError,
    StateError,
)
from floe.components._components import (
    CHANGED,
    CHECKPOINT_EVERY,
    COMPONENT_KIND,
    MESSAGE_RECEIVED,
    REGISTERED,
    RULES_UPDATED,
    Component,
    Engine,
    StoredComponent,
)
from floe.components._state_machine import StateMachine, Transitioned
from floe.kernel._states import Message, State, Transition

pytestmark = pytest.mark.anyio


@pytest.fixture
def durable_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/x.db"


@pytest.fixture
async def kernel(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> AsyncIterator[Kernel]:
    async with floe_kernel_factory(store=store_url) as kernel:
        yield kernel


@pytest.fixture
def engine(kernel: Kernel) -> Engine:
    return Engine(kernel)


def _kinds(events: list[Event]) -> list[str]:
    return [event.kind for event in events]


class Gatekeeper(State):
    """Lets a visitor in when their name is among the component's rules."""

    transitions = (Transition("Gatekeeper", "enter", "Inside", guard="content in rules"),)

    async def handle_message(
        self, message: Message, component: Component
    ) -> tuple[bool, str | type[State] | None]:
        if message.type == "enter" and message.content in component.rules:
            return True, "Inside"
        return False, None


class Inside(State):
    transitions = (Transition("Inside", "leave", "Gatekeeper"),)


class SyncStep(State):
    def handle_message(  # type: ignore[override]
        self, message: Message, component: Component
    ) -> tuple[bool, str | None]:
        return message.type == "go", "Inside"


class Astray(State):
    async def handle_message(
        self, message: Message, component: Component
    ) -> tuple[bool, str | type[State] | None]:
        return True, "Nowhere"


def _register_test_states(kernel: Kernel) -> None:
    for state in (Gatekeeper, Inside, SyncStep, Astray):
        kernel.states.register(state.__name__, state)


# -- registration -----------------------------------------------------------------------


async def test_component_run_id_names_the_run_that_journals_the_component(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    async with floe_kernel_factory(store=store_url) as kernel:
        assert await kernel.store.get_run(floe.component_run_id("lamp")) is None
        component = await Engine(kernel).register_async(Component("lamp"))
        run = await kernel.store.get_run(floe.component_run_id("lamp"))
    assert floe.component_run_id("lamp") == component.run_id == "component:lamp"
    assert run is not None
    assert (run.run_id, run.kind, run.name) == ("component:lamp", COMPONENT_KIND, "lamp")


async def test_registration_is_journaled_and_published_once_each(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    published: list[Event] = []
    async with floe_kernel_factory(store=store_url) as kernel:
        kernel.bus.subscribe(REGISTERED, "test", published.append, inline=True)
        engine = Engine(kernel)
        first = engine.register(Component("a", rules=[{"limit": 3}], metadata={"team": "x"}))
        await engine.register_async(Component("b"))
        assert engine.register(Component("a"), replace=True) is not first
        await engine.flush()
        journal_a = await engine.history("a")
        journal_b = await engine.history("b")
    # each registration once; the order between components is the order of their writes
    assert sorted((e.run_id, e.seq) for e in published) == [
        ("component:a", 1),
        ("component:a", 2),
        ("component:b", 1),
    ]
    assert _kinds(journal_a) == [REGISTERED, REGISTERED]
    assert journal_a[0].data == {
        "component": "a",
        "state": "InitialState",
        "rules": [{"limit": 3}],
        "metadata": {"team": "x"},
    }
    assert journal_a[1].data["rules"] == []
    assert _kinds(journal_b) == [REGISTERED]


async def test_a_duplicate_name_is_an_error_unless_replaced(engine: Engine) -> None:
    first = engine.register(Component("orders"))
    with pytest.raises(StateError, match="'orders' is already registered") as caught:
        engine.register(Component("orders"))
    assert "replace=True" in (caught.value.fix or "")
    assert engine.get("orders") is first
    with pytest.raises(StateError, match="already registered"):
        engine.register(first)
    second = engine.register(Component("orders"), replace=True)
    assert engine.get("orders") is second
    assert not first.registered
    assert second.registered


async def test_registration_checks_its_arguments(kernel: Kernel, engine: Engine) -> None:
    with pytest.raises(StateError, match=r"takes a floe\.Component"):
        engine.register("orders")  # type: ignore[arg-type]
    component = engine.register(Component("orders"))
    with pytest.raises(StateError, match="registered with another engine"):
        Engine(kernel).register(component)
    with pytest.raises(StateError, match="as its kernel"):
        Engine("kernel")  # type: ignore[arg-type]
    with pytest.raises(StateError, match="Invalid component name"):
        Component(" padded ")
    with pytest.raises(StateError, match="Invalid component name"):
        Component("")
    with pytest.raises(StateError, match="as its state machine"):
        Component("x", state_machine="InitialState")  # type: ignore[arg-type]
    with pytest.raises(StateError, match="must be a mapping"):
        Component("x", metadata=["a"])  # type: ignore[arg-type]


async def test_registering_needs_a_running_kernel(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    with pytest.raises(FloeError, match="No floe kernel is running"):
        Engine().register(Component("x", state_machine=None))
    kernel = floe_kernel_factory()
    engine = Engine(kernel)
    component = Component("x")
    with pytest.raises(FloeError, match="has no task group"):
        engine.register(component)
    assert "x" not in engine
    assert not component.registered


async def test_get_unregister_and_the_components_view(engine: Engine) -> None:
    assert len(engine) == 0
    with pytest.raises(StateError, match="No component named 'ghost'") as caught:
        engine.get("ghost")
    assert "Registered components: none" in (caught.value.why or "")
    engine.register(Component("b"))
    engine.register(Component("a"))
    await engine.flush()
    with pytest.raises(StateError) as caught:
        engine.get("ghost")
    assert "Registered components: a, b" in (caught.value.why or "")
    assert sorted(engine) == ["a", "b"]
    assert "a" in engine
    assert set(engine.components) == {"a", "b"}
    with pytest.raises(TypeError):
        engine.components["c"] = Component("c")  # type: ignore[index]
    removed = engine.unregister("a")
    assert removed.name == "a"
    assert not removed.registered
    assert "a" not in engine
    with pytest.raises(StateError):
        engine.unregister("a")
    assert await removed.handle_message("start") == Transitioned(
        "InitialState", "AwaitingConfirmation"
    )
    assert _kinds(await engine.history("a")) == [REGISTERED]  # in memory only since


async def test_a_component_without_machine_starts_in_initial_state(engine: Engine) -> None:
    component = Component("plain")
    assert component.state == "InitialState"
    engine.register(Component("other"))
    assert engine.get("other").state == "InitialState"


# -- messages ---------------------------------------------------------------------------


async def test_messages_are_journaled_with_their_transitions(
    kernel: Kernel, engine: Engine
) -> None:
    engine.register(Component("orders"))
    assert await engine.handle_message("orders", "start") == Transitioned(
        "InitialState", "AwaitingConfirmation"
    )
    assert await engine.handle_message("orders", "complete") is None
    message = {"type": "confirm", "content": "confirmed", "user": "ada"}
    assert await engine.get("orders").handle_message(message) == Transitioned(
        "AwaitingConfirmation", "ProcessingRequest"
    )
    journal = await engine.history("orders")
    assert [(e.seq, e.kind) for e in journal] == [
        (1, REGISTERED),
        (2, MESSAGE_RECEIVED),
        (3, CHANGED),
        (4, MESSAGE_RECEIVED),
        (5, MESSAGE_RECEIVED),
        (6, CHANGED),
    ]
    assert journal[4].data == {"component": "orders", "message": message}
    assert journal[5].data == {
        "component": "orders",
        "from_state": "AwaitingConfirmation",
        "to_state": "ProcessingRequest",
    }
    run = await kernel.store.get_run("component:orders")
    assert run is not None
    assert (run.kind, run.name, run.last_seq) == (COMPONENT_KIND, "orders", 6)


async def test_sync_states_and_unknown_next_states(kernel: Kernel, engine: Engine) -> None:
    _register_test_states(kernel)
    stepper = Component("stepper", state_machine=StateMachine("SyncStep", registry=kernel.states))
    engine.register(stepper)
    assert await stepper.handle_message("wait") is None
    assert await stepper.handle_message("go") == Transitioned("SyncStep", "Inside")

    astray = Component("astray", state_machine=StateMachine("Astray", registry=kernel.states))
    engine.register(astray)
    with pytest.raises(StateError, match="Unknown state 'Nowhere'") as caught:
        await astray.handle_message("anything")
    assert "AwaitingConfirmation" in (caught.value.why or "")
    assert "Gatekeeper" in (caught.value.why or "")
    assert astray.state == "Astray"
    assert _kinds(await engine.history("astray")) == [REGISTERED]  # the message left no trace


async def test_a_message_that_json_cannot_hold_is_refused_before_the_state_runs(
    kernel: Kernel, engine: Engine
) -> None:
    seen: list[Message] = []

    class Watching(State):
        async def handle_message(
            self, message: Message, component: Component
        ) -> tuple[bool, str | type[State] | None]:
            seen.append(message)
            return False, None

    kernel.states.register("Watching", Watching)
    component = Component("w", state_machine=StateMachine("Watching", registry=kernel.states))
    engine.register(component)
    with pytest.raises(SerializationError, match="'poke' message to component 'w'") as caught:
        await component.handle_message("poke", content=object())
    assert "object" in caught.value.what
    assert seen == []
    when = datetime(2024, 5, 1, tzinfo=UTC)
    assert await component.handle_message("poke", when=when) is None
    journal = await engine.history("w")
    assert _kinds(journal) == [REGISTERED, MESSAGE_RECEIVED]
    assert journal[-1].data["message"]["when"] == "2024-05-01T00:00:00+00:00"


async def test_cancellation_leaves_no_trace_and_frees_the_component(
    kernel: Kernel, engine: Engine
) -> None:
    entered = anyio.Event()

    class Blocking(State):
        async def handle_message(
            self, message: Message, component: Component
        ) -> tuple[bool, str | type[State] | None]:
            if message.type == "block":
                entered.set()
                await anyio.sleep_forever()
            return True, "Inside"

    kernel.states.register("Blocking", Blocking)
    _register_test_states(kernel)
    component = Component("b", state_machine=StateMachine("Blocking", registry=kernel.states))
    await engine.register_async(component)
    async with anyio.create_task_group() as group:
        blocked = anyio.CancelScope()
        waiting = anyio.CancelScope()

        async def send(scope: anyio.CancelScope, message_type: str) -> None:
            with scope:
                await component.handle_message(message_type)

        group.start_soon(send, blocked, "block")
        await entered.wait()
        group.start_soon(send, waiting, "go")
        await anyio.wait_all_tasks_blocked()
        waiting.cancel()  # cancelled while it waits for the component
        blocked.cancel()  # cancelled inside the state
    assert component.state == "Blocking"
    assert _kinds(await engine.history("b")) == [REGISTERED]
    assert await component.handle_message("go") == Transitioned("Blocking", "Inside")


async def test_a_message_cancelled_at_its_checkpoint_runs_no_state(
    kernel: Kernel, engine: Engine
) -> None:
    seen: list[Message] = []

    class Watching(State):
        async def handle_message(
            self, message: Message, component: Component
        ) -> tuple[bool, str | type[State] | None]:
            seen.append(message)
            return True, "InitialState"

    kernel.states.register("Watching", Watching)
    component = Component("w", state_machine=StateMachine("Watching", registry=kernel.states))
    await engine.register_async(component)
    with anyio.CancelScope() as scope:
        scope.cancel()
        await component.handle_message("poke")
    assert scope.cancelled_caught
    assert seen == []
    assert component.state == "Watching"
    assert _kinds(await engine.history("w")) == [REGISTERED]
    assert not component.message_lock.held


async def test_flush_checkpoints_and_a_cancelled_flush_keeps_the_change(engine: Engine) -> None:
    component = await engine.register_async(Component("f"))
    with anyio.CancelScope() as scope:
        component.update_rules(["new"])
        scope.cancel()
        await component.flush()
    assert scope.cancelled_caught
    await component.flush()
    history = await engine.history("f")
    assert _kinds(history) == [REGISTERED, RULES_UPDATED]
    assert history[-1].data["rules"] == ["new"]


async def _until_stored(engine: Engine, name: str, count: int) -> list[Event]:
    for _ in range(1000):
        history = await engine.history(name)
        if len(history) >= count:
            return history
        await anyio.sleep(0.01)
    raise AssertionError(f"the journal of {name!r} never reached {count} events")


async def test_a_write_cancelled_half_way_is_settled_from_the_journal(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    gate = anyio.Event()
    seen: list[str] = []

    async def stuck_observer(event: Event) -> None:
        await gate.wait()
        seen.append(event.kind)

    async with floe_kernel_factory(store=store_url, bus_queue_size=1) as kernel:
        kernel.bus.subscribe("*", "stuck", stuck_observer)
        engine = Engine(kernel)
        component = await engine.register_async(Component("orders"))
        # the observer holds the registration and the queue's one slot takes the events
        # of "start", so the events of "confirm" wait for room, after they are stored
        await _until_stored(engine, "orders", 1)
        await component.handle_message("start")
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(partial(component.handle_message, "confirm", content="confirmed"))
                await _until_stored(engine, "orders", 5)
                scope.cancel()
        assert component.state == "AwaitingConfirmation"  # unknown until the journal is read

        async def change_rules() -> None:
            component.update_rules(["late"])
            # takes the component before the background write can: no yield in between
            await component.flush()

        # a background write cancelled the same way is not written twice
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(change_rules)
                await _until_stored(engine, "orders", 6)
                scope.cancel()
        gate.set()
        moved = await component.handle_message("complete")
        assert moved == Transitioned("ProcessingRequest", "InitialState")
        await component.flush()
        assert component.rules == ("late",)
        history = await engine.history("orders")
    assert _kinds(history) == [
        REGISTERED,
        MESSAGE_RECEIVED,
        CHANGED,
        MESSAGE_RECEIVED,
        CHANGED,
        RULES_UPDATED,
        MESSAGE_RECEIVED,
        CHANGED,
    ]
    # what was stored but never posted is the notification a cancellation costs
    assert seen == [REGISTERED, MESSAGE_RECEIVED, CHANGED, MESSAGE_RECEIVED, CHANGED]


# -- rules ------------------------------------------------------------------------------


async def test_rules_are_added_replaced_journaled_and_published(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    published: list[Event] = []
    async with floe_kernel_factory(store=store_url) as kernel:
        _register_test_states(kernel)
        kernel.bus.subscribe(RULES_UPDATED, "test", published.append, inline=True)
        engine = Engine(kernel)
        gate = Component("gate", state_machine=StateMachine("Gatekeeper", registry=kernel.states))
        engine.register(gate)
        assert await gate.handle_message("enter", content="ada") is None
        gate.add_rule("ada")
        assert gate.rules == ("ada",)
        assert await gate.handle_message("enter", content="ada") == Transitioned(
            "Gatekeeper", "Inside"
        )
        await gate.handle_message("leave")
        gate.update_rules(["bob", {"vip": True}])  # replaces the list
        assert list(gate.rules) == ["bob", {"vip": True}]
        assert await gate.handle_message("enter", content="ada") is None
        assert await gate.handle_message("enter", content="bob") == Transitioned(
            "Gatekeeper", "Inside"
        )
        gate.update_rules([])
        await gate.flush()
        journal = await engine.history("gate")
    updates = [e.data["rules"] for e in journal if e.kind == RULES_UPDATED]
    assert updates == [["ada"], ["bob", {"vip": True}], []]
    assert [e.data for e in published] == [
        {"component": "gate", "rules": rules} for rules in updates
    ]
    assert [e.seq for e in published] == [e.seq for e in journal if e.kind == RULES_UPDATED]


async def test_a_state_may_change_the_rules_while_it_decides(
    floe_kernel_factory: Callable[..., Kernel], durable_url: str
) -> None:
    class Learning(State):
        async def handle_message(
            self, message: Message, component: Component
        ) -> tuple[bool, str | type[State] | None]:
            component.add_rule(message.content)
            return message.type == "learn", "Learning"

    async with floe_kernel_factory(store=durable_url) as kernel:
        kernel.states.register("Learning", Learning)
        engine = Engine(kernel)
        machine = StateMachine("Learning", registry=kernel.states)
        component = await engine.register_async(Component("student", state_machine=machine))
        assert await component.handle_message("learn", content="a") is not None
        assert await component.handle_message("note", content="b") is None
        await component.flush()
        journal = await engine.history("student")
    assert _kinds(journal) == [
        REGISTERED,
        MESSAGE_RECEIVED,
        RULES_UPDATED,
        CHANGED,
        MESSAGE_RECEIVED,
        RULES_UPDATED,
    ]
    async with floe_kernel_factory(store=durable_url) as kernel:
        kernel.states.register("Learning", Learning)
        assert (await Engine(kernel).restore("student")).rules == ("a", "b")


async def test_bad_rules_are_refused_and_change_nothing(engine: Engine) -> None:
    component = engine.register(Component("r", rules=["a"]))
    with pytest.raises(StateError, match="must be a list, got dict"):
        component.update_rules({"a": 1})
    with pytest.raises(StateError, match="must be a list, got str"):
        component.update_rules("abc")
    with pytest.raises(SerializationError, match="the rules of component 'r'"):
        component.update_rules([object()])
    with pytest.raises(SerializationError, match="a rule of component 'r'"):
        component.add_rule(object())
    with pytest.raises(StateError, match="must be a list, got int"):
        Component("x", rules=3)  # type: ignore[arg-type]
    assert component.rules == ("a",)
    await component.flush()
    assert _kinds(await engine.history("r")) == [REGISTERED]


async def test_rules_of_an_unregistered_component_stay_in_memory() -> None:
    component = Component("loose", rules=({"x": 1},), state_machine=None)
    component.add_rule(2)
    component.update_rules([3, 4])
    assert component.rules == (3, 4)
    await component.flush()  # nothing to write


# -- concurrency and observers ----------------------------------------------------------


async def test_concurrent_messages_are_handled_one_at_a_time_in_arrival_order(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    arrivals: list[int] = []
    handled: list[int] = []
    active: list[int] = []

    class Flip(State):
        async def handle_message(
            self, message: Message, component: Component
        ) -> tuple[bool, str | type[State] | None]:
            active.append(message.content)
            assert len(active) == 1, f"{active} handled at once"
            await anyio.lowlevel.checkpoint()  # give the other senders every chance to cut in
            handled.append(message.content)
            active.remove(message.content)
            return message.type == "flip", "Flop" if isinstance(self, Flip) else "Flip"

    class Flop(Flip):
        pass

    changes: list[Event] = []
    received: list[Event] = []
    async with floe_kernel_factory(store=store_url) as kernel:
        kernel.states.register("Flip", Flip)
        kernel.states.register("Flop", Flop)
        kernel.bus.subscribe(CHANGED, "test", changes.append, inline=True)
        kernel.bus.subscribe(MESSAGE_RECEIVED, "test", received.append, inline=True)
        engine = Engine(kernel)
        component = Component("busy", state_machine=StateMachine("Flip", registry=kernel.states))
        await engine.register_async(component)

        async def send(index: int) -> None:
            arrivals.append(index)
            await component.handle_message("flip" if index % 3 else "hold", content=index)

        async with anyio.create_task_group() as group:
            for index in range(100):
                group.start_soon(send, index)
        journal = await engine.history("busy")
    assert sorted(arrivals) == list(range(100))
    assert handled == arrivals
    assert [e.data["message"]["content"] for e in journal if e.kind == MESSAGE_RECEIVED] == (
        arrivals
    )
    assert [e.data["message"]["content"] for e in received] == arrivals
    assert len(changes) == sum(1 for index in arrivals if index % 3) == 66
    previous = "Flip"
    for event in changes:
        assert event.data["from_state"] == previous
        previous = event.data["to_state"]
    assert previous == component.state
    assert [e.seq for e in changes] == [e.seq for e in journal if e.kind == CHANGED]


async def test_a_slow_observer_does_not_hold_up_message_handling(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    gate = anyio.Event()
    delivered: list[int] = []

    async def slow_observer(event: Event) -> None:
        await gate.wait()
        delivered.append(event.seq)

    async with floe_kernel_factory(store=store_url) as kernel:
        kernel.bus.subscribe("*", "slow", slow_observer)
        engine = Engine(kernel)
        await engine.register_async(Component("orders"))
        for _ in range(25):
            await engine.handle_message("orders", "start")
            await engine.handle_message("orders", "cancel")
        # 101 events are journaled; the observer has not finished with the first
        assert delivered == []
        assert kernel.bus.statistics().queued >= 100
        gate.set()
    assert delivered == list(range(1, 102))


# -- durability -------------------------------------------------------------------------

_SCRIPT = textwrap.dedent(
    """
    import sys

    import anyio

    import floe
    from floe.components._components import Engine


    async def main(url, message, content, backend_name):
        async with floe.open_kernel(store=url, log_format="off") as kernel:
            engine = Engine(kernel)
            moved = await engine.handle_message("orders", message, content=content or None)
            component = engine.get("orders")
            print(moved if moved is not None else "ignored", component.state, sep="|")


    anyio.run(main, *sys.argv[1:], backend=sys.argv[4])
    """
)


async def _in_new_process(tmp_path: Path, url: str, message: str, content: str = "") -> str:
    script = tmp_path / "send.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "FLOE_STRICT_PLUGINS": "1"}
    env.pop("FLOE_STORE", None)
    result = await anyio.run_process(
        [sys.executable, str(script), url, message, content, "trio"], cwd=tmp_path, env=env
    )
    return result.stdout.decode().strip()


async def test_a_new_process_continues_from_the_journaled_state(
    floe_kernel_factory: Callable[..., Kernel], durable_url: str, tmp_path: Path
) -> None:
    async with floe_kernel_factory(store=durable_url) as kernel:
        engine = Engine(kernel)
        engine.register(Component("orders", rules=[{"limit": 5}], metadata={"team": "x"}))
        assert await engine.handle_message("orders", "start") is not None
    outputs = [
        await _in_new_process(tmp_path, durable_url, "confirm", "confirmed"),
        await _in_new_process(tmp_path, durable_url, "complete"),
        await _in_new_process(tmp_path, durable_url, "complete"),
    ]
    assert outputs == [
        "AwaitingConfirmation -> ProcessingRequest|ProcessingRequest",
        "ProcessingRequest -> InitialState|InitialState",
        "ignored|InitialState",
    ]
    async with floe_kernel_factory(store=durable_url) as kernel:
        engine = Engine(kernel)
        history = await engine.history("orders")
        assert [(e.kind, e.data.get("to_state")) for e in history] == [
            (REGISTERED, None),
            (MESSAGE_RECEIVED, None),
            (CHANGED, "AwaitingConfirmation"),
            (MESSAGE_RECEIVED, None),
            (CHANGED, "ProcessingRequest"),
            (MESSAGE_RECEIVED, None),
            (CHANGED, "InitialState"),
            (MESSAGE_RECEIVED, None),
        ]
        restored = await engine.restore("orders")
        assert restored.state == "InitialState"
        assert restored.rules == ({"limit": 5},)
        assert restored.metadata == {"team": "x"}
        assert await engine.restore("orders") is restored
        assert await restored.handle_message("start") == Transitioned(
            "InitialState", "AwaitingConfirmation"
        )
        assert (await engine.history("orders"))[-1].seq == 10


async def test_a_stale_process_is_fenced_and_reloads(
    floe_kernel_factory: Callable[..., Kernel], durable_url: str, tmp_path: Path
) -> None:
    async with floe_kernel_factory(store=durable_url) as kernel:
        engine = Engine(kernel)
        component = await engine.register_async(Component("orders"))
        assert await component.handle_message("start") is not None
        # another process moves the component on while this one holds it
        assert await _in_new_process(tmp_path, durable_url, "cancel") == (
            "AwaitingConfirmation -> InitialState|InitialState"
        )
        with pytest.raises(SequenceConflictError, match="changed by another writer") as caught:
            await component.handle_message("confirm", content="confirmed")
        assert "'confirm' message was not recorded" in caught.value.what
        assert "now in 'InitialState'" in (caught.value.fix or "")
        assert isinstance(caught.value.__cause__, SequenceConflictError)
        assert component.state == "InitialState"  # reloaded from the journal
        assert await component.handle_message("start") == Transitioned(
            "InitialState", "AwaitingConfirmation"
        )
        kinds = _kinds(await engine.history("orders"))
    assert kinds == [REGISTERED] + [MESSAGE_RECEIVED, CHANGED] * 3


async def test_stale_engines_conflict_on_messages_and_rebase_rule_changes(
    kernel: Kernel,
) -> None:
    first, second = Engine(kernel), Engine(kernel)
    mine = await first.register_async(Component("orders", rules=["a"]))
    theirs = await second.restore("orders")
    assert theirs is not mine
    assert await mine.handle_message("start") is not None
    mine.update_rules(["b"])
    await mine.flush()
    with pytest.raises(SequenceConflictError):
        await theirs.handle_message("start")
    assert (theirs.state, theirs.rules) == ("AwaitingConfirmation", ("b",))
    # a rule change holds its whole value: it is rebased onto the newer journal
    assert await mine.handle_message("cancel") is not None
    theirs.update_rules(["c"])
    await theirs.flush()
    assert (theirs.state, theirs.rules) == ("InitialState", ("c",))
    with pytest.raises(SequenceConflictError):
        await mine.handle_message("start")
    assert (mine.state, mine.rules) == ("InitialState", ("c",))
    journal = await first.history("orders")
    assert [e.data["rules"] for e in journal if e.kind == RULES_UPDATED] == [["b"], ["c"]]
    assert [e.seq for e in journal] == list(range(1, len(journal) + 1))


async def test_restore_continues_after_a_checkpoint(
    floe_kernel_factory: Callable[..., Kernel], durable_url: str
) -> None:
    messages = CHECKPOINT_EVERY + 20
    async with floe_kernel_factory(store=durable_url) as kernel:
        engine = Engine(kernel)
        component = engine.register(Component("orders"))
        for index in range(messages):
            await component.handle_message("start" if index % 2 == 0 else "cancel")
            if index == 100:
                component.update_rules([index])
        await component.flush()
    async with floe_kernel_factory(store=durable_url) as kernel:
        run = await kernel.store.get_run("component:orders")
        assert run is not None
        checkpoint = run.metadata["component"]
        assert CHECKPOINT_EVERY <= checkpoint["seq"] < run.last_seq
        engine = Engine(kernel)
        restored = await engine.restore("orders")
        assert restored.state == "InitialState"  # an even number of messages
        assert restored.rules == (100,)
        assert await restored.handle_message("start") is not None
        assert len(await engine.history("orders")) == 1 + messages * 2 + 1 + 2


async def test_the_engine_restores_on_demand_and_lists_stored_components(
    floe_kernel_factory: Callable[..., Kernel], durable_url: str
) -> None:
    async with floe_kernel_factory(store=durable_url) as kernel:
        engine = Engine(kernel)
        engine.register(Component("b", rules=[1]))
        engine.register(Component("a"))
        await engine.handle_message("a", "start")
        await engine.flush()
        await kernel.store.create_run(Run(run_id="wf-1", name="a workflow"))
    async with floe_kernel_factory(store=durable_url) as kernel:
        engine = Engine(kernel)
        assert await engine.handle_message("a", "cancel") == Transitioned(
            "AwaitingConfirmation", "InitialState"
        )
        assert "a" in engine
        stored = await engine.stored_components()
        assert [(s.name, s.state, s.rules, s.last_seq) for s in stored] == [
            ("a", "InitialState", [], 5),
            ("b", "InitialState", [1], 1),
        ]
        assert all(isinstance(s, StoredComponent) for s in stored)
        with pytest.raises(NotFoundError, match="No component named 'ghost'") as caught:
            await engine.handle_message("ghost", "start")
        assert "stored: a, b" in (caught.value.why or "")
        assert "Registered: a" in (caught.value.why or "")


async def test_restoring_a_state_this_kernel_lacks_lists_the_known_ones(
    floe_kernel_factory: Callable[..., Kernel], durable_url: str
) -> None:
    async with floe_kernel_factory(store=durable_url) as kernel:
        _register_test_states(kernel)
        machine = StateMachine("Gatekeeper", registry=kernel.states)
        await Engine(kernel).register_async(Component("gate", state_machine=machine))
    async with floe_kernel_factory(store=durable_url) as kernel:
        with pytest.raises(StateError, match="Unknown state 'Gatekeeper'") as caught:
            await Engine(kernel).restore("gate")
        assert "InitialState" in (caught.value.why or "")
        assert caught.value.context["component"] == "gate"


async def test_a_run_id_taken_by_another_kind_of_run_is_reported(
    kernel: Kernel, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    await kernel.store.create_run(Run(run_id="component:clash", name="clash"))
    logged = anyio.Event()

    class Signal(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.set()

    signal = Signal(logging.ERROR)
    logger = logging.getLogger("floe.components")
    logger.addHandler(signal)
    try:
        with caplog.at_level(logging.ERROR, logger="floe.components"):
            component = engine.register(Component("clash"))
            with anyio.fail_after(10):
                await logged.wait()
    finally:
        logger.removeHandler(signal)
    assert "Could not journal 1 change(s) of component 'clash'" in caplog.text
    with pytest.raises(StateError, match="belongs to a workflow run"):
        await component.flush()
    with pytest.raises(StateError, match="belongs to a workflow run"):
        await component.handle_message("start")
    with pytest.raises(NotFoundError):
        await Engine(kernel).restore("clash")


async def test_create_component_from_a_config(kernel: Kernel, engine: Engine) -> None:
    component = engine.create_component(
        {"name": "orders", "rules": [{"limit": 2}], "initial_state": "AwaitingConfirmation"}
    )
    assert engine.get("orders") is component
    assert (component.state, component.rules) == ("AwaitingConfirmation", ({"limit": 2},))
    assert await component.handle_message("cancel") == Transitioned(
        "AwaitingConfirmation", "InitialState"
    )
    with pytest.raises(StateError, match="already registered"):
        engine.create_component({"name": "orders"})
    assert engine.create_component({"name": "orders"}, replace=True).state == "InitialState"
