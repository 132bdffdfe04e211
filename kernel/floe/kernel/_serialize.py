"""The one converter: every value floe persists or sends goes through here.

The converter is built once from ``cattrs.preconf.orjson`` and never shared with the
global cattrs converter, so a user's hooks cannot change how floe stores data. Values
that JSON cannot represent fail with a :class:`SerializationError` naming where the
value came from, its type and the fix; floe never falls back to pickle.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
import orjson
from cattrs.preconf.orjson import make_converter

from ._errors import PersistenceError, SerializationError
from ._models import FORMAT_VERSION
from ._secrets import MASK, SEALED, Secret

__all__ = [
    "check_finite",
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
_RECURSION_LIMIT = "Recursion limit reached"
"""orjson's message for a value nested deeper than it encodes (or that contains itself)."""
_MAX_DEPTH = 254
"""The deepest nesting orjson encodes."""
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1
"""The integers orjson encodes (it refuses any other)."""
_NOT_CONTAINERS = frozenset({str, int, bool, type(None)})
_find_null = re.compile(b"null").search
"""Where JSON bytes hold "null" (measured: cheaper than bytes.find, or "in" on bytes)."""
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
    kind = type(value)
    if (kind is int and _INT_MIN <= value <= _INT_MAX) or kind is bool or value is None:
        return value  # its own JSON form, read back as itself (the common small result)
    encoded = orjson.loads(_json_bytes(value, where))
    if type(encoded) is dict and SEALED in encoded and len(encoded) == 1:
        raise SerializationError(
            f"{where} cannot be stored: it is a mapping whose only key is {SEALED!r}",
            why=f"floe stores sealed (encrypted) values as {{{SEALED!r}: ...}}; a value of "
            "that shape would be read back as one.",
            fix=f"Give the mapping another key, or wrap it: {{'value': {{{SEALED!r}: ...}}}}.",
        )
    return encoded


Where = str | Callable[[], str]
"""Where a value comes from, for an error: the text, or a function that makes it (called
only when there is an error, so that a hot path does not build text it never shows)."""


def dumps(value: Any, *, where: Where = "a value") -> bytes:
    """Serialize *value* (attrs models included) to JSON bytes.

    *where* names the value's origin in an error; it may be a function returning it.
    The bytes are a right-sized copy: orjson's own keep the 4 KiB buffer they were
    written into, so a batch of 100,000 journal rows held 400 MiB of them.
    """
    return bytes(memoryview(_json_bytes(value, where)))


def _json_bytes(value: Any, where: Where) -> bytes:
    """*value* as JSON bytes, as orjson made them (for a caller that drops them at once)."""
    if not attrs.has(type(value)):  # a model surely needs the converter: no failed try
        try:
            # plain JSON types (most journal data) need no converter pass; anything else
            # — a subclass, a Secret, a datetime — fails here and goes through it
            encoded = orjson.dumps(value, option=_PLAIN_ONLY)
        except TypeError as error:
            if _RECURSION_LIMIT in str(error):
                raise _nesting_error(value, _named(where)) from None
        else:
            # orjson writes NaN and ±inf as null: the value is looked at only then
            if _find_null(encoded) is not None:
                check_finite(value, where=where)
            return encoded
    try:
        plain = converter.unstructure(value)
        encoded = orjson.dumps(plain, option=_OPTIONS)
    except RecursionError:
        raise _nesting_error(value, _named(where)) from None
    except (TypeError, ValueError, orjson.JSONEncodeError) as error:
        if _RECURSION_LIMIT in str(error):
            raise _nesting_error(value, _named(where)) from None
        raise _serialization_error(value, _named(where), error) from error
    if _find_null(encoded) is not None:
        check_finite(plain, where=where)
    return encoded


def _named(where: Where) -> str:
    return where if isinstance(where, str) else where()


def check_finite(value: Any, *, where: Where) -> None:
    """Raise :class:`SerializationError` if *value* holds a NaN or an infinite float.

    JSON has no such numbers and orjson writes them as ``null``: stored, the value
    would come back as ``None``. *value* is plain data, as the converter produces it
    (its keys are strings).
    """
    if not _has_non_finite(value):
        return
    path, number = _find_non_finite(value, "")
    location = f" at {path}" if path else ""
    raise SerializationError(
        f"{_named(where)} cannot be stored: the float {number!r}{location} is not a JSON number",
        why="JSON has no NaN or infinity; written as null, it would come back as None, "
        "and floe never stores a value other than the one it was given.",
        fix="Use None (or a string such as 'nan') for a missing number, or check "
        "numbers with math.isfinite() before they are stored.",
        context={"value": repr(number), "path": path or "(the value itself)"},
    )


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


def _has_non_finite(value: Any) -> bool:
    """Whether plain data holds a NaN or infinite float (no recursion, exact types first)."""
    stack = [value]
    pop, extend = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind in _NOT_CONTAINERS:
            continue
        if kind is dict:
            extend(item.values())
        elif kind is list or kind is tuple:
            extend(item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif isinstance(item, dict):
            extend(item.values())
        elif isinstance(item, list | tuple):
            extend(item)
    return False


def _find_non_finite(value: Any, path: str) -> tuple[str, float | None]:
    """The first NaN or infinite float in plain data, and its path (encoded: not deep)."""
    if isinstance(value, float):
        return (path, None) if math.isfinite(value) else (path, value)
    items: Any = ()
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    for key, item in items:
        found_path, found = _find_non_finite(item, f"{path}[{key!r}]")
        if found is not None:
            return found_path, found
    return path, None


def _nesting_error(value: Any, where: str) -> SerializationError:
    cycle = _find_cycle(value, "", set(), 0)
    if cycle is not None:
        return SerializationError(
            f"{where} cannot be stored: it contains itself at {cycle or 'its top'}",
            why="floe stores values as JSON, which has no references: a value that "
            "contains itself has no JSON form.",
            fix="Return a value without the cycle, e.g. an id in place of the object "
            "that refers back.",
            context={"path": cycle},
        )
    return SerializationError(
        f"{where} cannot be stored: it is nested more than {_MAX_DEPTH} levels deep",
        why=f"floe stores values as JSON with orjson, which encodes at most {_MAX_DEPTH} "
        "levels of nested lists and objects.",
        fix="Flatten the value (a list of items with parent ids instead of a deep tree), "
        "or store it as an artifact.",
        context={"limit": _MAX_DEPTH},
    )


def _find_cycle(value: Any, path: str, ancestors: set[int], depth: int) -> str | None:
    """The path at which *value* refers back to a container it is inside, if it does.

    Looks no deeper than orjson encodes, so that a very deep value costs no recursion.
    """
    children = _children(value)
    if children is None or depth > _MAX_DEPTH:
        return None
    if id(value) in ancestors:
        return path
    ancestors.add(id(value))
    for key, child in children:
        found = _find_cycle(child, f"{path}[{key!r}]", ancestors, depth + 1)
        if found is not None:
            return found
    ancestors.discard(id(value))
    return None


def _children(value: Any) -> Any:
    """The (key, child) pairs of a container, attrs instance or dataclass; else None."""
    if isinstance(value, Mapping):
        return value.items()
    if isinstance(value, list | tuple):
        return enumerate(value)
    if isinstance(value, set | frozenset):
        return enumerate(list(value))
    if attrs.has(type(value)):
        return ((field.name, getattr(value, field.name)) for field in attrs.fields(type(value)))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return ((field.name, getattr(value, field.name)) for field in dataclasses.fields(value))
    return None
