"""The async API in-process: a running watcher, real files edited under it, both backends.

Each test writes a component config and a state-pack module (a real ``.py`` file on
``sys.path``) into its own directory, starts ``floe_reload.watch`` in a task group and
edits the files the way an editor saves them (write a new file, rename it over the old
one) or in place. Every outcome is awaited through the watcher's callbacks.
"""

from __future__ import annotations

import os
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import floe_reload
import pytest
from floe_reload import Reloaded, ReloadError, Watcher

import floe

pytestmark = pytest.mark.anyio

KernelFactory = Callable[..., floe.Kernel]

TIMEOUT = 15
"""Seconds to wait for the watcher to notice an edit (it takes well under one)."""
FAST: dict[str, Any] = {"debounce_ms": 400, "step_ms": 30, "poll_ms": 50}

# Received --pack--> Packing --ship--> Shipped; every other message is ignored.
PACK_V1 = """
from floe import State, Transition


class Received(State):
    transitions = (Transition("Received", "pack", "Packing"),)


class Packing(State):
    transitions = (Transition("Packing", "ship", "Shipped"),)


class Shipped(State):
    pass


class Pack:
    def floe_register_states(self, register):
        register("Received", Received)
        register("Packing", Packing)
        register("Shipped", Shipped)
"""

# The new version: shipping now delivers (a new state), and Packing accepts "weigh".
PACK_V2 = """
from floe import State, Transition


class Received(State):
    transitions = (Transition("Received", "pack", "Packing"),)


class Packing(State):
    transitions = (
        Transition("Packing", "ship", "Delivered"),
        Transition("Packing", "weigh", "Packing"),
    )


class Shipped(State):
    pass


class Delivered(State):
    pass


class Pack:
    def floe_register_states(self, register):
        register("Received", Received)
        register("Packing", Packing)
        register("Shipped", Shipped)
        register("Delivered", Delivered)
"""

# Valid Python, but the pack no longer has the state the component is in.
PACK_WITHOUT_PACKING = """
from floe import State, Transition


class Received(State):
    transitions = (Transition("Received", "pack", "Shipped"),)


class Shipped(State):
    pass


class Pack:
    def floe_register_states(self, register):
        register("Received", Received)
        register("Shipped", Shipped)
"""

BROKEN_PYTHON = """
from floe import State

class Packing(State:
    pass
"""


class Workspace:
    """A directory on sys.path holding a component config and its state-pack module."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.module = f"parcel_states_{uuid.uuid4().hex[:10]}"
        self.module_file = root / f"{self.module}.py"
        self.config = root / "parcel.yaml"
        self.rules = root / "rules.yaml"

    def config_text(self, *, name: str = "parcel", rules: str = "[{max_weight: 10}]") -> str:
        return (
            f"name: {name}\n"
            "initial_state: Received\n"
            f'packs: ["{self.module}:Pack"]\n'
            f"rules: {rules}\n"
        )

    def create(self) -> None:
        self.module_file.write_text(textwrap.dedent(PACK_V1), encoding="utf-8")
        self.config.write_text(self.config_text(), encoding="utf-8")
        self.rules.write_text("- {max_weight: 10}\n", encoding="utf-8")


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    space = Workspace(tmp_path)
    space.create()
    monkeypatch.syspath_prepend(str(tmp_path))
    yield space
    for name in [name for name in sys.modules if name.startswith(space.module)]:
        del sys.modules[name]


async def save(path: Path, text: str) -> None:
    """Save *path* as editors do: write a new file, then rename it over the old one."""
    temporary = path.with_name(f".{path.name}.saving")
    await anyio.Path(temporary).write_text(text, encoding="utf-8")
    os.replace(temporary, path)


async def overwrite(path: Path, text: str) -> None:
    """Save *path* in place (truncate and write)."""
    await anyio.Path(path).write_text(text, encoding="utf-8")


class Outcomes:
    """What the watcher reported, in order: its on_reload and on_error callbacks."""

    def __init__(self) -> None:
        self.items: list[Reloaded | ReloadError] = []
        self._read = 0
        self._arrived: anyio.Event | None = None

    def put(self, item: Reloaded | ReloadError) -> None:
        self.items.append(item)
        if self._arrived is not None:
            self._arrived.set()

    async def next(self) -> Reloaded | ReloadError:
        with anyio.fail_after(TIMEOUT):
            while self._read == len(self.items):
                self._arrived = anyio.Event()
                await self._arrived.wait()
        item = self.items[self._read]
        self._read += 1
        return item

    async def reloaded(self) -> Reloaded:
        item = await self.next()
        assert isinstance(item, Reloaded), f"expected a reload, got:\n{item}"
        return item

    async def failed(self) -> ReloadError:
        item = await self.next()
        assert isinstance(item, ReloadError), f"expected an error, got {item}"
        return item


async def start(
    group: anyio.abc.TaskGroup,
    workspace: Workspace,
    engine: floe.Engine,
    outcomes: Outcomes,
    **options: Any,
) -> Watcher:
    watcher: Watcher = await group.start(
        partial(
            floe_reload.watch,
            workspace.config,
            engine=engine,
            on_reload=outcomes.put,
            on_error=outcomes.put,
            **FAST,
            **options,
        )
    )
    return watcher


def transition(from_state: str, to_state: str) -> floe.Transitioned:
    return floe.Transitioned(from_state, to_state)


# -- reloading state packs and rules ----------------------------------------------------


@pytest.mark.parametrize("store", ["memory", "sqlite"])
async def test_a_pack_edit_reloads_the_states_and_keeps_the_current_state(
    floe_kernel_factory: KernelFactory, workspace: Workspace, tmp_path: Path, store: str
) -> None:
    url = "memory://" if store == "memory" else f"sqlite:///{tmp_path / 'floe.db'}"
    outcomes = Outcomes()
    async with floe_kernel_factory(store=url) as kernel, anyio.create_task_group() as group:
        engine = floe.Engine(kernel)
        watcher = await start(group, workspace, engine, outcomes)
        component = watcher.component
        assert component is engine.get("parcel")
        assert await component.handle_message("pack") == transition("Received", "Packing")
        assert await component.handle_message("weigh") is None  # not in the first version

        await save(workspace.module_file, PACK_V2)
        report = await outcomes.reloaded()
        assert report.modules == (workspace.module,)
        assert report.changed_files == (str(workspace.module_file.resolve()),)
        assert report.rules_replaced is False
        assert report.states == ("Delivered", "Packing", "Received", "Shipped")
        assert str(report) == (
            f"Reloaded component 'parcel' (state Packing kept): "
            f"modules reloaded: {workspace.module}"
        )
        # the same state, now an instance of the new class, with the new behaviour
        assert component.state == "Packing"
        assert type(component.state_machine.current_state) is sys.modules[workspace.module].Packing
        assert await component.handle_message("weigh") == transition("Packing", "Packing")
        assert await component.handle_message("ship") == transition("Packing", "Delivered")
        # the new classes are the component's, in its config's namespace: the kernel's
        # registry is as the kernel started
        namespace = component.state_machine.registry
        assert namespace.get("Delivered") is sys.modules[workspace.module].Delivered
        assert namespace.parent is not None
        assert "Packing" not in kernel.states
        assert "Delivered" not in kernel.states
        history = [event.kind for event in await engine.history("parcel")]
        assert history.count("engine.component.registered") == 1
        assert history.count("state.changed") == 3
        assert watcher.reloads == 1
        assert watcher.failures == 0
        group.cancel_scope.cancel()


async def test_a_rules_edit_replaces_the_rules_and_journals_them(
    floe_kernel_factory: KernelFactory, workspace: Workspace
) -> None:
    outcomes = Outcomes()
    async with floe_kernel_factory() as kernel, anyio.create_task_group() as group:
        engine = floe.Engine(kernel)
        updates: list[Any] = []
        kernel.bus.subscribe("component.rules.updated", "test", updates.append)
        watcher = await start(group, workspace, engine, outcomes)
        component = watcher.component
        await component.handle_message("pack")

        await save(workspace.config, workspace.config_text(rules="[{max_weight: 20}, express]"))
        report = await outcomes.reloaded()
        assert str(report) == (
            "Reloaded component 'parcel' (state Packing kept): rules replaced (2 rules)"
        )
        assert component.rules == ({"max_weight": 20}, "express")
        assert component.state == "Packing"
        events = await engine.history("parcel")
        assert events[-1].kind == "component.rules.updated"
        assert events[-1].data["rules"] == [{"max_weight": 20}, "express"]
        # a pack-only reload leaves rules changed at run time alone
        component.update_rules(["set at run time"])
        await component.flush()
        await save(workspace.module_file, PACK_V2)
        assert (await outcomes.reloaded()).rules_replaced is False
        assert list(component.rules) == ["set at run time"]
        group.cancel_scope.cancel()
    assert [event.data["rules"] for event in updates] == [
        [{"max_weight": 20}, "express"],
        ["set at run time"],
    ]


async def test_a_rules_file_is_watched_and_wins_over_the_config(
    floe_kernel_factory: KernelFactory, workspace: Workspace
) -> None:
    outcomes = Outcomes()
    async with floe_kernel_factory() as kernel, anyio.create_task_group() as group:
        engine = floe.Engine(kernel)
        watcher = await start(group, workspace, engine, outcomes, rules_path=workspace.rules)
        assert watcher.files == (
            workspace.config.resolve(),
            workspace.rules.resolve(),
            workspace.module_file.resolve(),
        )
        component = watcher.component
        await overwrite(workspace.rules, "rules:\n  - {max_weight: 10}\n  - {max_weight: 99}\n")
        report = await outcomes.reloaded()
        assert report.rules_replaced is True
        assert report.changed_files == (str(workspace.rules.resolve()),)
        assert component.rules == ({"max_weight": 10}, {"max_weight": 99})
        # the config's own rules: do not apply while a rules file is given
        await save(workspace.config, workspace.config_text(rules="[ignored]"))
        assert (await outcomes.reloaded()).rules_replaced is False
        assert component.rules == ({"max_weight": 10}, {"max_weight": 99})
        # a broken rules file is rejected like a broken config
        await overwrite(workspace.rules, "- {max_weight: 1}\n- [unclosed\n")
        error = await outcomes.failed()
        assert "rules file" in error.what
        assert error.context["line"] == 3
        assert component.rules == ({"max_weight": 10}, {"max_weight": 99})
        group.cancel_scope.cancel()


async def test_naming_a_new_module_watches_it_too(
    floe_kernel_factory: KernelFactory, workspace: Workspace
) -> None:
    extra = f"{workspace.module}_extra"
    extra_file = workspace.root / f"{extra}.py"
    extra_file.write_text(
        "from floe import State\n\n\nclass Lost(State):\n    pass\n", encoding="utf-8"
    )
    outcomes = Outcomes()
    async with floe_kernel_factory() as kernel, anyio.create_task_group() as group:
        watcher = await start(group, workspace, floe.Engine(kernel), outcomes)
        await save(
            workspace.config,
            workspace.config_text() + f'states:\n  Lost: "{extra}:Lost"\n',
        )
        report = await outcomes.reloaded()
        assert "Lost" in report.states
        assert extra_file.resolve() in watcher.files
        # edits of the new module are picked up from now on
        await save(
            extra_file,
            "from floe import State, Transition\n\n\nclass Lost(State):\n"
            "    transitions = (Transition('Lost', 'found', 'Received'),)\n",
        )
        report = await outcomes.reloaded()
        assert report.modules == (extra,)
        namespace = watcher.component.state_machine.registry
        assert namespace.get("Lost").transitions[0].message == "found"
        assert "Lost" not in kernel.states
        group.cancel_scope.cancel()


# -- broken edits: reported, and the last good configuration stays ----------------------


async def test_broken_edits_are_reported_and_the_last_good_config_stays(
    floe_kernel_factory: KernelFactory, workspace: Workspace
) -> None:
    outcomes = Outcomes()
    async with floe_kernel_factory() as kernel, anyio.create_task_group() as group:
        engine = floe.Engine(kernel)
        watcher = await start(group, workspace, engine, outcomes)
        component = watcher.component
        await component.handle_message("pack")
        packing = type(component.state_machine.current_state)
        rules = component.rules

        def unchanged() -> None:
            assert component.state == "Packing"
            assert type(component.state_machine.current_state) is packing
            assert component.state_machine.registry.get("Packing") is packing
            assert component.rules == rules
            assert "Delivered" not in component.state_machine.registry
            assert "Packing" not in kernel.states

        # a module that does not compile
        await save(workspace.module_file, BROKEN_PYTHON)
        error = await outcomes.failed()
        assert error.what == (
            f"Could not reload component 'parcel': Cannot import the changed module "
            f"{workspace.module!r} ({workspace.module_file.resolve()})"
        )
        assert error.why is not None
        assert error.why.startswith("SyntaxError at line 4")
        assert error.fix is not None
        assert error.fix.endswith(
            "The component keeps its last good configuration until a fixed version is saved."
        )
        assert error.context["component"] == "parcel"
        assert isinstance(error, floe.ConfigError)
        unchanged()

        # still broken: an edit of the config alone reports the module again
        await save(workspace.config, workspace.config_text(rules="[{max_weight: 11}]"))
        assert "Cannot import the changed module" in (await outcomes.failed()).what
        unchanged()

        # the module as it was: it needs no new import, and the config edit applies
        await save(workspace.module_file, PACK_V1)
        report = await outcomes.reloaded()
        assert (report.modules, report.rules_replaced) == ((), True)
        rules = component.rules
        assert rules == ({"max_weight": 11},)
        unchanged()

        # YAML that does not parse, with its line and column
        await save(workspace.config, "name: parcel\nrules: [\n")
        error = await outcomes.failed()
        assert "YAML syntax error at line 3" in error.what
        assert error.context["line"] == 3
        unchanged()

        # a dotted path that does not import (floe.explain calls the config invalid)
        await save(workspace.config, workspace.config_text().replace(workspace.module, "nowhere_x"))
        error = await outcomes.failed()
        assert "Cannot import the state pack 'nowhere_x:Pack'" in error.what
        assert "No module named 'nowhere_x'" in (error.why or "")
        unchanged()

        # a field of the wrong type
        await save(workspace.config, workspace.config_text(rules="5"))
        error = await outcomes.failed()
        assert "Field 'rules'" in error.what
        assert error.context["field"] == "rules"
        unchanged()

        # another component's name
        await save(workspace.config, workspace.config_text(name="other"))
        error = await outcomes.failed()
        assert error.what == (
            "Could not reload component 'parcel': The config now names the component 'other'"
        )
        unchanged()

        # the config back in order, then the new pack
        await save(workspace.config, workspace.config_text(rules="[{max_weight: 11}]"))
        assert (await outcomes.reloaded()).rules_replaced is False
        await save(workspace.module_file, PACK_V2)
        report = await outcomes.reloaded()
        assert report.modules == (workspace.module,)
        assert report.state == "Packing"
        assert await component.handle_message("ship") == transition("Packing", "Delivered")
        assert watcher.failures == 6
        group.cancel_scope.cancel()


async def test_an_edit_that_drops_the_current_state_is_rejected(
    floe_kernel_factory: KernelFactory, workspace: Workspace
) -> None:
    outcomes = Outcomes()
    async with floe_kernel_factory() as kernel, anyio.create_task_group() as group:
        watcher = await start(group, workspace, floe.Engine(kernel), outcomes)
        component = watcher.component
        await component.handle_message("pack")
        await save(workspace.module_file, PACK_WITHOUT_PACKING)
        error = await outcomes.failed()
        assert error.what == (
            "Could not reload component 'parcel': The new configuration has no state "
            "'Packing', the component's current state"
        )
        known = (error.why or "").removeprefix("It knows: ").rstrip(".").split(", ")
        assert "Shipped" in known
        assert "InitialState" in known
        assert "Packing" not in known
        assert component.state == "Packing"
        assert await component.handle_message("ship") == transition("Packing", "Shipped")
        # once the component has left the state, the same version applies
        await save(workspace.config, workspace.config_text(rules="[]"))
        report = await outcomes.reloaded()
        assert report.state == "Shipped"
        assert "Packing" not in report.states
        group.cancel_scope.cancel()


async def test_a_state_class_that_cannot_be_created_is_rejected(
    floe_kernel_factory: KernelFactory, workspace: Workspace
) -> None:
    def failing_init(state: str) -> str:
        return PACK_V1.replace(
            f"class {state}(State):\n",
            f"class {state}(State):\n    def __init__(self):\n        raise RuntimeError('no')\n\n",
        )

    outcomes = Outcomes()
    async with floe_kernel_factory() as kernel, anyio.create_task_group() as group:
        watcher = await start(group, workspace, floe.Engine(kernel), outcomes)
        component = watcher.component
        await component.handle_message("pack")
        # the state the component is in
        await save(workspace.module_file, failing_init("Packing"))
        error = await outcomes.failed()
        assert error.what == (
            "Could not reload component 'parcel': The new class of state 'Packing' "
            "(Packing) cannot be created"
        )
        assert error.why == "Creating it raised RuntimeError: no"
        # the initial state: creating the component fails, which explain reports
        await save(workspace.module_file, failing_init("Received"))
        error = await outcomes.failed()
        assert error.what == "Could not reload component 'parcel': Unexpected RuntimeError: no"
        assert component.state == "Packing"
        assert await component.handle_message("ship") == transition("Packing", "Shipped")
        group.cancel_scope.cancel()


# -- a config's own state names ---------------------------------------------------------

# FlexiFlow's state-pack example: the config names its own InitialState.
FLEXIFLOW_STATES = """
from floe import State, Transition


class InitialState(State):
    transitions = (Transition("InitialState", "start", "Processing"),)


class ProcessingState(State):
    transitions = (Transition("Processing", "complete", "Complete"),)


class CompleteState(State):
    pass
"""


def flexiflow_config(module: str) -> str:
    return (
        "name: my_component\n"
        "states:\n"
        f'  InitialState: "{module}:InitialState"\n'
        f'  Processing: "{module}:ProcessingState"\n'
        f'  Complete: "{module}:CompleteState"\n'
        "initial_state: InitialState\n"
        "rules: []\n"
    )


def registry_contents(registry: floe.StateRegistry) -> dict[str, tuple[type, str]]:
    return {name: (registry.get(name), registry.provider(name)) for name in registry.names()}


@pytest.mark.parametrize("existing", [False, True], ids=["new", "created-from-the-config"])
async def test_a_config_naming_its_own_initial_state_is_watched_and_reloaded(
    floe_kernel_factory: KernelFactory, workspace: Workspace, existing: bool
) -> None:
    module = f"{workspace.module}_flexi"
    module_file = workspace.root / f"{module}.py"
    module_file.write_text(textwrap.dedent(FLEXIFLOW_STATES), encoding="utf-8")
    config = workspace.root / "my_component.yaml"
    config.write_text(flexiflow_config(module), encoding="utf-8")
    outcomes = Outcomes()
    async with floe_kernel_factory() as kernel, anyio.create_task_group() as group:
        engine = floe.Engine(kernel)
        kernel_states = registry_contents(kernel.states)
        built_in = kernel.states.get("InitialState")
        if existing:
            engine.create_component(config)
        watcher: Watcher = await group.start(
            partial(
                floe_reload.watch,
                config,
                engine=engine,
                on_reload=outcomes.put,
                on_error=outcomes.put,
                **FAST,
            )
        )
        component = watcher.component
        assert type(component.state_machine.current_state) is sys.modules[module].InitialState
        assert await component.handle_message("skip") is None  # not in the first version

        # the new version: InitialState may now skip straight to Complete
        await save(
            module_file,
            FLEXIFLOW_STATES.replace(
                '"start", "Processing"),)',
                '"start", "Processing"),\n'
                '                   Transition("InitialState", "skip", "Complete"))',
            ),
        )
        report = await outcomes.reloaded()
        assert (report.state, report.modules) == ("InitialState", (module,))
        assert report.states == ("Complete", "InitialState", "Processing")
        assert type(component.state_machine.current_state) is sys.modules[module].InitialState
        assert await component.handle_message("skip") == transition("InitialState", "Complete")

        # the kernel's registry is as the kernel started: other components get the built-in
        assert registry_contents(kernel.states) == kernel_states
        other = engine.register(floe.Component("other"))
        assert type(other.state_machine.current_state) is built_in
        assert await other.handle_message("start") == transition(
            "InitialState", "AwaitingConfirmation"
        )
        await engine.flush()
        group.cancel_scope.cancel()


# -- which component --------------------------------------------------------------------


async def test_an_already_registered_component_is_the_one_reloaded(
    floe_kernel_factory: KernelFactory, workspace: Workspace
) -> None:
    outcomes = Outcomes()
    async with floe_kernel_factory() as kernel, anyio.create_task_group() as group:
        engine = floe.Engine(kernel)
        component = engine.create_component(str(workspace.config))
        await component.handle_message("pack")
        watcher = await start(group, workspace, engine, outcomes)
        assert watcher.component is component
        await save(workspace.module_file, PACK_V2)
        await outcomes.reloaded()
        assert await component.handle_message("ship") == transition("Packing", "Delivered")
        # the config, built again, has the new classes too
        engine.unregister("parcel")
        again = engine.create_component(str(workspace.config), replace=True)
        assert again.state == "Received"
        assert "Delivered" in again.state_machine.registry
        assert "Delivered" not in kernel.states
        group.cancel_scope.cancel()


async def test_a_stored_component_is_restored_in_its_state(
    floe_kernel_factory: KernelFactory, workspace: Workspace, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'floe.db'}"
    async with floe_kernel_factory(store=url) as kernel:
        engine = floe.Engine(kernel)
        component = engine.create_component(str(workspace.config))
        await component.handle_message("pack")
    outcomes = Outcomes()
    # a new kernel, as in another process: the watcher finds the component in the store
    async with floe_kernel_factory(store=url) as kernel, anyio.create_task_group() as group:
        engine = floe.Engine(kernel)
        watcher = await start(group, workspace, engine, outcomes, rules_path=workspace.rules)
        assert watcher.component.state == "Packing"
        assert watcher.component.rules == ({"max_weight": 10},)
        await overwrite(workspace.rules, "- {max_weight: 15}\n")
        await outcomes.reloaded()
        group.cancel_scope.cancel()
    async with floe_kernel_factory(store=url) as kernel:
        restored = await floe.Engine(kernel).restore("parcel", config=workspace.config)
        assert (restored.state, restored.rules) == ("Packing", ({"max_weight": 15},))


# -- bad use ----------------------------------------------------------------------------


async def test_an_invalid_config_at_start_raises(
    floe_kernel_factory: KernelFactory, workspace: Workspace
) -> None:
    await save(workspace.config, "name: parcel\nrules: 5\n")
    async with floe_kernel_factory() as kernel:
        engine = floe.Engine(kernel)
        with pytest.raises(floe.ConfigError, match="Field 'rules'"):
            await floe_reload.watch(workspace.config, engine=engine)
        with pytest.raises(floe.ConfigError, match="does not exist"):
            await floe_reload.watch(workspace.root / "missing.yaml", engine=engine)
        assert "parcel" not in engine


async def test_bad_arguments_are_config_errors(
    floe_kernel_factory: KernelFactory, workspace: Workspace
) -> None:
    async with floe_kernel_factory() as kernel:
        engine = floe.Engine(kernel)
        with pytest.raises(floe.ConfigError, match=r"needs a floe\.Engine"):
            Watcher(workspace.config, engine=kernel)  # type: ignore[arg-type]
        with pytest.raises(floe.ConfigError, match="debounce_ms=0"):
            Watcher(workspace.config, engine=engine, debounce_ms=0)
        with pytest.raises(floe.StateError, match="has not started"):
            _ = Watcher(workspace.config, engine=engine).component
        # the good case next to the bad ones
        watcher = Watcher(workspace.config, engine=engine)
        component = await watcher.open()
        assert watcher.component is component
        assert watcher.config.name == "parcel"
