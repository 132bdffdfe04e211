"""floe_secrets: secrets encrypted at rest in floe's own store (``secrets = "store://"``).

**Where secrets live.** Each secret is sealed with AES-256-GCM (authenticated encryption
from ``cryptography``) and kept in the kernel's store, in the ``secrets`` namespace of
its key-value capability: a row of the SQLite file, a file of the JSON store, an entry
of the memory store. Names are stored in the clear, values never; a value that was
changed, or copied from another secret's name, fails authentication instead of
decrypting to something else.

**The key.** ``FLOE_SECRET_KEY`` holds 32 random bytes in URL-safe base64 (44
characters, as ``base64.urlsafe_b64encode(os.urandom(32))`` writes them). Make one with::

    floe secrets keygen            # or: export FLOE_SECRET_KEY="$(floe secrets keygen)"

There is no default key. A malformed key is a :class:`floe.ConfigError` when the kernel
starts; a missing one when a secret is read or written. A secret sealed under another
key is a ``ConfigError`` naming the secret and both key fingerprints (a fingerprint is
a hash of the key; showing it reveals nothing). Keep the key apart from the store:
whoever has both has the secrets.

**The command line.** ``floe secrets list | set NAME [--force] | get NAME [--reveal] |
remove NAME | keygen``; ``set`` reads the value from stdin unless ``--value`` is given. A
value shorter than 6 characters is refused (it could not be masked without hiding
unrelated text), and so is storing under a key other than the one the stored secrets
were sealed with (both fingerprints are named) unless ``--force``.

**In tasks.** A task that declares ``secrets=["api_key"]`` receives ``secrets``, a
:class:`Secrets` mapping of :class:`Secret` values: ``secrets["api_key"].reveal()`` is
the plain text; ``print``, logging, f-strings and ``repr`` show ``***``. A task asking
for a secret that is not set fails with a :class:`floe.NotFoundError` naming every
missing one.

**Sealed payloads.** floe stores values exactly, never masked. The plugin also
implements ``floe_payload_codec``: with ``FLOE_SECRET_KEY`` set, a stored field of a run
(a result, a pause output, a resume value, an error ...) that holds the value of one of
the run's secrets is sealed with AES-256-GCM under that key (:class:`KeyCodec`),
whichever secret store served the secret. Without the key such a write is refused. The
kernel opens envelopes for replay and for the program; the command line and the logs
show them, and every known secret value, as ``***`` (``floe.mask``).

Importing this plugin loads neither ``cryptography`` nor the store module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from floe import FloeError, StoreURL, hookimpl

if TYPE_CHECKING:
    from floe import SECRET_MASK as MASK
    from floe import Kernel, Secret, Secrets, Settings

    from ._crypto import KEY_VARIABLE, KeyCodec, generate_key, key_from_environment
    from ._store import (
        NAMESPACE,
        ManagedSecretStore,
        StoreSecretStore,
        check_secret_name,
        managed_secrets,
    )

__all__ = [
    "DEFAULT_URL",
    "KEY_VARIABLE",
    "MASK",
    "NAMESPACE",
    "KeyCodec",
    "ManagedSecretStore",
    "Secret",
    "Secrets",
    "StoreSecretStore",
    "check_secret_name",
    "floe_open_secrets",
    "floe_payload_codec",
    "floe_services",
    "generate_key",
    "key_from_environment",
    "managed_secrets",
]

_LAZY = {
    "KEY_VARIABLE": (f"{__name__}._crypto", "KEY_VARIABLE"),
    "KeyCodec": (f"{__name__}._crypto", "KeyCodec"),
    "generate_key": (f"{__name__}._crypto", "generate_key"),
    "key_from_environment": (f"{__name__}._crypto", "key_from_environment"),
    "NAMESPACE": (f"{__name__}._store", "NAMESPACE"),
    "ManagedSecretStore": (f"{__name__}._store", "ManagedSecretStore"),
    "StoreSecretStore": (f"{__name__}._store", "StoreSecretStore"),
    "check_secret_name": (f"{__name__}._store", "check_secret_name"),
    "managed_secrets": (f"{__name__}._store", "managed_secrets"),
    # the kernel masks secrets for every secret store; re-exported for this plugin's users
    "MASK": ("floe", "SECRET_MASK"),
    "Secret": ("floe", "Secret"),
    "Secrets": ("floe", "Secrets"),
}
"""Name -> the module and attribute it is loaded from on first use."""

DEFAULT_URL = "store://"
"""The secret store URL this plugin serves: the kernel's own store."""


def __getattr__(name: str) -> Any:
    found = _LAZY.get(name)
    if found is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    module, attribute = found
    return getattr(import_module(module), attribute)


@hookimpl
def floe_open_secrets(url: StoreURL) -> StoreSecretStore | None:
    """A :class:`StoreSecretStore` for ``store://``; None for other schemes."""
    if url.scheme != "store":
        return None
    from ._store import StoreSecretStore

    return StoreSecretStore.from_url(url)


@hookimpl
def floe_payload_codec(settings: Settings) -> KeyCodec | None:
    """Seal run payloads under ``$FLOE_SECRET_KEY`` (None when it is not set).

    Whichever secret store serves the secrets (``env://`` too): what is sealed is the
    run's data, not the secrets. A malformed key is a ``ConfigError`` at start-up.
    """
    import os

    from ._crypto import KEY_VARIABLE, KeyCodec

    text = os.environ.get(KEY_VARIABLE, "")
    if not text.strip():
        return None
    return KeyCodec.from_text(text, source=f"${KEY_VARIABLE}")


@hookimpl
def floe_services(kernel: Kernel) -> Sequence[Any]:
    """Bind a ``store://`` secret store to the kernel's store once both are open.

    ``floe_open_secrets`` is given a URL only; this is the first hook that sees the
    kernel after its store and secret store are open, and before any run starts.
    """
    try:
        secrets = kernel.secrets
    except FloeError:
        return []  # no secret store configured
    from ._store import StoreSecretStore

    if isinstance(secrets, StoreSecretStore):
        secrets.bind(kernel.store)
    return []
