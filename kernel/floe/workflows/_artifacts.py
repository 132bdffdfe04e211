"""Artifacts and results: what a run reports besides its output.

``this_flow.add_artifact(key, data)`` (or ``floe.add_artifact``) and
``this_flow.add_result(key, description)`` are plain calls, usable from async code and
from sync tasks in worker threads alike: they queue an ``artifact.created`` or
``result.created`` event on the run's journal (:meth:`Journal.defer`), which stores and
publishes it with the run's next write — the end of the step that made it, or the
run's end. A body that is replayed after a crash reports again what it reported before
its last recorded step; those repeats are recognised by their order and not stored
twice.

An artifact's body is kept inline in its event. When an artifact store is set (setting
``artifact_store``, opened through the ``floe_open_artifact_store`` hook; ``file:///DIR``
is built in), a body over ``artifact_inline_limit`` bytes (64 KiB by default) goes
there instead, and the event holds its reference.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs
import orjson

from ..kernel._errors import ConfigError, FloeError
from ..kernel._journal import Deferred
from ..kernel._models import Event
from ..kernel._schema import ABSENT, ArtifactCreated, EventKind, ResultCreated, data_of, payload_of
from ..kernel._sealing import Opener, Sealer
from ..kernel._serialize import encode_value
from ._runtime import RunState, current_run, current_scope_key

if TYPE_CHECKING:
    from ..kernel._kernel import Kernel

__all__ = [
    "ARTIFACT_TYPES",
    "Artifact",
    "Result",
    "add_artifact",
    "add_result",
    "artifacts_of",
    "report",
    "results_of",
]

ARTIFACT_TYPES: Final = ("json", "text", "markdown", "binary")


@attrs.frozen
class Artifact:
    """An artifact a run recorded: its body inline, or a reference into the artifact store."""

    key: str
    artifact_type: str
    description: str | None
    size: int
    """Bytes of the stored body (JSON for ``json``, UTF-8 for text, raw for ``binary``)."""
    task: str | None
    """The task that added it, or None for the workflow body."""
    step: str | None
    value: Any = None
    """The body when it is inline (bytes of a ``binary`` artifact), else None."""
    reference: str | None = None
    """Where the artifact store keeps the body, when it is not inline."""

    @property
    def inline(self) -> bool:
        return self.reference is None

    async def read(self, kernel: Kernel | None = None) -> Any:
        """The body: inline at once, or loaded from the artifact store of *kernel*.

        Without *kernel*, the running kernel (``floe.current_kernel()``) is used.
        """
        if self.reference is None:
            return self.value
        if kernel is None:
            from ..kernel._current import current_kernel

            kernel = current_kernel()
        return _decode_body(self.artifact_type, await kernel.artifacts.get(self.reference))


@attrs.frozen
class Result:
    """A named result a run recorded: a key and a human-readable description."""

    key: str
    description: str
    task: str | None
    step: str | None


# -- reporting ------------------------------------------------------------------------------


def add_artifact(
    key: str,
    data: Any,
    *,
    artifact_type: str = "json",
    description: str | None = None,
) -> Artifact:
    """Record an artifact of the current run (inside a workflow or one of its tasks).

    *artifact_type* is ``json`` (any value floe can serialize), ``text`` or ``markdown``
    (a ``str``) or ``binary`` (``bytes``). Returns the :class:`Artifact` as it will be
    stored; it becomes durable with the run's next write.
    """
    state = _require_run("floe.add_artifact")
    _check_key(key, "artifact")
    if description is not None and not isinstance(description, str):
        raise ConfigError(
            f"The description of artifact {key!r} is a {type(description).__name__}",
            fix="Pass the description as text, or leave it out.",
        )
    body, value = _encode_body(key, artifact_type, data)
    step, task = _where()
    created = ArtifactCreated(
        key=key, artifact_type=artifact_type, description=description, size=len(body), task=task
    )
    kernel = state.kernel
    if kernel.settings.artifact_store is None or len(body) <= kernel.settings.artifact_inline_limit:
        inline = attrs.evolve(created, value=value)
        report(state, Deferred(EventKind.ARTIFACT_CREATED, step, data_of(inline)))
        return Artifact(key, artifact_type, description, len(body), task, step, value=data)

    run_id = state.run_id

    async def store_body(item: Deferred) -> None:
        # the data may be sealed by now: only the reference is added to it
        item.data[_REFERENCE] = await kernel.artifacts.put(run_id, key, body)

    report(state, Deferred(EventKind.ARTIFACT_CREATED, step, data_of(created), prepare=store_body))
    # the reference exists once the body is stored: Execution.artifacts has it
    return Artifact(key, artifact_type, description, len(body), task, step, value=data)


_REFERENCE: Final = attrs.fields(ArtifactCreated).reference.name


def add_result(key: str, description: str) -> Result:
    """Record a named result of the current run: *key* and a human-readable *description*."""
    state = _require_run("floe.add_result")
    _check_key(key, "result")
    if not isinstance(description, str):
        raise ConfigError(
            f"The description of result {key!r} is a {type(description).__name__}",
            fix="Pass the description as text.",
        )
    step, task = _where()
    report(
        state,
        Deferred(
            EventKind.RESULT_CREATED,
            step,
            data_of(ResultCreated(key=key, description=description, task=task)),
        ),
    )
    return Result(key, description, task, step)


def report(state: RunState, item: Deferred) -> None:
    """Queue *item* on the run's journal, unless a replayed body reported it before.

    A field that holds a secret's value is sealed now, so that one that cannot be (no
    key) fails here, at the call that made it, with a :class:`ConfigError`.
    """
    if item.step is None and state.reported_before(item.kind):
        return
    if state.secrets.values:
        item.data = Sealer(state.kernel, state.run_id, state.secrets).event_data(
            item.kind, item.step, item.data
        )
    state.journal.defer(item)


def _require_run(what: str) -> RunState:
    state = current_run()
    if state is None:
        raise FloeError(
            f"{what} was called outside a workflow run",
            why="Artifacts and results belong to a run's journal.",
            fix="Call it from a workflow body or a task called by one (or through this_flow).",
        )
    return state


def _where() -> tuple[str | None, str | None]:
    key = current_scope_key()
    if not key:
        return None, None
    return key, key.rpartition("/")[2].rpartition("#")[0]


def _check_key(key: Any, what: str) -> None:
    if not isinstance(key, str) or not key:
        raise ConfigError(
            f"An {what} key must be a non-empty str, not {key!r}",
            fix=f"Name the {what} with text, e.g. 'report'.",
        )


def _encode_body(key: str, artifact_type: str, data: Any) -> tuple[bytes, Any]:
    if artifact_type == "json":
        value = encode_value(data, where=f"artifact {key!r}")
        return orjson.dumps(value), value
    if artifact_type in ("text", "markdown"):
        if not isinstance(data, str):
            raise ConfigError(
                f"Artifact {key!r} of type {artifact_type!r} needs a str, not a "
                f"{type(data).__name__}",
                fix="Pass text, or use artifact_type='json' for other values.",
            )
        return data.encode(), data
    if artifact_type == "binary":
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ConfigError(
                f"Artifact {key!r} of type 'binary' needs bytes, not a {type(data).__name__}",
                fix="Pass bytes, or use artifact_type='json' or 'text'.",
            )
        body = bytes(data)
        return body, base64.b64encode(body).decode("ascii")
    raise ConfigError(
        f"Unknown artifact type {artifact_type!r} for artifact {key!r}",
        why=f"Artifact types are: {', '.join(ARTIFACT_TYPES)}.",
        fix="Pass one of them as artifact_type.",
    )


def _inline_value(value: Any, artifact_type: str) -> Any:
    if artifact_type == "binary" and isinstance(value, str):
        return base64.b64decode(value)
    return value


def _decode_body(artifact_type: str, body: bytes) -> Any:
    if artifact_type == "json":
        return orjson.loads(body)
    if artifact_type == "binary":
        return body
    return body.decode()


# -- reading back ---------------------------------------------------------------------------


def artifacts_of(events: Sequence[Event], opener: Opener | None = None) -> list[Artifact]:
    """The artifacts recorded in a run's journal, in order (sealed fields opened by *opener*)."""
    found = []
    for event in events:
        if event.kind != EventKind.ARTIFACT_CREATED:
            continue
        created = payload_of(event, opener)
        assert isinstance(created, ArtifactCreated)
        value = None if created.value is ABSENT else created.value
        found.append(
            Artifact(
                key=created.key,
                artifact_type=created.artifact_type,
                description=created.description,
                size=created.size,
                task=created.task,
                step=event.step,
                value=_inline_value(value, created.artifact_type),
                reference=created.reference,
            )
        )
    return found


def results_of(events: Sequence[Event], opener: Opener | None = None) -> list[Result]:
    """The results recorded in a run's journal, in order (sealed fields opened by *opener*)."""
    return [
        Result(key=result.key, description=result.description, task=result.task, step=event.step)
        for event in events
        if event.kind == EventKind.RESULT_CREATED
        for result in (payload_of(event, opener),)
        if isinstance(result, ResultCreated)
    ]
