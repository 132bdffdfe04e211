"""visualize(): Mermaid state diagrams from the states' declared transitions."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from floe import ConfigError, Kernel, StateRegistry
from floe.components._state_machine import StateMachine
from floe.components._visualize import visualize

REVIEW_MODULE = """
from floe.kernel._states import State, Transition


class Draft(State):
    transitions = (Transition("Draft", "submit", "In Review"),)


class Reviewing(State):
    transitions = (
        Transition("In Review", "approve", "Published"),
        Transition("In Review", "reject", "Draft", guard='reason != "" ; "quoted" #1'),
    )


class Published(State):
    pass
"""

# the default pack's machine, as the issue fixes it: (from, message, to)
DEFAULT_EDGES = {
    ("InitialState", "start", "AwaitingConfirmation"),
    ("AwaitingConfirmation", "confirm", "ProcessingRequest"),
    ("AwaitingConfirmation", "cancel", "InitialState"),
    ("ProcessingRequest", "complete", "InitialState"),
    ("ProcessingRequest", "error", "ErrorHandling"),
    ("ErrorHandling", "acknowledge", "InitialState"),
}


@pytest.fixture(scope="module", autouse=True)
def review_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    directory = tmp_path_factory.mktemp("visualize_modules")
    (directory / "floe_viz_review.py").write_text(REVIEW_MODULE)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(directory))
        yield


@pytest.fixture
def builtins(floe_kernel_factory: Callable[..., Kernel]) -> StateRegistry:
    registry = StateRegistry()
    floe_kernel_factory().hooks.register_states(registry)
    return registry


def edges(diagram: str) -> set[tuple[str, str, str]]:
    """(from, label, to) of every ``A --> B: label`` line."""
    found = set()
    for line in diagram.splitlines():
        if "-->" in line and not line.strip().startswith("[*]"):
            left, _, rest = line.strip().partition(" --> ")
            right, _, label = rest.partition(": ")
            found.add((left, label, right))
    return found


def test_the_default_machine_from_a_config(tmp_path: Path, builtins: StateRegistry) -> None:
    config = tmp_path / "orders.yaml"
    config.write_text("name: orders\n")
    diagram = visualize(config, registry=builtins)
    lines = diagram.splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert lines[1] == "    [*] --> InitialState"
    assert diagram.endswith("\n")
    drawn = {(left, label.split(" [")[0], right) for left, label, right in edges(diagram)}
    assert drawn == DEFAULT_EDGES
    # the confirm guard is drawn from the default pack's declaration
    (confirm,) = [t for t in builtins.transitions() if t.message == "confirm"]
    assert confirm.guard
    assert not {"#", ";"} & set(confirm.guard)
    escaped = confirm.guard.replace('"', "#quot;")
    assert (
        "AwaitingConfirmation",
        f"confirm [{escaped}]",
        "ProcessingRequest",
    ) in edges(diagram)
    # the default registry is used when none is given (no kernel runs here)
    assert visualize(config) == diagram


def test_the_whole_registry(builtins: StateRegistry) -> None:
    diagram = visualize(builtins)
    assert "[*]" not in diagram
    drawn = {(left, label.split(" [")[0], right) for left, label, right in edges(diagram)}
    assert drawn == DEFAULT_EDGES


def test_a_custom_config_with_names_mermaid_cannot_take(
    tmp_path: Path, builtins: StateRegistry
) -> None:
    config = tmp_path / "review.yaml"
    config.write_text(
        textwrap.dedent(
            """
            name: article
            initial_state: Draft
            states:
              Draft: floe_viz_review:Draft
              In Review: floe_viz_review:Reviewing
              Published: floe_viz_review:Published
            """
        )
    )
    diagram = visualize(config, "mermaid", registry=builtins)
    assert diagram == textwrap.dedent(
        """\
        stateDiagram-v2
            state "In Review" as state_1
            [*] --> Draft
            Draft --> state_1: submit
            state_1 --> Published: approve
            state_1 --> Draft: reject [reason != #quot;#quot; #59; #quot;quoted#quot; #35;1]
            Published
        """
    )
    # drawing registered the states in a copy: the registry given is unchanged
    assert "Draft" not in builtins


def test_a_machine_is_drawn_from_its_current_state(builtins: StateRegistry) -> None:
    machine = StateMachine.from_name("ProcessingRequest", registry=builtins)
    diagram = visualize(machine)
    assert diagram.splitlines()[1] == "    [*] --> ProcessingRequest"
    drawn = {(left, label.split(" [")[0], right) for left, label, right in edges(diagram)}
    assert drawn == DEFAULT_EDGES


def test_an_unknown_format_is_a_config_error(tmp_path: Path, builtins: StateRegistry) -> None:
    config = tmp_path / "orders.yaml"
    config.write_text("name: orders\n")
    with pytest.raises(ConfigError) as caught:
        visualize(config, format="graphviz", registry=builtins)
    error = caught.value
    assert error.what == "Unknown diagram format 'graphviz'"
    assert error.why == "visualize() draws: mermaid."
    assert error.context == {"format": "graphviz"}
    with pytest.raises(ConfigError, match="Unknown diagram format 'dot'"):
        visualize(builtins, format="dot")


def test_an_invalid_config_raises_what_loading_raises(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"The component config .*nope\.yaml does not exist"):
        visualize(tmp_path / "nope.yaml")
    config = tmp_path / "bad.yaml"
    config.write_text("name: x\ninitial_state: Nowhere\n")
    with pytest.raises(ConfigError, match="names an unknown state 'Nowhere'"):
        visualize(config)
