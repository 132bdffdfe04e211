"""The ``floe`` command line, run as the real console script in subprocesses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import orjson
import pytest

import floe

FLOE = Path(sys.executable).with_name("floe")
FIRST_PARTY_HOOKS = {
    "cli": {"floe_cli"},
    "logging": {"floe_log_handlers"},
    "sqlite": {"floe_open_store", "floe_store_schemes"},
    "json": {"floe_open_store", "floe_store_schemes"},
}


def run_floe(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    strict: bool = True,
    python_path: Path | None = None,
    executable: tuple[str, ...] = (str(FLOE),),
) -> subprocess.CompletedProcess[str]:
    """Run the command line with a clean floe environment (no FLOE_* from outside)."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("FLOE_")}
    if strict:
        environment["FLOE_STRICT_PLUGINS"] = "1"
    if python_path is not None:
        environment["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(python_path), environment.get("PYTHONPATH")])
        )
    environment.update(env or {})
    return subprocess.run(
        [*executable, *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_error_block(stderr: str, first_line: str) -> list[str]:
    """The error is one block: what / Why / Fix / Context, no traceback."""
    lines = stderr.strip().splitlines()
    assert lines[0] == f"Error: {first_line}", stderr
    assert "Traceback" not in stderr
    assert sum(line.startswith("Error:") for line in lines) == 1
    assert lines[1].startswith("Why: ")
    assert lines[-1].startswith("Context: ")
    return lines


@pytest.fixture
def probe_plugin(tmp_path: Path) -> Path:
    """A directory holding a plugin module whose commands fail in every way there is."""
    directory = tmp_path / "probe"
    directory.mkdir()
    (directory / "cli_probe.py").write_text(
        textwrap.dedent(
            """
            import click

            import floe


            @floe.hookimpl
            def floe_cli(cli):
                @cli.command("fail-config")
                def fail_config():
                    raise floe.ConfigError(
                        "The probe is misconfigured",
                        why="It was asked to be.",
                        fix="Ask it not to.",
                        context={"key": "probe"},
                    )

                @cli.command("fail-run")
                def fail_run():
                    raise floe.NonDeterminismError("Replay went another way")

                @cli.command("explode")
                def explode():
                    raise RuntimeError("the probe exploded")

                @cli.command("exit-code")
                def exit_code():
                    return floe.ExitCode.RUN_FAILED
            """
        )
    )
    return directory


# -- the root command ------------------------------------------------------------------


def test_help_lists_the_commands_and_global_options(tmp_path: Path) -> None:
    result = run_floe("--help", cwd=tmp_path)
    assert result.returncode == floe.ExitCode.OK, result.stderr
    assert result.stdout.startswith("Usage: floe [OPTIONS] COMMAND [ARGS]...")
    for option in ("--version", "--store URL", "--traceback", "--help"):
        assert option in result.stdout
    assert re.search(r"^  plugins +List every plugin in load order", result.stdout, re.M)
    assert result.stderr == ""


def test_version_prints_the_kernel_version(tmp_path: Path) -> None:
    result = run_floe("--version", cwd=tmp_path)
    assert result.returncode == floe.ExitCode.OK
    assert result.stdout.strip() == f"floe, version {floe.__version__}"


def test_python_dash_m_runs_the_same_command_line(tmp_path: Path) -> None:
    result = run_floe("--version", cwd=tmp_path, executable=(sys.executable, "-m", "floe_cli"))
    assert result.returncode == floe.ExitCode.OK, result.stderr
    assert result.stdout.strip() == f"floe, version {floe.__version__}"


def test_plugin_modules_import_no_cli_or_console_library(tmp_path: Path) -> None:
    # every kernel imports every plugin, so these imports must stay cheap
    code = (
        "import sys, floe, floe_cli, floe_logging; "
        "print(sorted(m for m in ('click', 'rich') if m in sys.modules))"
    )
    result = run_floe("-c", code, cwd=tmp_path, executable=(sys.executable,))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# -- floe plugins ----------------------------------------------------------------------


@pytest.mark.hook("floe_cli")
def test_plugins_lists_the_first_party_plugins_with_their_hooks(tmp_path: Path) -> None:
    result = run_floe("plugins", cwd=tmp_path)
    assert result.returncode == floe.ExitCode.OK, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "STAGE", "STATUS", "DISTRIBUTION", "HOOKS"]
    rows = {line.split()[0]: line for line in lines[1:] if line.strip() and ":" not in line}
    for name, hooks in FIRST_PARTY_HOOKS.items():
        cells = rows[name].split(maxsplit=5)
        assert cells[1:5] == ["first-party", "loaded", "floe-kernel", floe.__version__]
        assert hooks <= set(cells[5].split(", "))
    assert "Store: sqlite:///.floe/floe.db (default)" in lines
    # listing plugins opens no store: the default SQLite file was not created
    assert not (tmp_path / ".floe").exists()


def test_plugins_json_is_every_plugin_in_load_order(tmp_path: Path) -> None:
    result = run_floe("plugins", "--json", cwd=tmp_path)
    assert result.returncode == floe.ExitCode.OK, result.stderr
    records = orjson.loads(result.stdout)
    in_process = floe.Kernel(floe.load_settings(tmp_path, env={}, strict_plugins=True))
    assert [record["name"] for record in records] == [info.name for info in in_process.plugins]
    assert set(records[0]) == {
        "name",
        "stage",
        "status",
        "distribution",
        "version",
        "source",
        "hooks",
        "error",
        "traceback",
    }
    by_name = {record["name"]: record for record in records}
    for name, hooks in FIRST_PARTY_HOOKS.items():
        record = by_name[name]
        assert (record["stage"], record["status"]) == ("first-party", "loaded")
        assert (record["distribution"], record["version"]) == ("floe-kernel", floe.__version__)
        assert record["source"] == f"floe_{name}"
        assert hooks <= set(record["hooks"])
        assert record["error"] is None


def test_plugins_shows_blocked_plugins(tmp_path: Path) -> None:
    result = run_floe("plugins", "--json", cwd=tmp_path, env={"FLOE_DISABLE_PLUGINS": "json"})
    assert result.returncode == floe.ExitCode.OK, result.stderr
    by_name = {record["name"]: record for record in orjson.loads(result.stdout)}
    assert (by_name["json"]["status"], by_name["json"]["hooks"]) == ("blocked", [])
    assert by_name["sqlite"]["status"] == "loaded"

    table = run_floe("plugins", cwd=tmp_path, env={"FLOE_DISABLE_PLUGINS": "json"})
    row = next(line for line in table.stdout.splitlines() if line.startswith("json "))
    assert row.split()[1:3] == ["first-party", "blocked"]
    schemes = next(line for line in table.stdout.splitlines() if line.startswith("Store schemes:"))
    # json is blocked; a store plugin installed beside floe (floe-postgres) adds its own
    shown = schemes.split(": ")[1].split(", ")
    assert {"memory", "sqlite"} <= set(shown)
    assert "json" not in shown


def test_store_option_is_a_setting_and_plugins_does_not_open_it(tmp_path: Path) -> None:
    # 'plugins' needs no store, so a store no plugin provides is shown, not opened
    result = run_floe("--store", "nope://x", "plugins", cwd=tmp_path)
    assert result.returncode == floe.ExitCode.OK, result.stderr
    assert "Store: nope://x (from arguments)" in result.stdout.splitlines()

    equals_form = run_floe("--store=memory://", "plugins", cwd=tmp_path)
    assert "Store: memory:// (from arguments)" in equals_form.stdout.splitlines()


def test_empty_store_option_is_a_usage_error(tmp_path: Path) -> None:
    result = run_floe("--store=", "plugins", cwd=tmp_path)
    assert result.returncode == floe.ExitCode.USAGE
    lines = assert_one_error_block(
        result.stderr, "Invalid value '' for setting 'store' in arguments"
    )
    assert "key='store'" in lines[-1]


# -- settings errors -------------------------------------------------------------------


def test_settings_from_floe_toml_are_used(tmp_path: Path) -> None:
    (tmp_path / "floe.toml").write_text('store = "memory://"\nlog_format = "json"\n')
    result = run_floe("plugins", cwd=tmp_path)
    assert result.returncode == floe.ExitCode.OK, result.stderr
    assert f"Store: memory:// (from {tmp_path / 'floe.toml'})" in result.stdout.splitlines()


def test_bad_setting_in_floe_toml_is_one_block_naming_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "floe.toml"
    config.write_text('log_format = "loud"\n')
    result = run_floe("plugins", cwd=tmp_path)
    assert result.returncode == floe.ExitCode.USAGE
    assert result.stdout == ""
    lines = assert_one_error_block(
        result.stderr, f"Invalid value 'loud' for setting 'log_format' in {config}"
    )
    assert lines[1] == "Why: expected one of console, json, off"
    assert lines[3] == f"Context: source='{config}', key='log_format'"


@pytest.mark.parametrize(
    ("arguments", "env"),
    [
        pytest.param(("--traceback", "plugins"), {}, id="--traceback"),
        pytest.param(("plugins",), {"FLOE_DEBUG": "1"}, id="FLOE_DEBUG"),
    ],
)
def test_traceback_is_shown_on_request(
    tmp_path: Path, arguments: tuple[str, ...], env: dict[str, str]
) -> None:
    (tmp_path / "floe.toml").write_text('log_format = "loud"\n')
    result = run_floe(*arguments, cwd=tmp_path, env=env)
    assert result.returncode == floe.ExitCode.USAGE
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert "floe.ConfigError: Invalid value 'loud'" in result.stderr
    # the block still comes last, where people look first
    tail = result.stderr.rsplit("Error: ", 1)[1]
    assert tail.startswith("Invalid value 'loud' for setting 'log_format'")


def test_unknown_setting_and_malformed_toml_are_usage_errors(tmp_path: Path) -> None:
    config = tmp_path / "floe.toml"
    config.write_text('stroe = "memory://"\n')
    unknown = run_floe("plugins", cwd=tmp_path)
    assert unknown.returncode == floe.ExitCode.USAGE
    assert_one_error_block(unknown.stderr, f"Unknown setting 'stroe' in {config}")

    config.write_text("store = \n")
    malformed = run_floe("plugins", cwd=tmp_path)
    assert malformed.returncode == floe.ExitCode.USAGE
    assert malformed.stderr.startswith(f"Error: Cannot parse {config}\nWhy: ")
    assert "Traceback" not in malformed.stderr


def test_bad_environment_setting_names_the_variable(tmp_path: Path) -> None:
    result = run_floe("plugins", cwd=tmp_path, env={"FLOE_LOG_LEVEL": "chatty"})
    assert result.returncode == floe.ExitCode.USAGE
    assert_one_error_block(
        result.stderr, "Invalid value 'chatty' for setting 'log_level' in $FLOE_LOG_LEVEL"
    )


# -- usage errors and errors from commands ---------------------------------------------


def test_click_usage_errors_are_one_block_with_clicks_message(tmp_path: Path) -> None:
    unknown_command = run_floe("frobnicate", cwd=tmp_path)
    assert unknown_command.returncode == floe.ExitCode.USAGE
    lines = assert_one_error_block(unknown_command.stderr, "No such command 'frobnicate'.")
    assert lines[2] == "Fix: See 'floe --help' for the arguments and options it takes."
    assert lines[3] == "Context: command='floe'"

    unknown_option = run_floe("plugins", "--yaml", cwd=tmp_path)
    assert unknown_option.returncode == floe.ExitCode.USAGE
    lines = assert_one_error_block(unknown_option.stderr, "No such option '--yaml'.")
    assert lines[1] == "Why: 'floe plugins' cannot take these arguments, so nothing ran."
    assert lines[3] == "Context: command='floe plugins', option='--yaml'"
    assert "Usage:" not in unknown_command.stderr + unknown_option.stderr


@pytest.mark.hook("floe_cli")
def test_floe_errors_from_commands_exit_with_their_code(tmp_path: Path, probe_plugin: Path) -> None:
    env = {"FLOE_PLUGINS": "cli_probe"}
    config = run_floe("fail-config", cwd=tmp_path, env=env, python_path=probe_plugin)
    assert config.returncode == floe.ExitCode.USAGE
    assert_one_error_block(config.stderr, "The probe is misconfigured")

    replay = run_floe("fail-run", cwd=tmp_path, env=env, python_path=probe_plugin)
    assert replay.returncode == floe.ExitCode.RUN_FAILED
    assert replay.stderr == "Error: Replay went another way\n"

    returned = run_floe("exit-code", cwd=tmp_path, env=env, python_path=probe_plugin)
    assert returned.returncode == floe.ExitCode.RUN_FAILED
    assert returned.stderr == ""


@pytest.mark.parametrize(
    ("arguments", "first_line", "context"),
    [
        (("plugins", "--json", "extra"), "Got unexpected extra argument (extra)", ""),
        (("secrets", "get"), "Missing argument 'NAME'.", ", argument='NAME'"),
        (
            ("snapshots", "orders", "--limit", "x"),
            "Invalid value for '--limit': 'x' is not a valid integer range.",
            ", option='--limit'",
        ),
    ],
)
def test_usage_errors_of_any_command_are_one_block(
    tmp_path: Path, arguments: tuple[str, ...], first_line: str, context: str
) -> None:
    result = run_floe(*arguments, cwd=tmp_path)
    assert result.returncode == floe.ExitCode.USAGE
    lines = assert_one_error_block(result.stderr, first_line)
    command = "floe " + " ".join(arguments[: 2 if arguments[0] == "secrets" else 1])
    assert lines[-1] == f"Context: command='{command}'{context}"
    assert not (tmp_path / ".floe").exists(), "a usage error opens no store"


def test_unexpected_exceptions_are_internal_errors(tmp_path: Path, probe_plugin: Path) -> None:
    env = {"FLOE_PLUGINS": "cli_probe"}
    result = run_floe("explode", cwd=tmp_path, env=env, python_path=probe_plugin)
    assert result.returncode == floe.ExitCode.INTERNAL
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "Internal error: RuntimeError: the probe exploded"
    assert lines[1].startswith("Why: this is a bug in floe or in one of its plugins")
    assert "--traceback" in lines[2]
    assert "Traceback" not in result.stderr

    # the block says to rerun with --traceback: before the command or after it
    for arguments in (("--traceback", "explode"), ("explode", "--traceback")):
        traced = run_floe(*arguments, cwd=tmp_path, env=env, python_path=probe_plugin)
        assert traced.returncode == floe.ExitCode.INTERNAL
        assert traced.stderr.startswith("Traceback (most recent call last):")
        assert 'raise RuntimeError("the probe exploded")' in traced.stderr
        assert "Internal error: RuntimeError: the probe exploded" in traced.stderr


@pytest.mark.hook("floe_cli")
def test_every_command_takes_traceback_after_its_name(tmp_path: Path, probe_plugin: Path) -> None:
    env = {"FLOE_PLUGINS": "cli_probe"}
    traced = run_floe("fail-config", "--traceback", cwd=tmp_path, env=env, python_path=probe_plugin)
    assert traced.returncode == floe.ExitCode.USAGE
    assert traced.stderr.startswith("Traceback (most recent call last):")
    assert traced.stderr.rstrip().endswith("Context: key='probe'")

    # a nested command, and a command that succeeds: the flag changes nothing there
    listed = run_floe("plugins", "--json", "--traceback", cwd=tmp_path)
    assert listed.returncode == floe.ExitCode.OK, listed.stderr
    assert orjson.loads(listed.stdout)
    nested = run_floe("secrets", "get", "--traceback", cwd=tmp_path)
    assert nested.returncode == floe.ExitCode.USAGE
    assert "No such option" not in nested.stderr
    assert "Missing argument 'NAME'." in nested.stderr

    # after '--' it is an argument, not the option
    literal = run_floe(
        "fail-config", "--", "--traceback", cwd=tmp_path, env=env, python_path=probe_plugin
    )
    assert literal.returncode == floe.ExitCode.USAGE
    assert "Traceback" not in literal.stderr
    assert "Got unexpected extra argument (--traceback)" in literal.stderr


HELP_OF_EVERY_COMMAND = """
import contextlib, io, json, sys
import click
from floe_cli import main

def helps(path):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*path, "--help"])
    text = out.getvalue()
    found = {" ".join(path) or "floe": (code, text)}
    lines = text.splitlines()
    if "Commands:" in lines:
        for line in lines[lines.index("Commands:") + 1 :]:
            if line.startswith("  ") and not line.startswith("   "):
                found.update(helps([*path, line.split()[0]]))
    return found

json.dump(helps([]), sys.stdout)
"""


def test_no_help_text_is_cut_short_or_has_placeholder_dots(tmp_path: Path) -> None:
    result = run_floe("-c", HELP_OF_EVERY_COMMAND, cwd=tmp_path, executable=(sys.executable,))
    assert result.returncode == 0, result.stderr
    helps = orjson.loads(result.stdout)
    for name in ("floe", "run", "runs", "status", "events", "secrets", "secrets get", "register"):
        assert name in helps
    for name, (code, text) in helps.items():
        assert code == floe.ExitCode.OK, name
        # click's usage line is the one place where '...' means something: [ARGS]...
        body = text.split("\n\n", 1)[1]
        assert "..." not in body, f"{name} --help:\n{text}"
        assert "…" not in body, f"{name} --help:\n{text}"
        if name != "floe":
            assert "--traceback" in body, f"{name} --help lists no --traceback"
    # the list of commands keeps each summary whole, wrapped rather than cut
    assert "Show the journal of run RUN_ID as a timeline: seq, time, kind" in helps["floe"][1]


# -- broken plugins at start-up --------------------------------------------------------


def test_broken_settings_plugin_is_an_error_in_strict_mode(tmp_path: Path) -> None:
    result = run_floe("plugins", cwd=tmp_path, env={"FLOE_PLUGINS": "no_such_plugin_module"})
    assert result.returncode == floe.ExitCode.USAGE
    lines = assert_one_error_block(
        result.stderr,
        "Plugin 'no_such_plugin_module' (settings plugin 'no_such_plugin_module') failed to load",
    )
    assert "plugin='no_such_plugin_module'" in lines[-1]


def test_broken_settings_plugin_is_a_warning_otherwise(tmp_path: Path) -> None:
    env = {"FLOE_PLUGINS": "no_such_plugin_module"}
    result = run_floe("plugins", "--json", cwd=tmp_path, env=env, strict=False)
    assert result.returncode == floe.ExitCode.OK, result.stderr
    assert result.stderr.startswith(
        "Warning: Plugin 'no_such_plugin_module' (settings plugin 'no_such_plugin_module') "
        "failed to load\nWhy: "
    )
    assert "Traceback" not in result.stderr
    record = orjson.loads(result.stdout)[-1]
    assert (record["name"], record["stage"], record["status"]) == (
        "no_such_plugin_module",
        "settings",
        "failed",
    )
    assert "ModuleNotFoundError" in record["traceback"]

    table = run_floe("plugins", cwd=tmp_path, env=env, strict=False)
    lines = table.stdout.splitlines()
    row = next(index for index, line in enumerate(lines) if line.startswith("no_such_plugin"))
    assert lines[row].split()[1:3] == ["settings", "failed"]
    assert lines[row + 1].strip() == (
        "Plugin 'no_such_plugin_module' (settings plugin 'no_such_plugin_module') failed to load"
    )

    traced = run_floe("--traceback", "plugins", cwd=tmp_path, env=env, strict=False)
    assert traced.stderr.startswith("Traceback (most recent call last):")
    assert "ModuleNotFoundError: No module named 'no_such_plugin_module'" in traced.stderr
