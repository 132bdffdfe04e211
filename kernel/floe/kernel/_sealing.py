"""Sealing at rest: a stored field that holds a secret's value is kept encrypted.

Values are stored exactly; none is masked. Where a run has secrets in play, every write
of its journal, run record and cached results passes through :class:`Sealer`: a
top-level field of an event's data (or the run's ``input``, ``output`` or ``error``, or
a cached result) whose JSON holds a secret's value is replaced by a sealed envelope::

    {"$sealed": {<the codec's fields: version, key fingerprint, nonce, ciphertext ...>}}

The plaintext is the field's JSON together with the secrets it holds, so that opening
it tells the process those values again (to seal and mask them in what follows, even
after the secret was changed). The associated data binds the envelope to the run, the
event kind, the step and the field: an envelope copied elsewhere fails authentication.

The cipher is not the kernel's: a plugin provides a :class:`PayloadCodec` through the
``floe_payload_codec`` hook (``floe_secrets``: AES-256-GCM under ``FLOE_SECRET_KEY``).
Without one, a write that would need sealing is refused with a :class:`ConfigError`
before anything of it is stored. Reading (replay, resume values, executions, cached
results) opens envelopes again with :class:`Opener`, so replay returns exactly what the
first run saw; the command line never opens them and shows ``***``.

A user value that is itself a one-key ``{"$sealed": ...}`` mapping is refused when it
is encoded (see ``_serialize.encode_value``): the marker is reserved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

import attrs
import orjson

from ._errors import ConfigError, FloeError, PersistenceError
from ._kinds import EventKind
from ._models import ErrorInfo, Run
from ._secrets import SEALED, KnownSecrets, known_secrets
from ._serialize import converter, dumps

if TYPE_CHECKING:
    from ._kernel import Kernel

__all__ = ["SEALED", "STRUCTURAL_FIELDS", "Opener", "PayloadCodec", "Sealer", "is_sealed"]

STRUCTURAL_FIELDS: Final = frozenset(
    {"task", "position", "attempt", "name", "wake_at", "rollback", "cached", "raised"}
    | {"child_run_id", "child_pause", "fallback"}
)
"""Fields replay reads before anything is opened: never sealed. A secret's value in one
(a step named after it) is refused."""

_BOOKKEEPING_KINDS: Final = frozenset(
    {
        EventKind.TASK_STARTED,
        EventKind.TASK_CACHE_HIT,
        EventKind.TASK_FALLBACK,
        EventKind.TIMER_FIRED,
    }
)
"""Events that hold only fields of :data:`STRUCTURAL_FIELDS` (the step's outcome event
repeats its task name, where a secret's value is refused): not checked."""
_RUN_FIELDS: Final = ("input", "output")
_KEY_FIX: Final = (
    "Set FLOE_SECRET_KEY to a key made by 'floe secrets keygen' (the floe_secrets plugin "
    "seals payloads with it), or keep secret values out of what the run returns, reports "
    "and raises."
)


@runtime_checkable
class PayloadCodec(Protocol):
    """Authenticated encryption of stored payloads (what ``floe_payload_codec`` returns).

    ``seal`` returns the envelope's body, a JSON object (it should name its format
    version and the key's fingerprint); ``open`` returns the plaintext, or raises a
    :class:`floe.PersistenceError` when the body fails authentication or is damaged, a
    :class:`floe.ConfigError` when it was sealed under another key.
    """

    @property
    def fingerprint(self) -> str:
        """A digest of the key, safe to show."""
        ...

    def seal(self, plaintext: bytes, associated_data: bytes) -> dict[str, Any]: ...

    def open(self, body: Mapping[str, Any], associated_data: bytes) -> bytes: ...


def is_sealed(value: Any) -> bool:
    """Whether *value* is a sealed envelope, ``{"$sealed": {...}}``."""
    return type(value) is dict and len(value) == 1 and SEALED in value


def _associated_data(run_id: str, kind: str, step: str | None, field: str) -> bytes:
    if kind == "cache":
        run_id = ""  # a cached result serves every run: it is bound to its cache key only
    return "\x00".join(("floe payload", run_id, kind, step or "", field)).encode()


class Sealer:
    """Seals what one run (and its child runs) writes, for its known secrets."""

    __slots__ = ("_kernel", "run_id", "secrets")

    def __init__(self, kernel: Kernel, run_id: str, secrets: KnownSecrets) -> None:
        self._kernel = kernel
        self.run_id = run_id
        self.secrets = secrets

    def event_data(self, kind: str, step: str | None, data: Any) -> Any:
        """*data* with each top-level field that holds a secret's value sealed."""
        if kind in _BOOKKEEPING_KINDS:
            return data
        found = self.secrets.found_in(_encoded(data))
        if not found:
            return data
        if not isinstance(data, dict):
            return self._envelope(kind, step, "", data, found)
        sealed = dict(data)
        for field, value in data.items():
            held = self.secrets.found_in(_encoded(value))
            if not held:
                continue
            if field in STRUCTURAL_FIELDS or not isinstance(field, str):
                raise self._refused(kind, step, str(field), held)
            sealed[field] = self._envelope(kind, step, field, value, held)
        return sealed

    def run(self, run: Run) -> Run:
        """*run* with its input, output and error sealed where they hold a secret's value."""
        changes: dict[str, Any] = {}
        for field in _RUN_FIELDS:
            value = getattr(run, field)
            if value is None or is_sealed(value):
                continue
            held = self.secrets.found_in(_encoded(value))
            if held:
                changes[field] = self._envelope("run", None, field, value, held)
        error = run.error
        if error is not None and error.sealed is None:
            document = converter.unstructure(error)
            held = self.secrets.found_in(dumps(document))
            if held:
                # the record keeps a masked copy to show; the exact error is in the envelope
                changes["error"] = ErrorInfo(
                    type=error.type,
                    message=self.secrets.mask_text(error.message),
                    sealed=self._envelope("run", None, "error", document, held),
                )
        return attrs.evolve(run, **changes) if changes else run

    def cached(self, key: str, value: Any, *, step: str) -> Any:
        """A result of the step *step* for the shared cache, sealed (bound to its cache
        key) if need be."""
        held = self.secrets.found_in(dumps(value))
        if not held:
            return value
        return self._envelope("cache", key, "result", value, held, shown=f"step {step!r}")

    def _envelope(
        self,
        kind: str,
        step: str | None,
        field: str,
        value: Any,
        held: dict[str, str],
        *,
        shown: str | None = None,
    ) -> dict[str, Any]:
        codec = self._kernel.payload_codec
        if codec is None:
            where = _where(self.run_id, kind, shown or step, field)
            raise ConfigError(
                f"{where} holds the value of secret {_names(held)}, and there is no key to "
                "seal it with",
                why="floe stores a value holding a secret's text only encrypted; no plugin "
                "provides a payload codec (floe_secrets does once FLOE_SECRET_KEY is set). "
                "Nothing of this write was stored.",
                fix=_KEY_FIX,
                context={"run_id": self.run_id, "event": kind, "step": step, "field": field},
            )
        plaintext = orjson.dumps({"value": value, "secrets": held})
        body = codec.seal(plaintext, _associated_data(self.run_id, kind, step, field))
        return {SEALED: body}

    def _refused(self, kind: str, step: str | None, field: str, held: dict[str, str]) -> FloeError:
        return ConfigError(
            f"{_where(self.run_id, kind, step, field)} holds the value of secret {_names(held)}",
            why=f"floe needs {field!r} in the clear to replay the run, so it cannot seal it.",
            fix="Keep secret values out of step names, pause names and task names.",
            context={"run_id": self.run_id, "event": kind, "step": step, "field": field},
        )


@attrs.frozen
class Opener:
    """Opens the sealed fields of one run's records, teaching their secrets to *learned*
    (the run's known secrets) and to the process (for display)."""

    run_id: str
    codec: PayloadCodec | None
    learned: KnownSecrets | None = None

    def value(self, value: Any, kind: str, step: str | None, field: str) -> Any:
        """*value*, opened if it is a sealed envelope."""
        if not is_sealed(value):
            return value
        where = _where(self.run_id, kind, step, field)
        body = value[SEALED]
        if self.codec is None:
            raise ConfigError(
                f"{where} is sealed, and there is no key to open it",
                why="It held a secret's value when it was stored, so it was stored encrypted.",
                fix="Set FLOE_SECRET_KEY to the key the run was stored with.",
                context={"run_id": self.run_id, "event": kind, "step": step, "field": field},
            )
        try:
            if not isinstance(body, Mapping):
                raise PersistenceError("It is not an envelope floe writes")
            plaintext = self.codec.open(body, _associated_data(self.run_id, kind, step, field))
            opened = orjson.loads(plaintext)
            held, exact = opened["secrets"], opened["value"]
        except FloeError as error:
            raise type(error)(
                f"{where} cannot be opened: {error.what}",
                why=error.why,
                fix=error.fix,
                context={**error.context, "run_id": self.run_id, "event": kind, "field": field},
            ) from None
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise PersistenceError(
                f"{where} is damaged: its sealed content is not what floe writes",
                fix="Restore the store from a backup.",
                context={"run_id": self.run_id, "event": kind, "field": field},
            ) from None
        self._learn(held)
        return exact

    def data(self, kind: str, step: str | None, data: Any) -> Any:
        """An event's *data* with its sealed fields opened (the same object if none is)."""
        if is_sealed(data):
            return self.value(data, kind, step, "")
        if type(data) is not dict or not any(is_sealed(item) for item in data.values()):
            return data
        return {key: self.value(item, kind, step, key) for key, item in data.items()}

    def run(self, run: Run) -> Run:
        """*run* with its sealed input, output and error opened."""
        changes = {
            field: self.value(getattr(run, field), "run", None, field)
            for field in _RUN_FIELDS
            if is_sealed(getattr(run, field))
        }
        if run.error is not None and run.error.sealed is not None:
            document = self.value(run.error.sealed, "run", None, "error")
            changes["error"] = converter.structure(document, ErrorInfo)
        return attrs.evolve(run, **changes) if changes else run

    def cached(self, key: str, value: Any) -> Any:
        return self.value(value, "cache", key, "result")

    def _learn(self, held: Any) -> None:
        if not isinstance(held, dict):
            return
        for name, text in held.items():
            if isinstance(name, str) and isinstance(text, str):
                known_secrets().add(name, text)
                if self.learned is not None:
                    self.learned.add(name, text)


def _encoded(value: Any) -> bytes:
    """The JSON of *value*: journal data is plain JSON already, so orjson alone serves."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return dumps(value)


def _where(run_id: str, kind: str, step: str | None, field: str) -> str:
    if kind == "run":
        return f"The {field} of run {run_id!r}"
    if kind == "cache":
        return f"The result of {step} for the cache"
    place = f"step {step!r}" if step else f"run {run_id!r}"
    name = f"field {field!r} of " if field else ""
    return f"The {name}{kind!r} event of {place}"


def _names(held: Mapping[str, str]) -> str:
    return ", ".join(repr(name) for name in sorted(set(held)))
