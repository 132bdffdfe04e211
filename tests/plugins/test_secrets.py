"""The secrets plugin: sealed secrets in real stores (memory, SQLite file, JSON directory).

Kernels here load the store plugins and ``floe_secrets`` explicitly (no entry points), so
the tests are the same whether or not the plugin's entry point is installed.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

import floe
import floe_json
import floe_secrets
import floe_sqlite
from floe import ConfigError, FloeError, MemoryStore, NotFoundError, PersistenceError
from floe.storage import dump_json
from floe_secrets import MASK, Secret, Secrets, StoreSecretStore, generate_key
from floe_secrets._crypto import SecretKey

pytestmark = pytest.mark.anyio

PLAINTEXT = "correct-horse-battery-staple-4f9a"
"""A value distinctive enough that finding it anywhere is a leak, not chance."""

STORE_KINDS = ("memory", "sqlite", "json")


def _url(kind: str, tmp_path: Path) -> str:
    return {
        "memory": "memory://",
        "sqlite": f"sqlite:///{tmp_path / 'floe.db'}",
        "json": f"json:///{tmp_path / 'json-store'}",
    }[kind]


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def make_kernel(
    floe_kernel_factory: Callable[..., floe.Kernel], store_kind: str, tmp_path: Path
) -> Callable[..., floe.Kernel]:
    def make(**settings: Any) -> floe.Kernel:
        settings.setdefault("store", _url(store_kind, tmp_path))
        settings.setdefault("secrets", "store://")
        return floe_kernel_factory(
            floe_sqlite, floe_json, floe_secrets, entry_points=False, **settings
        )

    return make


@pytest.fixture
async def secrets(key: str, make_kernel: Callable[..., floe.Kernel]) -> AsyncIterator[Any]:
    async with make_kernel() as kernel:
        yield kernel.secrets


def _raw_files(directory: Path) -> bytes:
    """Every byte under *directory* (the database, its WAL, every JSON file)."""
    return b"".join(path.read_bytes() for path in sorted(directory.rglob("*")) if path.is_file())


# -- through the kernel, on every store ------------------------------------------------------


@pytest.mark.hook("floe_open_secrets")
@pytest.mark.hook("floe_services")
async def test_store_scheme_opens_a_secret_store_bound_to_the_kernels_store(
    key: str, make_kernel: Callable[..., floe.Kernel]
) -> None:
    async with make_kernel() as kernel:
        assert isinstance(kernel.secrets, StoreSecretStore)
        assert isinstance(kernel.secrets, floe.SecretStore)
        assert kernel.secrets.store is kernel.store
        assert kernel.secrets.key_fingerprint == SecretKey.parse(key).fingerprint


async def test_set_get_list_remove(secrets: StoreSecretStore) -> None:
    assert await secrets.list_secrets() == []
    await secrets.set_secret("api_key", PLAINTEXT)
    await secrets.set_secret("db.password", "pä55 wörd ✓")
    assert await secrets.list_secrets() == ["api_key", "db.password"]
    assert await secrets.get_secrets(["db.password", "api_key"]) == {
        "db.password": "pä55 wörd ✓",
        "api_key": PLAINTEXT,
    }
    await secrets.set_secret("api_key", "rotated")
    assert await secrets.get_secrets(["api_key"]) == {"api_key": "rotated"}
    assert await secrets.get_secrets([]) == {}
    assert await secrets.remove_secret("api_key") is True
    assert await secrets.remove_secret("api_key") is False
    assert await secrets.list_secrets() == ["db.password"]


async def test_secrets_live_in_the_secrets_namespace_sealed(secrets: StoreSecretStore) -> None:
    await secrets.set_secret("api_key", PLAINTEXT)
    await secrets.store.put_value("other-plugin", "api_key", b"unrelated")
    envelope = await secrets.store.get_value("secrets", "api_key")
    assert envelope is not None
    assert PLAINTEXT.encode() not in envelope
    assert await secrets.store.list_keys("secrets") == ["api_key"]
    # sealing twice gives two ciphertexts (a fresh nonce each time)
    await secrets.set_secret("api_key", PLAINTEXT)
    assert await secrets.store.get_value("secrets", "api_key") != envelope


async def test_missing_secrets_are_all_named(secrets: StoreSecretStore) -> None:
    await secrets.set_secret("present", PLAINTEXT)
    with pytest.raises(NotFoundError, match=r"^Missing secrets: nope, also_missing\n") as caught:
        await secrets.get_secrets(["present", "nope", "also_missing", "nope"])
    assert caught.value.context["missing"] == ["nope", "also_missing"]
    assert "floe secrets set NAME" in str(caught.value)
    assert PLAINTEXT not in str(caught.value)
    with pytest.raises(NotFoundError, match=r"^Missing secret: nope\n"):
        await secrets.get_secrets(["nope"])


@pytest.mark.parametrize("store_kind", ["sqlite", "json"])
async def test_secrets_survive_the_kernel(
    key: str, make_kernel: Callable[..., floe.Kernel]
) -> None:
    async with make_kernel() as kernel:
        await kernel.secrets.set_secret("api_key", PLAINTEXT)
    async with make_kernel() as kernel:
        assert await kernel.secrets.get_secrets(["api_key"]) == {"api_key": PLAINTEXT}


@pytest.mark.parametrize("store_kind", ["sqlite", "json"])
async def test_the_plaintext_is_nowhere_on_disk(
    key: str, make_kernel: Callable[..., floe.Kernel], tmp_path: Path
) -> None:
    async with make_kernel() as kernel:
        await kernel.secrets.set_secret("api_key", PLAINTEXT)
        # read while the store is open too: the SQLite write may still be in the WAL
        written = _raw_files(tmp_path)
        assert await kernel.secrets.get_secrets(["api_key"]) == {"api_key": PLAINTEXT}
    for raw in (written, _raw_files(tmp_path)):
        assert b"api_key" in raw  # names are stored in the clear, so the bytes are there
        assert PLAINTEXT.encode() not in raw
        assert base64.b64encode(PLAINTEXT.encode()) not in raw
        assert key.encode() not in raw


# -- the key ---------------------------------------------------------------------------------


async def test_a_missing_key_fails_reads_and_writes_but_not_the_kernel(
    monkeypatch: pytest.MonkeyPatch, make_kernel: Callable[..., floe.Kernel]
) -> None:
    key = generate_key()
    monkeypatch.setenv("FLOE_SECRET_KEY", key)
    async with make_kernel() as kernel:
        await kernel.secrets.set_secret("api_key", PLAINTEXT)
        store = kernel.store
        monkeypatch.delenv("FLOE_SECRET_KEY")
        # a fresh secret store on the same store, as a new process would have
        async with StoreSecretStore(store) as keyless:
            with pytest.raises(ConfigError, match="No secret key: FLOE_SECRET_KEY is not set"):
                await keyless.get_secrets(["api_key"])
            with pytest.raises(ConfigError, match="FLOE_SECRET_KEY is not set") as caught:
                await keyless.set_secret("other", "value-1")
            assert "floe secrets keygen" in str(caught.value)
            # names need no key
            assert await keyless.list_secrets() == ["api_key"]
        monkeypatch.setenv("FLOE_SECRET_KEY", "   ")
        async with StoreSecretStore(store) as blank:
            with pytest.raises(ConfigError, match="not set"):
                await blank.get_secrets(["api_key"])
        assert await store.list_keys("secrets") == ["api_key"]


_BAD_KEYS = {
    "too short": ("c2hvcnQ=", "it has 8 characters, not 44"),
    "standard base64": (base64.b64encode(b"\xfb" * 32).decode(), "not URL-safe base64"),
    "not base64": ("!" * 44, "not URL-safe base64"),
    "33 bytes": (base64.urlsafe_b64encode(b"k" * 33).decode(), "encodes 33 bytes, not 32"),
    "padded out": (base64.urlsafe_b64encode(b"k" * 16).decode().ljust(44, "="), "URL-safe"),
}


@pytest.mark.parametrize("store_kind", ["memory"])
@pytest.mark.parametrize("bad", sorted(_BAD_KEYS))
async def test_a_malformed_key_fails_when_the_kernel_starts(
    monkeypatch: pytest.MonkeyPatch, make_kernel: Callable[..., floe.Kernel], bad: str
) -> None:
    text, message = _BAD_KEYS[bad]
    monkeypatch.setenv("FLOE_SECRET_KEY", text)
    with pytest.raises(ConfigError, match="The secret key in \\$FLOE_SECRET_KEY is malformed"):
        async with make_kernel():
            pytest.fail("the kernel must not start with a malformed key")
    with pytest.raises(ConfigError, match=message) as caught:
        SecretKey.parse(text)
    assert text.strip("=") not in str(caught.value)
    assert "floe secrets keygen" in str(caught.value)


def test_generated_keys_parse_and_differ() -> None:
    first, second = generate_key(), generate_key()
    assert len(first) == 44
    assert first != second
    assert SecretKey.parse(first) != SecretKey.parse(second)
    assert SecretKey.parse(f"  {first}\n").fingerprint == SecretKey.parse(first).fingerprint
    assert first not in repr(SecretKey.parse(first))


async def test_a_secret_sealed_under_another_key_names_the_secret(
    key: str, make_kernel: Callable[..., floe.Kernel], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with make_kernel() as kernel:
        await kernel.secrets.set_secret("api_key", PLAINTEXT)
        await kernel.secrets.set_secret("other", PLAINTEXT)
        store = kernel.store
        other_key = generate_key()
        async with StoreSecretStore(store, key=other_key) as wrong:
            with pytest.raises(ConfigError, match="Secret 'api_key' was encrypted under another"):
                await wrong.get_secrets(["api_key"])
            try:
                await wrong.get_secrets(["api_key"])
            except ConfigError as error:
                caught = error
            assert caught.context["secret"] == "api_key"
            assert caught.context["stored_fingerprint"] == SecretKey.parse(key).fingerprint
            assert SecretKey.parse(other_key).fingerprint in str(caught)
            for text in (str(caught), repr(caught), str(caught.__cause__)):
                assert PLAINTEXT not in text
                assert key not in text
                assert other_key not in text
            # storing it again under the new key is refused, naming both keys
            with pytest.raises(ConfigError, match="stored under another key") as refused:
                await wrong.set_secret("api_key", "new value")
            assert SecretKey.parse(key).fingerprint in str(refused.value)
            assert SecretKey.parse(other_key).fingerprint in str(refused.value)
            assert refused.value.context["secrets"] == ["api_key", "other"]
            assert await store.get_value("secrets", "api_key") is not None
            # ... unless forced: the documented fix
            await wrong.set_secret("api_key", "new value", force=True)
            assert await wrong.get_secrets(["api_key"]) == {"api_key": "new value"}
        assert await kernel.secrets.get_secrets(["other"]) == {"other": PLAINTEXT}


# -- damaged, moved and newer envelopes --------------------------------------------------------


async def _envelope(secrets: StoreSecretStore, name: str) -> bytes:
    envelope = await secrets.store.get_value("secrets", name)
    assert envelope is not None
    return envelope


async def test_a_changed_ciphertext_fails_authentication(secrets: StoreSecretStore) -> None:
    await secrets.set_secret("api_key", PLAINTEXT)
    envelope = bytearray(await _envelope(secrets, "api_key"))
    envelope[-1] ^= 0x01
    await secrets.store.put_value("secrets", "api_key", bytes(envelope))
    with pytest.raises(PersistenceError, match=r"'api_key' .* failed authentication") as e:
        await secrets.get_secrets(["api_key"])
    assert e.value.__cause__ is None
    assert e.value.__suppress_context__


async def test_a_ciphertext_copied_to_another_name_does_not_open(
    secrets: StoreSecretStore,
) -> None:
    await secrets.set_secret("api_key", PLAINTEXT)
    await secrets.store.put_value("secrets", "stolen", await _envelope(secrets, "api_key"))
    with pytest.raises(PersistenceError, match=r"Secret 'stolen' .* failed authentication"):
        await secrets.get_secrets(["stolen"])
    assert await secrets.get_secrets(["api_key"]) == {"api_key": PLAINTEXT}


@pytest.mark.parametrize("store_kind", ["memory"])
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda envelope: b"", "is damaged"),
        (lambda envelope: envelope[:20], "is damaged"),
        (lambda envelope: b"\x00" + envelope[1:], "is damaged"),
        (lambda envelope: b"\x07" + envelope[1:], "written by a newer floe \\(format 7\\)"),
    ],
    ids=["empty", "truncated", "format 0", "newer format"],
)
async def test_damaged_and_newer_envelopes_are_named(
    secrets: StoreSecretStore, change: Callable[[bytes], bytes], message: str
) -> None:
    await secrets.set_secret("api_key", PLAINTEXT)
    changed = change(await _envelope(secrets, "api_key"))
    await secrets.store.put_value("secrets", "api_key", changed)
    with pytest.raises(PersistenceError, match=rf"Secret 'api_key' .*{message}") as caught:
        await secrets.get_secrets(["api_key"])
    assert caught.value.context["secret"] == "api_key"
    assert await secrets.store.get_value("secrets", "api_key") == changed  # left untouched


# -- arguments, next to the good case ----------------------------------------------------------


@pytest.mark.parametrize("store_kind", ["memory"])
@pytest.mark.parametrize(
    "name", ["", "1st", "has space", "slash/name", "ü", "-dash", "x" * 129, None, 7, b"k"]
)
async def test_bad_secret_names_are_config_errors(secrets: StoreSecretStore, name: Any) -> None:
    await secrets.set_secret("_fine-name.v2", PLAINTEXT)
    for call in (
        lambda: secrets.set_secret(name, "value-1"),
        lambda: secrets.get_secrets([name]),
        lambda: secrets.remove_secret(name),
    ):
        with pytest.raises(ConfigError, match="Invalid secret name"):
            await call()
    assert await secrets.list_secrets() == ["_fine-name.v2"]


@pytest.mark.parametrize("store_kind", ["memory"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "it is empty"),
        ("x" * (64 * 1024 + 1), "more than 65536"),
        (PLAINTEXT.encode(), "a bytes, not a str"),
        (None, "a NoneType, not a str"),
        (f"{PLAINTEXT}\ud800", "lone surrogate"),
    ],
    ids=["empty", "too large", "bytes", "None", "surrogate"],
)
async def test_bad_secret_values_are_config_errors_that_never_quote_them(
    secrets: StoreSecretStore, value: Any, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        await secrets.set_secret("api_key", value)
    assert PLAINTEXT not in str(caught.value)
    assert "x" * 100 not in str(caught.value)
    assert await secrets.list_secrets() == []
    await secrets.set_secret("api_key", "x" * (64 * 1024))
    assert len((await secrets.get_secrets(["api_key"]))["api_key"]) == 64 * 1024


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_the_shortest_value_stored_is_min_secret_length(secrets: StoreSecretStore) -> None:
    shortest = "k" * floe.MIN_SECRET_LENGTH
    with pytest.raises(ConfigError, match=f"fewer than {floe.MIN_SECRET_LENGTH}"):
        await secrets.set_secret("api_key", shortest[:-1])
    await secrets.set_secret("api_key", shortest)
    found = await secrets.get_secrets(["api_key"])
    assert found["api_key"] == shortest


def test_secrets_show_as_the_public_mask() -> None:
    secret = Secret(PLAINTEXT)
    assert MASK is floe.SECRET_MASK == "***"  # the plugin re-exports the kernel's mask
    assert str(secret) == f"{secret}" == floe.SECRET_MASK
    assert floe.mask({"token": secret}) == {"token": floe.SECRET_MASK}


@pytest.mark.parametrize("store_kind", ["memory"])
@pytest.mark.parametrize("names", ["api_key", None, {"api_key"}])
async def test_get_secrets_takes_a_list(secrets: StoreSecretStore, names: Any) -> None:
    with pytest.raises(ConfigError, match="takes a list of names"):
        await secrets.get_secrets(names)
    assert await secrets.get_secrets(("api_key",)[:0]) == {}


@pytest.mark.parametrize(
    "url", ["store://somewhere", "store:///path", "store://?namespace=x", "store:////abs"]
)
def test_store_urls_take_nothing_else(
    floe_kernel_factory: Callable[..., floe.Kernel], url: str
) -> None:
    kernel = floe_kernel_factory(floe_secrets, entry_points=False)
    with pytest.raises(ConfigError, match="store://"):
        kernel.hooks.open_secrets(url)
    assert isinstance(kernel.hooks.open_secrets("store://"), StoreSecretStore)


async def test_other_secret_stores_are_left_alone(
    floe_kernel_factory: Callable[..., floe.Kernel],
) -> None:
    kernel = floe_kernel_factory(floe_secrets, entry_points=False, secrets="env://SECRET_")
    async with kernel:
        assert isinstance(kernel.secrets, floe.EnvironmentSecretStore)
    # with no secrets setting, the store-backed secret store is the default
    async with floe_kernel_factory(floe_secrets, entry_points=False) as default:
        assert isinstance(default.secrets, StoreSecretStore)
    async with floe_kernel_factory(entry_points=False) as without:
        with pytest.raises(FloeError, match="no secret store"):
            _ = without.secrets


async def test_used_alone_it_needs_a_store(key: str) -> None:
    async with StoreSecretStore() as unbound:
        with pytest.raises(FloeError, match="has no store to keep secrets in"):
            await unbound.list_secrets()
        async with MemoryStore() as store, MemoryStore() as another:
            unbound.bind(store)
            unbound.bind(store)  # the same store again is fine
            with pytest.raises(FloeError, match="already keeps its secrets in another store"):
                unbound.bind(another)
            await unbound.set_secret("api_key", PLAINTEXT)
            async with StoreSecretStore(store, key=key) as explicit:
                assert await explicit.get_secrets(["api_key"]) == {"api_key": PLAINTEXT}
            assert await another.list_keys("secrets") == []
    assert key not in repr(unbound)
    assert "key_fingerprint=" in repr(unbound)


# -- redaction -------------------------------------------------------------------------------


def test_a_secret_shows_as_stars_everywhere() -> None:
    secret = Secret(PLAINTEXT)
    shown = [
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        f"{secret:>40}",
        "%s %r" % (secret, secret),  # noqa: UP031 - the old style is what logging uses
        "{}".format(secret),  # noqa: UP032 - str.format is its own code path
        str([secret]),
        str({"token": secret}),
    ]
    for text in shown:
        assert PLAINTEXT not in text
        assert MASK in text
    assert secret.reveal() == PLAINTEXT
    assert secret == Secret(PLAINTEXT)
    assert secret != Secret("other")
    assert secret != PLAINTEXT  # a Secret is not a str
    assert len({secret, Secret(PLAINTEXT)}) == 1
    with pytest.raises(ConfigError, match="A Secret holds a str, not a bytes") as caught:
        Secret(PLAINTEXT.encode())  # type: ignore[arg-type]
    assert PLAINTEXT not in str(caught.value)


def test_a_secret_never_serializes_as_its_value() -> None:
    with pytest.raises(TypeError):
        orjson.dumps({"token": Secret(PLAINTEXT)})
    # floe's own converter writes a Secret masked
    written = dump_json({"token": Secret(PLAINTEXT)}, where="the result of task 'leak'")
    text = written.decode() if isinstance(written, bytes) else str(written)
    assert PLAINTEXT not in text
    assert orjson.loads(text) == {"token": "***"}


def test_secrets_mapping_reveals_only_on_request() -> None:
    secrets = Secrets({"api_key": PLAINTEXT, "pin": Secret("1234")})
    assert list(secrets) == ["api_key", "pin"]
    assert len(secrets) == 2
    assert secrets["api_key"] == Secret(PLAINTEXT)
    assert secrets.reveal("pin") == "1234"
    assert repr(secrets) == str(secrets) == "Secrets({'api_key': '***', 'pin': '***'})"
    assert PLAINTEXT not in f"{secrets} {dict(secrets)} {list(secrets.values())}"
    with pytest.raises(KeyError):
        secrets["missing"]


def test_redact_masks_every_value_in_nested_data() -> None:
    secrets = Secrets({"token": "abc", "longer": "abcdef", "empty": ""})
    data = {
        "header": "Bearer abcdef; retry with abc",
        "abc": ["x-abc-y", ("abc", 3, None), Secret("zzz")],
        "count": 7,
    }
    assert secrets.redact(data) == {
        "header": "Bearer ***; retry with ***",
        "***": ["x-***-y", ("***", 3, None), "***"],
        "count": 7,
    }
    assert secrets.redact_text("no secrets here") == "no secrets here"
    assert Secrets().redact("abc") == "abc"
    assert re.fullmatch(r"\*+", secrets.redact_text("abcabcdef")) is not None


@pytest.mark.parametrize("store_kind", ["memory"])
async def test_an_error_logged_with_its_traceback_shows_no_value(
    secrets: StoreSecretStore, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    await secrets.set_secret("api_key", PLAINTEXT)
    logger = logging.getLogger("floe.test-secrets")
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("floe").info("using %s and %r", Secret(PLAINTEXT), Secret(PLAINTEXT))
        async with StoreSecretStore(secrets.store, key=generate_key()) as wrong:
            try:
                await wrong.get_secrets(["api_key"])
            except ConfigError:
                logger.exception("reading the secrets failed")
        await secrets.set_secret("second", PLAINTEXT)
        await secrets.remove_secret("second")
    text = caplog.text
    assert "reading the secrets failed" in text
    assert "Secret 'api_key' was encrypted under another key" in text
    assert "Traceback" in text
    assert "using *** and Secret('***')" in text
    assert "Secret 'second' set" in text
    assert PLAINTEXT not in text
    assert key not in text
