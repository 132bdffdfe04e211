"""How secret values reach tasks without reaching logs: :class:`Secret` and :class:`Secrets`.

A task that asks for secrets receives a :class:`Secrets` mapping of :class:`Secret`
values. Printing, logging, formatting or ``repr`` of either shows ``***``; the plain text
comes only from an explicit ``secret.reveal()``. Text the task makes from a revealed
value (an f-string, a header, a return value) is plain ``str`` again, so whatever the
engine writes for a run (results, errors, log lines) goes through :meth:`Secrets.redact`
first, which masks every occurrence of every value.

The kernel resolves a task's declared secrets through the secret store hook and masks
them in what it journals; any secret store plugin gets this for free.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final, TypeVar

from ._errors import ConfigError

__all__ = ["MASK", "Secret", "Secrets"]

MASK: Final = "***"
"""What a secret value looks like wherever it is shown."""

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

    __slots__ = ("_pattern", "_secrets")

    def __init__(self, values: Mapping[str, str | Secret] | None = None) -> None:
        self._secrets = {
            name: value if isinstance(value, Secret) else Secret(value)
            for name, value in (values or {}).items()
        }
        plain = {secret.reveal() for secret in self._secrets.values() if secret.reveal()}
        # longest first: where one value contains another, the whole of it is masked
        alternatives = sorted(plain, key=lambda text: (-len(text), text))
        self._pattern = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None

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
        """*text* with every occurrence of every secret value replaced by ``***``."""
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)

    def redact(self, data: T) -> T:
        """*data* with secret values masked in every string, key and :class:`Secret` in it.

        Strings, :class:`Secret` values, mappings (as dicts), lists and tuples are
        walked; other values are returned as they are.
        """
        redacted: Any
        if isinstance(data, Secret):
            redacted = MASK
        elif isinstance(data, str):
            redacted = self.redact_text(data)
        elif isinstance(data, Mapping):
            redacted = {self.redact(key): self.redact(value) for key, value in data.items()}
        elif isinstance(data, list):
            redacted = [self.redact(item) for item in data]
        elif isinstance(data, tuple):
            redacted = tuple(self.redact(item) for item in data)
        else:
            redacted = data
        return redacted  # type: ignore[no-any-return]
