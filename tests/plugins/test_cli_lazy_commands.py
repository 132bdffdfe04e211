"""Commands listed by name and summary: ``floe --help`` imports none of their modules.

Run as the real command line in subprocesses. The stand-ins (``floe_cli.lazy_command``)
must list exactly what the loaded commands would, and a command whose module fails to
import is an error of that command alone.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import orjson
from test_cli import assert_one_error_block, run_floe

import floe

COMMAND_MODULES = (
    "floe_cli._commands",
    "floe_cli._component_commands",
    "floe_cli._queue_commands",
    "floe_cli._schedule_commands",
    "floe_cli._secret_commands",
    "floe_cli._worker_commands",
    "floe_cli._workflow_commands",
    "floe_reload._command",
    "floe_server._command",
)
"""The modules of the first-party and contrib commands (a contrib one may be absent)."""

MODULES_AFTER_HELP = f"""
import contextlib, io, sys
from floe_cli import main

with contextlib.redirect_stdout(io.StringIO()):
    code = main(["--help"])
print(code, sorted(set(sys.modules) & {set(COMMAND_MODULES)!r}))
"""

SUMMARIES = """
import json, sys
import floe
from floe_cli._app import _root_group
from floe_cli._group import LazyCommand, finish_command

group = _root_group()
floe.Kernel(floe.load_settings()).hooks.cli(group)
found = {}
for name, command in group.commands.items():
    if isinstance(command, LazyCommand):
        real = command.load()
        finish_command(real)
        found[name] = {
            "listed": [command.get_short_help_str(sys.maxsize), command.hidden],
            "loaded": [real.get_short_help_str(sys.maxsize), real.hidden],
        }
json.dump(found, sys.stdout)
"""


def test_help_imports_no_command_module(tmp_path: Path) -> None:
    result = run_floe("-c", MODULES_AFTER_HELP, cwd=tmp_path, executable=(sys.executable,))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{int(floe.ExitCode.OK)} []"


def test_every_listed_summary_is_the_loaded_commands(tmp_path: Path) -> None:
    result = run_floe("-c", SUMMARIES, cwd=tmp_path, executable=(sys.executable,))
    assert result.returncode == 0, result.stderr
    found = orjson.loads(result.stdout)
    for name in ("plugins", "run", "worker", "schedule", "secrets", "update-rules", "update_rules"):
        assert name in found
    for name, sides in found.items():
        listed_summary, listed_hidden = sides["listed"]
        loaded_summary, loaded_hidden = sides["loaded"]
        assert listed_hidden == loaded_hidden, name
        if not listed_hidden:
            assert listed_summary == loaded_summary, name


def test_a_command_whose_module_fails_to_import_fails_alone(tmp_path: Path) -> None:
    directory = tmp_path / "probe"
    directory.mkdir()
    (directory / "lazy_probe.py").write_text(
        textwrap.dedent(
            """
            import floe
            from floe_cli import lazy_command


            @floe.hookimpl
            def floe_cli(cli):
                cli.add_command(
                    lazy_command("broken", "no_such_module_here:command", "Never loads.")
                )
            """
        )
    )
    env = {"FLOE_PLUGINS": "lazy_probe"}

    listed = run_floe("--help", cwd=tmp_path, env=env, python_path=directory)
    assert listed.returncode == floe.ExitCode.OK, listed.stderr
    assert "  broken " in listed.stdout
    assert "Never loads." in listed.stdout

    result = run_floe("broken", cwd=tmp_path, env=env, python_path=directory)
    assert result.returncode == floe.ExitCode.USAGE
    lines = assert_one_error_block(
        result.stderr, "Command 'broken' (no_such_module_here:command) failed to load"
    )
    assert lines[1] == "Why: ModuleNotFoundError: No module named 'no_such_module_here'"
    assert "command='broken'" in lines[-1]

    traced = run_floe("broken", "--traceback", cwd=tmp_path, env=env, python_path=directory)
    assert traced.returncode == floe.ExitCode.USAGE
    assert traced.stderr.startswith("Traceback (most recent call last):")
