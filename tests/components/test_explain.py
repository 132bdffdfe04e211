"""explain(): never raises, reports every problem, and agrees with loading."""

from __future__ import annotations

import datetime
import json
import math
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
import yaml
from hypothesis import event, given, settings
from hypothesis import strategies as st

from floe import Kernel, StateRegistry, load_settings
from floe.components._components import Engine
from floe.components._config import ComponentConfig
from floe.components._explain import Diagnostic, Explanation, explain

STATES_MODULE = """
from floe.kernel._states import State, Transition


class Packing(State):
    transitions = (Transition("Packing", "pack", "Shipped"),)


class Shipped(State):
    transitions = (Transition("Shipped", "return", "Packing"),)


class Lost(State):
    transitions = (Transition("Lost", "find", "Nowhere"),)


class Other(State):
    pass


class BadTransitions(State):
    transitions = [("Other", "go", "Packing")]


class Exploding(State):
    def __init__(self):
        raise RuntimeError("this state cannot be built")


class NotAState:
    pass


class ShopPack:
    def floe_register_states(self, register):
        register("Packing", Packing)
        register("Shipped", Shipped)


class RivalPack:
    def floe_register_states(self, register):
        register("Packing", Other)


class ShadowPack:
    def floe_register_states(self, register):
        register("InitialState", Other)


class BrokenPack:
    def floe_register_states(self, register):
        raise RuntimeError("the pack is broken")


class NonStatePack:
    def floe_register_states(self, register):
        register("Weird", NotAState)


NOT_A_PACK = 42
"""

MODULE = "floe_explain_states"
BUILT_IN = ["InitialState", "AwaitingConfirmation", "ProcessingRequest", "ErrorHandling"]


@pytest.fixture(scope="module", autouse=True)
def states_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    directory = tmp_path_factory.mktemp("explain_modules")
    (directory / f"{MODULE}.py").write_text(STATES_MODULE)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(directory))
        yield


@pytest.fixture
def builtins(floe_kernel_factory: Callable[..., Kernel]) -> StateRegistry:
    registry = StateRegistry()
    floe_kernel_factory().hooks.register_states(registry)
    return registry


def write(directory: Path, text: str, name: str = "component.yaml") -> Path:
    path = directory / name
    path.write_text(text)
    return path


# -- a valid config --------------------------------------------------------------------


def test_a_valid_config_is_explained(tmp_path: Path, builtins: StateRegistry) -> None:
    path = write(
        tmp_path,
        f"name: orders\nrules: [{{max: 3}}, x]\npacks: ['{MODULE}:ShopPack']\n"
        f"states:\n  Gone: {MODULE}:Other\ninitial_state: InitialState\n",
    )
    explanation = explain(path, registry=builtins)
    assert explanation.is_valid
    assert explanation.errors == ()
    assert (explanation.source, explanation.name, explanation.initial_state) == (
        str(path),
        "orders",
        "InitialState",
    )
    assert explanation.rules_count == 2
    assert explanation.packs == (f"{MODULE}:ShopPack",)
    assert explanation.config_states == ("Gone", "Packing", "Shipped")
    for name in BUILT_IN:
        assert explanation.states[name] == "plugin 'states'"
    assert explanation.states["Packing"] == f"pack '{MODULE}:ShopPack' (config {path})"
    assert explanation.states["Gone"] == f"config {path} (states.Gone)"
    # the default machine's transitions, from its initial state
    assert {(t.from_state, t.message, t.to_state) for t in explanation.transitions} >= {
        ("InitialState", "start", "AwaitingConfirmation"),
        ("ErrorHandling", "acknowledge", "InitialState"),
    }
    # explaining changed nothing
    assert "Gone" not in builtins

    text = explanation.format()
    assert text.splitlines()[0] == f"Component config {path}: valid"
    assert "  name: orders" in text
    assert "  initial state: InitialState (from plugin 'states')" in text
    assert "  rules: 2" in text
    assert f"  packs: {MODULE}:ShopPack" in text
    assert "InitialState --start--> AwaitingConfirmation" in text

    data = explanation.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["is_valid"] is True
    assert data["initial_state"] == "InitialState"
    assert data["states"]["Gone"] == f"config {path} (states.Gone)"
    assert {
        "from": "InitialState",
        "message": "start",
        "to": "AwaitingConfirmation",
        "guard": None,
    } in data["transitions"]


def test_warnings_do_not_make_a_config_invalid(tmp_path: Path, builtins: StateRegistry) -> None:
    path = write(
        tmp_path,
        f"name: orders\nstates:\n  Lost: {MODULE}:Lost\n  Gone: {MODULE}:Other\n"
        f"packs: ['{MODULE}:ShopPack', '{MODULE}:ShopPack']\ninitial_state: Lost\n",
    )
    explanation = explain(path, registry=builtins)
    assert explanation.is_valid
    whats = [warning.what for warning in explanation.warnings]
    assert "State 'Lost' declares a transition on 'find' to an unknown state 'Nowhere'" in whats
    assert f"The pack '{MODULE}:ShopPack' is listed twice in {path}" in whats
    # Gone, Packing and Shipped are never reached from Lost
    unreachable = [what for what in whats if "is not reachable from 'Lost'" in what]
    assert len(unreachable) == 3
    assert "Warnings:" in explanation.format()
    assert len(explanation.to_dict()["warnings"]) == 5


# -- invalid configs -------------------------------------------------------------------


def test_every_problem_of_a_config_is_listed(tmp_path: Path) -> None:
    path = write(tmp_path, "name: 3\nrules: {}\nstates: [x]\npacks: y\n")
    explanation = explain(path)
    assert not explanation.is_valid
    assert [error.context["field"] for error in explanation.errors] == [
        "name",
        "rules",
        "states",
        "packs",
    ]
    assert all(error.kind == "ConfigError" and error.fix for error in explanation.errors)
    text = explanation.format()
    assert text.splitlines()[0] == f"Component config {path}: invalid (4 errors)"
    assert f"  1. Field 'name' in {path} must be a string, got an int (3)" in text
    assert "     Fix: " in text
    assert explanation.to_dict()["errors"][0]["context"] == {"source": str(path), "field": "name"}


def test_a_pack_claim_clash_is_a_state_error_naming_both_classes(
    tmp_path: Path, builtins: StateRegistry
) -> None:
    path = write(tmp_path, f"name: x\npacks: ['{MODULE}:ShopPack', '{MODULE}:RivalPack']\n")
    explanation = explain(path, registry=builtins)
    (error,) = explanation.errors
    assert error.kind == "StateError"
    assert error.what == "State name 'Packing' is taken"
    assert error.why == (
        f"pack '{MODULE}:ShopPack' (config {path}) registered {MODULE}:Packing under it; "
        f"pack '{MODULE}:RivalPack' (config {path}) tried to register {MODULE}:Other."
    )
    assert error.context["registered_by"] == f"pack '{MODULE}:ShopPack' (config {path})"
    assert error.context["provider"] == f"pack '{MODULE}:RivalPack' (config {path})"
    assert explanation.name == "x"


def test_a_pack_may_use_a_built_in_name_for_its_config_alone(
    tmp_path: Path, builtins: StateRegistry
) -> None:
    path = write(tmp_path, f"name: x\npacks: ['{MODULE}:ShadowPack']\n")
    before = {name: builtins.provider(name) for name in builtins}
    explanation = explain(path, registry=builtins)
    assert explanation.is_valid, explanation.format()
    assert explanation.initial_state == "InitialState"
    assert explanation.states["InitialState"] == f"pack '{MODULE}:ShadowPack' (config {path})"
    assert explanation.states["AwaitingConfirmation"] == "plugin 'states'"
    assert explanation.config_states == ("InitialState",)
    assert {name: builtins.provider(name) for name in builtins} == before


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(None, id="none"),
        pytest.param(42, id="int"),
        pytest.param(b"name: x", id="bytes"),
        pytest.param(["name", "x"], id="list"),
        pytest.param(object(), id="object"),
        pytest.param({"name": object()}, id="mapping-of-garbage"),
        pytest.param({1: 2, None: []}, id="mapping-bad-keys"),
        pytest.param(ComponentConfig(name=3), id="config-bad-name"),  # type: ignore[arg-type]
        pytest.param(ComponentConfig(name="x", states=[1]), id="config-list-states"),  # type: ignore[arg-type]
    ],
)
def test_explain_never_raises(garbage: Any) -> None:
    explanation = explain(garbage)
    assert isinstance(explanation, Explanation)
    assert not explanation.is_valid
    assert explanation.errors[0].fix
    json.dumps(explanation.to_dict())
    assert explanation.format().splitlines()[0].startswith("Component config (in memory): invalid")


def test_explain_never_raises_for_paths(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.yaml", tmp_path, str(tmp_path / "missing.yaml")):
        explanation = explain(path)
        assert not explanation.is_valid
        assert explanation.source == str(path)
    (tmp_path / "bad.yaml").write_text("name: [x\n")
    explanation = explain(tmp_path / "bad.yaml")
    assert explanation.errors[0].what.endswith("YAML syntax error at line 2, column 1")


def test_a_broken_state_or_pack_is_reported_not_raised(
    tmp_path: Path, builtins: StateRegistry
) -> None:
    exploding = explain({"name": "x", "initial_state": f"{MODULE}:Exploding"}, registry=builtins)
    (error,) = exploding.errors
    assert error.kind == "RuntimeError"
    assert error.what == "Unexpected RuntimeError: this state cannot be built"

    broken = explain({"name": "x", "packs": [f"{MODULE}:BrokenPack"]}, registry=builtins)
    assert broken.errors[0].why == "RuntimeError: the pack is broken"


def test_the_registry_comes_from_settings_when_no_kernel_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLOE_STORE", raising=False)
    assert explain({"name": "x"}).states["InitialState"] == "plugin 'states'"
    (tmp_path / "floe.toml").write_text('log_format = "loud"\n')
    explanation = explain({"name": "x"})
    (error,) = explanation.errors
    assert error.kind == "ConfigError"
    assert (
        error.what == f"Invalid value 'loud' for setting 'log_format' in {tmp_path / 'floe.toml'}"
    )


@pytest.mark.anyio
async def test_inside_a_kernel_its_registry_is_used(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    from floe_explain_states import Other

    async with floe_kernel_factory() as kernel:
        kernel.states.register("OnlyHere", Other)
        explanation = explain({"name": "x", "initial_state": "OnlyHere"})
        assert explanation.is_valid, explanation.format()
        assert explanation.states["OnlyHere"] == "user"


def test_diagnostics_read_like_errors() -> None:
    diagnostic = Diagnostic("ConfigError", "Bad", why="Because", fix="Do", context={"a": 1})
    assert str(diagnostic) == "Bad\nWhy: Because\nFix: Do\nContext: a=1"


# -- explain agrees with loading: a property over generated configs --------------------

STATE_PATHS = [
    f"{MODULE}:Packing",
    f"{MODULE}:Shipped",
    f"{MODULE}:Other",
    f"{MODULE}:Lost",
    f"{MODULE}:BadTransitions",
    f"{MODULE}:Exploding",
    f"{MODULE}:NotAState",
    f"{MODULE}:NOT_A_PACK",
    f"{MODULE}:Missing",
    "floe_explain_nowhere:Packing",
    f"{MODULE}:",
    "Packing",
]
PACK_PATHS = [
    f"{MODULE}:ShopPack",
    f"{MODULE}:RivalPack",
    f"{MODULE}:ShadowPack",
    f"{MODULE}:BrokenPack",
    f"{MODULE}:NonStatePack",
    f"{MODULE}:NOT_A_PACK",
    f"{MODULE}:Packing",
    "floe_explain_nowhere",
]
STATE_KEYS = ["Packing", "Shipped", "Gone", "In Review", *BUILT_IN, "a:b", ""]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
non_json = st.sampled_from(
    [datetime.date(2024, 1, 31), b"bytes", math.nan, {1: "int key"}, {"set"}]
)
GOOD_STATE_PATHS = [f"{MODULE}:{name}" for name in ("Packing", "Shipped", "Other", "Lost")]
GOOD_KEYS = ["Packing", "Shipped", "Gone", "In Review"]

# each field is good three times out of four, so valid configs are common and every
# kind of problem still turns up, alone or with others
good = {
    "name": st.text(min_size=1, max_size=12).filter(lambda name: name == name.strip() != ""),
    "rules": st.none() | st.lists(json_values, max_size=3),
    "initial_state": st.sampled_from([*BUILT_IN, *GOOD_KEYS, *GOOD_STATE_PATHS]),
    "states": st.none()
    | st.dictionaries(st.sampled_from(GOOD_KEYS), st.sampled_from(GOOD_STATE_PATHS), max_size=3),
    "packs": st.none() | st.lists(st.sampled_from([f"{MODULE}:ShopPack"]), max_size=1),
}
bad = {
    "name": st.sampled_from(["", " padded", 42, None, ["x"]]),
    "rules": st.lists(st.one_of(json_values, non_json), min_size=1, max_size=3)
    | st.sampled_from([{"a": 1}, "rules", 7]),
    "initial_state": st.sampled_from(["Nowhere", "", 5, *STATE_PATHS]) | st.text(max_size=8),
    "states": st.dictionaries(
        st.sampled_from(STATE_KEYS) | st.integers(0, 3),
        st.sampled_from(STATE_PATHS) | st.sampled_from([3, None, ["x"]]),
        min_size=1,
        max_size=4,
    )
    | st.sampled_from([["Packing"], "Packing: x"]),
    "packs": st.lists(
        st.sampled_from(PACK_PATHS) | st.sampled_from([3, ""]), min_size=1, max_size=3
    )
    | st.just(f"{MODULE}:ShopPack"),
}


# hypothesis leans towards the first element of sampled_from (its simplest value), so
# "include the field" and "draw it from the good values" come first
INCLUDE_NAME = st.sampled_from([True] * 19 + [False])
INCLUDE = st.sampled_from([True, True, False])
GOOD = st.sampled_from([True, True, True, False])
EXTRA_FIELD = st.sampled_from([None] * 19 + ["initial_sate", "colour", 3])


@st.composite
def configs(draw: st.DrawFn) -> dict[Any, Any]:
    config: dict[Any, Any] = {}
    for key in ("name", "rules", "initial_state", "states", "packs"):
        if not draw(INCLUDE_NAME if key == "name" else INCLUDE):
            continue
        config[key] = draw(good[key] if draw(GOOD) else bad[key])
    extra = draw(EXTRA_FIELD)
    if extra is not None:
        config[extra] = "x"
    return config


def _creates(config: object) -> tuple[bool, str]:
    """Whether loading *config* and creating its component succeed, in a fresh kernel."""
    settings = load_settings(
        tempfile.gettempdir(), env={}, store="memory://", log_format="off", strict_plugins=True
    )

    async def create() -> tuple[bool, str]:
        async with Kernel(settings) as kernel:
            explanation = explain(config)  # the running kernel's registry
            engine = Engine(kernel)
            try:
                component = engine.create_component(config)
                await component.flush()
            except Exception as error:
                outcome = (False, f"{type(error).__name__}: {error}")
            else:
                outcome = (True, f"created in {component.state}")
            assert explanation.is_valid == outcome[0], (explanation.format(), outcome[1])
            return outcome

    return anyio.run(create, backend="trio")


@settings(max_examples=150)
@given(config=configs(), as_file=st.booleans())
def test_explain_agrees_with_loading_and_creating(config: dict[Any, Any], as_file: bool) -> None:
    if not as_file:
        event(f"mapping, valid={_creates(config)[0]}")
        return
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "component.yaml"
        try:
            text = yaml.safe_dump(config, allow_unicode=True)
        except yaml.YAMLError:
            return  # a value YAML cannot write (a set): covered by the mapping form
        path.write_text(text, encoding="utf-8")
        event(f"file, valid={_creates(path)[0]}")


def test_the_property_sees_both_outcomes() -> None:
    # the generator is not lopsided: valid and invalid configs both occur, and both
    # mappings and files
    valid = _creates(
        {"name": "orders", "packs": [f"{MODULE}:ShopPack"], "initial_state": "Packing"}
    )
    invalid = _creates({"name": "orders", "packs": [f"{MODULE}:RivalPack", f"{MODULE}:ShopPack"]})
    assert valid == (True, "created in Packing")
    assert invalid[0] is False
    assert invalid[1].startswith("StateError: State name 'Packing' is taken")
    assert orjson.dumps(explain({"name": "x"}).to_dict())
