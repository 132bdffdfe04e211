"""YAML bounds: a small file that stands for a huge document is refused before anything
walks or stores it, with a ConfigError naming the file and the bound."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

import floe
from floe import ConfigError, Kernel
from floe.components._components import Engine
from floe.components._config import load_config, load_rules
from floe.components._yaml import MAX_ALIASES, MAX_BYTES, MAX_DEPTH, MAX_NODES


def billion_laughs(levels: int = 9, name: str = "bomb") -> str:
    """A config whose rules expand to 9**levels strings through nested aliases."""
    lines = [f"name: {name}", "rules:", "  - &l0 [" + ", ".join(['"lol"'] * 9) + "]"]
    for level in range(1, levels):
        lines.append(f"  - &l{level} [" + ",".join([f"*l{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.fixture
def bomb(tmp_path: Path) -> Path:
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs())
    assert path.stat().st_size < 600  # ~387 million strings in under 600 bytes
    return path


def assert_refused(error: ConfigError, path: Path, bound: str, limit: int) -> None:
    assert str(path) in error.what
    assert error.context["source"] == str(path)
    assert error.context["bound"] == bound
    assert error.context["limit"] == limit
    assert error.fix


def test_a_billion_laughs_config_is_refused_at_once(bomb: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        load_config(bomb)
    assert time.monotonic() - started < 5
    error = caught.value
    assert error.what.startswith(f"Refusing the component config {bomb}: it expands to more than")
    assert_refused(error, bomb, "values", MAX_NODES)
    assert error.context["line"] == 8  # the sixth level: far from the end of the file


def test_explain_calls_the_bomb_invalid_without_expanding_it(bomb: Path) -> None:
    started = time.monotonic()
    explanation = floe.explain(bomb)
    assert time.monotonic() - started < 5
    assert not explanation.is_valid
    (error,) = explanation.errors
    assert error.kind == "ConfigError"
    assert error.context["bound"] == "values"


@pytest.mark.anyio
async def test_creating_a_component_from_the_bomb_stores_nothing(
    floe_kernel_factory: Callable[..., Kernel], bomb: Path, tmp_path: Path
) -> None:
    async with floe_kernel_factory(store=f"sqlite:///{tmp_path}/x.db") as kernel:
        engine = Engine(kernel)
        with pytest.raises(ConfigError, match="expands to more than"):
            engine.create_component(bomb)
        assert await engine.stored_components() == []
        assert await kernel.store.get_run("component:bomb") is None


def test_a_rules_file_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(billion_laughs().split("rules:\n", 1)[1])
    with pytest.raises(ConfigError) as caught:
        load_rules(path)
    assert caught.value.what.startswith(f"Refusing the rules file {path}")
    assert_refused(caught.value, path, "values", MAX_NODES)


def test_too_many_aliases(tmp_path: Path) -> None:
    path = tmp_path / "aliases.yaml"
    path.write_text("name: x\nrules:\n  - &one 1\n" + "  - *one\n" * (MAX_ALIASES + 1))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"uses more than {MAX_ALIASES} aliases" in caught.value.what
    assert_refused(caught.value, path, "aliases", MAX_ALIASES)


def test_too_much_text_through_aliases_of_a_long_string(tmp_path: Path) -> None:
    # few values and few aliases, but each alias repeats 4 KB of text
    path = tmp_path / "strings.yaml"
    repeats = MAX_BYTES // 4096 + 1
    path.write_text(f"name: x\nrules:\n  - &long {'x' * 4096}\n" + "  - *long\n" * repeats)
    assert path.stat().st_size < 16_000
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"expands to more than {MAX_BYTES} characters of text" in caught.value.what
    assert_refused(caught.value, path, "text", MAX_BYTES)


def test_too_deep_even_through_an_alias(tmp_path: Path) -> None:
    half = MAX_DEPTH // 2 + 1
    nested = tmp_path / "nested.yaml"
    nested.write_text("name: x\nrules:\n  - " + "[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(nested)
    assert f"nests deeper than {MAX_DEPTH} levels" in caught.value.what
    assert_refused(caught.value, nested, "depth", MAX_DEPTH)

    # each half is shallow; the alias puts one inside the other
    aliased = tmp_path / "aliased.yaml"
    opening, closing = "[" * half, "]" * half
    aliased.write_text(
        f"name: x\nrules:\n  - &deep {opening}1{closing}\n  - {opening}*deep{closing}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(aliased)
    assert_refused(caught.value, aliased, "depth", MAX_DEPTH)


def test_too_many_bytes(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("name: x\n# " + "x" * MAX_BYTES + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.what == f"The component config {path} is larger than {MAX_BYTES} bytes"
    assert_refused(caught.value, path, "bytes", MAX_BYTES)


def test_ordinary_aliases_within_the_bounds_load_as_values(tmp_path: Path) -> None:
    path = tmp_path / "shared.yaml"
    path.write_text(
        "name: shared\n"
        "rules:\n"
        "  - &defaults {max_items: 10, region: eu}\n"
        "  - {<<: *defaults, region: us}\n"
        "  - *defaults\n"
    )
    config = load_config(path)
    assert config.rules == (
        {"max_items": 10, "region": "eu"},
        {"max_items": 10, "region": "us"},
        {"max_items": 10, "region": "eu"},
    )
    # just below the bounds is fine
    wide = tmp_path / "wide.yaml"
    wide.write_text("name: x\nrules:\n  - &one 1\n" + "  - *one\n" * (MAX_ALIASES - 1))
    assert len(load_config(wide).rules) == MAX_ALIASES
    deep = tmp_path / "deep.yaml"
    levels = MAX_DEPTH - 2  # the top mapping and the rules list are two of them
    deep.write_text("name: x\nrules:\n  - " + "[" * levels + "1" + "]" * levels + "\n")
    assert load_config(deep).name == "x"


def test_a_self_referencing_alias_is_still_reported_as_such(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("name: x\nrules:\n  - &a [*a]\n")
    with pytest.raises(ConfigError, match="a reference to itself"):
        load_config(path)
