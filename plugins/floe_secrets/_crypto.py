"""The key and the sealed form of a secret: AES-256-GCM from ``cryptography``.

A stored secret is one byte string (the *envelope*)::

    format (1 byte) | key id (8 bytes) | nonce (12 bytes) | ciphertext + GCM tag (16 bytes)

The format byte lets a later floe change the layout without stranding old secrets. The
key id (a hash of the key, which reveals nothing about it) tells "sealed under another
key" apart from "tampered with". The associated data binds the envelope to the secret's
name, so a ciphertext copied to another name does not open.

``cryptography`` is imported on the first seal or open, not with the plugin.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from typing import Any, Final

import attrs

from floe import ConfigError, PersistenceError

__all__ = [
    "ENVELOPE_FORMAT",
    "KEY_VARIABLE",
    "PAYLOAD_FORMAT",
    "KeyCodec",
    "SecretKey",
    "generate_key",
    "key_from_environment",
    "open_envelope",
    "seal",
]

KEY_VARIABLE: Final = "FLOE_SECRET_KEY"
"""The environment variable holding the key."""
ENVELOPE_FORMAT: Final = 1
"""The envelope layout this floe writes (and the newest it reads)."""
PAYLOAD_FORMAT: Final = 1
"""The version of the sealed-payload body this floe writes (and the newest it reads)."""

_KEY_BYTES: Final = 32
_KEY_ID_BYTES: Final = 8
_NONCE_BYTES: Final = 12
_TAG_BYTES: Final = 16
_HEADER_BYTES: Final = 1 + _KEY_ID_BYTES
_ENCODED_KEY_LENGTH: Final = 44
_KEY_FIX: Final = (
    f"Set {KEY_VARIABLE} to a key made by 'floe secrets keygen' (44 characters of URL-safe "
    "base64 encoding 32 random bytes)."
)


@attrs.frozen(repr=False)
class SecretKey:
    """A 256-bit AES key and its id. Its repr shows the id only."""

    material: bytes
    key_id: bytes

    @classmethod
    def from_bytes(cls, material: bytes) -> SecretKey:
        digest = hashlib.sha256(b"floe secret key id\x00" + material).digest()
        return cls(material=material, key_id=digest[:_KEY_ID_BYTES])

    @classmethod
    def parse(cls, text: str, *, source: str = KEY_VARIABLE) -> SecretKey:
        """The key encoded in *text*; a :class:`floe.ConfigError` that never echoes it."""
        encoded = text.strip()
        problem = None
        if len(encoded) != _ENCODED_KEY_LENGTH:
            problem = f"it has {len(encoded)} characters, not {_ENCODED_KEY_LENGTH}"
        else:
            try:
                material = base64.urlsafe_b64decode(encoded.encode("ascii"))
            except (binascii.Error, UnicodeEncodeError):
                problem = "it is not URL-safe base64"
            else:
                if base64.urlsafe_b64encode(material).decode("ascii") != encoded:
                    problem = "it is not URL-safe base64"  # stray characters were skipped
                elif len(material) != _KEY_BYTES:
                    problem = f"it encodes {len(material)} bytes, not {_KEY_BYTES}"
        if problem is not None:
            raise ConfigError(
                f"The secret key in {source} is malformed: {problem}",
                why="floe encrypts secrets with AES-256-GCM, whose key is 32 bytes, given in "
                "URL-safe base64.",
                fix=_KEY_FIX,
                context={"source": source},
            )
        return cls.from_bytes(material)

    @property
    def fingerprint(self) -> str:
        """The key id in hex: safe to show, the same for the same key everywhere."""
        return self.key_id.hex()

    def __repr__(self) -> str:
        return f"SecretKey(fingerprint={self.fingerprint!r})"


def generate_key() -> str:
    """A new random key, encoded as ``FLOE_SECRET_KEY`` expects it."""
    return base64.urlsafe_b64encode(os.urandom(_KEY_BYTES)).decode("ascii")


def key_from_environment(environ: Mapping[str, str]) -> SecretKey:
    """The key in ``$FLOE_SECRET_KEY``; a clear :class:`floe.ConfigError` if unset or bad."""
    text = environ.get(KEY_VARIABLE, "")
    if not text.strip():
        raise ConfigError(
            f"No secret key: {KEY_VARIABLE} is not set",
            why="Secrets are stored encrypted and floe never falls back to a built-in key.",
            fix=f"{_KEY_FIX} Keep the key safe: secrets stored with it need it to be read.",
            context={"variable": KEY_VARIABLE},
        )
    return SecretKey.parse(text, source=f"${KEY_VARIABLE}")


def _associated_data(header: bytes, name: str) -> bytes:
    return b"floe secret\x00" + header + name.encode("utf-8")


def seal(name: str, value: str, key: SecretKey) -> bytes:
    """The envelope of secret *name* holding *value*, under *key*."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header = bytes([ENVELOPE_FORMAT]) + key.key_id
    # a random 96-bit nonce per seal: safe for far more secrets than a store will hold
    nonce = os.urandom(_NONCE_BYTES)
    ciphertext = AESGCM(key.material).encrypt(
        nonce, value.encode("utf-8"), _associated_data(header, name)
    )
    return header + nonce + ciphertext


def open_envelope(name: str, envelope: bytes, key: SecretKey, *, where: str) -> str:
    """The value sealed in *envelope*; errors name the secret, never show its value."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    context = {"secret": name, "store": where}
    if len(envelope) < _HEADER_BYTES + _NONCE_BYTES + _TAG_BYTES or envelope[0] == 0:
        raise PersistenceError(
            f"Secret {name!r} in {where} is damaged: it is not a sealed secret",
            why=f"It holds {len(envelope)} bytes that do not have the layout floe writes.",
            fix=f"Set the secret again: floe secrets set {name}",
            context=context,
        )
    if envelope[0] > ENVELOPE_FORMAT:
        raise PersistenceError(
            f"Secret {name!r} in {where} was written by a newer floe (format {envelope[0]})",
            why=f"This floe reads secrets of format up to {ENVELOPE_FORMAT}.",
            fix="Upgrade floe to read it; the secret was left untouched.",
            context={**context, "format": envelope[0]},
        )
    header, key_id = envelope[:_HEADER_BYTES], envelope[1:_HEADER_BYTES]
    if key_id != key.key_id:
        raise ConfigError(
            f"Secret {name!r} was encrypted under another key",
            why=f"It was stored with the key of fingerprint {key_id.hex()}; "
            f"the key in use ({KEY_VARIABLE}) has fingerprint {key.fingerprint}.",
            fix=f"Set {KEY_VARIABLE} to the key the secret was stored with, or store it "
            f"again under this key: floe secrets set {name} --force",
            context={**context, "stored_fingerprint": key_id.hex()},
        )
    nonce = envelope[_HEADER_BYTES : _HEADER_BYTES + _NONCE_BYTES]
    ciphertext = envelope[_HEADER_BYTES + _NONCE_BYTES :]
    try:
        plaintext = AESGCM(key.material).decrypt(nonce, ciphertext, _associated_data(header, name))
        return plaintext.decode("utf-8")
    except (InvalidTag, UnicodeDecodeError):
        # raised without the cause: nothing about the contents may travel further
        raise PersistenceError(
            f"Secret {name!r} in {where} failed authentication",
            why="Its ciphertext was changed after it was stored, or was copied there from "
            "another secret's name.",
            fix=f"Set the secret again: floe secrets set {name}",
            context=context,
        ) from None


def key_id_of(envelope: bytes) -> bytes | None:
    """The key id a stored secret was sealed under (None for a damaged one)."""
    if len(envelope) < _HEADER_BYTES or envelope[0] == 0:
        return None
    return envelope[1:_HEADER_BYTES]


class KeyCodec:
    """Seals run payloads with AES-256-GCM under a :class:`SecretKey` (a ``floe.PayloadCodec``).

    The body of an envelope is ``{"v": 1, "key": <fingerprint>, "nonce": <base64>,
    "data": <base64 of ciphertext and tag>}``; the kernel supplies the associated data
    (the run, event, step and field the payload belongs to).
    """

    __slots__ = ("key",)

    def __init__(self, key: SecretKey) -> None:
        self.key = key

    @classmethod
    def from_text(cls, text: str, *, source: str = KEY_VARIABLE) -> KeyCodec:
        """The codec for the key encoded in *text* (a ``ConfigError`` that never echoes it)."""
        return cls(SecretKey.parse(text, source=source))

    def __repr__(self) -> str:
        return f"KeyCodec(fingerprint={self.fingerprint!r})"

    @property
    def fingerprint(self) -> str:
        return self.key.fingerprint

    def seal(self, plaintext: bytes, associated_data: bytes) -> dict[str, Any]:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = AESGCM(self.key.material).encrypt(
            nonce, plaintext, _payload_data(self.key.key_id, associated_data)
        )
        return {
            "v": PAYLOAD_FORMAT,
            "key": self.fingerprint,
            "nonce": base64.b64encode(nonce).decode("ascii"),
            "data": base64.b64encode(ciphertext).decode("ascii"),
        }

    def open(self, body: Mapping[str, Any], associated_data: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        version = body.get("v")
        if isinstance(version, int) and version > PAYLOAD_FORMAT:
            raise PersistenceError(
                f"it was sealed by a newer floe (format {version})",
                why=f"This floe reads sealed payloads of format up to {PAYLOAD_FORMAT}.",
                fix="Upgrade floe to read it; the data was left untouched.",
            )
        fingerprint = body.get("key")
        if version != PAYLOAD_FORMAT or not isinstance(fingerprint, str):
            raise _damaged()
        if fingerprint != self.fingerprint:
            raise ConfigError(
                "it was sealed under another key",
                why=f"It was sealed with the key of fingerprint {fingerprint}; the key in use "
                f"({KEY_VARIABLE}) has fingerprint {self.fingerprint}.",
                fix=f"Set {KEY_VARIABLE} to the key the run was stored with.",
                context={"stored_fingerprint": fingerprint, "fingerprint": self.fingerprint},
            )
        try:
            nonce = base64.b64decode(str(body.get("nonce")), validate=True)
            ciphertext = base64.b64decode(str(body.get("data")), validate=True)
        except (binascii.Error, ValueError):
            raise _damaged() from None
        if len(nonce) != _NONCE_BYTES:
            raise _damaged()
        try:
            return AESGCM(self.key.material).decrypt(
                nonce, ciphertext, _payload_data(self.key.key_id, associated_data)
            )
        except InvalidTag:
            raise PersistenceError(
                "it failed authentication",
                why="Its ciphertext was changed after it was stored, or it was copied there "
                "from another run, event or field.",
                fix="Restore the store from a backup; floe will not use a changed value.",
            ) from None


def _payload_data(key_id: bytes, associated_data: bytes) -> bytes:
    return b"floe sealed payload\x00" + key_id + associated_data


def _damaged() -> PersistenceError:
    return PersistenceError(
        "it is not an envelope floe writes",
        fix="Restore the store from a backup.",
    )
