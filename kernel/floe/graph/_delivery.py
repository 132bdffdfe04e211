"""A delivery: a message on its way to a slot, and what its failure does to the job."""

from __future__ import annotations

from typing import Any, Final

from ._strategy import DeliveryLimitError, ErrorHandler, ErrorStrategy

__all__ = ["ENTRY_CALL", "SlotDelivery", "outcome_of"]

ENTRY_CALL: Final = "__call__"
"""The slot name a delivery to the entry routine's ``__call__`` is recorded under."""


class SlotDelivery:
    """A message on its way to a slot (``slot`` None: the entry routine's ``__call__``)."""

    __slots__ = ("attempt", "data", "number", "parent", "routine_id", "slot", "wake_at")

    def __init__(
        self,
        number: int,
        routine_id: str,
        slot: str | None,
        data: dict[str, Any],
        parent: int | None,
    ) -> None:
        self.number = number
        self.routine_id = routine_id
        self.slot = slot
        self.data = data
        self.parent = parent
        self.attempt = 1
        self.wake_at: str | None = None

    @property
    def key(self) -> str:
        return f"{self.routine_id}.{self.slot or ENTRY_CALL}#{self.number}"

    def where(self) -> str:
        """The routine and slot, for an error message."""
        return f"routine {self.routine_id!r}, slot {self.slot or ENTRY_CALL!r}"


def outcome_of(handler: ErrorHandler, error: Exception) -> str:
    """What a failure does to the job under *handler*: stopped, continued or skipped.

    Reaching max_deliveries always stops it; a critical routine that runs out of
    retries stops it, another goes on.
    """
    strategy = handler.strategy
    if isinstance(error, DeliveryLimitError) or strategy is ErrorStrategy.STOP:
        return "stopped"
    if strategy is ErrorStrategy.RETRY:
        return "stopped" if handler.is_critical else "continued"
    if strategy is ErrorStrategy.SKIP:
        return "skipped"
    return "continued"
