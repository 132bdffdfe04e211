from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import floe
from floe import ConfigError, Settings, load_settings


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={})
    assert settings == Settings()
    assert settings.store == "sqlite:///.floe/floe.db"
    assert settings.backend == "trio"
    assert settings.sources == {}


def test_precedence_defaults_pyproject_floe_toml_env_arguments(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        '[tool.floe]\nstore = "json:///from-pyproject"\nlog_level = "INFO"\n'
        'backend = "asyncio"\nbus_queue_size = 5\n',
    )
    write(tmp_path / "floe.toml", 'store = "sqlite:///from-floe-toml"\nlog_level = "ERROR"\n')
    env = {"FLOE_STORE": "memory://", "FLOE_BUS_QUEUE_SIZE": "7", "UNRELATED": "x"}
    settings = load_settings(tmp_path, env=env, bus_queue_size=9)
    assert settings.backend == "asyncio"  # pyproject only
    assert settings.log_level == "ERROR"  # floe.toml beats pyproject
    assert settings.store == "memory://"  # env beats files
    assert settings.bus_queue_size == 9  # arguments beat env
    assert settings.sources["backend"].endswith("pyproject.toml [tool.floe]")
    assert settings.sources["log_level"].endswith("floe.toml")
    assert settings.sources["store"] == "$FLOE_STORE"
    assert settings.sources["bus_queue_size"] == "arguments"


def test_env_lists_and_booleans(tmp_path: Path) -> None:
    env = {
        "FLOE_PLUGINS": "a.b, c.d:Plugin ,",
        "FLOE_DISABLE_PLUGINS": "json",
        "FLOE_STRICT_PLUGINS": "yes",
        "FLOE_LOG_LEVEL": "debug",
        "FLOE_ARTIFACT_STORE": "",
    }
    settings = load_settings(tmp_path, env=env)
    assert settings.plugins == ("a.b", "c.d:Plugin")
    assert settings.disable_plugins == ("json",)
    assert settings.strict_plugins is True
    assert settings.log_level == "DEBUG"
    assert settings.artifact_store is None


def test_tables_are_plugin_sections(tmp_path: Path) -> None:
    write(
        tmp_path / "pyproject.toml",
        '[tool.floe.server]\nport = 8000\n[tool.floe]\nstore = "memory://"\n',
    )
    write(tmp_path / "floe.toml", "[server]\nhost = '127.0.0.1'\n")
    settings = load_settings(tmp_path, env={}, sections={"server": {"port": 9000}})
    assert settings.section("server") == {"port": 9000, "host": "127.0.0.1"}
    assert settings.section("missing") == {}


@pytest.mark.parametrize(
    ("source", "key", "value"),
    [
        ("pyproject", "log_format", '"xml"'),
        ("pyproject", "bus_queue_size", "0"),
        ("pyproject", "strict_plugins", '"yes"'),
        ("floe.toml", "plugins", '"not-a-list"'),
        ("floe.toml", "backend", '"curio"'),
        ("floe.toml", "store", "3"),
    ],
)
def test_bad_value_in_a_file_names_the_file_and_key(
    tmp_path: Path, source: str, key: str, value: str
) -> None:
    if source == "pyproject":
        path = write(tmp_path / "pyproject.toml", f"[tool.floe]\n{key} = {value}\n")
    else:
        path = write(tmp_path / "floe.toml", f"{key} = {value}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, env={})
    error = caught.value
    assert str(path) in error.what
    assert repr(key) in error.what
    assert error.context["key"] == key
    assert error.fix


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FLOE_LOG_FORMAT", "xml"),
        ("FLOE_BUS_QUEUE_SIZE", "many"),
        ("FLOE_BUS_QUEUE_SIZE", "-3"),
        ("FLOE_STRICT_PLUGINS", "maybe"),
        ("FLOE_BACKEND", "curio"),
        ("FLOE_LOG_LEVEL", "LOUD"),
        ("FLOE_RUN_LEASE_SECONDS", "soon"),
        ("FLOE_RUN_LEASE_SECONDS", "0"),
    ],
)
def test_bad_value_in_the_environment_names_the_variable(
    tmp_path: Path, name: str, value: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, env={name: value})
    assert f"${name}" in caught.value.what
    assert caught.value.context["source"] == f"${name}"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("log_format", "xml"),
        ("bus_queue_size", 0),
        ("plugins", "x"),
        ("store", ""),
        ("run_lease_seconds", 0.01),
        ("run_lease_seconds", True),
        ("run_lease_seconds", "30"),
    ],
)
def test_bad_argument_is_named(tmp_path: Path, key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match="in arguments"):
        load_settings(tmp_path, env={}, **{key: value})


def test_unknown_key_is_an_error_listing_the_settings(tmp_path: Path) -> None:
    write(tmp_path / "floe.toml", 'stor = "memory://"\n')
    with pytest.raises(ConfigError, match="Unknown setting 'stor'") as caught:
        load_settings(tmp_path, env={})
    assert "store" in (caught.value.why or "")
    with pytest.raises(ConfigError, match="Unknown setting 'colour'"):
        load_settings(tmp_path / "none", env={}, colour=True)


def test_toml_syntax_error_names_the_file_and_position(tmp_path: Path) -> None:
    path = write(tmp_path / "floe.toml", 'store = "memory://\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, env={})
    assert str(path) in caught.value.what
    assert "line 1" in (caught.value.why or "")


def test_working_directory_is_the_default_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "floe.toml", 'store = "memory://"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FLOE_STORE", raising=False)
    assert floe.load_settings().store == "memory://"


setting_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(),
    st.lists(st.text()),
)


@given(
    key=st.sampled_from(
        [
            "store",
            "plugins",
            "disable_plugins",
            "strict_plugins",
            "log_format",
            "log_level",
            "backend",
            "artifact_store",
            "secrets",
            "bus_queue_size",
            "run_lease_seconds",
            "bogus",
        ]
    ),
    value=setting_values,
    from_env=st.booleans(),
)
def test_fuzzed_settings_either_load_or_raise_config_error(
    key: str, value: Any, from_env: bool
) -> None:
    """Whatever a source holds, loading gives valid Settings or a ConfigError, never a crash."""
    try:
        if from_env:
            if not isinstance(value, str) or "\x00" in value:
                return
            settings = load_settings("/nonexistent-floe-root", env={f"FLOE_{key.upper()}": value})
        else:
            settings = load_settings("/nonexistent-floe-root", env={}, **{key: value})
    except ConfigError as error:
        assert error.fix  # noqa: PT017 - a property over both outcomes
        return
    assert isinstance(settings, Settings)
    assert settings.bus_queue_size >= 1
    assert settings.log_format in ("console", "json", "off")


def test_the_run_lease_is_seconds_from_a_file_the_environment_or_arguments(
    tmp_path: Path,
) -> None:
    assert load_settings(tmp_path, env={}).run_lease_seconds == 30.0
    write(tmp_path / "floe.toml", "run_lease_seconds = 5\n")
    assert load_settings(tmp_path, env={}).run_lease_seconds == 5.0
    env = {"FLOE_RUN_LEASE_SECONDS": "2.5"}
    assert load_settings(tmp_path, env=env).run_lease_seconds == 2.5
    assert load_settings(tmp_path, env=env, run_lease_seconds=0.5).run_lease_seconds == 0.5
