"""``floe secrets``, run as the real console script against a real SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

import floe
from floe_secrets import generate_key
from floe_secrets._crypto import SecretKey

FLOE = Path(sys.executable).with_name("floe")
PLAINTEXT = "correct-horse-battery-staple-4f9a"


def run_floe(
    *args: str,
    cwd: Path,
    key: str | None,
    stdin: str = "",
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """The command line on ``<cwd>/floe.db``, with *key* (None: unset) and no other FLOE_*."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("FLOE_")}
    environment["FLOE_STRICT_PLUGINS"] = "1"
    environment["FLOE_STORE"] = f"sqlite:///{cwd / 'floe.db'}"
    if key is not None:
        environment["FLOE_SECRET_KEY"] = key
    environment.update(env or {})
    return subprocess.run(
        [str(FLOE), *args],
        cwd=cwd,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == floe.ExitCode.OK, result.stderr
    return result


def assert_error_block(
    result: subprocess.CompletedProcess[str], first_line: str, *, code: int = floe.ExitCode.USAGE
) -> list[str]:
    """One error block (what, then Why/Fix/Context lines), no traceback, the exit code."""
    assert result.returncode == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines[0] == f"Error: {first_line}", result.stderr
    assert sum(line.startswith("Error:") for line in lines) == 1
    assert all(line.startswith(("Why: ", "Fix: ", "Context: ")) for line in lines[1:]), lines
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    return lines


@pytest.fixture
def key() -> str:
    return generate_key()


def _database_bytes(directory: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(directory.glob("floe.db*")))


# -- the good cases --------------------------------------------------------------------------


def test_keygen_prints_only_a_fresh_key(tmp_path: Path) -> None:
    first = ok(run_floe("secrets", "keygen", cwd=tmp_path, key=None))
    second = ok(run_floe("secrets", "keygen", cwd=tmp_path, key=None))
    assert first.stdout.endswith("\n")
    assert len(first.stdout.strip()) == 44
    assert first.stdout != second.stdout
    assert first.stderr == ""  # the note is for terminals only
    SecretKey.parse(first.stdout)
    # making a key opens no store
    assert not (tmp_path / "floe.db").exists()


def test_set_list_get_remove(tmp_path: Path, key: str) -> None:
    empty = ok(run_floe("secrets", "list", cwd=tmp_path, key=key))
    assert (empty.stdout, empty.stderr) == ("", "No secrets are set.\n")

    stored = ok(run_floe("secrets", "set", "api_key", "--value", PLAINTEXT, cwd=tmp_path, key=key))
    assert stored.stdout == "Secret 'api_key' set.\n"
    piped = ok(
        run_floe("secrets", "set", "db.password", cwd=tmp_path, key=key, stdin="pass word 1\n")
    )
    assert piped.stdout == "Secret 'db.password' set.\n"

    assert ok(run_floe("secrets", "list", cwd=tmp_path, key=key)).stdout == (
        "api_key\ndb.password\n"
    )
    listed = ok(run_floe("secrets", "list", "--json", cwd=tmp_path, key=key))
    assert orjson.loads(listed.stdout) == ["api_key", "db.password"]

    masked = ok(run_floe("secrets", "get", "api_key", cwd=tmp_path, key=key))
    assert masked.stdout == "api_key: ***\n"
    revealed = ok(run_floe("secrets", "get", "api_key", "--reveal", cwd=tmp_path, key=key))
    assert revealed.stdout == f"{PLAINTEXT}\n"
    # stdin's trailing newline is not part of the value; inner spaces are
    piped_value = ok(run_floe("secrets", "get", "db.password", "--reveal", cwd=tmp_path, key=key))
    assert piped_value.stdout == "pass word 1\n"

    removed = ok(run_floe("secrets", "remove", "api_key", cwd=tmp_path, key=key))
    assert removed.stdout == "Secret 'api_key' removed.\n"
    assert ok(run_floe("secrets", "list", cwd=tmp_path, key=key)).stdout == "db.password\n"


def test_stdin_keeps_all_but_one_trailing_newline(tmp_path: Path, key: str) -> None:
    for stdin, expected in [
        ("tokens\r\n", "tokens"),
        ("token\n\n", "token\n"),
        ("  spaced  ", "  spaced  "),
    ]:
        ok(run_floe("secrets", "set", "value", cwd=tmp_path, key=key, stdin=stdin))
        result = ok(run_floe("secrets", "get", "value", "--reveal", cwd=tmp_path, key=key))
        assert result.stdout == f"{expected}\n"


def test_the_value_shows_only_with_reveal_and_never_on_disk(tmp_path: Path, key: str) -> None:
    results = [
        run_floe("secrets", "set", "api_key", cwd=tmp_path, key=key, stdin=PLAINTEXT),
        run_floe("secrets", "list", cwd=tmp_path, key=key),
        run_floe("secrets", "get", "api_key", cwd=tmp_path, key=key),
        run_floe("secrets", "get", "api_key", cwd=tmp_path, key=generate_key()),
        run_floe("secrets", "set", "api_key", "--value", "", cwd=tmp_path, key=key),
        run_floe("secrets", "remove", "missing", cwd=tmp_path, key=key),
    ]
    for result in results:
        assert PLAINTEXT not in result.stdout + result.stderr
        assert key not in result.stdout + result.stderr
    raw = _database_bytes(tmp_path)
    assert b"api_key" in raw
    assert PLAINTEXT.encode() not in raw
    assert key.encode() not in raw


def test_global_store_option_chooses_the_store(tmp_path: Path, key: str) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    ok(
        run_floe(
            "--store", other, "secrets", "set", "x", "--value", "token-1", cwd=tmp_path, key=key
        )
    )
    assert ok(run_floe("--store", other, "secrets", "list", cwd=tmp_path, key=key)).stdout == "x\n"
    assert ok(run_floe("secrets", "list", cwd=tmp_path, key=key)).stdout == ""


def test_secrets_setting_store_url_is_the_same_store(tmp_path: Path, key: str) -> None:
    ok(run_floe("secrets", "set", "x", "--value", "token-1", cwd=tmp_path, key=key))
    explicit = {"FLOE_SECRETS": "store://"}
    result = ok(run_floe("secrets", "get", "x", "--reveal", cwd=tmp_path, key=key, env=explicit))
    assert result.stdout == "token-1\n"


# -- errors: one block each, with its exit code ----------------------------------------------


def test_no_key_is_a_usage_error(tmp_path: Path, key: str) -> None:
    ok(run_floe("secrets", "set", "api_key", "--value", PLAINTEXT, cwd=tmp_path, key=key))
    for args in (("set", "other", "--value", "token-2"), ("get", "api_key")):
        result = run_floe("secrets", *args, cwd=tmp_path, key=None)
        lines = assert_error_block(result, "No secret key: FLOE_SECRET_KEY is not set")
        assert any("floe secrets keygen" in line for line in lines)
    # names and removal need no key
    assert ok(run_floe("secrets", "list", cwd=tmp_path, key=None)).stdout == "api_key\n"
    ok(run_floe("secrets", "remove", "api_key", cwd=tmp_path, key=None))


def test_a_malformed_key_is_a_usage_error_that_does_not_echo_it(tmp_path: Path) -> None:
    malformed = "not-a-key-" + PLAINTEXT
    result = run_floe("secrets", "list", cwd=tmp_path, key=malformed)
    assert_error_block(
        result, "The secret key in $FLOE_SECRET_KEY is malformed: it has 43 characters, not 44"
    )
    assert malformed not in result.stderr


def test_another_key_names_the_secret(tmp_path: Path, key: str) -> None:
    ok(run_floe("secrets", "set", "api_key", "--value", PLAINTEXT, cwd=tmp_path, key=key))
    result = run_floe("secrets", "get", "api_key", "--reveal", cwd=tmp_path, key=generate_key())
    lines = assert_error_block(result, "Secret 'api_key' was encrypted under another key")
    assert SecretKey.parse(key).fingerprint in lines[1]
    assert PLAINTEXT not in result.stderr


def test_setting_under_another_key_is_refused_unless_forced(tmp_path: Path, key: str) -> None:
    ok(run_floe("secrets", "set", "api_key", "--value", PLAINTEXT, cwd=tmp_path, key=key))
    other = generate_key()
    refused = run_floe("secrets", "set", "second", "--value", PLAINTEXT, cwd=tmp_path, key=other)
    lines = assert_error_block(refused, f"The secrets in sqlite:///{tmp_path / 'floe.db'} were "
                               "stored under another key")  # fmt: skip
    assert SecretKey.parse(key).fingerprint in lines[1]
    assert SecretKey.parse(other).fingerprint in lines[1]
    assert any("--force" in line for line in lines)
    assert ok(run_floe("secrets", "list", cwd=tmp_path, key=other)).stdout == "api_key\n"
    forced = run_floe("secrets", "set", "second", "--value", PLAINTEXT, "--force",
                      cwd=tmp_path, key=other)  # fmt: skip
    assert ok(forced).stdout == "Secret 'second' set.\n"
    revealed = ok(run_floe("secrets", "get", "second", "--reveal", cwd=tmp_path, key=other))
    assert revealed.stdout == f"{PLAINTEXT}\n"
    # the first one still opens with its own key
    assert ok(run_floe("secrets", "get", "api_key", "--reveal", cwd=tmp_path, key=key)).stdout


def test_a_value_too_short_to_mask_is_refused(tmp_path: Path, key: str) -> None:
    for value in ("e", "12345"):
        result = run_floe("secrets", "set", "pin", "--value", value, cwd=tmp_path, key=key)
        assert_error_block(
            result, f"Invalid value for secret 'pin': {len(value)} characters, fewer than 6"
        )
    assert ok(run_floe("secrets", "list", cwd=tmp_path, key=key)).stderr == "No secrets are set.\n"
    ok(run_floe("secrets", "set", "pin", "--value", "123456", cwd=tmp_path, key=key))


@pytest.mark.parametrize(
    ("args", "stdin", "first_line"),
    [
        (("get", "nope"), "", "Missing secret: nope"),
        (("remove", "nope"), "", "No secret 'nope' to remove"),
        (("set", "bad name", "--value", "token-3"), "", "Invalid secret name 'bad name'"),
        (("set", "empty"), "\n", "Invalid value for secret 'empty': it is empty"),
        (("get", "1st"), "", "Invalid secret name '1st'"),
    ],
)
def test_bad_requests_are_usage_errors(
    tmp_path: Path, key: str, args: tuple[str, ...], stdin: str, first_line: str
) -> None:
    ok(run_floe("secrets", "set", "kept", "--value", "token-4", cwd=tmp_path, key=key))
    assert_error_block(run_floe("secrets", *args, cwd=tmp_path, key=key, stdin=stdin), first_line)
    assert ok(run_floe("secrets", "list", cwd=tmp_path, key=key)).stdout == "kept\n"


def test_a_read_only_secret_store_cannot_be_managed(tmp_path: Path, key: str) -> None:
    result = run_floe(
        "secrets", "list", cwd=tmp_path, key=key, env={"FLOE_SECRETS": "env://SECRET_"}
    )
    assert_error_block(result, "The secret store 'env://SECRET_' cannot be managed here")


def test_usage_mistakes_are_click_errors(tmp_path: Path, key: str) -> None:
    result = run_floe("secrets", "get", cwd=tmp_path, key=key)
    assert result.returncode == floe.ExitCode.USAGE
    assert "Missing argument 'NAME'" in result.stderr
