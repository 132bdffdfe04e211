"""Retries, timeouts and fallbacks: tasks that fail for a while, or for good.

Run it as a script (the runs live in memory, nothing is left behind)::

    python examples/retries_fallback.py ACME

It prints the output as JSON, then what the journal recorded::

    ["ACME: fetched on attempt 3", "ACME: 41.5 (last known price)"]
    fetch_report: 3 attempts
    retries journaled: 3
    fallbacks journaled: 1

``fetch_report`` fails twice and succeeds on its third attempt. ``live_price`` hangs
on every attempt; each one is stopped by its timeout, and when the attempts run out the
fallback answers instead. With the command line, on the default store
(``.floe/floe.db``)::

    floe run examples/retries_fallback.py:quotes --input '"ACME"'
    floe events RUN_ID      # the journal: task.retrying per failed attempt, task.fallback

The delays here are a few hundredths of a second so that the example runs quickly; real
code waits seconds (``retry_delay=1, retry_backoff=2``: 1 s, 2 s, 4 s ...).
"""

from __future__ import annotations

import json
import sys
from collections import Counter

import anyio

import floe

attempts: Counter[str] = Counter()
"""Attempts per symbol in this process (a stand-in for a service's own count)."""


@floe.task(retries=3, retry_delay=0.02, retry_backoff=2, retry_on=(ConnectionError,))
async def fetch_report(symbol: str) -> str:
    # Up to 3 more attempts after the first, waiting 0.02 s, then 0.04 s, then 0.08 s.
    # Only ConnectionError is retried: any other exception fails the step at once.
    attempts[symbol] += 1
    if attempts[symbol] < 3:
        raise ConnectionError(f"report service unavailable (attempt {attempts[symbol]})")
    return f"{symbol}: fetched on attempt {attempts[symbol]}"


def last_known_price(symbol: str) -> str:
    # A fallback is called with the task's arguments once every attempt has failed;
    # what it returns becomes the step's result (journaled like any other).
    return f"{symbol}: 41.5 (last known price)"


@floe.task(retries=1, retry_delay=0.02, timeout=0.1, fallback=last_known_price)
async def live_price(symbol: str) -> str:
    # The timeout applies to each attempt: both attempts are stopped after 0.1 s.
    await anyio.sleep(3600)  # a price service that never answers
    return f"{symbol}: live price"


@floe.workflow
async def quotes(symbol: str) -> list[str]:
    return [await fetch_report(symbol), await live_price(symbol)]


async def main(symbol: str) -> None:
    # memory:// keeps the runs in this process only; floe run uses the default store
    async with floe.open_kernel(store="memory://"):
        execution = await quotes.run_async(symbol)
    print(json.dumps(execution.output))
    print(f"fetch_report: {attempts[symbol]} attempts")
    kinds = [event.kind for event in execution.events]
    print(f"retries journaled: {kinds.count('task.retrying')}")
    print(f"fallbacks journaled: {kinds.count('task.fallback')}")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else "ACME", backend="trio")
