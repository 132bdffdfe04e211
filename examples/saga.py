"""Rollbacks (a saga): undo the steps that completed when a run fails.

A trip books a hotel and a flight, then charges the card. Each of the three tasks names a
``rollback`` that undoes it. Run it as a script (the runs live in memory, nothing is left
behind)::

    python examples/saga.py 1500

The card declines amounts over 1000, so the run fails. The charge's own rollback runs
first (the task failed for good), then the rollbacks of the tasks that had completed, the
newest first — the flight, then the hotel. It prints what happened, then the run's status
and the journaled rollbacks::

    booked hotel in Lisbon for 3 nights
    booked flight to Lisbon
    released the hold of 1500 on the card
    cancelled flight to Lisbon
    cancelled hotel in Lisbon
    failed: CardDeclined: card declined: 1500 is over the limit
    rolled back: charge_card#1 (task_failed), book_flight#1 (run_failed), book_hotel#1 (run_failed)

``python examples/saga.py 300`` completes and undoes nothing. With the command line, on
the default store (``.floe/floe.db``)::

    floe run examples/saga.py:trip --input 1500      # fails: exit code 1
    floe events RUN_ID                               # task.rolled_back, then run.failed
"""

from __future__ import annotations

import sys

import anyio

import floe

CITY = "Lisbon"
ledger: list[str] = []
"""What the tasks and rollbacks did, in order (stand-ins for calls to a booking service)."""


class CardDeclined(Exception):
    pass


async def cancel_hotel(city: str, nights: int) -> None:
    # a rollback is called with the arguments of the task it undoes
    ledger.append(f"cancelled hotel in {city}")


@floe.task(rollback=cancel_hotel)
async def book_hotel(city: str, nights: int) -> str:
    ledger.append(f"booked hotel in {city} for {nights} nights")
    return f"hotel-{city.lower()}"


def cancel_flight(city: str) -> None:
    # rollbacks may be sync functions too (they run in a worker thread)
    ledger.append(f"cancelled flight to {city}")


@floe.task(rollback=cancel_flight)
async def book_flight(city: str) -> str:
    ledger.append(f"booked flight to {city}")
    return f"flight-{city.lower()}"


async def release_hold(amount: int) -> None:
    ledger.append(f"released the hold of {amount} on the card")


@floe.task(rollback=release_hold)
async def charge_card(amount: int) -> str:
    if amount > 1000:
        raise CardDeclined(f"card declined: {amount} is over the limit")
    ledger.append(f"charged {amount}")
    return f"payment-{amount}"


@floe.workflow
async def trip(amount: int) -> list[str]:
    hotel = await book_hotel(CITY, 3)
    flight = await book_flight(CITY)
    # If this raises, the workflow fails: floe runs charge_card's rollback (the task
    # failed for good), then the rollbacks of the completed steps in reverse order, each
    # journaled as task.rolled_back, and records run.failed last.
    payment = await charge_card(amount)
    return [hotel, flight, payment]


async def main(amount: int) -> None:
    # memory:// keeps the runs in this process only; floe run uses the default store
    async with floe.open_kernel(store="memory://"):
        execution = await trip.run_async(amount)
    print("\n".join(ledger))
    if execution.failed:
        assert execution.error is not None
        kind = execution.error.type.rpartition(".")[2]
        print(f"failed: {kind}: {execution.error.message}")
    else:
        print(f"{execution.status}: {', '.join(execution.output)}")
    rolled_back = [
        f"{event.step} ({event.data['reason']})"
        for event in execution.events
        if event.kind == "task.rolled_back"
    ]
    print(f"rolled back: {', '.join(rolled_back) or 'nothing'}")


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 1500, backend="trio")
