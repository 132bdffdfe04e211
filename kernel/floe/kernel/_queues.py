"""Queues: named lanes of submitted runs, with limits workers keep together.

A run names its queue (``default`` unless submitted with ``wf.queued(queue)``), a
priority (higher is claimed first) and, optionally, a partition key: runs of one queue
with the same key run one at a time, in the order they were submitted. A queue's limits
are stored in the store (:mod:`._queue_limits`), so that every worker on that store
keeps the same ones, with no coordinator but the store:

- ``concurrency``: how many of the queue's runs execute at once, across all workers;
- ``worker_concurrency``: how many of them one worker executes at once;
- ``rate_limit`` per ``rate_period`` seconds: how many of its runs start in any window
  of that length (a run starts when a worker first claims it; resuming it later after a
  sleep or a crash is no new start).

The limits are kept where runs are claimed (:meth:`Store.claim_runs`), in the claim's
transaction: a store counts the queue's live leases and recent starts under the same
lock that hands the runs out, so no interleaving of workers exceeds them. The functions
at the end of this module are the selection every store shares.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import attrs

from ._errors import ConfigError
from ._models import FORMAT_VERSION, Run

__all__ = [
    "DEFAULT_PLACEMENT",
    "DEFAULT_QUEUE",
    "MAX_PRIORITY",
    "Placement",
    "Queue",
    "QueueUsage",
    "check_claim_queues",
    "check_partition_key",
    "check_priority",
    "check_queue_name",
    "claim_budgets",
    "claimable_now",
    "fill_claims",
    "lease_claimed",
    "partition_heads",
    "pick_claims",
    "queue_usage",
]

DEFAULT_QUEUE: Final = "default"
"""The queue of a run submitted without one."""
MAX_PRIORITY: Final = 2**31 - 1
"""Priorities run from ``-MAX_PRIORITY`` to ``MAX_PRIORITY`` (a 32-bit integer)."""
MAX_PARTITION_KEY_LENGTH: Final = 200
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def check_queue_name(name: object) -> str:
    """*name* if it is a valid queue name, else a :class:`ConfigError`."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(
            f"Invalid queue name {name!r}",
            why="A queue name is 1 to 100 letters, digits, '_', '.' or '-', starting "
            "with a letter or digit.",
            fix="Choose a name such as 'emails' or 'reports.daily'.",
            context={"queue": name if isinstance(name, str) else repr(name)},
        )
    return name


def check_priority(priority: object) -> int:
    """*priority* if it is a valid priority, else a :class:`ConfigError`."""
    if type(priority) is not int or not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
        raise ConfigError(
            f"Invalid priority {priority!r}",
            why=f"A priority is a whole number from {-MAX_PRIORITY} to {MAX_PRIORITY}; "
            "higher is claimed first.",
            fix="Pass an int such as priority=10 (0 is the default).",
        )
    return priority


def check_partition_key(key: object) -> str | None:
    """*key* if it is a valid partition key (or None), else a :class:`ConfigError`."""
    if key is None:
        return None
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_PARTITION_KEY_LENGTH:
        raise ConfigError(
            f"Invalid partition key {key!r}",
            why=f"A partition key is a string of 1 to {MAX_PARTITION_KEY_LENGTH} "
            "characters; runs of a queue with the same key run one at a time, in order.",
            fix="Pass a short string such as a customer id, or None.",
        )
    if "\x00" in key:
        raise ConfigError(
            "Invalid partition key: it holds a NUL character",
            why="Not every store can keep NUL in a text column.",
            fix="Remove the NUL character from the key.",
        )
    return key


def _check_limit(name: str, value: object) -> None:
    if value is not None and (type(value) is not int or value < 1):
        raise ConfigError(
            f"Invalid queue {name} {value!r}",
            why="A queue limit is a whole number >= 1, or None for no limit.",
            fix=f"Pass {name} as an int >= 1, or leave it out.",
        )


def _check_rate(rate_limit: object, rate_period: object) -> None:
    _check_limit("rate_limit", rate_limit)
    if (rate_limit is None) != (rate_period is None):
        raise ConfigError(
            "A queue's rate limit needs both rate_limit and rate_period",
            why="The limit is rate_limit starts in any window of rate_period seconds.",
            fix="Pass both (e.g. rate_limit=10, rate_period=60), or neither.",
        )
    if rate_period is not None and (
        isinstance(rate_period, bool)
        or not isinstance(rate_period, int | float)
        or not 0.001 <= rate_period <= 366 * 86400
    ):
        raise ConfigError(
            f"Invalid queue rate_period {rate_period!r}",
            fix="Pass rate_period as a number of seconds from 0.001 to 366 days.",
        )


@attrs.frozen
class Queue:
    """The limits of the queue *name*; None is no limit. See the module's description."""

    name: str
    concurrency: int | None = None
    worker_concurrency: int | None = None
    rate_limit: int | None = None
    rate_period: float | None = None
    format: int = FORMAT_VERSION

    def __attrs_post_init__(self) -> None:
        check_queue_name(self.name)
        _check_limit("concurrency", self.concurrency)
        _check_limit("worker_concurrency", self.worker_concurrency)
        _check_rate(self.rate_limit, self.rate_period)

    @property
    def limited(self) -> bool:
        """Whether any limit is set (a claim must count this queue's runs)."""
        return (
            self.concurrency is not None
            or self.worker_concurrency is not None
            or self.rate_limit is not None
        )


@attrs.frozen
class Placement:
    """Where a submitted run waits: its queue, priority and partition key (checked)."""

    queue: str = DEFAULT_QUEUE
    priority: int = 0
    partition_key: str | None = None

    def __attrs_post_init__(self) -> None:
        check_queue_name(self.queue)
        check_priority(self.priority)
        check_partition_key(self.partition_key)

    def fields(self) -> dict[str, Any]:
        """The :class:`Run` fields of this placement."""
        return {"queue": self.queue, "priority": self.priority, "partition_key": self.partition_key}


DEFAULT_PLACEMENT: Final = Placement()
"""The default queue, priority 0, no partition."""


# -- claiming within the limits (shared by every store) --------------------------------


@attrs.frozen
class QueueUsage:
    """What a limited queue has in use at the moment of a claim."""

    running: int = 0
    """Its runs with a live lease (of any worker)."""
    running_here: int = 0
    """Of those, the ones the claiming worker holds."""
    started: int = 0
    """Its runs first claimed within the last ``rate_period`` seconds."""


def claim_budgets(limits: Iterable[Queue], usage: Mapping[str, QueueUsage]) -> dict[str, int]:
    """How many more runs of each limited queue one claim may take (0: none)."""
    budgets: dict[str, int] = {}
    for queue in limits:
        if not queue.limited:
            continue
        used = usage.get(queue.name, QueueUsage())
        room = [
            limit - count
            for limit, count in (
                (queue.concurrency, used.running),
                (queue.worker_concurrency, used.running_here),
                (queue.rate_limit, used.started),
            )
            if limit is not None
        ]
        budgets[queue.name] = max(0, min(room))
    return budgets


def fill_claims(
    fetch: Callable[[frozenset[str], int], Sequence[Run]],
    lease: Callable[[list[Run]], list[Run]],
    budgets: dict[str, int],
    limit: int,
) -> list[Run]:
    """Claim up to *limit* runs within *budgets*, in the store's claim order.

    ``fetch(exhausted, count)`` returns up to *count* claimable runs, best first,
    leaving out the queues in *exhausted*; ``lease(runs)`` leases them and returns them
    leased. Both run in the claim's transaction. A fetched run of a queue whose budget
    is spent is passed over, and the next round fetches without that queue: each such
    round spends a queue, so there are at most ``len(budgets) + 1`` rounds.
    """
    claimed: list[Run] = []
    for _ in range(len(budgets) + 1):
        wanted = limit - len(claimed)
        exhausted = frozenset(name for name, left in budgets.items() if left <= 0)
        fetched = fetch(exhausted, wanted)
        taken = pick_claims(fetched, budgets, wanted)
        if taken:
            claimed.extend(lease(taken))
        if len(taken) == len(fetched) or len(claimed) >= limit:
            break  # nothing passed over: there is no more to find
    return claimed


def pick_claims(candidates: Iterable[Run], budgets: dict[str, int], limit: int) -> list[Run]:
    """The first *limit* of *candidates* (best first) that *budgets* allow; the budgets
    of the queues taken from are spent accordingly."""
    taken: list[Run] = []
    for run in candidates:
        if len(taken) >= limit:
            break
        left = budgets.get(run.queue)
        if left is not None:
            if left <= 0:
                continue
            budgets[run.queue] = left - 1
        taken.append(run)
    return taken


def claimable_now(run: Run, now: datetime, queues: Collection[str] | None) -> bool:
    """Whether *run* may be claimed at *now* from *queues* (None: any), leaving its
    partition aside (:func:`partition_heads`): it is due, no other run's child (its
    parent's replay executes a child) and has no live lease."""
    return (
        run.runnable_at is not None
        and run.runnable_at <= now
        and run.parent_id is None
        and (run.lease_expires_at is None or run.lease_expires_at <= now)
        and (queues is None or run.queue in queues)
    )


def lease_claimed(run: Run, owner: str, expires: datetime, now: datetime) -> Run:
    """*run* as a claim leaves it: leased to *owner*, started at its first claim."""
    return attrs.evolve(
        run,
        lease_owner=owner,
        lease_expires_at=expires,
        claimed_at=run.claimed_at if run.claimed_at is not None else now,
    )


def partition_heads(runs: Iterable[Run]) -> set[str]:
    """The ids of the runs of *runs* (in submission order) that may run now as far as
    their partition goes: those with no key, and each partition's first unfinished run."""
    heads: set[str] = set()
    busy: set[tuple[str, str]] = set()
    for run in runs:
        if run.partition_key is None:
            heads.add(run.run_id)
            continue
        partition = (run.queue, run.partition_key)
        if partition in busy or run.status.finished:
            continue
        busy.add(partition)
        heads.add(run.run_id)
    return heads


def queue_usage(
    runs: Iterable[Run], limits: Iterable[Queue], owner: str, now: datetime
) -> dict[str, QueueUsage]:
    """:class:`QueueUsage` of each limited queue of *limits*, counted over *runs* (for a
    store that holds its runs in memory; a database counts with a query)."""
    limited = {queue.name: queue for queue in limits if queue.limited}
    counts: dict[str, list[int]] = {name: [0, 0, 0] for name in limited}
    for run in runs:
        queue = limited.get(run.queue)
        if queue is None or run.parent_id is not None:
            continue
        count = counts[run.queue]
        if run.lease_expires_at is not None and run.lease_expires_at > now:
            count[0] += 1
            count[1] += run.lease_owner == owner
        if (
            queue.rate_period is not None
            and run.claimed_at is not None
            and run.claimed_at > now - timedelta(seconds=queue.rate_period)
        ):
            count[2] += 1
    return {name: QueueUsage(*count) for name, count in counts.items()}


def check_claim_queues(
    queues: Collection[str] | None, queue_limits: Sequence[Queue]
) -> tuple[frozenset[str] | None, list[Queue]]:
    """The arguments of :meth:`Store.claim_runs` checked: the queue names as a set (None:
    every queue) and the limits that concern them."""
    names = None
    if queues is not None:
        if isinstance(queues, str):
            raise ConfigError(
                f"claim_runs(queues={queues!r}) takes a collection of queue names",
                fix=f"Pass queues=[{queues!r}].",
            )
        names = frozenset(check_queue_name(name) for name in queues)
    for queue in queue_limits:
        if not isinstance(queue, Queue):
            raise ConfigError(
                f"claim_runs(queue_limits=...) takes floe.Queue objects, not "
                f"{type(queue).__name__}",
                fix="Pass the queues of floe.list_queues().",
            )
    relevant = [
        queue for queue in queue_limits if queue.limited and (names is None or queue.name in names)
    ]
    return names, relevant
