"""Component configs: every field, every error (file, field and fix named), registration."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from floe import ConfigError, Kernel, StateError, StateRegistry
from floe.components._config import ComponentConfig, load_config, load_rules, register_config_states

# importable modules for dotted paths, written once per session
STATES_MODULE = """
from floe.kernel._states import State, Transition


class Packing(State):
    transitions = (Transition("Packing", "pack", "Shipped"),)


class Shipped(State):
    pass


class Other(State):
    pass


class NotAState:
    pass


def a_function():
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


class NeedsArguments:
    def __init__(self, required):
        pass

    def floe_register_states(self, register):
        pass


def floe_register_states(register):
    register("ModulePacked", Other)


NOT_A_PACK = 42
"""
MODULES = {
    "floe_cfg_states": STATES_MODULE,
    "floe_cfg_raises": "raise RuntimeError('this module fails on import')\n",
    "floe_cfg_syntax": "def oops(:\n    pass\n",
}


@pytest.fixture(scope="session", autouse=True)
def state_modules(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("config_modules")
    for name, source in MODULES.items():
        (directory / f"{name}.py").write_text(source)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(directory))
        yield directory


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str, name: str = "component.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    return write


@pytest.fixture
def builtins(floe_kernel_factory: Callable[..., Kernel]) -> StateRegistry:
    """The registry a kernel starts with: the installed state packs (the default pack)."""
    registry = StateRegistry()
    floe_kernel_factory().hooks.register_states(registry)
    return registry


def config_error(path: Path, field: str | None) -> ConfigError:
    """Loading *path* fails with a ConfigError naming the file, the field and a fix."""
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    error = caught.value
    assert str(path) in error.what, error
    assert error.context["source"] == str(path)
    if field is not None:
        assert error.context["field"] == field, error
    assert error.why
    assert error.fix
    return error


# -- good configs ----------------------------------------------------------------------


def test_a_minimal_config_takes_the_defaults(write: Callable[..., Path]) -> None:
    path = write("name: orders\n")
    config = load_config(path)
    assert config == ComponentConfig(name="orders", source=str(path))
    assert (config.rules, config.initial_state, config.states, config.packs) == (
        (),
        "InitialState",
        {},
        (),
    )


def test_every_field_is_read(write: Callable[..., Path]) -> None:
    path = write(
        """
        name: orders
        rules:
          - {max_items: 10, tags: [a, b]}
          - 3.5
          - null
        initial_state: Packing
        states:
          Packing: floe_cfg_states:Packing
          Done: floe_cfg_states:Shipped
        packs: [floe_cfg_states]
        """
    )
    config = load_config(path)
    assert config.name == "orders"
    assert config.rules == ({"max_items": 10, "tags": ["a", "b"]}, 3.5, None)
    assert config.initial_state == "Packing"
    assert config.states == {
        "Packing": "floe_cfg_states:Packing",
        "Done": "floe_cfg_states:Shipped",
    }
    assert config.packs == ("floe_cfg_states",)
    assert config.source == str(path)


def test_empty_lists_and_mappings_may_be_left_blank(write: Callable[..., Path]) -> None:
    config = load_config(write("name: x\nrules:\nstates:\npacks:\n"))
    assert (config.rules, config.states, config.packs) == ((), {}, ())


def test_a_mapping_and_a_component_config_load_too() -> None:
    from floe_cfg_states import Packing

    config = load_config({"name": "m", "states": {"Packing": Packing}, "initial_state": "Packing"})
    assert config.source is None
    assert config.states == {"Packing": Packing}
    assert load_config(config) == config
    with pytest.raises(ConfigError, match="Field 'name' in the component config is empty"):
        load_config(ComponentConfig(name=""))


# -- the file --------------------------------------------------------------------------


def test_a_missing_file(tmp_path: Path) -> None:
    error = config_error(tmp_path / "nope.yaml", None)
    assert error.what == f"The component config {tmp_path / 'nope.yaml'} does not exist"
    assert "FLOE_CONFIG" in str(error.fix)


def test_a_directory(tmp_path: Path) -> None:
    error = config_error(tmp_path, None)
    assert error.what.startswith("Cannot read the component config")
    assert "IsADirectoryError" in str(error.why)


def test_text_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    error = config_error(path, None)
    assert "not UTF-8" in error.what


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        pytest.param("name: x\nrules: [1, 2\nstates: {}\n", 3, 7, id="unclosed-bracket"),
        pytest.param('name: "x\n', 2, 1, id="unclosed-quote"),
        pytest.param("name: x\nstates:\n\tA: b\n", 3, 1, id="tab"),
        pytest.param("name: x\n  rules: []\n", 2, 8, id="indentation"),
        pytest.param("name: !!python/object:os.system x\n", 1, 7, id="unsafe-tag"),
    ],
)
def test_yaml_syntax_errors_give_line_and_column(
    write: Callable[..., Path], text: str, line: int, column: int
) -> None:
    path = write(text)
    error = config_error(path, None)
    assert error.what == (
        f"Cannot parse the component config {path}: YAML syntax error at line {line}, "
        f"column {column}"
    )
    assert (error.context["line"], error.context["column"]) == (line, column)
    assert f"line {line}, column {column}" in str(error.fix)
    assert error.why


@pytest.mark.parametrize(
    ("text", "what"),
    [
        pytest.param("", "is empty", id="empty"),
        pytest.param("# nothing but a comment\n", "is empty", id="comment"),
        pytest.param("- name: x\n", "must be a mapping, got a list", id="list"),
        pytest.param("orders\n", "must be a mapping, got a str ('orders')", id="scalar"),
    ],
)
def test_the_top_level_must_be_a_mapping(write: Callable[..., Path], text: str, what: str) -> None:
    error = config_error(write(text), None)
    assert what in error.what


def test_an_unknown_field_suggests_the_right_one(write: Callable[..., Path]) -> None:
    path = write("name: x\ninitial_sate: Packing\n")
    error = config_error(path, "initial_sate")
    assert error.what == f"Unknown field 'initial_sate' in {path}"
    assert error.fix == "Did you mean 'initial_state'? Correct the spelling."

    other = config_error(write("name: x\ncolour: blue\n"), "colour")
    assert other.fix == "Remove the field or correct its spelling."


# -- wrong types, field by field -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field", "what"),
    [
        pytest.param("rules: []\n", "name", "has no 'name'", id="name-missing"),
        pytest.param("name: 42\n", "name", "must be a string, got an int (42)", id="name-int"),
        pytest.param("name: [a]\n", "name", "must be a string, got a list", id="name-list"),
        pytest.param("name: ''\n", "name", "is empty", id="name-empty"),
        pytest.param("name: ' x'\n", "name", "starts or ends with white space", id="name-space"),
        pytest.param(
            "name: x\nrules: {a: 1}\n", "rules", "must be a list, got a mapping", id="rules-map"
        ),
        pytest.param("name: x\nrules: abc\n", "rules", "must be a list, got a str", id="rules-str"),
        pytest.param("name: x\nrules: 3\n", "rules", "must be a list, got an int", id="rules-int"),
        pytest.param("name: x\nrules: [2024-01-31]\n", "rules[0]", "holds a date", id="rules-date"),
        pytest.param(
            "name: x\nrules: [{when: !!binary aGk=}]\n",
            "rules[0].when",
            "holds a bytes",
            id="rules-bytes",
        ),
        pytest.param("name: x\nrules: [{1: a}]\n", "rules[0].1", "holds an int", id="rules-key"),
        pytest.param("name: x\nrules: [.nan]\n", "rules[0]", "holds a float (nan)", id="rules-nan"),
        pytest.param(
            "name: x\nrules: [&loop [1, *loop]]\n",
            "rules[0][1]",
            "holds a reference to itself",
            id="rules-self-reference",
        ),
        pytest.param(
            "name: x\nrules: [{n: 18446744073709551616}]\n",
            "rules[0].n",
            "holds an int (18446744073709551616)",
            id="rules-int-65-bits",
        ),
        pytest.param(
            "name: x\ninitial_state: 3\n", "initial_state", "got an int (3)", id="initial-int"
        ),
        pytest.param(
            "name: x\ninitial_state: ''\n", "initial_state", "got a str ('')", id="initial-empty"
        ),
        pytest.param(
            "name: x\nstates: [floe_cfg_states:Packing]\n",
            "states",
            "must be a mapping, got a list",
            id="states-list",
        ),
        pytest.param(
            "name: x\nstates: floe_cfg_states:Packing\n",
            "states",
            "must be a mapping, got a str",
            id="states-str",
        ),
        pytest.param(
            "name: x\nstates: {1: floe_cfg_states:Packing}\n",
            "states.1",
            "Key 1 under 'states'",
            id="states-key-int",
        ),
        pytest.param(
            "name: x\nstates: {'a:b': floe_cfg_states:Packing}\n",
            "states.a:b",
            "Key 'a:b' under 'states'",
            id="states-key-colon",
        ),
        pytest.param(
            "name: x\nstates: {Packing: 3}\n",
            "states.Packing",
            "must be a dotted path 'package.module:Class', got an int (3)",
            id="states-value-int",
        ),
        pytest.param(
            "name: x\nstates: {Packing: Packing}\n",
            "states.Packing",
            "must be a dotted path 'package.module:Class', got a str ('Packing')",
            id="states-value-name",
        ),
        pytest.param(
            "name: x\npacks: floe_cfg_states:ShopPack\n",
            "packs",
            "must be a list of dotted paths, got a str",
            id="packs-str",
        ),
        pytest.param(
            "name: x\npacks: {a: b}\n", "packs", "must be a list of dotted paths", id="packs-map"
        ),
        pytest.param(
            "name: x\npacks: [3]\n", "packs[0]", "must be a dotted path, got an int", id="packs-int"
        ),
        pytest.param(
            "name: x\npacks: [[a]]\n",
            "packs[0]",
            "must be a dotted path, got a list",
            id="packs-list",
        ),
    ],
)
def test_wrong_types_name_the_field(
    write: Callable[..., Path], text: str, field: str, what: str
) -> None:
    error = config_error(write(text), field)
    assert what in error.what, error.what


def test_every_problem_is_found_not_only_the_first(write: Callable[..., Path]) -> None:
    from floe.components._config import check_config

    path = write("name: 1\nrules: {}\nstates: []\npacks: x\ntypo: 1\n")
    config, errors = check_config(path)
    assert config is None
    assert [error.context["field"] for error in errors] == [
        "typo",
        "name",
        "rules",
        "states",
        "packs",
    ]


# -- dotted paths ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "why"),
    [
        pytest.param(
            "floe_cfg_missing:Packing",
            "Cannot import module 'floe_cfg_missing' for the state class "
            "'floe_cfg_missing:Packing': ModuleNotFoundError: No module named 'floe_cfg_missing'",
            id="no-module",
        ),
        pytest.param(
            "floe_cfg_states:Packer",
            "Module 'floe_cfg_states' has no attribute 'Packer' for the state class "
            "'floe_cfg_states:Packer'",
            id="no-attribute",
        ),
        pytest.param(
            "floe_cfg_raises:Packing",
            "Importing it raised RuntimeError: this module fails on import",
            id="module-raises",
        ),
        pytest.param(
            "floe_cfg_syntax:Packing",
            "Importing it raised SyntaxError: invalid syntax",
            id="syntax-error",
        ),
        pytest.param(
            "floe_cfg_states:",
            "Malformed import path 'floe_cfg_states:' for a state class",
            id="malformed",
        ),
    ],
)
def test_bad_dotted_paths_carry_the_real_import_error(
    write: Callable[..., Path], path: str, why: str
) -> None:
    error = config_error(write(f"name: x\nstates:\n  Packing: '{path}'\n"), "states.Packing")
    assert error.what.startswith(f"Cannot import the state class {path!r} for field")
    assert error.why is not None
    assert error.why.startswith(why), error.why
    assert isinstance(error.__cause__, ImportError | RuntimeError | SyntaxError) or (
        error.__cause__ is None
    )

    initial = config_error(write(f"name: x\ninitial_state: '{path}'\n"), "initial_state")
    assert initial.why is not None
    assert initial.why.startswith(why)


@pytest.mark.parametrize(
    ("target", "why"),
    [
        pytest.param("NotAState", "It is the class floe_cfg_states:NotAState.", id="class"),
        pytest.param("a_function", "It is the function floe_cfg_states:a_function.", id="func"),
        pytest.param("NOT_A_PACK", "It is an int (42).", id="value"),
    ],
)
def test_a_dotted_path_must_name_a_state_subclass(
    write: Callable[..., Path], target: str, why: str
) -> None:
    path = f"floe_cfg_states:{target}"
    error = config_error(write(f"name: x\nstates:\n  Packing: {path}\n"), "states.Packing")
    source = error.context["source"]
    assert error.what == f"{path!r} for field 'states.Packing' in {source} is not a State subclass"
    assert error.why == why
    assert "floe.State" in (error.fix or "")


@pytest.mark.parametrize(
    ("pack", "what", "why"),
    [
        pytest.param(
            "floe_cfg_missing:Pack",
            "Cannot import the state pack 'floe_cfg_missing:Pack'",
            "No module named 'floe_cfg_missing'",
            id="no-module",
        ),
        pytest.param(
            "floe_cfg_states:NOT_A_PACK",
            "'floe_cfg_states:NOT_A_PACK' for field 'packs[0]'",
            "It is an int (42), without a floe_register_states method.",
            id="not-a-pack",
        ),
        pytest.param(
            "floe_cfg_states:Packing",
            "is not a state pack",
            "has no floe_register_states method",
            id="a-state-is-not-a-pack",
        ),
        pytest.param(
            "floe_cfg_states:NeedsArguments",
            "is not a state pack",
            "Creating it raised TypeError",
            id="needs-arguments",
        ),
    ],
)
def test_bad_packs(write: Callable[..., Path], pack: str, what: str, why: str) -> None:
    error = config_error(write(f"name: x\npacks: ['{pack}']\n"), "packs[0]")
    assert what in error.what
    assert error.why is not None
    assert why in error.why


# -- registering the states ------------------------------------------------------------


def test_states_are_registered_under_their_keys(
    write: Callable[..., Path], builtins: StateRegistry
) -> None:
    from floe_cfg_states import Packing, Shipped

    path = write(
        """
        name: orders
        states:
          Wrapping: floe_cfg_states:Packing
          Sent: floe_cfg_states:Shipped
        initial_state: Wrapping
        """
    )
    registry = builtins
    initial = register_config_states(load_config(path), registry)
    assert initial == "Wrapping"
    assert registry.get("Wrapping") is Packing
    assert registry.get("Sent") is Shipped
    # under its key, not its class name
    assert "Packing" not in registry
    assert registry.provider("Wrapping") == f"config {path} (states.Wrapping)"
    assert registry.provider("InitialState") == "plugin 'states'"


def test_initial_state_may_be_a_dotted_path(
    write: Callable[..., Path], builtins: StateRegistry
) -> None:
    from floe_cfg_states import Packing

    # not among the states: registered under its class name
    alone = write("name: a\ninitial_state: floe_cfg_states:Packing\n", "alone.yaml")
    assert register_config_states(load_config(alone), builtins) == "Packing"
    assert builtins.get("Packing") is Packing
    assert builtins.provider("Packing") == f"config {alone} (initial_state)"

    # among the states: it goes by its key
    keyed = write(
        "name: b\nstates: {Wrap: floe_cfg_states:Packing}\n"
        "initial_state: floe_cfg_states:Packing\n",
        "keyed.yaml",
    )
    assert register_config_states(load_config(keyed), StateRegistry()) == "Wrap"

    # a class a pack already registered keeps the pack's name
    from_pack = write(
        "name: c\npacks: [floe_cfg_states]\ninitial_state: floe_cfg_states:Other\n", "pack.yaml"
    )
    assert register_config_states(load_config(from_pack), StateRegistry()) == "ModulePacked"


def test_packs_register_their_states(write: Callable[..., Path], builtins: StateRegistry) -> None:
    path = write(
        "name: x\npacks: [floe_cfg_states:ShopPack, floe_cfg_states]\ninitial_state: Packing\n"
    )
    assert register_config_states(load_config(path), builtins) == "Packing"
    assert {"Packing", "Shipped", "ModulePacked"} <= set(builtins)
    assert builtins.provider("Packing") == f"pack 'floe_cfg_states:ShopPack' (config {path})"
    assert builtins.provider("ModulePacked") == f"pack 'floe_cfg_states' (config {path})"


def test_an_unknown_initial_state_lists_the_known_ones(
    write: Callable[..., Path], builtins: StateRegistry
) -> None:
    path = write("name: x\ninitial_state: Packign\n")
    config = load_config(path)  # a name: only a registry can tell
    with pytest.raises(ConfigError) as caught:
        register_config_states(config, builtins)
    error = caught.value
    assert error.what == f"Field 'initial_state' in {path} names an unknown state 'Packign'"
    assert error.why is not None
    assert "AwaitingConfirmation" in error.why
    assert error.context == {"source": str(path), "field": "initial_state"}


def test_two_packs_claiming_one_name_is_an_error_naming_both(
    write: Callable[..., Path], builtins: StateRegistry
) -> None:
    path = write(
        "name: x\npacks: [floe_cfg_states:ShopPack, floe_cfg_states:RivalPack]\n"
        "initial_state: Packing\n"
    )
    before = {name: builtins.get(name) for name in builtins}
    with pytest.raises(StateError) as caught:
        register_config_states(load_config(path), builtins)
    error = caught.value
    assert error.what == "State name 'Packing' is taken"
    assert error.context["registered_by"] == f"pack 'floe_cfg_states:ShopPack' (config {path})"
    assert error.context["provider"] == f"pack 'floe_cfg_states:RivalPack' (config {path})"
    assert error.why == (
        f"pack 'floe_cfg_states:ShopPack' (config {path}) registered floe_cfg_states:Packing "
        f"under it; pack 'floe_cfg_states:RivalPack' (config {path}) tried to register "
        "floe_cfg_states:Other."
    )
    # all or nothing: not even the first pack's states were registered
    assert {name: builtins.get(name) for name in builtins} == before


def test_in_a_shared_registry_a_pack_shadowing_a_built_in_state_is_an_error(
    write: Callable[..., Path], builtins: StateRegistry
) -> None:
    path = write("name: x\npacks: [floe_cfg_states:ShadowPack]\n")
    with pytest.raises(StateError) as caught:
        register_config_states(load_config(path), builtins)
    error = caught.value
    assert error.what == "State name 'InitialState' is taken"
    assert error.context["registered_by"] == "plugin 'states'"
    assert error.context["provider"] == f"pack 'floe_cfg_states:ShadowPack' (config {path})"
    assert error.why == (
        "plugin 'states' registered floe_states:InitialState under it; "
        f"pack 'floe_cfg_states:ShadowPack' (config {path}) tried to register "
        "floe_cfg_states:Other."
    )


def test_in_a_shared_registry_a_states_key_shadowing_a_built_in_state_is_an_error(
    write: Callable[..., Path], builtins: StateRegistry
) -> None:
    path = write("name: x\nstates: {InitialState: floe_cfg_states:Other}\n")
    with pytest.raises(StateError) as caught:
        register_config_states(load_config(path), builtins)
    assert caught.value.context["registered_by"] == "plugin 'states'"
    assert caught.value.context["provider"] == f"config {path} (states.InitialState)"


@pytest.mark.parametrize(
    ("pack", "what", "why"),
    [
        pytest.param(
            "floe_cfg_states:BrokenPack",
            "failed to register its states",
            "RuntimeError: the pack is broken",
            id="raises",
        ),
        pytest.param(
            "floe_cfg_states:NonStatePack",
            "registered 'Weird' as the class floe_cfg_states:NotAState, not a State subclass",
            "A machine asks its states handle_message(message, component), which floe.State "
            "defines.",
            id="non-state",
        ),
    ],
)
def test_a_pack_failing_to_register(
    write: Callable[..., Path], builtins: StateRegistry, pack: str, what: str, why: str | None
) -> None:
    path = write(f"name: x\npacks: ['{pack}']\n")
    with pytest.raises(ConfigError) as caught:
        register_config_states(load_config(path), builtins)
    error = caught.value
    assert what in error.what
    assert str(path) in error.what
    assert error.context == {"source": str(path), "field": "packs[0]"}
    assert error.why == why


def test_registering_the_same_config_twice_changes_nothing(
    write: Callable[..., Path], builtins: StateRegistry
) -> None:
    path = write("name: x\nstates: {Wrap: floe_cfg_states:Packing}\npacks: [floe_cfg_states]\n")
    register_config_states(load_config(path), builtins)
    snapshot = {name: (builtins.get(name), builtins.provider(name)) for name in builtins}
    register_config_states(load_config(path), builtins)
    assert {name: (builtins.get(name), builtins.provider(name)) for name in builtins} == snapshot


# -- rules files -----------------------------------------------------------------------


def test_rules_files(write: Callable[..., Path]) -> None:
    assert load_rules(write("- a\n- {b: 1}\n", "list.yaml")) == ["a", {"b": 1}]
    assert load_rules(write("rules: [1, 2]\n", "keyed.yaml")) == [1, 2]
    assert load_rules(write("", "empty.yaml")) == []

    not_a_list = write("a: 1\n", "map.yaml")
    with pytest.raises(ConfigError) as caught:
        load_rules(not_a_list)
    assert caught.value.what == f"The rules file {not_a_list} must hold a list, got a mapping"

    bad_rule = write("- 2024-01-31\n", "date.yaml")
    with pytest.raises(ConfigError) as caught:
        load_rules(bad_rule)
    assert caught.value.what.startswith(f"Field 'rules[0]' in {bad_rule} holds a date")

    with pytest.raises(ConfigError, match=r"The rules file .* does not exist"):
        load_rules(Path(bad_rule).with_name("missing.yaml"))


# -- PyYAML is imported only when a config is read -------------------------------------


def test_importing_floe_and_the_config_modules_does_not_import_yaml() -> None:
    probe = (
        "import sys, floe, floe.components._config, floe.components._explain, "
        "floe.components._visualize; "
        "print('yaml' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"
