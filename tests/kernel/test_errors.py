from __future__ import annotations

import pickle

import pytest

import floe
from floe import ExitCode, FloeError


def test_str_has_what_why_fix_context_lines() -> None:
    error = FloeError("It broke", why="Because.", fix="Do this.", context={"run_id": "r1", "n": 2})
    assert str(error).splitlines() == [
        "It broke",
        "Why: Because.",
        "Fix: Do this.",
        "Context: run_id='r1', n=2",
    ]
    assert error.what == "It broke"
    assert repr(error) == "FloeError('It broke')"


def test_str_omits_missing_parts() -> None:
    assert str(FloeError("Only what")) == "Only what"


@pytest.mark.parametrize(
    ("cls", "builtin", "code"),
    [
        (floe.ConfigError, ValueError, ExitCode.USAGE),
        (floe.PersistenceError, ValueError, ExitCode.INTERNAL),
        (floe.SequenceConflictError, ValueError, ExitCode.INTERNAL),
        (floe.ImportPathError, ImportError, ExitCode.USAGE),
        (floe.PluginError, RuntimeError, ExitCode.USAGE),
        (floe.StateError, LookupError, ExitCode.USAGE),
        (floe.NotFoundError, LookupError, ExitCode.USAGE),
        (floe.SerializationError, TypeError, ExitCode.USAGE),
        (floe.NonDeterminismError, RuntimeError, ExitCode.RUN_FAILED),
        (floe.TaskTimeoutError, TimeoutError, ExitCode.RUN_FAILED),
    ],
)
def test_subclasses_are_also_their_builtin(cls: type[FloeError], builtin: type, code: int) -> None:
    error = cls("what", why="why", fix="fix", context={"k": 1})
    assert isinstance(error, FloeError)
    assert isinstance(error, builtin)
    assert error.exit_code == code
    with pytest.raises(builtin):
        raise error


def test_errors_pickle_with_every_part() -> None:
    error = floe.PersistenceError(
        "Corrupt", why="bad JSON", fix="restore", context={"file": "x.db"}
    )
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is floe.PersistenceError
    assert str(copy) == str(error)


def test_exit_codes_are_documented_values() -> None:
    assert [int(code) for code in ExitCode] == [0, 1, 2, 3]
