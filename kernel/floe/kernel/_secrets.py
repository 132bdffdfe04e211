"""How secret values reach tasks without reaching people: :class:`Secret`, :class:`Secrets`,
and the one masking every output path uses.

A task that asks for secrets receives a :class:`Secrets` mapping of :class:`Secret`
values. Printing, logging, formatting or ``repr`` of either shows ``***``; the plain text
comes only from an explicit ``secret.reveal()``. Text the task makes from a revealed
value (an f-string, a header, a return value) is plain ``str`` again.

Stored data is never altered: a value holding a secret's text is stored exactly, sealed
at rest (see ``_sealing``). Masking happens on the way out only, in one place:
:func:`mask` (``floe.mask``) shows every secret value known to this process as ``***``
and every sealed envelope as ``***``. The command line, the log handlers the kernel
attaches (:class:`MaskFilter`), captured output echoed to the console and error blocks
all go through it. A secret value becomes known to the process when a task's secrets
are resolved, and when a sealed payload holding one is opened.
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
from collections.abc import Iterator, Mapping
from typing import Any, Final, TypeVar

import attrs
import orjson

from ._errors import ConfigError

__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "SEALED",
    "SECRET_MASK",
    "KnownSecrets",
    "MaskFilter",
    "Secret",
    "Secrets",
    "check_maskable",
    "known_secrets",
    "mask",
]

SECRET_MASK: Final = "***"
"""What a secret value (or a sealed payload) looks like wherever it is shown
(``floe.SECRET_MASK``): the text :func:`mask` puts in its place."""
MASK: Final = SECRET_MASK
"""The kernel's short name for :data:`SECRET_MASK`."""
MIN_SECRET_LENGTH: Final = 6
"""The shortest secret floe accepts (``floe.MIN_SECRET_LENGTH``): a shorter one cannot be
masked without hiding unrelated text (a one-letter secret would mask every ``e``) and is
easy to guess."""
SEALED: Final = "$sealed"
"""The one key of a sealed envelope, ``{"$sealed": {...}}``: reserved, never a user value."""

T = TypeVar("T")


class Secret:
    """One secret value: ``***`` when shown, the value only through :meth:`reveal`.

    Not a ``str`` on purpose: a ``str`` subclass hands its value to every string
    operation and serializer (``+``, ``json.dumps``, ``orjson``), so a slip would leak
    it; a ``Secret`` that reaches a serializer fails or is masked instead.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise ConfigError(
                f"A Secret holds a str, not a {type(value).__name__}",
                fix="Pass the secret's value as text.",
            )
        self._value = value

    def reveal(self) -> str:
        """The plain value: use it where it is needed, never where it is shown."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, format_spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # constant time: a comparison must not tell how much of a guess was right
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))


class Secrets(Mapping[str, Secret]):
    """The secrets a task asked for, by name: a read-only mapping of :class:`Secret`.

    ``secrets["api_key"].reveal()`` (or ``secrets.reveal("api_key")``) is the value.
    """

    __slots__ = ("_known", "_secrets")

    def __init__(self, values: Mapping[str, str | Secret] | None = None) -> None:
        self._secrets = {
            name: value if isinstance(value, Secret) else Secret(value)
            for name, value in (values or {}).items()
        }
        self._known = KnownSecrets()
        for name, secret in self._secrets.items():
            self._known.add(name, secret.reveal())

    def __getitem__(self, name: str) -> Secret:
        return self._secrets[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._secrets)

    def __len__(self) -> int:
        return len(self._secrets)

    def __repr__(self) -> str:
        return f"Secrets({dict.fromkeys(self._secrets, MASK)!r})"

    __str__ = __repr__

    def reveal(self, name: str) -> str:
        """The plain value of the secret *name*."""
        return self._secrets[name].reveal()

    def merged(self, other: Secrets) -> Secrets:
        """These secrets and *other*'s (other's value wins for a name in both)."""
        return Secrets({**self._secrets, **other._secrets})

    def redact_text(self, text: str) -> str:
        """*text* with every occurrence of these secrets' values shown as ``***``.

        For display: what floe stores is never masked (see :func:`floe.mask`).
        """
        return self._known.mask_text(text)

    def redact(self, data: T) -> T:
        """*data* as it may be shown: these secrets' values masked in every string and
        key, every :class:`Secret` and sealed envelope shown as ``***``."""
        return self._known.mask(data)


def check_maskable(name: str, value: str, *, source: str) -> None:
    """Refuse a secret too short to mask safely (a :class:`ConfigError` naming it, never
    quoting it); *source* says where it came from."""
    if len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"Secret {name!r} from {source} is too short: {len(value)} characters, fewer "
            f"than {MIN_SECRET_LENGTH}",
            why="floe hides a secret's value wherever it shows run data; a value this short "
            "would hide unrelated text too, and it is easy to guess.",
            fix=f"Use a secret of at least {MIN_SECRET_LENGTH} characters (a random token).",
            context={"secret": name, "source": source},
        )


class KnownSecrets:
    """Secret values in play, by value: what sealing looks for and what masking hides.

    One holds a run's secrets (shared by its child runs); :func:`known_secrets` is the
    process's, for display. Adding is thread-safe; lookups read a snapshot.
    """

    __slots__ = ("_lock", "_needles", "_pattern", "values")

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        """Name of each secret value (a name may have had several values)."""
        self._needles: tuple[tuple[bytes, str, str], ...] = ()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.values)

    def __len__(self) -> int:
        return len(self.values)

    @property
    def names(self) -> set[str]:
        return set(self.values.values())

    def add(self, name: str, value: str) -> bool:
        """Know *value* as the secret *name*; True when it was new. Empty values are skipped."""
        if not value or self.values.get(value) == name:
            return False
        with self._lock:
            values = {**self.values, value: name}
            # longest first: where one value contains another, the whole of it is masked
            ordered = sorted(values, key=lambda text: (-len(text), text))
            self._needles = tuple(
                (orjson.dumps(text)[1:-1], text, values[text]) for text in ordered
            )
            self._pattern = re.compile("|".join(map(re.escape, ordered)))
            self.values = values
        return True

    def update(self, other: KnownSecrets | Mapping[str, str]) -> None:
        """Know every value of *other* (a :class:`KnownSecrets` or a name → value mapping)."""
        pairs = (
            other.values.items()
            if isinstance(other, KnownSecrets)
            else ((value, name) for name, value in other.items())
        )
        for value, name in list(pairs):
            self.add(name, value)

    def found_in(self, encoded: bytes) -> dict[str, str]:
        """The secrets (name → value) whose JSON text occurs in the JSON bytes *encoded*."""
        return {name: text for needle, text, name in self._needles if needle in encoded}

    def mask_text(self, text: str) -> str:
        """*text* with every known value shown as ``***`` (the same object when none occurs)."""
        pattern = self._pattern
        if pattern is None:
            return text
        masked, count = pattern.subn(MASK, text)
        return masked if count else text

    def mask(self, value: T) -> T:
        """*value* as it may be shown: known values masked in every string and key, every
        :class:`Secret` and sealed envelope ``***``, attrs models rebuilt masked.

        Other values (numbers, datetimes, exceptions) are returned as they are.
        """
        return self._mask(value)  # type: ignore[no-any-return]

    def _mask(self, value: Any) -> Any:
        kind = type(value)
        if kind is str:
            return self.mask_text(value)
        if kind is dict:
            if SEALED in value and len(value) == 1:
                return MASK
            return {self._mask(key): self._mask(item) for key, item in value.items()}
        if kind is list:
            return [self._mask(item) for item in value]
        if kind is tuple:
            return tuple(self._mask(item) for item in value)
        if isinstance(value, Secret):
            return MASK
        if isinstance(value, Mapping):
            return {self._mask(key): self._mask(item) for key, item in value.items()}
        if attrs.has(kind):
            changes = {
                field.alias: self._mask(getattr(value, field.name))
                for field in attrs.fields(kind)
                if field.init and _shown(getattr(value, field.name))
            }
            return attrs.evolve(value, **changes) if changes else value
        return value


def _shown(value: Any) -> bool:
    """Whether masking may change *value* (strings, containers, models; not enums)."""
    return type(value) in (str, dict, list, tuple) or attrs.has(type(value))


_process = KnownSecrets()


def known_secrets() -> KnownSecrets:
    """The secret values known to this process: what :func:`mask` hides."""
    return _process


def mask(value: T) -> T:
    """*value* as it may be shown to people: every secret value known to this process as
    ``***`` in every string and key, every sealed envelope and :class:`Secret` as ``***``.

    What floe stores and hands to your program is exact; use this where you show it
    (``print(floe.mask(execution.output))``). A value is known once a task of this
    process received it, or a sealed payload holding it was opened here.
    """
    return _process.mask(value)


class MaskFilter(logging.Filter):
    """Masks the secret values known to the process in a record before a handler writes it.

    The kernel adds one to every handler of ``floe_log_handlers``. The message is
    formatted and masked (``args`` cleared), and so are an exception's and a stack's text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not _process:
            return True
        message = record.getMessage()
        masked = _process.mask_text(message)
        if masked is not message or record.args:
            record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _process.mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = _process.mask_text(record.stack_info)
        return True
