"""The one converter: every value floe persists or sends goes through here.

The converter is built once from ``cattrs.preconf.orjson`` and never shared with the
global cattrs converter, so a user's hooks cannot change how floe stores data. Values
that JSON cannot represent fail with a :class:`SerializationError` naming where the
value came from, its type and the fix; floe never falls back to pickle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import cattrs
import orjson
from cattrs.preconf.orjson import make_converter

from ._errors import PersistenceError, SerializationError
from ._models import FORMAT_VERSION
from ._secrets import MASK, SEALED, Secret

__all__ = [
    "converter",
    "decode_document",
    "dumps",
    "encode_value",
    "loads",
]

T = TypeVar("T")

converter = make_converter()
# a Secret that reaches a serializer is written masked, never revealed
converter.register_unstructure_hook(Secret, lambda _secret: MASK)
_OPTIONS = orjson.OPT_NON_STR_KEYS
_PLAIN_ONLY = (
    orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
)


def encode_value(value: Any, *, where: str) -> Any:
    """Turn *value* into plain JSON types, or raise :class:`SerializationError`.

    The result is exactly what reading the value back from a store gives (a datetime
    becomes its ISO string), so a replayed value equals the first run's.
    *where* names the value's origin for the error (``"argument 'x' of task 'fetch'"``).
    """
    encoded = orjson.loads(dumps(value, where=where))
    if type(encoded) is dict and SEALED in encoded and len(encoded) == 1:
        raise SerializationError(
            f"{where} cannot be stored: it is a mapping whose only key is {SEALED!r}",
            why=f"floe stores sealed (encrypted) values as {{{SEALED!r}: ...}}; a value of "
            "that shape would be read back as one.",
            fix=f"Give the mapping another key, or wrap it: {{'value': {{{SEALED!r}: ...}}}}.",
        )
    return encoded


def dumps(value: Any, *, where: str = "a value") -> bytes:
    """Serialize *value* (attrs models included) to JSON bytes."""
    try:
        # plain JSON types (most journal data) need no converter pass; anything else —
        # a subclass, an attrs model, a Secret, a datetime — fails here and goes through it
        return orjson.dumps(value, option=_PLAIN_ONLY)
    except TypeError:
        pass
    try:
        return orjson.dumps(converter.unstructure(value), option=_OPTIONS)
    except (TypeError, ValueError, orjson.JSONEncodeError) as error:
        raise _serialization_error(value, where, error) from error


def loads(raw: bytes | str, cls: type[T], *, where: str = "a value") -> T:
    """Parse JSON and structure it as *cls*; errors name *where*."""
    try:
        return converter.structure(orjson.loads(raw), cls)
    except orjson.JSONDecodeError as error:
        raise PersistenceError(
            f"{where} is not valid JSON",
            why=str(error),
            fix="Restore the data from a backup or remove the damaged record.",
        ) from error
    except Exception as error:  # cattrs raises ClassValidationError and friends
        raise PersistenceError(
            f"{where} does not match the {cls.__name__} format",
            why="; ".join(cattrs.transform_error(error)),
            fix="Restore the data from a backup or remove the damaged record.",
        ) from error


def decode_document(document: Any, cls: type[T], *, where: str) -> T:
    """Structure a parsed document as *cls*, refusing formats newer than this floe's."""
    if isinstance(document, Mapping):
        version = document.get("format", FORMAT_VERSION)
        if isinstance(version, int) and version > FORMAT_VERSION:
            raise PersistenceError(
                f"{where} was written by a newer floe (format {version})",
                why=f"This floe reads formats up to {FORMAT_VERSION}.",
                fix="Upgrade floe to read it; the data was left untouched.",
                context={"format": version},
            )
    try:
        return converter.structure(document, cls)
    except Exception as error:
        raise PersistenceError(
            f"{where} does not match the {cls.__name__} format",
            why="; ".join(cattrs.transform_error(error)) or repr(error),
            fix="Restore the data from a backup or remove the damaged record.",
        ) from error


def _serialization_error(value: Any, where: str, error: Exception) -> SerializationError:
    path, culprit = _find_unserializable(value, "")
    if culprit is _OK:
        path, culprit = "", value
    kind = type(culprit).__qualname__
    location = f" at {path}" if path else ""
    return SerializationError(
        f"{where} cannot be stored: a {kind}{location} is not JSON-serializable",
        why="floe persists values as JSON so that they replay in any process; "
        f"{type(culprit).__module__}.{kind} has no JSON form ({error}).",
        fix="Pass JSON types, attrs classes or dataclasses (datetime and UUID work too), "
        "or convert the value yourself before passing it.",
        context={"type": f"{type(culprit).__module__}.{kind}"},
    )


def _find_unserializable(value: Any, path: str) -> tuple[str, Any]:
    """The first leaf (and its path) that the converter cannot serialize."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            found_path, found = _find_unserializable(item, f"{path}[{key!r}]")
            if found is not _OK:
                return found_path, found
        return path, _OK
    if isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            found_path, found = _find_unserializable(item, f"{path}[{index}]")
            if found is not _OK:
                return found_path, found
        return path, _OK
    try:
        orjson.dumps(converter.unstructure(value), option=_OPTIONS)
    except Exception:
        return path, value
    return path, _OK


class _Ok:
    pass


_OK: Any = _Ok()
