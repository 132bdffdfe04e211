from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import floe
from floe import ImportPathError, Kernel, PluginError, PluginWarning
from floe.kernel._plugins import import_object

STAGES = ["kernel", "first-party", "third-party", "settings", "explicit"]


class ScratchStores:
    """An explicit plugin that claims the memory scheme too (later-loaded wins)."""

    floe_plugin_name = "scratch"

    def __init__(self) -> None:
        self.opened: list[str] = []

    @floe.hookimpl
    def floe_open_store(self, url: floe.StoreURL) -> floe.Store | None:
        if url.scheme in ("memory", "scratch"):
            self.opened.append(url.raw)
            return floe.MemoryStore(url.raw)
        return None


@pytest.fixture
def settings_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "my_settings_plugin.py").write_text(
        "import floe\n\n@floe.hookimpl\ndef floe_store_schemes():\n    return ['from-settings']\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return "my_settings_plugin"


def test_load_order_is_kernel_first_party_third_party_settings_explicit(
    floe_kernel_factory: Callable[..., Kernel], settings_plugin: str
) -> None:
    kernel = floe_kernel_factory(ScratchStores(), plugins=[settings_plugin])
    stages = [info.stage for info in kernel.plugins]
    assert stages == sorted(stages, key=STAGES.index)
    names = [info.name for info in kernel.plugins]
    assert names[:4] == ["floe.memory", "floe.backoff", "floe.file-artifacts", "floe.env-secrets"]
    first_party = [info.name for info in kernel.plugins if info.stage == "first-party"]
    assert first_party == sorted(first_party)
    assert {"cli", "json", "logging", "sqlite"} <= set(first_party)
    assert names[-2:] == [settings_plugin, "scratch"]
    assert all(info.status == "loaded" for info in kernel.plugins)
    by_name = {info.name: info for info in kernel.plugins}
    assert by_name["sqlite"].distribution == "floe-kernel"
    assert "floe_open_store" in by_name["sqlite"].hooks
    assert by_name["scratch"].hooks == ("floe_open_store",)
    assert "from-settings" in kernel.hooks.store_schemes()


async def _open_and_close(kernel: Kernel) -> None:
    async with kernel:
        pass


@pytest.mark.anyio
async def test_later_plugins_answer_first_result_hooks_first(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    scratch = ScratchStores()
    async with floe_kernel_factory(scratch, store="memory://") as kernel:
        assert isinstance(kernel.store, floe.MemoryStore)
    assert scratch.opened == ["memory://"]


@pytest.mark.anyio
async def test_blocked_plugins_are_listed_and_never_called(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    kernel = floe_kernel_factory(disable_plugins=["json", "scratch"])
    by_name = {info.name: info for info in kernel.plugins}
    assert by_name["json"].status == "blocked"
    assert by_name["json"].hooks == ()
    assert "json" not in kernel.hooks.store_schemes()
    with pytest.raises(
        floe.ConfigError, match="No plugin provides stores for the scheme 'json'"
    ) as caught:
        kernel.hooks.open_store("json:///somewhere")
    assert "sqlite" in (caught.value.why or "")


def test_env_disables_plugins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLOE_DISABLE_PLUGINS", "sqlite,json")
    kernel = Kernel(floe.load_settings(tmp_path, store="memory://", log_format="off"))
    blocked = {info.name for info in kernel.plugins if info.status == "blocked"}
    assert blocked == {"sqlite", "json"}


def test_broken_plugin_is_an_error_in_strict_mode(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    with pytest.raises(PluginError) as caught:
        floe_kernel_factory(plugins=["floe_no_such_plugin_module"])
    error = caught.value
    assert "'floe_no_such_plugin_module'" in error.what
    assert "Cannot import module" in (error.why or "")
    assert error.context["plugin"] == "floe_no_such_plugin_module"
    assert "FLOE_DISABLE_PLUGINS" in (error.fix or "")


def test_broken_plugin_warns_and_is_skipped_otherwise(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("FLOE_STRICT_PLUGINS")
    (tmp_path / "exploding_plugin.py").write_text("raise RuntimeError('kaboom at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = floe.load_settings(tmp_path, env={}, plugins=["exploding_plugin"], store="memory://")
    with pytest.warns(PluginWarning, match="exploding_plugin"):
        kernel = Kernel(settings)
    failed = [info for info in kernel.plugins if info.status == "failed"]
    assert [info.name for info in failed] == ["exploding_plugin"]
    assert "kaboom at import" in (failed[0].error or "")
    assert failed[0].traceback is not None
    assert "RuntimeError" in failed[0].traceback
    assert any(info.name == "sqlite" and info.status == "loaded" for info in kernel.plugins)


def test_misspelled_hook_is_reported_with_a_hint(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    class Typo:
        floe_plugin_name = "typo"

        @floe.hookimpl
        def floe_open_stor(self, url: object) -> None:
            return None

    with pytest.raises(PluginError, match="did you mean 'floe_open_store'"):
        floe_kernel_factory(Typo())


def test_wrong_hook_parameters_are_reported(floe_kernel_factory: Callable[..., Kernel]) -> None:
    class WrongArgs:
        floe_plugin_name = "wrong-args"

        @floe.hookimpl
        def floe_open_store(self, uri: object) -> None:
            return None

    with pytest.raises(PluginError, match="implements a hook wrongly") as caught:
        floe_kernel_factory(WrongArgs())
    assert "uri" in (caught.value.why or "")


def test_duplicate_plugin_names_are_reported(floe_kernel_factory: Callable[..., Kernel]) -> None:
    first, second = ScratchStores(), ScratchStores()
    with pytest.raises(PluginError, match="registered twice"):
        floe_kernel_factory(first, second)


@pytest.mark.parametrize(
    ("path", "match"),
    [
        ("", "Malformed"),
        ("pkg.mod:", "Malformed"),
        ("floe_surely_missing_module", "Cannot import module"),
        ("floe:NoSuchThing", "has no attribute"),
    ],
)
def test_import_object_errors(path: str, match: str) -> None:
    with pytest.raises(ImportPathError, match=match):
        import_object(path)


def test_import_object_resolves_nested_attributes() -> None:
    assert import_object("floe:RunStatus.COMPLETED") is floe.RunStatus.COMPLETED
    assert import_object("floe.hookspecs").__name__ == "floe.hookspecs"
