"""Every kind of event floe journals or publishes: :class:`EventKind`.

Kept apart from the payload classes (``_schema``), which need the converter, so that
the bus, the journal and the command line name kinds without loading it.
"""

from __future__ import annotations

import enum

__all__ = ["EventKind"]


class EventKind(enum.StrEnum):
    """Every kind of event floe journals or publishes (its value is the stored name)."""

    def __repr__(self) -> str:
        # shown as the name it is stored and subscribed under, like the kinds read back
        return repr(self.value)

    RUN_STARTED = "run.started"
    """A workflow run or a graph job started."""
    RUN_COMPLETED = "run.completed"
    """The run's body returned (a job: its deliveries all ran)."""
    RUN_FAILED = "run.failed"
    """The run's body raised (a job: a delivery failed and stopped it)."""
    RUN_CANCELLING = "run.cancelling"
    """``floe.cancel`` fenced a run executing elsewhere, before its saga runs."""
    RUN_CANCELLED = "run.cancelled"
    """The run was cancelled."""
    RUN_PAUSED = "run.paused"
    """The run paused: ``floe.pause``, a child run's pause, or a job's pause."""
    RUN_RESUMED = "run.resumed"
    """A paused (or, for a job, interrupted) run continued."""
    TASK_STARTED = "task.started"
    """A task call or a child workflow started its first attempt."""
    TASK_COMPLETED = "task.completed"
    """A step returned: the task, its fallback, the cache or the child run."""
    TASK_FAILED = "task.failed"
    """A step gave up (retries exhausted, or the child run failed)."""
    TASK_RETRYING = "task.retrying"
    """A failed attempt will be retried after a delay."""
    TASK_FALLBACK = "task.fallback"
    """A failed task's fallback answered instead."""
    TASK_CACHE_HIT = "task.cache_hit"
    """A task call was answered from the result cache."""
    TASK_ROLLED_BACK = "task.rolled_back"
    """A step's rollback handler ran."""
    TIMER_SCHEDULED = "timer.scheduled"
    """``floe.sleep`` set a durable timer."""
    TIMER_FIRED = "timer.fired"
    """A durable timer woke up."""
    ARTIFACT_CREATED = "artifact.created"
    """``floe.add_artifact`` recorded an artifact."""
    RESULT_CREATED = "result.created"
    """``floe.add_result`` recorded a result."""
    LOG_MESSAGE = "log.message"
    """A line of output or a logging record inside a run."""
    COMPONENT_REGISTERED = "engine.component.registered"
    """A component was registered with an engine."""
    COMPONENT_MESSAGE_RECEIVED = "component.message.received"
    """A registered component handled a message."""
    STATE_CHANGED = "state.changed"
    """A message moved a component to another state."""
    COMPONENT_RULES_UPDATED = "component.rules.updated"
    """A registered component's rules changed."""
    ROUTINE_SLOT_RECEIVED = "routine.slot_received"
    """A graph delivery to a routine's slot ran."""
    ROUTINE_EMITTED = "routine.emitted"
    """A routine emitted an output event."""
    ROUTINE_FAILED = "routine.failed"
    """A graph delivery failed for good."""
    ROUTINE_RETRYING = "routine.retrying"
    """A failed routine handler attempt will be retried."""
    HANDLER_FAILED = "event.handler.failed"
    """A bus handler or its filter raised (on the bus only, never journaled)."""
