"""floe_states: the default state pack (the standard request/confirm/process machine).

::

    InitialState --start--> AwaitingConfirmation
    AwaitingConfirmation --confirm [content == "confirmed"]--> ProcessingRequest
    AwaitingConfirmation --cancel--> InitialState
    ProcessingRequest --complete--> InitialState
    ProcessingRequest --error--> ErrorHandling
    ErrorHandling --acknowledge--> InitialState

Every other message leaves the state as it is (``handle_message`` returns None).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from floe import Message, State, Transition
from floe.hookspecs import hookimpl

if TYPE_CHECKING:
    from floe import Component

__all__ = [
    "STATES",
    "AwaitingConfirmation",
    "ErrorHandling",
    "InitialState",
    "ProcessingRequest",
    "floe_register_states",
]

CONFIRMED = "confirmed"
"""The content a ``confirm`` message must carry to be accepted."""


class InitialState(State):
    """Waiting for a request: ``start`` asks for confirmation."""

    transitions = (Transition("InitialState", "start", "AwaitingConfirmation"),)


class AwaitingConfirmation(State):
    """A request waits for its confirmation: ``confirm`` (content ``"confirmed"``) goes
    on to processing, ``cancel`` goes back to the start."""

    transitions = (
        Transition(
            "AwaitingConfirmation", "confirm", "ProcessingRequest", guard='content == "confirmed"'
        ),
        Transition("AwaitingConfirmation", "cancel", "InitialState"),
    )

    async def handle_message(
        self, message: Message, component: Component
    ) -> tuple[bool, str | type[State] | None]:
        if message.type == "confirm":
            if message.content == CONFIRMED:
                return True, "ProcessingRequest"
            return False, None
        return await super().handle_message(message, component)


class ProcessingRequest(State):
    """The request is being processed: ``complete`` finishes it, ``error`` reports a failure."""

    transitions = (
        Transition("ProcessingRequest", "complete", "InitialState"),
        Transition("ProcessingRequest", "error", "ErrorHandling"),
    )


class ErrorHandling(State):
    """Processing failed: ``acknowledge`` returns to the start."""

    transitions = (Transition("ErrorHandling", "acknowledge", "InitialState"),)


STATES: tuple[type[State], ...] = (
    InitialState,
    AwaitingConfirmation,
    ProcessingRequest,
    ErrorHandling,
)
"""The pack's states, each registered under its class name."""


@hookimpl
def floe_register_states(register: Callable[..., None]) -> None:
    """Register the default states under their class names."""
    for state in STATES:
        register(state.__name__, state)
