"""State names belong to a config: its own states first, then its packs, then the kernel's.

FlexiFlow's state-pack example is ported literally (a config that names its own
``InitialState``), and two configs that each define ``Processing`` run in one engine,
each with its own class, across a restart.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import floe
from floe import ConfigError, Kernel, NotFoundError, StateError, StateRegistry
from floe.components._components import Engine
from floe.components._config import config_registry, load_config
from floe.components._snapshots import restore_component, snapshot_of
from floe.components._state_machine import StateMachine
from floe.kernel._states import State, Transition

MODULES = {
    # FlexiFlow's README: "mypkg.states:InitialState", ":ProcessingState", ":CompleteState"
    "mypkg/__init__.py": "",
    "mypkg/states.py": """
        from floe import State, Transition


        class InitialState(State):
            transitions = (Transition("InitialState", "start", "Processing"),)


        class ProcessingState(State):
            transitions = (Transition("Processing", "complete", "Complete"),)


        class CompleteState(State):
            pass
        """,
    # two teams, one name: each Processing finishes somewhere of its own
    "billing_states.py": """
        from floe import State, Transition


        class Processing(State):
            transitions = (Transition("Processing", "finish", "Invoiced"),)


        class Invoiced(State):
            pass
        """,
    "shipping_states.py": """
        from floe import State, Transition


        class Processing(State):
            transitions = (Transition("Processing", "finish", "Shipped"),)


        class Shipped(State):
            pass


        class RivalPack:
            def floe_register_states(self, register):
                register("Processing", Processing)


        class BillingPack:
            def floe_register_states(self, register):
                import billing_states

                register("Processing", billing_states.Processing)
        """,
}

FLEXIFLOW_CONFIG = """\
name: my_component
states:
  InitialState: "mypkg.states:InitialState"
  Processing: "mypkg.states:ProcessingState"
  Complete: "mypkg.states:CompleteState"
initial_state: InitialState
rules: []
"""
"""FlexiFlow's state-pack example, as its README prints it."""

BILLING = """\
name: billing
initial_state: Processing
states:
  Processing: billing_states:Processing
  Invoiced: billing_states:Invoiced
"""
SHIPPING = """\
name: shipping
initial_state: Processing
states:
  Processing: shipping_states:Processing
  Shipped: shipping_states:Shipped
"""


@pytest.fixture(scope="module", autouse=True)
def modules(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("namespace_modules")
    for name, text in MODULES.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(textwrap.dedent(text))
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(directory))
        yield directory


@pytest.fixture
def configs(tmp_path: Path) -> dict[str, Path]:
    texts = {"flexiflow": FLEXIFLOW_CONFIG, "billing": BILLING, "shipping": SHIPPING}
    for name, text in texts.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    return {name: tmp_path / f"{name}.yaml" for name in texts}


# -- FlexiFlow's example, literally -------------------------------------------------------


@pytest.mark.anyio
async def test_flexiflows_state_pack_example_runs_as_written(
    floe_kernel_factory: Callable[..., Kernel], configs: dict[str, Path]
) -> None:
    from mypkg import states

    async with floe_kernel_factory() as kernel:
        built_in = kernel.states.get("InitialState")
        config = floe.load_config(configs["flexiflow"])
        engine = Engine(kernel)

        component = engine.create_component(config)
        assert component.state == "InitialState"
        assert type(component.state_machine.current_state) is states.InitialState
        assert str(await engine.handle_message(component.name, "start")) == (
            "InitialState -> Processing"
        )
        assert type(component.state_machine.current_state) is states.ProcessingState
        assert str(await engine.handle_message(component.name, "complete")) == (
            "Processing -> Complete"
        )

        # the kernel's InitialState is untouched: another component still gets the built-in
        assert kernel.states.get("InitialState") is built_in
        assert "Processing" not in kernel.states
        default = engine.register(floe.Component("default"))
        assert type(default.state_machine.current_state) is built_in
        assert str(await default.handle_message("start")) == (
            "InitialState -> AwaitingConfirmation"
        )
        await engine.flush()


def test_explain_calls_the_example_valid_and_names_who_provides_what(
    configs: dict[str, Path],
) -> None:
    explanation = floe.explain(configs["flexiflow"])
    assert explanation.is_valid, explanation.format()
    where = configs["flexiflow"]
    assert explanation.states["InitialState"] == f"config {where} (states.InitialState)"
    assert explanation.states["AwaitingConfirmation"] == "plugin 'states'"
    assert explanation.config_states == ("Complete", "InitialState", "Processing")
    assert [(t.from_state, t.message, t.to_state) for t in explanation.transitions] == [
        ("InitialState", "start", "Processing"),
        ("Processing", "complete", "Complete"),
    ]
    assert floe.visualize(configs["flexiflow"]).splitlines()[1:3] == [
        "    [*] --> InitialState",
        "    InitialState --> Processing: start",
    ]


# -- two configs, one name ----------------------------------------------------------------


@pytest.mark.anyio
async def test_two_configs_each_defining_processing_run_in_one_engine(
    floe_kernel_factory: Callable[..., Kernel], configs: dict[str, Path], tmp_path: Path
) -> None:
    import billing_states
    import shipping_states

    store = f"sqlite:///{tmp_path}/components.db"
    async with floe_kernel_factory(store=store) as kernel:
        engine = Engine(kernel)
        billing = engine.create_component(configs["billing"])
        shipping = engine.create_component(configs["shipping"])
        assert type(billing.state_machine.current_state) is billing_states.Processing
        assert type(shipping.state_machine.current_state) is shipping_states.Processing
        assert str(await billing.handle_message("finish")) == "Processing -> Invoiced"
        assert str(await shipping.handle_message("finish")) == "Processing -> Shipped"
        assert "Processing" not in kernel.states

    # another process: each component comes back with its own config's classes
    async with floe_kernel_factory(store=store) as kernel:
        engine = Engine(kernel)
        with pytest.raises(StateError) as caught:
            await engine.restore("billing")
        assert "engine.restore('billing', config=PATH)" in (caught.value.fix or "")
        billing = await engine.restore("billing", config=configs["billing"])
        shipping = await engine.restore("shipping", config=load_config(configs["shipping"]))
        assert (billing.state, shipping.state) == ("Invoiced", "Shipped")
        assert type(billing.state_machine.current_state) is billing_states.Invoiced
        assert type(shipping.state_machine.current_state) is shipping_states.Shipped
        with pytest.raises(NotFoundError):
            await engine.restore("nobody", config=configs["billing"])


@pytest.mark.anyio
async def test_restoring_a_snapshot_keeps_the_components_namespace(
    floe_kernel_factory: Callable[..., Kernel], configs: dict[str, Path]
) -> None:
    import shipping_states

    async with floe_kernel_factory() as kernel:
        engine = Engine(kernel)
        shipping = engine.create_component(configs["shipping"])
        snapshot = snapshot_of(shipping)
        await shipping.handle_message("finish")
        restored = restore_component(snapshot, engine)
        assert restored.state == "Processing"
        assert type(restored.state_machine.current_state) is shipping_states.Processing
        await engine.flush()


# -- what still clashes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        pytest.param(
            "packs: [shipping_states:BillingPack, shipping_states:RivalPack]\n"
            "initial_state: Processing\n",
            "pack 'shipping_states:BillingPack' (config {path}) registered "
            "billing_states:Processing under it; pack 'shipping_states:RivalPack' (config "
            "{path}) tried to register shipping_states:Processing.",
            id="two-packs",
        ),
        pytest.param(
            "states: {Processing: billing_states:Processing}\n"
            "initial_state: shipping_states:Processing\n",
            "config {path} (states.Processing) registered billing_states:Processing under it; "
            "config {path} (initial_state) tried to register shipping_states:Processing.",
            id="dotted-initial-state-and-a-key",
        ),
    ],
)
def test_one_name_claimed_twice_within_a_layer_is_an_error_naming_both_modules(
    tmp_path: Path, fields: str, why: str
) -> None:
    path = tmp_path / "clash.yaml"
    path.write_text(f"name: clash\n{fields}")
    with pytest.raises(StateError) as caught:
        config_registry(path, StateRegistry())
    assert caught.value.what == "State name 'Processing' is taken"
    assert caught.value.why == why.format(path=path)


def test_a_config_state_hides_a_pack_state_of_the_same_name(tmp_path: Path) -> None:
    import billing_states

    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine\ninitial_state: Processing\n"
        "packs: [shipping_states:RivalPack]\nstates: {Processing: billing_states:Processing}\n"
    )
    registry, initial = config_registry(path, StateRegistry())
    assert (initial, registry.get("Processing")) == ("Processing", billing_states.Processing)
    assert registry.provider("Processing") == f"config {path} (states.Processing)"


def test_an_unknown_initial_state_lists_every_layer(tmp_path: Path) -> None:
    path = tmp_path / "unknown.yaml"
    path.write_text("name: u\ninitial_state: Nowhere\nstates: {Shipped: shipping_states:Shipped}\n")
    base = StateRegistry()
    base.register("Base", State)
    with pytest.raises(ConfigError) as caught:
        config_registry(path, base)
    assert caught.value.why == "Known states: Base, Shipped."


# -- the registry's layers ----------------------------------------------------------------


class Idle(State):
    transitions = (Transition("Idle", "go", "Busy"),)


class Busy(State):
    pass


class OtherIdle(State):
    pass


def test_a_registry_with_a_parent_hides_and_falls_back() -> None:
    parent = StateRegistry()
    parent.register("Idle", Idle, provider="plugin 'p'")
    parent.register("Busy", Busy, provider="plugin 'p'")
    child = StateRegistry(parent=parent)
    assert child.parent is parent
    child.register("Idle", OtherIdle, provider="config c")  # hides, does not clash

    assert child.get("Idle") is OtherIdle
    assert child.get("Busy") is Busy
    assert (child.provider("Idle"), child.provider("Busy")) == ("config c", "plugin 'p'")
    assert child.names() == ["Busy", "Idle"] == list(child)
    assert len(child) == 2
    assert "Busy" in child
    assert 3 not in child
    # the parent's Idle is hidden, so the child has no name for it
    assert child.name_of(Idle) is None
    assert child.name_of(OtherIdle) == "Idle"
    assert parent.get("Idle") is Idle
    # the parent is read when asked: a state added later is seen
    parent.register("Late", Busy)
    assert child.get("Late") is Busy
    # a machine on the child follows the child's classes
    machine = StateMachine("Idle", registry=child)
    assert type(machine.current_state) is OtherIdle

    with pytest.raises(StateError) as caught:
        child.get("Nowhere")
    assert caught.value.why == "Known states: Busy, Idle, Late."
    with pytest.raises(StateError, match="is taken"):
        child.register("Idle", Busy)


def test_a_parent_must_be_a_registry() -> None:
    with pytest.raises(StateError, match=r"takes a floe\.StateRegistry"):
        StateRegistry(parent={"Idle": Idle})  # type: ignore[arg-type]


def test_the_public_config_registry_layers_a_config_over_a_base_it_leaves_alone(
    configs: dict[str, Path],
) -> None:
    from mypkg import states

    base = StateRegistry()
    base.register("InitialState", Idle, provider="plugin 'p'")
    namespace, initial = floe.config_registry(configs["flexiflow"], base)
    assert (initial, namespace.parent is not None) == ("InitialState", True)
    assert namespace.get("InitialState") is states.InitialState
    assert base.names() == ["InitialState"]
    assert base.get("InitialState") is Idle


def test_the_public_config_registry_needs_a_registry_as_base(configs: dict[str, Path]) -> None:
    with pytest.raises(StateError) as caught:
        floe.config_registry(configs["flexiflow"], {"InitialState": Idle})  # type: ignore[arg-type]
    assert caught.value.what.startswith("config_registry(config, base) needs a floe.StateRegistry")
    assert (
        caught.value.fix
        == "Pass the kernel's registry: floe.config_registry(config, kernel.states)."
    )
