"""pytest fixtures for plugin authors: ``pytest_plugins = ["floe.testing"]``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import pluggy
import pytest
from pluggy import HookImpl, Result

from ..kernel._kernel import Kernel
from ..kernel._settings import load_settings

__all__ = [
    "HookCall",
    "HookRecorder",
    "floe_hook_recorder",
    "floe_kernel_factory",
    "floe_register_plugin",
]


@attrs.frozen
class HookCall:
    """One recorded hook call."""

    name: str
    kwargs: dict[str, Any]
    result: Any


class HookRecorder:
    """Records every hook call of one kernel's plugin manager."""

    def __init__(self, manager: pluggy.PluginManager) -> None:
        self.calls: list[HookCall] = []
        self._pending: list[tuple[str, dict[str, Any]]] = []

        def before(name: str, impls: Sequence[HookImpl], kwargs: Mapping[str, Any]) -> None:
            self._pending.append((name, dict(kwargs)))

        def after(
            outcome: Result[Any], name: str, impls: Sequence[HookImpl], kwargs: Mapping[str, Any]
        ) -> None:
            recorded_name, recorded_kwargs = self._pending.pop()
            try:
                result = outcome.get_result()
            except BaseException as error:  # recorded, the caller still sees the error
                result = error
            self.calls.append(HookCall(recorded_name, recorded_kwargs, result))

        self.undo = manager.add_hookcall_monitoring(before, after)

    def names(self) -> list[str]:
        return [call.name for call in self.calls]

    def called(self, name: str) -> list[HookCall]:
        return [call for call in self.calls if call.name == name]


@pytest.fixture
def floe_kernel_factory(tmp_path: Path) -> Callable[..., Kernel]:
    """``make(*plugins, entry_points=True, **settings) -> Kernel`` (enter it yourself).

    Settings come from *settings* only (no pyproject.toml, floe.toml or environment);
    the store defaults to ``memory://`` and logging to ``off``.
    """

    def make(*plugins: object, entry_points: bool = True, **settings: Any) -> Kernel:
        settings.setdefault("store", "memory://")
        settings.setdefault("log_format", "off")
        settings.setdefault("strict_plugins", True)
        loaded = load_settings(tmp_path, env={}, **settings)
        return Kernel(loaded, plugins=plugins, entry_points=entry_points)

    return make


@pytest.fixture
def floe_hook_recorder() -> Iterator[Callable[[Kernel], HookRecorder]]:
    """``record(kernel) -> HookRecorder``: every hook call of that kernel from now on."""
    recorders: list[HookRecorder] = []

    def record(kernel: Kernel) -> HookRecorder:
        recorder = HookRecorder(kernel.plugin_manager)
        recorders.append(recorder)
        return recorder

    yield record
    for recorder in recorders:
        recorder.undo()


@pytest.fixture
def floe_register_plugin() -> Iterator[Callable[..., object]]:
    """``register(kernel, plugin, name=None)``: a plugin for this test only."""
    registered: list[tuple[pluggy.PluginManager, object]] = []

    def register(kernel: Kernel, plugin: object, name: str | None = None) -> object:
        kernel.plugin_manager.register(plugin, name=name)
        registered.append((kernel.plugin_manager, plugin))
        return plugin

    yield register
    for manager, plugin in registered:
        if manager.is_registered(plugin):
            manager.unregister(plugin)
