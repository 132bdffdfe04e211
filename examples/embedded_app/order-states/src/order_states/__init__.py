"""The life of an order, as a floe state pack.

::

    New --pay [0 < amount <= the max_amount rule]--> Paid --ship--> Shipped
    Shipped --deliver--> Delivered --return--> Returned
    New --cancel--> Cancelled, Paid --cancel--> Cancelled

Every other message leaves the order where it is. The module is a plugin: its
``floe_register_states`` hook registers the states, under their class names, in every
kernel once the distribution is installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import floe

__all__ = [
    "STATES",
    "Cancelled",
    "Delivered",
    "New",
    "Paid",
    "Returned",
    "Shipped",
    "floe_register_states",
    "max_amount",
]

DEFAULT_MAX_AMOUNT = 1_000


def max_amount(rules: Iterable[Any]) -> float:
    """The largest payment the component's rules allow (the last ``max_amount`` rule wins)."""
    limit: float = DEFAULT_MAX_AMOUNT
    for rule in rules:
        if isinstance(rule, dict) and isinstance(rule.get("max_amount"), int | float):
            limit = rule["max_amount"]
    return limit


class New(floe.State):
    """An order waiting for its payment."""

    transitions = (
        floe.Transition("New", "pay", "Paid", guard="0 < amount <= the max_amount rule"),
        floe.Transition("New", "cancel", "Cancelled"),
    )

    async def handle_message(
        self, message: floe.Message, component: floe.Component
    ) -> tuple[bool, str | type[floe.State] | None]:
        if message.type == "pay":
            amount = message.content
            # states read the component's rules: a hot swap of the rules changes the limit
            payable = isinstance(amount, int | float) and not isinstance(amount, bool)
            if payable and 0 < amount <= max_amount(component.rules):
                return True, "Paid"
            return False, None
        return await super().handle_message(message, component)


class Paid(floe.State):
    """Paid, waiting to be shipped."""

    transitions = (
        floe.Transition("Paid", "ship", "Shipped"),
        floe.Transition("Paid", "cancel", "Cancelled"),
    )


class Shipped(floe.State):
    """On its way."""

    transitions = (floe.Transition("Shipped", "deliver", "Delivered"),)


class Delivered(floe.State):
    """With the customer, who may still send it back."""

    transitions = (floe.Transition("Delivered", "return", "Returned"),)


class Returned(floe.State):
    """Sent back: the end of this order."""


class Cancelled(floe.State):
    """Cancelled before it shipped: the end of this order."""


STATES: tuple[type[floe.State], ...] = (New, Paid, Shipped, Delivered, Returned, Cancelled)


@floe.hookimpl
def floe_register_states(register: Callable[..., None]) -> None:
    """Register the order states under their class names."""
    for state in STATES:
        register(state.__name__, state)
