"""A third-party state pack installed as a distribution, its states used by name from YAML.

tests/fixtures/floe-extra-states is a distribution of its own: a document review
machine (Draft, InReview, Published, Archived) registered through the ``floe`` entry
point ``extra_states``. It is installed with ``pip install --target`` (no network, no
build isolation) and used from subprocesses with the target directory on PYTHONPATH,
exactly as an installed pack would be.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

import floe

FIXTURE = Path(__file__).parents[1] / "fixtures" / "floe-extra-states"
FLOE = Path(sys.executable).with_name("floe")
DISTRIBUTION = "floe-extra-states"
PROVIDER = "plugin 'extra_states'"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("extra-states")
    source = work / "source"
    shutil.copytree(
        FIXTURE,
        source,
        ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"),
    )
    target = work / "site"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "--quiet",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"pip could not install the fixture:\n{result.stderr}"
    return target


def run(
    *command: str, site: Path | None, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run *command* with *site* first on PYTHONPATH and no FLOE_* from outside."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("FLOE_")}
    if site is not None:
        environment["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(site), environment.get("PYTHONPATH")])
        )
    environment["FLOE_STRICT_PLUGINS"] = "1"
    environment.update(env or {})
    return subprocess.run(
        list(command),
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def floe_cli(*args: str, site: Path | None, cwd: Path, **options: object) -> list[str]:
    result = run(str(FLOE), *args, site=site, cwd=cwd, **options)  # type: ignore[arg-type]
    assert result.returncode == floe.ExitCode.OK, result.stderr
    return result.stdout.splitlines()


@pytest.fixture
def article(tmp_path: Path) -> Path:
    """A config naming the pack's states only by name: no states:, no packs:."""
    path = tmp_path / "article.yaml"
    path.write_text("name: article\ninitial_state: Draft\nrules: [{reviewers: 2}]\n")
    return path


def test_the_pack_is_a_third_party_plugin(site: Path, tmp_path: Path) -> None:
    result = run(str(FLOE), "plugins", "--json", site=site, cwd=tmp_path)
    assert result.returncode == floe.ExitCode.OK, result.stderr
    record = {entry["name"]: entry for entry in orjson.loads(result.stdout)}["extra_states"]
    assert (record["stage"], record["status"], record["distribution"]) == (
        "third-party",
        "loaded",
        DISTRIBUTION,
    )
    assert record["hooks"] == ["floe_register_states"]


def test_its_states_are_used_by_name_across_processes(
    site: Path, tmp_path: Path, article: Path
) -> None:
    config = str(article)
    assert floe_cli("register", "--config", config, "--start", site=site, cwd=tmp_path) == [
        "Registered component 'article' in state Draft",
        "article: ignored 'start' (stays in Draft)",
    ]
    steps = [
        (("submit",), "article: Draft -> InReview"),
        (("reject",), "article: ignored 'reject' (stays in InReview)"),
        (("reject", "--content", "needs sources"), "article: InReview -> Draft"),
        (("submit",), "article: Draft -> InReview"),
        (("approve",), "article: InReview -> Published"),
    ]
    for arguments, expected in steps:
        assert floe_cli("handle", "--config", config, *arguments, site=site, cwd=tmp_path) == [
            expected
        ]
    listed = floe_cli("components", site=site, cwd=tmp_path)
    # registered, 6 messages received, 4 transitions
    assert listed[1].split() == ["article", "Published", "1", "11"]


def test_explain_and_visualize_name_the_pack(site: Path, tmp_path: Path, article: Path) -> None:
    explained = orjson.loads(
        run(str(FLOE), "explain", str(article), "--json", site=site, cwd=tmp_path).stdout
    )
    assert explained["is_valid"] is True
    assert explained["initial_state"] == "Draft"
    for name in ("Draft", "InReview", "Published", "Archived"):
        assert explained["states"][name] == PROVIDER
    assert explained["states"]["InitialState"] == "plugin 'states'"
    # the pack's states come from a plugin, not from the config
    assert explained["config_states"] == []

    assert floe_cli("visualize", str(article), site=site, cwd=tmp_path) == [
        "stateDiagram-v2",
        "    [*] --> Draft",
        "    Draft --> InReview: submit",
        "    InReview --> Published: approve",
        "    InReview --> Draft: reject [a reason is given]",
        "    Published --> Archived: archive",
        "    Archived",
    ]


def test_embedded_use_from_python(site: Path, tmp_path: Path, article: Path) -> None:
    script = textwrap.dedent(
        f"""
        import anyio

        import floe
        from floe.components._components import Engine


        async def main():
            async with floe.open_kernel(store="memory://", log_format="off") as kernel:
                engine = Engine(kernel)
                component = engine.create_component({str(article)!r})
                for message in ("submit", "approve", "archive"):
                    print(await component.handle_message(message))
                print(kernel.states.provider("Archived"))


        anyio.run(main, backend="trio")
        """
    )
    result = run(sys.executable, "-c", script, site=site, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Draft -> InReview",
        "InReview -> Published",
        "Published -> Archived",
        PROVIDER,
    ]


def test_listing_the_pack_in_packs_too_is_no_clash(site: Path, tmp_path: Path) -> None:
    config = tmp_path / "listed.yaml"
    config.write_text("name: listed\npacks: [floe_extra_states:ReviewPack]\ninitial_state: Draft\n")
    # the same classes under the same names: nothing to clash, and the plugin stays
    # their provider
    data = orjson.loads(
        run(str(FLOE), "explain", str(config), "--json", site=site, cwd=tmp_path).stdout
    )
    assert data["is_valid"] is True
    assert data["states"]["Draft"] == PROVIDER
    assert data["config_states"] == []
    # with the plugin blocked, the pack named in the config provides the states alone
    blocked = {"FLOE_DISABLE_PLUGINS": "extra_states"}
    data = orjson.loads(
        run(
            str(FLOE), "explain", str(config), "--json", site=site, cwd=tmp_path, env=blocked
        ).stdout
    )
    assert data["is_valid"] is True
    assert data["states"]["Draft"] == f"pack 'floe_extra_states:ReviewPack' (config {config})"
    assert data["config_states"] == ["Archived", "Draft", "InReview", "Published"]
    assert floe_cli("register", "--config", str(config), site=site, cwd=tmp_path, env=blocked) == [
        "Registered component 'listed' in state Draft"
    ]
    assert floe_cli(
        "handle", "--config", str(config), "submit", site=site, cwd=tmp_path, env=blocked
    ) == ["listed: Draft -> InReview"]


def test_a_pack_using_a_built_in_name_changes_it_for_its_config_only(
    site: Path, tmp_path: Path
) -> None:
    config = tmp_path / "shadow.yaml"
    config.write_text("name: shadow\npacks: [floe_extra_states.shadow:ShadowPack]\n")
    plain = tmp_path / "plain.yaml"
    plain.write_text("name: plain\n")
    data = orjson.loads(
        run(str(FLOE), "explain", str(config), "--json", site=site, cwd=tmp_path).stdout
    )
    assert data["is_valid"] is True
    assert data["states"]["InitialState"] == (
        f"pack 'floe_extra_states.shadow:ShadowPack' (config {config})"
    )
    assert data["config_states"] == ["InitialState"]
    for path in (config, plain):
        floe_cli("register", "--config", str(path), site=site, cwd=tmp_path)
    # the pack's InitialState ignores everything; the built-in one, in the same store, not
    assert floe_cli("handle", "--config", str(config), "start", site=site, cwd=tmp_path) == [
        "shadow: ignored 'start' (stays in InitialState)"
    ]
    assert floe_cli("handle", "--config", str(plain), "start", site=site, cwd=tmp_path) == [
        "plain: InitialState -> AwaitingConfirmation"
    ]


def test_without_the_distribution_the_names_are_unknown(tmp_path: Path, article: Path) -> None:
    result = run(str(FLOE), "explain", str(article), "--json", site=None, cwd=tmp_path)
    assert result.returncode == floe.ExitCode.USAGE
    (error,) = orjson.loads(result.stdout)["errors"]
    assert error["what"] == f"Field 'initial_state' in {article} names an unknown state 'Draft'"
    assert "InitialState" in error["why"]
