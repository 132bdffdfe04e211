"""The documentation: generated pages are current, every hook is documented, tested and has
an example that registers, the reference pages cover the public API, and the site builds."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import pluggy
import pytest

import floe
from floe import hookspecs
from floe.kernel import _plugins

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TESTS = ROOT / "tests"
REGENERATE = "run `python docs/gen_reference.py` to regenerate it"


def _spec_manager() -> pluggy.PluginManager:
    manager = pluggy.PluginManager("floe")
    manager.add_hookspecs(hookspecs)
    return manager


HOOKS = sorted(
    name
    for name in dir(hookspecs)
    if _spec_manager().parse_hookspec_opts(hookspecs, name) is not None
)


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    """docs/gen_reference.py, imported by path (docs/ is not a package)."""
    spec = importlib.util.spec_from_file_location("gen_reference", DOCS / "gen_reference.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- 1. the generated pages are up to date -----------------------------------------------


@pytest.mark.parametrize(
    ("page", "function"),
    [("reference/hooks.md", "generate_hooks"), ("reference/settings.md", "generate_settings")],
)
def test_generated_page_is_current(generator: ModuleType, page: str, function: str) -> None:
    path = DOCS / page
    expected = getattr(generator, function)()
    assert path.is_file(), f"docs/{page} is missing: {REGENERATE}"
    assert path.read_text(encoding="utf-8") == expected, f"docs/{page} is out of date: {REGENERATE}"


def test_generator_check_mode_reports_a_stale_page(
    generator: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    docs = tmp_path / "docs"
    stale = docs / "reference" / "hooks.md"
    stale.parent.mkdir(parents=True)
    stale.write_text("# an old page\n", encoding="utf-8")
    fresh = docs / "reference" / "settings.md"
    fresh.write_text(generator.generate_settings(), encoding="utf-8")
    monkeypatch.setattr(generator, "DOCS", docs)
    monkeypatch.setattr(
        generator, "PAGES", {stale: generator.generate_hooks, fresh: generator.generate_settings}
    )
    assert generator.main(["--check"]) == 1
    assert capsys.readouterr().out.splitlines() == ["docs/reference/hooks.md: out of date"]
    assert stale.read_text(encoding="utf-8") == "# an old page\n"  # --check writes nothing
    assert generator.main([]) == 0
    assert stale.read_text(encoding="utf-8") == generator.generate_hooks()
    assert generator.main(["--check"]) == 0


# -- 2. every hook is in PHASES once and follows the docstring template ------------------


def test_phases_list_every_hook_exactly_once() -> None:
    listed = [name for names in hookspecs.PHASES.values() for name in names]
    twice = sorted({name for name in listed if listed.count(name) > 1})
    assert not twice, f"hooks listed more than once in floe.hookspecs.PHASES: {twice}"
    missing = sorted(set(HOOKS) - set(listed))
    assert not missing, f"hook specs missing from floe.hookspecs.PHASES: {missing}"
    unknown = sorted(set(listed) - set(HOOKS))
    assert not unknown, f"names in floe.hookspecs.PHASES that are not hook specs: {unknown}"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_docstring_follows_the_template(generator: ModuleType, name: str) -> None:
    function = getattr(hookspecs, name)
    doc = generator.parse_hook_docstring(function.__doc__)
    assert not doc.missing, f"the docstring of hook {name!r} lacks the sections {list(doc.missing)}"
    assert not doc.problems, f"the docstring of hook {name!r} breaks the template: {doc.problems}"
    documented = [parameter for parameter, _ in doc.parameters]
    actual = list(inspect.signature(function).parameters)
    assert documented == actual, (
        f"hook {name!r} documents the parameters {documented}, its signature has {actual}"
    )


def test_template_parser_reports_what_is_wrong(generator: ModuleType) -> None:
    good = generator.parse_hook_docstring(
        """Do a thing.

        Calling: all implementations.
        Parameters:
            url: the URL,
                on two lines.
            settings: the settings.
        Returns: nothing.
        Implemented by: nobody.
        Example:
            import floe

            class P:
                pass
        """
    )
    assert good.missing == ()
    assert good.problems == ()
    assert good.summary == "Do a thing."
    assert good.parameters == (("url", "the URL, on two lines."), ("settings", "the settings."))
    assert good.sections["Example"] == "import floe\n\nclass P:\n    pass"

    bad = generator.parse_hook_docstring(
        """Do a thing.

        Parameters:
            just some words
        Returns: nothing.
        Calling: too late.
        Example: inline
        """
    )
    assert bad.missing == ("Implemented by",)
    assert any("not a 'name: meaning' entry" in problem for problem in bad.problems)
    assert any("out of order" in problem for problem in bad.problems)
    assert any("Example" in problem for problem in bad.problems)
    assert generator.parse_hook_docstring(None).missing == ("summary", *generator.SECTIONS)


def test_generator_refuses_an_undocumented_hook(generator: ModuleType) -> None:
    def floe_undocumented(settings: floe.Settings) -> None:
        """Only a summary."""

    with pytest.raises(generator.SourceError, match=r"floe_undocumented.*missing section"):
        generator._checked_doc("floe_undocumented", floe_undocumented)


# -- 3. every hook has a test -------------------------------------------------------------


def _is_hook_marker(function: ast.expr) -> bool:
    """``pytest.mark.hook`` or ``mark.hook``."""
    if not isinstance(function, ast.Attribute) or function.attr != "hook":
        return False
    owner = function.value
    if isinstance(owner, ast.Name):
        return owner.id == "mark"
    return (
        isinstance(owner, ast.Attribute)
        and owner.attr == "mark"
        and isinstance(owner.value, ast.Name)
        and owner.value.id == "pytest"
    )


def _markers_in(source: str) -> list[str]:
    """The hook names of every ``pytest.mark.hook("name")`` call in *source*."""
    return [
        argument.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and _is_hook_marker(node.func)
        for argument in node.args
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str)
    ]


def _hook_markers() -> Iterator[tuple[str, Path]]:
    """Every hook marker under tests/ (decorators, ``pytestmark``), with its file."""
    for path in sorted(TESTS.rglob("*.py")):
        for name in _markers_in(path.read_text(encoding="utf-8")):
            yield name, path


def test_marker_scan_finds_decorators_and_pytestmark() -> None:
    source = """
import pytest
from pytest import mark

pytestmark = [pytest.mark.anyio, pytest.mark.hook("floe_cli")]

@pytest.mark.hook("floe_configure")
def test_one(): ...

class TestTwo:
    @mark.hook("floe_subscribe")
    async def test_two(self): ...

@pytest.mark.hooks("floe_services")  # another marker
def test_three(): "pytest.mark.hook('floe_inject') in a string is no marker"
"""
    assert sorted(_markers_in(source)) == ["floe_cli", "floe_configure", "floe_subscribe"]


@pytest.fixture(scope="module")
def tested_hooks() -> dict[str, list[Path]]:
    tested: dict[str, list[Path]] = {}
    for name, path in _hook_markers():
        tested.setdefault(name, []).append(path)
    return tested


@pytest.mark.parametrize("name", HOOKS)
def test_hook_has_a_test(tested_hooks: dict[str, list[Path]], name: str) -> None:
    assert name in tested_hooks, (
        f"hook {name!r} has no test: mark one with @pytest.mark.hook({name!r})"
    )


def test_hook_markers_name_real_hooks(tested_hooks: dict[str, list[Path]]) -> None:
    unknown = {
        name: sorted(str(path.relative_to(ROOT)) for path in paths)
        for name, paths in tested_hooks.items()
        if name not in HOOKS
    }
    assert not unknown, f"pytest.mark.hook names that are not hook specs: {unknown}"


# -- 4. every hook's example registers against the real spec ------------------------------


def _register_example(name: str, code: str) -> pluggy.PluginManager:
    """Run *code* and register its classes that implement *name* against floe's specs."""
    module_name = f"floe_hook_example_{name}"
    namespace: dict[str, Any] = {"__name__": module_name}
    exec(compile(code, f"<Example of {name}>", "exec"), namespace)
    plugin_classes = [
        value
        for value in namespace.values()
        if isinstance(value, type) and value.__module__ == module_name and hasattr(value, name)
    ]
    assert plugin_classes, f"the Example of hook {name!r} defines no class with a method {name!r}"
    manager = _spec_manager()
    for plugin_class in plugin_classes:
        plugin = plugin_class()
        manager.register(plugin)
        implemented = {caller.name for caller in manager.get_hookcallers(plugin) or ()}
        assert name in implemented, (
            f"the Example of hook {name!r}: {plugin_class.__name__}.{name} is not marked "
            "with @floe.hookimpl"
        )
    manager.check_pending()
    return manager


@pytest.mark.parametrize("name", HOOKS)
def test_hook_example_is_a_valid_plugin(generator: ModuleType, name: str) -> None:
    code = generator.parse_hook_docstring(getattr(hookspecs, name).__doc__).sections["Example"]
    manager = _register_example(name, code)
    assert getattr(manager.hook, name).get_hookimpls()


def test_example_check_rejects_broken_examples() -> None:
    unmarked = "class Plugin:\n    def floe_subscribe(self, bus):\n        pass\n"
    with pytest.raises(AssertionError, match=r"not marked with @floe\.hookimpl"):
        _register_example("floe_subscribe", unmarked)
    with pytest.raises(AssertionError, match="defines no class"):
        _register_example("floe_subscribe", "import floe\n")
    wrong_argument = (
        "import floe\n\nclass Plugin:\n    @floe.hookimpl\n"
        "    def floe_subscribe(self, event_bus):\n        pass\n"
    )
    with pytest.raises(pluggy.PluginValidationError, match="event_bus"):
        _register_example("floe_subscribe", wrong_argument)


# -- 5. the hand-written references cover the public API ----------------------------------


def _page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(floe.__all__))
def test_public_name_is_in_the_api_reference(name: str) -> None:
    assert re.search(rf"`(?:floe\.)?{re.escape(name)}`", _page("reference/api.md")), (
        f"floe.{name} is exported but not listed in docs/reference/api.md"
    )


@pytest.mark.parametrize("field", [field.name for field in attrs.fields(floe.Settings)])
def test_setting_is_in_the_settings_reference(field: str) -> None:
    assert f"### `{field}`" in _page("reference/settings.md"), (
        f"the setting {field!r} is not in docs/reference/settings.md: {REGENERATE}"
    )


ERRORS = [
    value
    for value in (getattr(floe, name) for name in floe.__all__)
    if isinstance(value, type) and issubclass(value, floe.FloeError)
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda error: error.__name__)
def test_error_is_in_the_error_reference(error: type[floe.FloeError]) -> None:
    rows = [
        line
        for line in _page("reference/errors.md").splitlines()
        if line.startswith(f"| `{error.__name__}` |")
    ]
    assert len(rows) == 1, f"docs/reference/errors.md needs one table row for {error.__name__}"
    _, _, also_a, exit_code, *_ = rows[0].split("|")
    bases = [base.__name__ for base in error.__bases__ if base is not floe.FloeError]
    for base in bases:
        assert f"`{base}`" in also_a, f"{error.__name__} is also a {base}: the row says {also_a!r}"
    code = error.exit_code
    assert f"`ExitCode.{code.name}` ({int(code)})" in exit_code, (
        f"{error.__name__} exits with ExitCode.{code.name}: the row says {exit_code!r}"
    )


@pytest.mark.parametrize("code", list(floe.ExitCode), ids=lambda code: code.name)
def test_exit_code_is_in_the_error_reference(code: floe.ExitCode) -> None:
    assert f"| `ExitCode.{code.name}` | {int(code)} |" in _page("reference/errors.md")


def _plain(text: str) -> str:
    """List text without markup: roles, backquotes, tildes and line breaks."""
    text = re.sub(r":[a-z]+:`~?", "`", text)
    return " ".join(text.replace("`", "").split())


def _numbered_items(text: str) -> list[str]:
    items: list[str] = []
    for line in text.splitlines():
        match = re.match(r"^\s*\d+\.\s+(.*)$", line)
        if match:
            items.append(match[1])
        elif items and line.strip() and line[0].isspace():
            items[-1] += " " + line.strip()
        elif items:
            break
    return [_plain(item) for item in items]


def test_plugin_guide_states_the_load_order_of_the_code() -> None:
    code_order = _numbered_items(_plugins.__doc__ or "")
    guide = _page("plugins.md")
    section = guide[guide.index("## Load order") :]
    assert len(code_order) == 5
    assert _numbered_items(section) == code_order


# -- the front page's example runs --------------------------------------------------------


def test_front_page_example_runs(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", _page("index.md"), flags=re.DOTALL)
    assert blocks, "docs/index.md has no python example"
    script = tmp_path / "example.py"
    script.write_text(blocks[0], encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # the handler's lines come from the bus's drain task, whenever it gets to them
    assert lines[0] == "[{'to': 'world'}]"
    assert sorted(lines[1:]) == [
        "['task.started', 'task.completed']",
        "task.completed greet#1",
        "task.started greet#1",
    ]
    assert lines.index("task.started greet#1") < lines.index("task.completed greet#1")


# -- 6. the site builds --------------------------------------------------------------------


def test_site_builds_in_strict_mode(tmp_path: Path) -> None:
    missing = [name for name in ("mkdocs", "material") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed: pip install mkdocs-material")
    site = tmp_path / "site"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-f",
            str(ROOT / "mkdocs.yml"),
            "-d",
            str(site),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}{result.stderr}"
    for page in (
        "index",
        "reference/hooks/index",
        "reference/settings/index",
        "architecture/index",
    ):
        assert (site / f"{page}.html").is_file(), f"the site has no {page}.html"


# -- 7. every install command the docs print works ----------------------------------------
#
# The `pip install ...` commands of README.md, docs/**/*.md and the contrib READMEs, in
# code blocks and inline code, are run for real: each distinct one in a fresh virtual
# environment (the package index is only asked for floe's dependencies, through pip's
# cache), then `import floe`, `floe --help` and `floe plugins` must work there.
#
# A command is run as a reader in the root of a checkout would run it, except for the
# names of floe's distributions, which are not on the package index yet: UNPUBLISHED says
# what each means from this checkout. A command that does not install floe is listed in
# NOT_FLOE with the reason; any other command fails the test, so that a new one is mapped.

INSTALL_PAGES = [
    ROOT / "README.md",
    *sorted(DOCS.rglob("*.md")),
    *sorted((ROOT / "contrib").rglob("README.md")),
]

CHECKOUT_DISTRIBUTIONS = {
    ".": "floe-kernel",
    "./contrib/floe-reload": "floe-reload",
    "./contrib/floe-postgres": "floe-postgres",
    "./contrib/floe-server": "floe-server",
}
"""The paths of a checkout that hold a distribution, and its name."""

UNPUBLISHED = {
    "floe-kernel": (".",),
    "floe-reload": (".", "./contrib/floe-reload"),
    "floe-postgres": (".", "./contrib/floe-postgres"),
    "floe-server": (".", "./contrib/floe-server"),
}
"""floe's distributions, not on the package index yet, as paths of this checkout. A contrib
distribution brings the kernel's path along: its dependency floe-kernel can only come from
the checkout, and only when both are in the same pip call."""

COMMANDS_OF_DISTRIBUTIONS = {
    "floe-kernel": {"run", "plugins", "worker", "schedule"},
    "floe-reload": {"watch"},
    "floe-postgres": set(),
    "floe-server": {"server"},
}
"""Commands that `floe --help` lists once the distribution is installed."""

NOT_FLOE = {
    ("README.md", "pip install nox"): "the test runner; .ci/run runs this very line",
    ("docs/installation.md", "pip install floe"): "the warning: that name is another project",
    ("docs/tutorial.md", "pip install floe"): "the warning: that name is another project",
    ("docs/migration-flexiflow.md", "pip install flexiflow[reload]"): "FlexiFlow's command",
    ("docs/migration-flexiflow.md", "pip install flexiflow[api]"): "FlexiFlow's command",
    ("docs/plugins.md", "pip install -e ."): "the reader's plugin, in its own folder "
    "(tests/test_entry_points.py installs one)",
}

_PIP_INSTALL = re.compile(r"(?:^|\s|\$)(?:\S*/)?(?:python -m )?pip install\s+(.*)")


def _install_commands(text: str) -> Iterator[str]:
    """Every `pip install ...` of a page, as `pip install ARGS` (without what follows it)."""
    fenced = False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            fenced = not fenced
            continue
        for snippet in [line] if fenced else re.findall(r"`([^`]+)`", line):
            match = _PIP_INSTALL.search(snippet)
            if match is None:
                continue
            words = []
            for word in shlex.split(match[1], comments=True):
                if word in {"&&", "||", ";", "|"}:
                    break
                words.append(word)
            yield " ".join(["pip", "install", *words])


def _in_checkout(command: str) -> tuple[str, ...] | None:
    """The pip arguments *command* means from this checkout; None for an unknown name."""
    arguments: list[str] = []
    for word in shlex.split(command)[2:]:
        path, _, extras = word.partition("[")
        if word.startswith("-") or path in CHECKOUT_DISTRIBUTIONS:
            arguments.append(word)
        elif path in UNPUBLISHED:
            paths = UNPUBLISHED[path]
            arguments += [p for p in paths[:-1] if p not in arguments]
            arguments.append(paths[-1] + (f"[{extras}" if extras else ""))
        else:
            return None
    return tuple(arguments)


def _documented_installs() -> tuple[dict[tuple[str, ...], list[str]], list[str]]:
    """{pip arguments in the checkout: the pages and commands}, and the unknown commands."""
    installs: dict[tuple[str, ...], list[str]] = {}
    unknown = []
    for page in INSTALL_PAGES:
        where = page.relative_to(ROOT).as_posix()
        for command in _install_commands(page.read_text(encoding="utf-8")):
            if (where, command) in NOT_FLOE:
                continue
            arguments = _in_checkout(command)
            if arguments is None:
                unknown.append(f"{where}: {command}")
            else:
                installs.setdefault(arguments, []).append(f"{where}: {command}")
    return installs, unknown


INSTALLS, UNKNOWN_INSTALLS = _documented_installs()


def test_install_commands_are_extracted_from_code_and_prose() -> None:
    text = textwrap.dedent(
        """\
        Run `pip install -e .` here, `floe run` is no install.

        ```console
        $ .venv/bin/pip install -e ".[test]" -e ./contrib/floe-reload  # editable
        $ pip install nox && nox -s tests
        python -m pip install floe-reload
        ```
        """
    )
    assert list(_install_commands(text)) == [
        "pip install -e .",
        "pip install -e .[test] -e ./contrib/floe-reload",
        "pip install nox",
        "pip install floe-reload",
    ]
    assert _in_checkout("pip install floe-kernel[test]") == (".[test]",)
    assert _in_checkout("pip install floe-reload") == (".", "./contrib/floe-reload")
    assert _in_checkout("pip install -U floe-kernel floe-reload") == (
        "-U",
        ".",
        "./contrib/floe-reload",
    )
    assert _in_checkout("pip install floe") is None
    assert _in_checkout("pip install ./order-states") is None


def test_every_install_command_of_the_docs_is_known() -> None:
    assert not UNKNOWN_INSTALLS, (
        "install commands that are neither a checkout path, an unpublished floe distribution "
        f"(UNPUBLISHED) nor listed in NOT_FLOE: {UNKNOWN_INSTALLS}"
    )
    printed = {
        (page.relative_to(ROOT).as_posix(), command)
        for page in INSTALL_PAGES
        for command in _install_commands(page.read_text(encoding="utf-8"))
    }
    assert set(NOT_FLOE) <= printed, f"stale NOT_FLOE entries: {set(NOT_FLOE) - printed}"


def _clean_environment() -> dict[str, str]:
    """This environment without its virtualenv, import path or floe settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("FLOE_") and key not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}
    }
    return {**env, "FLOE_STRICT_PLUGINS": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _run_in(venv_bin: Path, *command: str, cwd: Path) -> str:
    """Run *command* with *venv_bin* first on PATH (a bare name is looked up there)."""
    program = command[0] if os.path.isabs(command[0]) else str(venv_bin / command[0])
    result = subprocess.run(
        [program, *command[1:]],
        cwd=cwd,
        env={**_clean_environment(), "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}"
    return result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("arguments", list(INSTALLS), ids=" ".join)
def test_install_command_of_the_docs_works(arguments: tuple[str, ...], tmp_path: Path) -> None:
    # The venv gets no pip of its own: this environment's pip installs into it (--python),
    # which saves seeding every venv; --no-compile leaves byte-compiling to the imports.
    # Neither changes what is installed.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    venv_bin = venv / ("Scripts" if os.name == "nt" else "bin")
    python = str(venv_bin / "python")
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-compile"]
    _run_in(venv_bin, *pip, *arguments, cwd=ROOT)

    where = f" (printed as {INSTALLS[arguments]})"
    version = _run_in(
        venv_bin,
        "python",
        "-c",
        "import importlib.metadata, floe; "
        "print(floe.__version__, importlib.metadata.version('floe-kernel'))",
        cwd=tmp_path,
    ).split()
    assert version[0] == version[1] == floe.__version__, where
    expected = {
        CHECKOUT_DISTRIBUTIONS[word.partition("[")[0]]
        for word in arguments
        if not word.startswith("-")
    }
    help_text = _run_in(venv_bin, "floe", "--help", cwd=tmp_path)
    commands = set(re.findall(r"^  (\S+)  ", help_text, re.MULTILINE))
    for distribution in expected:
        assert COMMANDS_OF_DISTRIBUTIONS[distribution] <= commands, where
    plugins = json.loads(_run_in(venv_bin, "floe", "plugins", "--json", cwd=tmp_path))
    assert {plugin["status"] for plugin in plugins} == {"loaded"}, where
    assert {plugin["distribution"] for plugin in plugins} == expected, where


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]


def test_installation_page_lists_the_dependencies_plugins_and_distributions() -> None:
    page = _page("installation.md")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    for requirement in requirements:
        assert _requirement_name(requirement).lower() in page.lower(), requirement
    kernel = floe.Kernel(floe.Settings(store="memory://"), entry_points=False)
    plugins = [info.name for info in kernel.plugins] + list(project["entry-points"]["floe"])
    for name in plugins:
        assert f"| `{name}` |" in page, f"docs/installation.md does not list the plugin {name!r}"
    for path in sorted((ROOT / "contrib").glob("*/pyproject.toml")):
        contrib = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
        assert f"`{contrib['name']}`" in page, contrib["name"]
        for requirement in contrib["dependencies"]:
            assert _requirement_name(requirement).lower() in page.lower(), requirement
