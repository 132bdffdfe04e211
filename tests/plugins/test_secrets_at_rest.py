"""Secret values at rest and on the way out: sealed in every store, exact on replay, masked
wherever people see them.

A secret flows through every path a value takes to the journal (a task result, the
cache, ``floe.pause(output=...)``, a resume value, the run output, artifact metadata, an
error, captured print and logging, an event posted on the bus); the tests read the real
SQLite file and its WAL, the JSON store's files, the memory store's events, and the
command line's output, and replay the run in a new process.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

import floe
import floe_json
import floe_secrets
import floe_sqlite
from floe import ConfigError, PersistenceError, SerializationError
from floe_secrets import KeyCodec, generate_key
from floe_secrets._crypto import SecretKey

pytestmark = pytest.mark.anyio

TOKEN = "tok-5f2c9a-e8d1b7"
"""The secret: distinctive, so that finding it anywhere is a leak, not chance."""
PLAIN_TEXT = {"status": "success", "url": "https://example.org/", "e": "e"}
"""Unrelated strings sharing the secret's letters: stored and replayed exactly."""
FLOE = Path(sys.executable).with_name("floe")
NO_SECRETS = floe.Secrets()

WORKFLOWS = textwrap.dedent(
    f"""
    import logging

    import floe
    from floe import Secrets

    NO_SECRETS = Secrets()
    PLAIN_TEXT = {PLAIN_TEXT!r}


    @floe.task(secrets=["api_token"], cache=True)
    async def fetch(secrets: Secrets = NO_SECRETS) -> dict:
        token = secrets.reveal("api_token")
        header = {{"header": f"Bearer {{token}}"}}
        floe.add_artifact("request", header, description=f"with {{token}}")
        floe.add_result("note", f"sent {{token}}")
        print(f"printing {{token}}")
        logging.getLogger("user").warning("logging %s", token)
        logging.getLogger("floe.flows").warning("console %s", token)
        await floe.current_kernel().bus.post("user.sent", {{"token": token}})
        return {{"token": token, **PLAIN_TEXT}}


    @floe.task(secrets=["api_token"])
    async def reject(secrets: Secrets = NO_SECRETS) -> None:
        raise PermissionError(f"token {{secrets.reveal('api_token')}} refused")


    @floe.workflow(capture_output=True, log_to_console=True)
    async def flow() -> dict:
        fetched = await fetch()
        try:
            await reject()
        except PermissionError as error:
            fetched["error"] = str(error)
        resumed = await floe.pause("approval", output={{"token": fetched["token"]}})
        return {{**fetched, "resumed": resumed}}


    @floe.workflow
    async def fails() -> None:
        await reject()
    """
)

EXPECTED = {
    "token": TOKEN,
    **PLAIN_TEXT,
    "error": f"token {TOKEN} refused",
    "resumed": {"approved_with": TOKEN},
}
"""What ``flow`` returns once resumed with ``{"approved_with": TOKEN}``."""

STORES = {
    "memory": "memory://",
    "sqlite": "sqlite:///{tmp}/floe.db",
    "json": "json:///{tmp}/json-store",
}


@pytest.fixture
def workflows(tmp_path: Path) -> Path:
    path = tmp_path / "secret_flows.py"
    path.write_text(WORKFLOWS, encoding="utf-8")
    return path


@pytest.fixture
def flows(workflows: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """The workflows ``flow`` and ``fails``, their secret set in this process's environment."""
    from floe.kernel._targets import import_target

    monkeypatch.setenv("SECRET_API_TOKEN", TOKEN)
    return import_target(f"{workflows}:flow"), import_target(f"{workflows}:fails")


def _at_rest(tmp_path: Path) -> bytes:
    """Every byte under *tmp_path* but the workflow's source: the db, its WAL, JSON files."""
    return b"".join(
        path.read_bytes()
        for path in sorted(tmp_path.rglob("*"))
        if path.is_file() and path.suffix != ".py" and "__pycache__" not in path.parts
    )


def _environment(tmp_path: Path, store: str, key: str | None, **extra: str) -> dict[str, str]:
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("FLOE_")
    }
    environment.update(
        FLOE_STRICT_PLUGINS="1",
        FLOE_STORE=store,
        FLOE_SECRETS="env://SECRET_",
        FLOE_LOG_FORMAT="console",
        FLOE_LOG_LEVEL="DEBUG",
        SECRET_API_TOKEN=TOKEN,
        **extra,
    )
    environment.pop("FLOE_SECRET_KEY", None)
    if key is not None:
        environment["FLOE_SECRET_KEY"] = key
    return environment


def _floe(
    *args: str, cwd: Path, env: dict[str, str], code: int = floe.ExitCode.OK
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(FLOE), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == code, (result.stdout, result.stderr)
    return result


def _python(code: str, *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result


# -- every path, every store, the real command line ------------------------------------------


@pytest.mark.parametrize("store_kind", ["sqlite", "json"])
def test_every_path_is_sealed_at_rest_masked_when_shown_and_exact_on_replay(
    tmp_path: Path, workflows: Path, store_kind: str
) -> None:
    key = generate_key()
    store = STORES[store_kind].format(tmp=tmp_path)
    env = _environment(tmp_path, store, key)
    shown: list[str] = []

    started = _floe("run", f"{workflows}:flow", "--run-id", "r1", cwd=tmp_path, env=env)
    assert "Paused:" in started.stderr
    assert 'Output: "***"' in started.stderr  # the pause output, sealed whole
    assert "printing ***" in started.stdout  # captured output, echoed to the console
    assert "console ***" in started.stderr  # a floe logger's record, through the console sink
    shown += [started.stdout, started.stderr]

    # a new process: the resume value holds the secret before any task of it ran
    resumed = _floe(
        "resume", "r1", "--input", orjson.dumps({"approved_with": TOKEN}).decode(),
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert orjson.loads(resumed.stdout) == {
        **EXPECTED,
        "token": "***",
        "error": "token *** refused",
        "resumed": {"approved_with": "***"},
    }
    shown += [resumed.stdout, resumed.stderr]

    failed = _floe("--traceback", "run", f"{workflows}:fails", "--run-id", "r2",
                   cwd=tmp_path, env=env, code=floe.ExitCode.RUN_FAILED)  # fmt: skip
    assert "Workflow 'fails' failed: PermissionError: token *** refused" in failed.stderr
    assert "Traceback" in failed.stderr
    shown += [failed.stdout, failed.stderr]

    for command in (
        ("status", "r1"),
        ("status", "r1", "--json", "--detailed"),
        ("status", "r2"),
        ("runs",),
        ("runs", "--json"),
        ("events", "r1"),
        ("events", "r1", "--json"),
        ("events", "r2", "--json"),
    ):
        shown.append(_floe(*command, cwd=tmp_path, env=env).stdout)
    status = orjson.loads(shown[-7])
    assert status["output"] == "***"
    assert status["metadata"]["secrets"] == ["api_token"]
    assert "PermissionError: token *** refused" in shown[-6]

    for text in shown:
        assert TOKEN not in text
    assert TOKEN.encode() not in _at_rest(tmp_path)

    # replay in a new process returns exactly what the first run saw, unrelated text too
    replay = textwrap.dedent(
        f"""
        import anyio, orjson, floe
        from floe.kernel._targets import import_target

        async def main():
            flow = import_target({str(workflows) + ":flow"!r})
            execution = await flow.run_async(run_id="r1")
            print(orjson.dumps([
                execution.output,
                [a.value for a in execution.artifacts],
                [a.description for a in execution.artifacts],
                [r.description for r in execution.results],
                execution.captured_logs(),
            ]).decode())

        anyio.run(main)
        """
    )
    output, values, descriptions, results, logs = orjson.loads(
        _python(replay, cwd=tmp_path, env=env).stdout
    )
    assert output == EXPECTED
    assert values == [{"header": f"Bearer {TOKEN}"}]
    assert descriptions == [f"with {TOKEN}"]
    assert results == [f"sent {TOKEN}"]
    assert logs == [f"printing {TOKEN}", f"logging {TOKEN}"]


async def test_the_memory_store_holds_sealed_events_and_the_program_gets_exact_values(
    floe_kernel_factory: Callable[..., floe.Kernel],
    key: str,
    flows: tuple[Any, Any],
) -> None:
    flow, fails = flows
    async with floe_kernel_factory(secrets="env://SECRET_") as kernel:
        paused = await flow.run_async(run_id="m1")
        assert paused.paused
        assert paused.output == {"token": TOKEN}
        done = await flow.resume_async("m1", {"approved_with": TOKEN})
        failed = await fails.run_async(run_id="m2")
        stored = [await kernel.store.get_run(run_id) for run_id in ("m1", "m2")]
        journals = [await kernel.store.read_events(run_id) for run_id in ("m1", "m2")]
        cached = await kernel.store.get_cached(_cache_key(flow))
        # another run's fetch is a cache hit: the sealed result opens for it
        again = await flow.run_async(run_id="m3")
        hit = [event.kind for event in await kernel.store.read_events("m3")]
    assert again.output == {"token": TOKEN}
    assert "task.cache_hit" in hit
    assert done.output == EXPECTED
    assert done.captured_logs() == [f"printing {TOKEN}", f"logging {TOKEN}"]
    assert failed.error is not None
    assert failed.error.message == f"token {TOKEN} refused"
    # the exception is the program's own, as raised
    assert isinstance(failed.exception, PermissionError)
    assert str(failed.exception) == f"token {TOKEN} refused"
    at_rest = orjson.dumps(
        [floe.storage.to_document(item) for item in [*stored, *journals[0], *journals[1]]]
        + [cached.value if cached else None]
    )
    assert TOKEN.encode() not in at_rest
    assert b'"$sealed"' in at_rest
    # the record keeps a masked copy of the error to show
    assert stored[1] is not None
    assert stored[1].error is not None
    assert stored[1].error.message == "token *** refused"


async def test_a_child_run_shares_its_parents_secrets(
    floe_kernel_factory: Callable[..., floe.Kernel], key: str, flows: tuple[Any, Any]
) -> None:
    fetch = flows[0].function.__globals__["fetch"]

    @floe.workflow
    async def child(token: str) -> str:
        return f"child saw {token}"

    @floe.workflow
    async def parent() -> str:
        fetched = await fetch()
        return await floe.call(child, fetched["token"])

    async with floe_kernel_factory(secrets="env://SECRET_") as kernel:
        execution = await parent.run_async(run_id="p1")
        again = await parent.run_async(run_id="p1")  # finished: loaded, opened
        runs = [await kernel.store.get_run(run_id) for run_id in ("p1", "p1:child#1")]
        journals = [await kernel.store.read_events(run_id) for run_id in ("p1", "p1:child#1")]
    assert execution.output == again.output == f"child saw {TOKEN}"
    stored = [floe.storage.to_document(item) for item in [*runs, *journals[0], *journals[1]]]
    assert TOKEN.encode() not in orjson.dumps(stored)
    child_run = runs[1]
    assert child_run is not None
    assert set(child_run.input) == {"$sealed"}  # the child's input held its parent's secret


def _cache_key(flow: Any) -> str:
    from floe.workflows._step import _cache_key

    fetch = flow.function.__globals__["fetch"]
    return _cache_key(fetch, (), {})


# -- after a crash, in another process ---------------------------------------------------------

CRASHING = textwrap.dedent(
    """
    import os

    import anyio
    import floe
    from floe import Secrets

    NO_SECRETS = Secrets()


    @floe.task(secrets=["api_token"])
    async def token(secrets: Secrets = NO_SECRETS) -> str:
        return secrets.reveal("api_token")


    @floe.task
    async def slow(value: str) -> str:
        if os.environ.get("CRASH_HERE"):  # the first process waits here to be killed
            print("waiting", flush=True)
            await anyio.sleep(60)
        return value


    @floe.task
    async def derive(value: str) -> dict:
        return {"derived": value + "!", "status": "success"}


    @floe.workflow
    async def crashes() -> dict:
        value = await token()
        await slow(value)
        return await derive(value)
    """
)


def test_after_a_crash_the_resumed_process_seals_what_replayed_values_lead_to(
    tmp_path: Path,
) -> None:
    (tmp_path / "crashing.py").write_text(CRASHING, encoding="utf-8")
    store = f"sqlite:///{tmp_path / 'floe.db'}"
    env = _environment(tmp_path, store, generate_key())
    target = f"{tmp_path / 'crashing.py'}:crashes"
    process = subprocess.Popen(
        [str(FLOE), "run", target, "--run-id", "k1", "-q"],
        # a short lease: the killed process's run is free again soon after
        cwd=tmp_path, env={**env, "CRASH_HERE": "1", "FLOE_RUN_LEASE_SECONDS": "0.5"},
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        assert process.stdout.readline() == b"waiting\n"  # token#1 is stored by now
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        process.stdout.close()
    time.sleep(0.6)  # until the dead process's lease on the run has run out
    assert TOKEN.encode() not in _at_rest(tmp_path)
    # a new process replays token#1 (sealed), the body runs derive#1 with its value
    code = textwrap.dedent(
        f"""
        import anyio, orjson
        from floe.kernel._targets import import_target

        async def main():
            crashes = import_target({target!r})
            execution = await crashes.run_async(run_id="k1")
            print(orjson.dumps(execution.output).decode())

        anyio.run(main)
        """
    )
    output = orjson.loads(_python(code, cwd=tmp_path, env=env).stdout)
    assert output == {"derived": TOKEN + "!", "status": "success"}
    assert TOKEN.encode() not in _at_rest(tmp_path)


# -- the key: none, another, a damaged or moved envelope ----------------------------------------


async def test_without_a_key_a_write_holding_a_secret_is_refused_and_nothing_is_stored(
    floe_kernel_factory: Callable[..., floe.Kernel],
    monkeypatch: pytest.MonkeyPatch,
    flows: tuple[Any, Any],
    tmp_path: Path,
) -> None:
    monkeypatch.delenv("FLOE_SECRET_KEY", raising=False)

    @floe.task(secrets=["api_token"])
    async def uses(secrets: floe.Secrets = NO_SECRETS) -> int:
        return len(secrets.reveal("api_token"))

    @floe.workflow
    async def harmless() -> int:
        return await uses()

    flow, _ = flows
    store = f"sqlite:///{tmp_path / 'floe.db'}"
    async with floe_kernel_factory(store=store, secrets="env://SECRET_") as kernel:
        assert kernel.payload_codec is None
        # a run whose values hold no secret needs no key
        assert (await harmless.run_async()).output == len(TOKEN)
        execution = await flow.run_async(run_id="n1")
        events = await kernel.store.read_events("n1")
    assert execution.failed
    assert execution.error is not None
    assert execution.error.type == "floe.ConfigError"
    message = execution.error.message
    # the first value holding the secret is the artifact's description: add_artifact fails
    assert message.startswith(
        "The field 'description' of 'artifact.created' event of step 'fetch#1' holds the "
        "value of secret 'api_token', and there is no key to seal it with"
    )
    assert "floe secrets keygen" in message
    assert [event.kind for event in events] == [
        "run.started",
        "task.started",
        "task.failed",
        "run.failed",
    ]
    assert TOKEN.encode() not in _at_rest(tmp_path)


async def test_a_moved_or_changed_envelope_fails_authentication(
    floe_kernel_factory: Callable[..., floe.Kernel],
    key: str,
    flows: tuple[Any, Any],
) -> None:
    flow, _ = flows
    async with floe_kernel_factory(secrets="env://SECRET_") as kernel:
        await flow.run_async(run_id="t1")
        events = await kernel.store.read_events("t1")
        completed = next(event for event in events if event.kind == "task.completed")
        paused = next(event for event in events if event.kind == "run.paused")
        envelope = completed.data["result"]
        # moved: the fetch result's envelope where the pause output's was
        paused.data["output"] = envelope
        moved = floe.Execution.from_run(
            await kernel.store.get_run("t1"), events, opener=_opener(kernel, "t1")
        )
        with pytest.raises(PersistenceError, match="failed authentication"):
            moved.opener.data(paused.kind, paused.step, paused.data)  # type: ignore[union-attr]
        # changed: one character of the ciphertext
        data = envelope["$sealed"]["data"]
        envelope["$sealed"]["data"] = ("A" if data[0] != "A" else "B") + data[1:]
        with pytest.raises(PersistenceError, match="failed authentication") as caught:
            await flow.resume_async("t1", "go", raise_on_error=True)
    assert "'task.completed' event of step 'fetch#1'" in str(caught.value)
    assert caught.value.context["run_id"] == "t1"
    assert TOKEN not in str(caught.value)


def _opener(kernel: floe.Kernel, run_id: str) -> Any:
    from floe.kernel._sealing import Opener

    return Opener(run_id, kernel.payload_codec)


async def test_an_envelope_sealed_under_another_key_names_both_fingerprints(key: str) -> None:
    sealed = KeyCodec.from_text(key).seal(b"{}", b"where")
    other = KeyCodec.from_text(generate_key())
    with pytest.raises(ConfigError, match="sealed under another key") as caught:
        other.open(sealed, b"where")
    assert SecretKey.parse(key).fingerprint in str(caught.value)
    assert other.fingerprint in str(caught.value)
    with pytest.raises(PersistenceError, match="newer floe"):
        other.open({**sealed, "v": 9}, b"where")
    with pytest.raises(PersistenceError, match="not an envelope"):
        other.open({"v": 1}, b"where")


async def test_a_value_shaped_like_an_envelope_is_refused(
    floe_kernel_factory: Callable[..., floe.Kernel],
) -> None:
    @floe.task
    async def impostor() -> dict[str, Any]:
        return {"$sealed": {"v": 1}}

    @floe.task
    async def wrapped() -> dict[str, Any]:
        return {"value": {"$sealed": {"v": 1}}}

    @floe.workflow
    async def returns_one() -> Any:
        kept = await wrapped()
        try:
            await impostor()
        except SerializationError as error:
            return [kept, str(error)]
        return None

    async with floe_kernel_factory():
        execution = await returns_one.run_async()
    kept, message = execution.output
    assert kept == {"value": {"$sealed": {"v": 1}}}
    assert "a mapping whose only key is '$sealed'" in message


# -- short secrets, resolved from another store ------------------------------------------------


async def test_a_short_secret_is_refused_when_a_task_receives_it(
    floe_kernel_factory: Callable[..., floe.Kernel], monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    monkeypatch.setenv("SECRET_PIN", "e")
    ran: list[bool] = []

    @floe.task(secrets=["pin"])
    async def uses_pin(secrets: floe.Secrets = NO_SECRETS) -> None:
        ran.append(True)

    @floe.workflow
    async def short() -> None:
        await uses_pin()

    async with floe_kernel_factory(secrets="env://SECRET_"):
        execution = await short.run_async()
    assert ran == []
    assert execution.error is not None
    assert execution.error.type == "floe.ConfigError"
    assert execution.error.message.startswith(
        "Secret 'pin' from the secret store env://SECRET_ is too short: 1 characters, fewer than 6"
    )


# -- the hook -------------------------------------------------------------------------------


class _RecordingCodec:
    """A codec of a plugin of its own, delegating to floe_secrets' cipher."""

    def __init__(self, key: str) -> None:
        self.inner = KeyCodec.from_text(key)
        self.sealed = 0

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    def seal(self, plaintext: bytes, associated_data: bytes) -> dict[str, Any]:
        self.sealed += 1
        return self.inner.seal(plaintext, associated_data)

    def open(self, body: Any, associated_data: bytes) -> bytes:
        return self.inner.open(body, associated_data)


@pytest.mark.hook("floe_payload_codec")
async def test_the_payload_codec_hook_chooses_what_seals(
    floe_kernel_factory: Callable[..., floe.Kernel],
    monkeypatch: pytest.MonkeyPatch,
    flows: tuple[Any, Any],
) -> None:
    key = generate_key()
    monkeypatch.setenv("FLOE_SECRET_KEY", key)
    async with floe_kernel_factory(floe_secrets, entry_points=False) as kernel:
        assert isinstance(kernel.payload_codec, KeyCodec)
        assert kernel.payload_codec.fingerprint == SecretKey.parse(key).fingerprint
    monkeypatch.delenv("FLOE_SECRET_KEY")
    async with floe_kernel_factory(floe_secrets, entry_points=False) as kernel:
        assert kernel.payload_codec is None

    codec = _RecordingCodec(key)

    class OwnCodec:
        @floe.hookimpl
        def floe_payload_codec(self, settings: floe.Settings) -> Any:
            return codec

    flow, _ = flows
    async with floe_kernel_factory(OwnCodec(), secrets="env://SECRET_") as kernel:
        assert kernel.payload_codec is codec
        execution = await flow.run_async()
    assert execution.output == {"token": TOKEN}
    assert codec.sealed > 0

    class Broken:
        @floe.hookimpl
        def floe_payload_codec(self, settings: floe.Settings) -> Any:
            return "not a codec"

    with pytest.raises(ConfigError, match="floe_payload_codec returned 'not a codec'"):
        async with floe_kernel_factory(Broken(), entry_points=False):
            pytest.fail("the kernel must not start with a broken codec")

    monkeypatch.setenv("FLOE_SECRET_KEY", "malformed")
    with pytest.raises(ConfigError, match="The secret key in \\$FLOE_SECRET_KEY is malformed"):
        async with floe_kernel_factory(floe_secrets, entry_points=False, secrets="env://X_"):
            pytest.fail("the kernel must not start with a malformed key")


# -- masking on the way out ------------------------------------------------------------------


def test_mask_shows_known_values_and_envelopes_as_stars_and_leaves_the_rest() -> None:
    from floe.kernel._secrets import known_secrets

    known_secrets().add("api_token", TOKEN)
    document = {
        "status": "success",
        f"key-{TOKEN}": [f"Bearer {TOKEN}", 3, None, ("e", TOKEN)],
        "sealed": {"$sealed": {"v": 1}},
        "not sealed": {"$sealed": 1, "other": 2},
    }
    assert floe.mask(document) == {
        "status": "success",
        "key-***": ["Bearer ***", 3, None, ("e", "***")],
        "sealed": "***",
        "not sealed": {"$sealed": 1, "other": 2},
    }
    run = floe.Run(run_id="r", name="n", output={"token": TOKEN}, status=floe.RunStatus.PAUSED)
    masked = floe.mask(run)
    assert masked.output == {"token": "***"}
    assert masked.status is floe.RunStatus.PAUSED
    assert run.output == {"token": TOKEN}  # the original is left as it was


async def test_log_handlers_the_kernel_attaches_mask_known_values(
    floe_kernel_factory: Callable[..., floe.Kernel], capsys: pytest.CaptureFixture[str]
) -> None:
    from floe.kernel._secrets import known_secrets

    known_secrets().add("api_token", TOKEN)
    logger = logging.getLogger("floe.test-at-rest")
    async with floe_kernel_factory(log_format="console", log_level="DEBUG"):
        logger.warning("sent %s", TOKEN)
        try:
            raise RuntimeError(f"rejected {TOKEN}")
        except RuntimeError:
            logger.exception("it failed with %r", {"token": TOKEN})
    async with floe_kernel_factory(log_format="json", log_level="DEBUG"):
        logger.error("json %s", TOKEN)
    errors = capsys.readouterr().err
    assert "sent ***" in errors
    assert "RuntimeError: rejected ***" in errors
    assert "it failed with {'token': '***'}" in errors
    assert '"message":"json ***"' in errors
    assert TOKEN not in errors


# -- keys and names are checked whole ----------------------------------------------------------


@pytest.mark.parametrize("bad", ["x\n", "report\n", "a/b", ".hidden", ""])
async def test_artifact_store_keys_are_checked_to_their_end(tmp_path: Path, bad: str) -> None:
    async with floe.DirectoryArtifactStore(tmp_path) as artifacts:
        assert await artifacts.put("run-1", "report.v2", b"body") == "run-1/report.v2"
        for run_id, name in ((bad, "report"), ("run-1", bad)):
            with pytest.raises(ConfigError, match="for an artifact"):
                await artifacts.put(run_id, name, b"body")
    assert _file_names(tmp_path) == ["report.v2"]


def _file_names(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.rglob("*") if path.is_file())


def test_secret_names_are_checked_to_their_end() -> None:
    from floe_secrets import check_secret_name

    assert check_secret_name("api_key") == "api_key"
    for bad in ("api_key\n", "api_key\n\n", "\napi_key"):
        with pytest.raises(ConfigError, match="Invalid secret name"):
            check_secret_name(bad)


# the stores these tests use are the plugins' own
assert floe_sqlite
assert floe_json
