"""Messages handled by workers: ``await engine.send(name, message)`` stores a message
for a worker (``floe worker``, :class:`floe.Worker`) to deliver to the component.

A sent message is a run of kind ``message`` (its run id is the message id), pending in
a queue with the component's run id as its partition key: the messages sent to one
component are handled one at a time and in the order they were sent, across every
worker (a queue's partition, see :class:`floe.Queue`). The worker restores the
component from its journal (:meth:`Engine.restore`: its states from the kernel's
registry, or from the component config the worker was given for it), handles the
message as ``handle_message`` does, and records the message run completed with the
transition as its output, or failed with the error its state raised.

Each message is handled once. The component's journal records the message with the
message id (``component.message.received``'s ``delivery``). A worker that dies after the
component recorded the message but before the message run was completed leaves the run
to be claimed again; the next worker finds the id in the component's journal (after the
seq the component was at when the message was sent) and completes the run with the
outcome recorded there, without handling the message again.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs

from ..kernel._errors import (
    FloeError,
    NotFoundError,
    SequenceConflictError,
    StateError,
    rebuild_error,
)
from ..kernel._handles import StoredHandle
from ..kernel._journal import Journal
from ..kernel._kernel import Kernel, kernel_for_call
from ..kernel._kinds import EventKind
from ..kernel._models import Event, Run, RunStatus, check_run_id, utcnow
from ..kernel._queues import Placement
from ..kernel._runs import fail_leased_run
from ..kernel._serialize import encode_value
from ..kernel._states import Message
from ._component_journal import CHANGED, COMPONENT_KIND, MESSAGE_RECEIVED, component_run_id
from ._state_machine import Transitioned

if TYPE_CHECKING:
    from ._components import Engine
    from ._config import ComponentConfig

__all__ = ["MESSAGE_KIND", "MessageHandle", "deliver_claimed", "send_message"]

MESSAGE_KIND: Final = "message"
"""The ``kind`` of a message sent for a worker to deliver."""
_AFTER_SEQ: Final = "after_seq"
"""The metadata key of the component's last seq when the message was sent."""
_ATTEMPTS: Final = 3
"""How often a delivery is tried when another writer of the component got in first."""


async def send_message(
    engine: Engine,
    name: str,
    message: Message | Mapping[str, Any] | str,
    message_id: str | None,
    placement: Placement,
) -> MessageHandle:
    """Store *message* for a worker to deliver to the registered component *name*; its
    handle. A *message_id* already stored is an idempotency key: its handle, when it is
    the same message to the same component."""
    received = Message.of(message)
    if message_id is not None:
        check_run_id(message_id)
    content = encode_value(received.to_dict(), where=f"a message to component {name!r}")
    kernel = engine.kernel
    component = await kernel.store.get_run(component_run_id(name))
    if component is None or component.kind != COMPONENT_KIND:
        raise NotFoundError(
            f"No component named {name!r} is stored in {kernel.store.url}",
            why="A message is sent to a registered component: the worker restores it from "
            "its journal.",
            fix="Register the component first (engine.register, or 'floe register --config "
            "FILE'), or correct the name.",
            context={"component": name, "store": kernel.store.url},
        )
    existing = await kernel.store.get_run(message_id) if message_id is not None else None
    if existing is None:
        now = utcnow()
        run = Run(
            run_id=message_id or uuid.uuid4().hex,
            name=name,
            kind=MESSAGE_KIND,
            status=RunStatus.PENDING,
            created_at=now,
            updated_at=now,
            input=content,
            metadata={_AFTER_SEQ: component.last_seq},
            runnable_at=now,
            queue=placement.queue,
            priority=placement.priority,
            partition_key=component.run_id,  # one component's messages: one at a time
        )
        await kernel.store.create_run(run)
        return MessageHandle(name, run.run_id)
    if existing.kind != MESSAGE_KIND or existing.name != name or existing.input != content:
        raise StateError(
            f"Message id {existing.run_id!r} was sent before, with another message or to "
            "another component",
            why="A message id sent again names the message it made.",
            fix="Choose another message id, or send the same message to the same component.",
            context={"message_id": existing.run_id, "component": name},
        )
    return MessageHandle(name, existing.run_id)


async def deliver_claimed(engine: Engine, run: Run, config: ComponentConfig | None) -> Run:
    """Deliver the message *run* a worker claimed to its component, restored by *engine*
    (a new one, of the worker's kernel) with *config* (None: the kernel's states); the
    finished message run."""
    kernel = engine.kernel
    try:
        component = await engine.restore(run.name, config=config)
        message = Message.of(run.input)
    except FloeError as error:  # the component is gone, or its states are not here
        if isinstance(error, StateError) and config is None:
            error.fix = (
                f"{error.fix} A worker restores a component with the config it was given: "
                "floe worker --config PATH (floe.Worker(kernel, configs=[...]))."
            )
        return await fail_leased_run(kernel, run, error)
    for attempt in range(1, _ATTEMPTS + 1):
        recorded = await _recorded_outcome(kernel, component.run_id, run)
        if recorded is not None:  # handled before, by a worker that died after it
            return await _complete(kernel, run, recorded[0])
        try:
            outcome = await component.receive(message, delivery=run.run_id)
        except SequenceConflictError:
            if attempt == _ATTEMPTS:
                raise
            continue  # the component reloaded what the other writer recorded: again
        except Exception as error:  # the state raised: nothing of the message was recorded
            return await fail_leased_run(kernel, run, error)
        return await _complete(kernel, run, outcome)
    raise AssertionError("unreachable")  # pragma: no cover


async def _recorded_outcome(
    kernel: Kernel, component_run: str, run: Run
) -> tuple[Transitioned | None] | None:
    """The outcome the component's journal recorded for the message *run*, in a
    one-tuple; None when it recorded none."""
    after = run.metadata.get(_AFTER_SEQ, 0) if isinstance(run.metadata, Mapping) else 0
    events = await kernel.store.read_events(component_run, after_seq=int(after))
    return _outcome_in(events, run.run_id)


def _outcome_in(events: Sequence[Event], delivery: str) -> tuple[Transitioned | None] | None:
    found = False
    for event in events:
        data = event.data if isinstance(event.data, Mapping) else {}
        if event.kind == MESSAGE_RECEIVED:
            if found:
                break  # the next message: the delivered one moved nothing
            found = data.get("delivery") == delivery
        elif found and event.kind == CHANGED:
            return (Transitioned(data["from_state"], data["to_state"]),)
    return (None,) if found else None


async def _complete(kernel: Kernel, run: Run, outcome: Transitioned | None) -> Run:
    output = None if outcome is None else attrs.asdict(outcome)
    done = attrs.evolve(
        run,
        status=RunStatus.COMPLETED,
        output=output,
        runnable_at=None,
        lease_owner=None,
        lease_expires_at=None,
        updated_at=utcnow(),
    )
    journal = Journal(kernel, run.run_id, run.last_seq)
    await journal.write([(EventKind.RUN_COMPLETED, None, {"output": output})], run=done)
    return done


@attrs.frozen
class MessageHandle(StoredHandle):
    """A message sent for a worker to deliver: ``await engine.send(...)`` returns one.

    Every method reads the store, so a handle works from any process that opens the
    same store (``MessageHandle(component, message_id)``): ``status()`` (``pending``
    until it is handled) and ``result()``, and their async twins.
    """

    noun: ClassVar[str] = "message"
    component: str
    message_id: str

    @property
    def stored_id(self) -> str:
        return self.message_id

    def described(self) -> str:
        return f"Message {self.message_id!r} to component {self.component!r}"

    async def result_async(self) -> Transitioned | None:
        """Once the message is handled: the transition it made, None when the component's
        state ignored it; the error its state raised, raised. It waits as long as that
        takes (bound it with ``anyio.fail_after``, or use :meth:`result` with a timeout)."""
        async with kernel_for_call() as kernel:
            run = await self.settled(kernel)
        if run.status is RunStatus.FAILED and run.error is not None:
            raise rebuild_error(run.error)
        output = run.output
        return Transitioned(**output) if isinstance(output, Mapping) else None

    def result(self, timeout: float | None = None) -> Transitioned | None:
        """:meth:`result_async` from synchronous code: waiting longer than *timeout*
        seconds (None: no limit) is a :class:`WorkflowTimeoutError`."""
        outcome: Transitioned | None = self.sync_within(self.result_async, timeout)
        return outcome
