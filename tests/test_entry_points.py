"""A real third-party plugin: built and installed with pip, found through its entry point.

tests/fixtures/floe-hello-plugin is a distribution of its own. Each variant is copied,
installed with ``pip install --target`` (no network: no dependencies, no build isolation,
the build backend comes from this environment) and used from subprocesses with the
target directory on PYTHONPATH, exactly as an installed plugin would be.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

import floe

FIXTURE = Path(__file__).parent / "fixtures" / "floe-hello-plugin"
FLOE = Path(sys.executable).with_name("floe")
DISTRIBUTION = "floe-hello-plugin"
VERSION = "0.1.0"
HELLO_HOOKS = ["floe_cli", "floe_open_store", "floe_store_schemes", "floe_subscribe"]
ENTRY_POINT_LINE = 'hello = "floe_hello_plugin"'

Installer = Callable[[str], Path]


@pytest.fixture(scope="session")
def install_plugin(tmp_path_factory: pytest.TempPathFactory) -> Installer:
    """``install(module) -> site directory``: the fixture with entry point ``hello = module``."""
    installed: dict[str, Path] = {}

    def install(module: str) -> Path:
        if module not in installed:
            work = tmp_path_factory.mktemp(module.replace(".", "-"))
            source = work / "source"
            shutil.copytree(
                FIXTURE,
                source,
                ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"),
            )
            pyproject = source / "pyproject.toml"
            text = pyproject.read_text(encoding="utf-8")
            assert ENTRY_POINT_LINE in text
            pyproject.write_text(
                text.replace(ENTRY_POINT_LINE, f'hello = "{module}"'), encoding="utf-8"
            )
            site = work / "site"
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
                    str(site),
                    str(source),
                ],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert result.returncode == 0, f"pip could not install the fixture:\n{result.stderr}"
            installed[module] = site
        return installed[module]

    return install


@pytest.fixture
def hello_site(install_plugin: Installer) -> Path:
    return install_plugin("floe_hello_plugin")


@pytest.fixture
def broken_site(install_plugin: Installer) -> Path:
    return install_plugin("floe_hello_plugin.broken")


@pytest.fixture
def misspelled_site(install_plugin: Installer) -> Path:
    return install_plugin("floe_hello_plugin.misspelled")


def run(
    *command: str,
    site: Path,
    cwd: Path,
    strict: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run *command* with *site* first on PYTHONPATH and no FLOE_* from outside."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("FLOE_")}
    environment["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(site), environment.get("PYTHONPATH")])
    )
    if strict:
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


def store_schemes(table: str) -> list[str]:
    """The schemes on the ``Store schemes:`` line under the table of ``floe plugins``."""
    line = next(line for line in table.splitlines() if line.startswith("Store schemes: "))
    return line.removeprefix("Store schemes: ").split(", ")


def plugins_json(site: Path, cwd: Path, **options: Any) -> list[dict[str, Any]]:
    result = run(str(FLOE), "plugins", "--json", site=site, cwd=cwd, **options)
    assert result.returncode == floe.ExitCode.OK, result.stderr
    records: list[dict[str, Any]] = orjson.loads(result.stdout)
    return records


def by_name(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {record["name"]: record for record in records}


# -- a working plugin ------------------------------------------------------------------


@pytest.mark.hook("floe_cli")
def test_installed_plugin_is_listed_as_third_party(hello_site: Path, tmp_path: Path) -> None:
    records = plugins_json(hello_site, tmp_path)
    hello = by_name(records)["hello"]
    assert hello == {
        "name": "hello",
        "stage": "third-party",
        "status": "loaded",
        "distribution": DISTRIBUTION,
        "version": VERSION,
        "source": "floe_hello_plugin",
        "hooks": HELLO_HOOKS,
        "error": None,
        "traceback": None,
    }
    # third-party plugins load after every first-party one
    stages = [record["stage"] for record in records]
    assert stages.index("third-party") > len(stages) - 1 - stages[::-1].index("first-party")

    table = run(str(FLOE), "plugins", site=hello_site, cwd=tmp_path)
    row = next(line for line in table.stdout.splitlines() if line.startswith("hello "))
    assert row.split(maxsplit=5)[1:] == [
        "third-party",
        "loaded",
        DISTRIBUTION,
        VERSION,
        ", ".join(HELLO_HOOKS),
    ]
    assert "hello" in store_schemes(table.stdout)


@pytest.mark.hook("floe_cli")
def test_plugin_command_runs(hello_site: Path, tmp_path: Path) -> None:
    result = run(str(FLOE), "hello", "--name", "Ada", site=hello_site, cwd=tmp_path)
    assert result.returncode == floe.ExitCode.OK, result.stderr
    assert result.stdout == "Hello, Ada, from floe-hello-plugin!\n"

    listed = run(str(FLOE), "--help", site=hello_site, cwd=tmp_path)
    assert re.search(r"^  hello +Say hello from a third-party plugin\.", listed.stdout, re.M)


@pytest.mark.hook("floe_open_store")
@pytest.mark.hook("floe_store_schemes")
@pytest.mark.hook("floe_subscribe")
def test_plugin_store_scheme_and_subscriber_work_in_a_kernel(
    hello_site: Path, tmp_path: Path
) -> None:
    script = textwrap.dedent(
        """
        import anyio

        import floe


        async def main():
            async with floe.open_kernel(store="hello://greetings", log_format="off") as kernel:
                print(type(kernel.store).__name__, kernel.store.url)
                print(",".join(kernel.hooks.store_schemes()))
                await kernel.bus.publish("hello.ping", {"n": 1})
                await kernel.bus.publish("other.ping", {"n": 2})


        anyio.run(main, backend="trio")
        """
    )
    result = run(sys.executable, "-c", script, site=hello_site, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    store_line, schemes_line, *seen = result.stdout.splitlines()
    assert store_line == "MemoryStore hello://greetings"
    assert "hello" in schemes_line.split(",")
    assert seen == ["floe-hello-plugin saw {'n': 1}"]


def test_blocked_plugin_is_listed_and_adds_nothing(hello_site: Path, tmp_path: Path) -> None:
    env = {"FLOE_DISABLE_PLUGINS": "hello"}
    hello = by_name(plugins_json(hello_site, tmp_path, env=env))["hello"]
    assert (hello["status"], hello["distribution"], hello["hooks"]) == (
        "blocked",
        DISTRIBUTION,
        [],
    )
    command = run(str(FLOE), "hello", site=hello_site, cwd=tmp_path, env=env)
    assert command.returncode == floe.ExitCode.USAGE
    assert "No such command 'hello'" in command.stderr


# -- a plugin whose import fails -------------------------------------------------------

BROKEN_WHAT = (
    "Plugin 'hello' (entry point 'floe_hello_plugin.broken' of "
    f"{DISTRIBUTION} {VERSION}) failed to load"
)
BROKEN_WHY = "Why: RuntimeError: floe-hello-plugin is broken on purpose"


def test_broken_plugin_is_a_warning_and_skipped_without_strict_mode(
    broken_site: Path, tmp_path: Path
) -> None:
    result = run(str(FLOE), "plugins", "--json", site=broken_site, cwd=tmp_path, strict=False)
    assert result.returncode == floe.ExitCode.OK, result.stderr
    assert result.stderr.splitlines()[:2] == [f"Warning: {BROKEN_WHAT}", BROKEN_WHY]
    assert "Traceback" not in result.stderr
    hello = by_name(orjson.loads(result.stdout))["hello"]
    assert (hello["stage"], hello["status"], hello["distribution"], hello["version"]) == (
        "third-party",
        "failed",
        DISTRIBUTION,
        VERSION,
    )
    assert hello["error"].splitlines()[:2] == [BROKEN_WHAT, BROKEN_WHY]
    assert 'raise RuntimeError("floe-hello-plugin is broken on purpose")' in hello["traceback"]

    # the rest of the command line still works, and the table shows the failure
    table = run(str(FLOE), "plugins", site=broken_site, cwd=tmp_path, strict=False)
    lines = table.stdout.splitlines()
    row = next(index for index, line in enumerate(lines) if line.startswith("hello "))
    assert lines[row].split()[1:5] == ["third-party", "failed", DISTRIBUTION, VERSION]
    assert lines[row + 1].strip() == BROKEN_WHAT


def test_broken_plugin_is_an_error_in_strict_mode(broken_site: Path, tmp_path: Path) -> None:
    result = run(str(FLOE), "plugins", site=broken_site, cwd=tmp_path)
    assert result.returncode == floe.ExitCode.USAGE
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"Error: {BROKEN_WHAT}",
        BROKEN_WHY,
        "Fix: Fix or reinstall the plugin, or block it with FLOE_DISABLE_PLUGINS=hello.",
        f"Context: plugin='hello', distribution='{DISTRIBUTION}', "
        "source='floe_hello_plugin.broken'",
    ]

    traced = run(str(FLOE), "--traceback", "plugins", site=broken_site, cwd=tmp_path)
    assert traced.returncode == floe.ExitCode.USAGE
    assert 'raise RuntimeError("floe-hello-plugin is broken on purpose")' in traced.stderr
    assert traced.stderr.rstrip().endswith("source='floe_hello_plugin.broken'")

    # blocking it by name is the documented way out
    blocked = run(
        str(FLOE), "plugins", site=broken_site, cwd=tmp_path, env={"FLOE_DISABLE_PLUGINS": "hello"}
    )
    assert blocked.returncode == floe.ExitCode.OK, blocked.stderr


# -- a plugin with a misspelled hook ---------------------------------------------------

MISSPELLED_WHAT = (
    "Plugin 'hello' (entry point 'floe_hello_plugin.misspelled' of "
    f"{DISTRIBUTION} {VERSION}) implements unknown hooks: "
    "'floe_open_stor' (did you mean 'floe_open_store'?)"
)


def test_misspelled_hook_is_reported_with_a_suggestion(
    misspelled_site: Path, tmp_path: Path
) -> None:
    strict = run(str(FLOE), "plugins", site=misspelled_site, cwd=tmp_path)
    assert strict.returncode == floe.ExitCode.USAGE
    lines = strict.stderr.splitlines()
    assert lines[0] == f"Error: {MISSPELLED_WHAT}"
    assert lines[-1].startswith("Context: plugin='hello'")
    assert "Traceback" not in strict.stderr

    lenient = by_name(plugins_json(misspelled_site, tmp_path, strict=False))["hello"]
    assert (lenient["status"], lenient["hooks"]) == ("failed", [])
    assert lenient["error"].splitlines()[0] == MISSPELLED_WHAT
