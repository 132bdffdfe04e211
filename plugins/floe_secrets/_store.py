"""``StoreSecretStore``: secrets sealed with AES-256-GCM in the kernel's own store."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, Final, Protocol, Self, runtime_checkable

import anyio.lowlevel

from floe import (
    MIN_SECRET_LENGTH,
    ConfigError,
    FloeError,
    Kernel,
    NotFoundError,
    Store,
    StoreURL,
)

from ._crypto import KEY_VARIABLE, SecretKey, key_from_environment, key_id_of, open_envelope, seal

__all__ = [
    "MAX_SECRET_BYTES",
    "NAMESPACE",
    "ManagedSecretStore",
    "StoreSecretStore",
    "check_secret_name",
    "managed_secrets",
]

logger = logging.getLogger("floe.secrets")

NAMESPACE: Final = "secrets"
"""The namespace of the store's key-value capability that holds the sealed secrets."""
MAX_SECRET_BYTES: Final = 64 * 1024
"""The largest secret value, in bytes of UTF-8."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,127}")


def check_secret_name(name: Any) -> str:
    """*name* if it is a valid secret name, else a :class:`floe.ConfigError`."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(
            f"Invalid secret name {name!r}",
            why="A secret name is 1-128 letters, digits, '_', '.' and '-', starting with a "
            "letter or '_'.",
            fix="Use a name such as 'api_key' or 'github.token'.",
        )
    return name


def _check_value(name: str, value: Any) -> str:
    # the messages describe the value, never quote it
    if not isinstance(value, str):
        raise ConfigError(
            f"Invalid value for secret {name!r}: a {type(value).__name__}, not a str",
            fix="Pass the secret's value as text.",
            context={"secret": name},
        )
    size = len(value.encode("utf-8", "surrogatepass"))
    if 0 < len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"Invalid value for secret {name!r}: {len(value)} characters, fewer than "
            f"{MIN_SECRET_LENGTH}",
            why="floe hides a secret's value wherever it shows run data; a value this short "
            "would hide unrelated text too, and it is easy to guess.",
            fix=f"Store a secret of at least {MIN_SECRET_LENGTH} characters (a random token).",
            context={"secret": name},
        )
    if not value or size > MAX_SECRET_BYTES:
        raise ConfigError(
            f"Invalid value for secret {name!r}: "
            + ("it is empty" if not value else f"{size} bytes, more than {MAX_SECRET_BYTES}"),
            why="A secret is a non-empty text of at most 64 KiB.",
            fix="Store a non-empty value; keep large files elsewhere and store their key.",
            context={"secret": name},
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(
            f"Invalid value for secret {name!r}: it holds a lone surrogate",
            fix="Store text that has a UTF-8 form.",
            context={"secret": name},
        ) from None
    return value


@runtime_checkable
class ManagedSecretStore(Protocol):
    """A secret store that can also be changed (what ``floe secrets`` needs)."""

    async def get_secrets(self, names: list[str]) -> dict[str, str]: ...

    async def set_secret(self, name: str, value: str, *, force: bool = False) -> None: ...

    async def remove_secret(self, name: str) -> bool: ...

    async def list_secrets(self) -> list[str]: ...


class StoreSecretStore:
    """Secrets sealed with AES-256-GCM, kept in a :class:`floe.Store` under ``secrets``.

    Each secret is one value of the store's key-value capability, keyed by its name
    (names are not secret; values are). The key comes from *key* or, by default,
    ``$FLOE_SECRET_KEY``; a malformed key fails when the store is entered, a missing
    one when a secret is read or written (listing and removing need no key).

    The secret store does not open or close the store it uses. Through the kernel
    (``secrets = "store://"``) it uses the kernel's store; elsewhere pass *store*.
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        key: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._store = store
        self._key_text = key
        self._environ = os.environ if environ is None else environ
        self._key: SecretKey | None = None

    @classmethod
    def from_url(cls, url: StoreURL) -> StoreSecretStore:
        """The secret store for ``store://`` (no host, path or options)."""
        url.reject_unknown_options(())
        if url.host or url.path:
            raise ConfigError(
                f"The secret store URL {url.raw!r} has a host or path",
                why="store:// keeps secrets in the kernel's own store; it takes nothing else.",
                fix="Use exactly 'store://' (choose the store with the 'store' setting).",
                context={"url": url.raw},
            )
        return cls()

    def __repr__(self) -> str:
        key = self._key.fingerprint if self._key is not None else None
        where = self._store.url if self._store is not None else None
        return f"StoreSecretStore(store={where!r}, key_fingerprint={key!r})"

    async def __aenter__(self) -> Self:
        await anyio.lowlevel.checkpoint()
        if self._key_text is not None or self._environ.get(KEY_VARIABLE, "").strip():
            self._require_key()  # a malformed key fails now, before any run starts
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await anyio.lowlevel.checkpoint()

    # -- wiring -------------------------------------------------------------------------

    def bind(self, store: Store) -> None:
        """Keep the secrets in *store* (the kernel binds its own store when it starts)."""
        if self._store is not None and self._store is not store:
            raise FloeError(
                "This secret store already keeps its secrets in another store",
                why=f"It is bound to {self._store.url or self._store!r}.",
                fix="Make one StoreSecretStore per store.",
            )
        self._store = store

    @property
    def store(self) -> Store:
        """The store holding the sealed secrets."""
        if self._store is None:
            raise FloeError(
                "The secret store has no store to keep secrets in",
                why="store:// uses the kernel's store, bound when the kernel starts.",
                fix="Use it inside 'async with kernel:', or pass StoreSecretStore(store=...).",
            )
        return self._store

    @property
    def key_fingerprint(self) -> str:
        """The fingerprint of the key in use (safe to show; loads the key)."""
        return self._require_key().fingerprint

    def _require_key(self) -> SecretKey:
        if self._key is None:
            if self._key_text is not None:
                self._key = SecretKey.parse(self._key_text, source="the key passed in")
            else:
                self._key = key_from_environment(self._environ)
        return self._key

    def _where(self) -> str:
        return self.store.url or type(self.store).__name__

    # -- the SecretStore protocol ---------------------------------------------------------

    async def get_secrets(self, names: Sequence[str]) -> dict[str, str]:
        """The values of *names*; a :class:`floe.NotFoundError` names every missing one."""
        if isinstance(names, str) or not isinstance(names, Sequence):
            raise ConfigError(
                f"get_secrets() takes a list of names, not a {type(names).__name__}",
                fix="Pass a list, e.g. get_secrets(['api_key']).",
            )
        wanted = list(dict.fromkeys(check_secret_name(name) for name in names))
        key = self._require_key()
        store = self.store
        sealed = {name: await store.get_value(NAMESPACE, name) for name in wanted}
        missing = [name for name, envelope in sealed.items() if envelope is None]
        if missing:
            raise NotFoundError(
                f"Missing secret{'s' if len(missing) > 1 else ''}: {', '.join(missing)}",
                why=f"{'They are' if len(missing) > 1 else 'It is'} not in the secret store "
                f"(store://, in {self._where()}).",
                fix=f"Store {'each' if len(missing) > 1 else 'it'} with 'floe secrets set NAME' "
                "(the value is read from stdin).",
                context={"missing": missing},
            )
        where = self._where()
        return {
            name: open_envelope(name, envelope, key, where=where)
            for name, envelope in sealed.items()
            if envelope is not None
        }

    # -- management -----------------------------------------------------------------------

    async def set_secret(self, name: str, value: str, *, force: bool = False) -> None:
        """Seal *value* under the current key and store it as *name* (replacing it).

        When secrets sealed under another key are stored, this is a ``ConfigError``
        naming both fingerprints (the store would then need two keys), unless *force*.
        """
        check_secret_name(name)
        _check_value(name, value)
        key = self._require_key()
        if not force:
            await self._refuse_other_keys(key)
        envelope = seal(name, value, key)
        await self.store.put_value(NAMESPACE, name, envelope)
        logger.info("Secret %r set in %s", name, self._where())

    async def _refuse_other_keys(self, key: SecretKey) -> None:
        store = self.store
        others: dict[str, list[str]] = {}
        for stored in await store.list_keys(NAMESPACE):
            envelope = await store.get_value(NAMESPACE, stored)
            key_id = key_id_of(envelope) if envelope is not None else None
            if key_id is not None and key_id != key.key_id:
                others.setdefault(key_id.hex(), []).append(stored)
        if not others:
            return
        names = sorted(name for group in others.values() for name in group)
        raise ConfigError(
            f"The secrets in {self._where()} were stored under another key",
            why=f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} sealed with the key "
            f"of fingerprint {', '.join(sorted(others))}; the key in use ({KEY_VARIABLE}) has "
            f"fingerprint {key.fingerprint}. Storing under it would leave secrets that no one "
            "key opens.",
            fix=f"Set {KEY_VARIABLE} to the key they were stored with, or pass --force "
            "(force=True) to store this one under the current key anyway.",
            context={
                "fingerprint": key.fingerprint,
                "stored_fingerprints": sorted(others),
                "secrets": names,
            },
        )

    async def remove_secret(self, name: str) -> bool:
        """Delete the secret *name*; False when there was none."""
        check_secret_name(name)
        removed = await self.store.delete_value(NAMESPACE, name)
        if removed:
            logger.info("Secret %r removed from %s", name, self._where())
        return removed

    async def list_secrets(self) -> list[str]:
        """The names of every secret, sorted (values are never listed)."""
        return await self.store.list_keys(NAMESPACE)


@asynccontextmanager
async def managed_secrets(kernel: Kernel) -> AsyncIterator[ManagedSecretStore]:
    """The secret store of the started *kernel* that can list, set and remove secrets:
    the configured one, or without one ``store://`` on the kernel's store.

    A configured store that only reads secrets is a :class:`floe.ConfigError`.
    """
    configured = kernel.settings.secrets
    try:
        secrets = kernel.secrets
    except FloeError:
        if configured is not None:
            raise
        # no secret store in the settings: the default, store://, on this store
        async with StoreSecretStore(kernel.store) as default:
            yield default
        return
    if not isinstance(secrets, ManagedSecretStore):
        raise ConfigError(
            f"The secret store {configured!r} cannot be managed here",
            why=f"It is a {type(secrets).__name__}, which only reads secrets.",
            fix="Manage its secrets where they live, or use secrets = 'store://'.",
            context={"secrets": configured},
        )
    yield secrets
