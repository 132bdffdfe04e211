"""The store protocol: where runs, journals, cached results, snapshots and values live.

A store is an async context manager (open on enter, close on exit). Stores are
provided by plugins through ``floe_open_store(url)``; every implementation passes the
contract suite in :mod:`floe.testing`.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, ClassVar, Final, Self, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import anyio
import attrs

from ._errors import (
    ConfigError,
    FloeError,
    NotFoundError,
    PersistenceError,
    RunLeasedError,
    SequenceConflictError,
)
from ._models import CacheEntry, Event, Run, RunListing, RunQuery, RunStatus, Snapshot, utcnow
from ._queues import Queue, check_claim_queues, lease_claimed

__all__ = [
    "MAX_VALUE_KEY_LENGTH",
    "Store",
    "StoreURL",
    "after_cursor",
    "check_append",
    "check_keep_last",
    "check_limit",
    "check_namespace",
    "check_run_id_prefix",
    "check_value",
    "check_value_key",
    "lease_held",
    "lease_live",
    "no_such_cursor",
    "no_such_run",
    "run_counts",
]

T = TypeVar("T")

MAX_VALUE_KEY_LENGTH: Final = 1024
"""The longest key (in characters) of the key-value capability."""

# lower case only: the JSON store makes a namespace a folder, and folder names that
# differ only in case are one folder on macOS and Windows
_NAMESPACE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_PAGE: Final = 500
"""Runs read per list_runs() call where a default method reads them all."""


@attrs.frozen
class StoreURL:
    """A parsed store URL: ``scheme://[host]/path?key=value``.

    ``sqlite:///.floe/floe.db`` has the relative path ``.floe/floe.db``;
    ``sqlite:////var/lib/floe.db`` the absolute path ``/var/lib/floe.db``.
    """

    raw: str
    scheme: str
    host: str
    path: str
    query: Mapping[str, str]

    @classmethod
    def parse(cls, url: str) -> StoreURL:
        if not isinstance(url, str) or "://" not in url:
            raise ConfigError(
                f"Malformed store URL {url!r}",
                why="A store URL names its backend by scheme, as in 'sqlite:///.floe/floe.db'.",
                fix="Use memory://, sqlite:///PATH, json:///DIR or a scheme a plugin provides.",
                context={"url": url},
            )
        parts = urlsplit(url)
        if not parts.scheme:
            raise ConfigError(
                f"Malformed store URL {url!r}: no scheme",
                fix="Start the URL with a scheme, e.g. 'sqlite:///.floe/floe.db'.",
                context={"url": url},
            )
        path = unquote(parts.path)
        # the slash after the (empty) authority is a separator: "///rel" is relative,
        # "////abs" absolute
        if path.startswith("/"):
            path = path[1:]
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        return cls(raw=url, scheme=parts.scheme.lower(), host=parts.netloc, path=path, query=query)

    def option(self, key: str, choices: Sequence[str], default: str) -> str:
        """A query option restricted to *choices* (case-insensitive)."""
        value = self.query.get(key, default).lower()
        if value not in choices:
            raise ConfigError(
                f"Invalid {key}={self.query.get(key)!r} in store URL {self.raw!r}",
                why=f"{key} must be one of: {', '.join(choices)}.",
                fix=f"Use ?{key}={default} or leave the option out.",
                context={"url": self.raw},
            )
        return value

    def reject_unknown_options(self, known: Sequence[str]) -> None:
        unknown = sorted(set(self.query) - set(known))
        if unknown:
            raise ConfigError(
                f"Unknown option {unknown[0]!r} in store URL {self.raw!r}",
                why=f"The {self.scheme} store understands: {', '.join(known) or 'no options'}.",
                fix="Remove the option or correct its spelling.",
                context={"url": self.raw},
            )


class Store(abc.ABC):
    """The persistence contract shared by every backend.

    Methods are async and run their blocking I/O off the event loop. A store is used
    as ``async with store: ...``; :meth:`open` and :meth:`close` do the work.
    """

    url: str = ""
    supports_leases: ClassVar[bool] = False
    """Whether :meth:`claim_runs` and friends work (multi-worker backends)."""
    groups_appends: ClassVar[bool] = False
    """Whether appends that arrive together cost less as one: the store commits
    concurrent :meth:`append_events` calls in one transaction (group commit). The kernel
    then sends writers that meet at their checkpoint to :meth:`append_events` rather than
    to :meth:`append_events_nowait` one by one (see :meth:`floe.Kernel.arrive`)."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Connect, create or migrate the schema. Default: nothing to do."""
        await anyio.lowlevel.checkpoint()

    async def close(self) -> None:
        """Flush and release every resource. Default: nothing to do."""
        await anyio.lowlevel.checkpoint()

    # -- runs and their journals ----------------------------------------------------------

    @abc.abstractmethod
    async def create_run(self, run: Run) -> None:
        """Store a new run; a run with the same id is a :class:`PersistenceError`."""

    @abc.abstractmethod
    async def get_run(self, run_id: str) -> Run | None:
        """The run with ``last_seq`` filled in, or None."""

    @abc.abstractmethod
    async def update_run(self, run: Run) -> None:
        """Replace a stored run's record (the journal is untouched)."""

    @abc.abstractmethod
    async def append_events(
        self, run_id: str, events: Sequence[Event], *, run: Run | None = None
    ) -> None:
        """Append *events* to the run's journal atomically, with *run* updated in the same
        transaction when given.

        The first event's ``seq`` must be the journal's last ``seq`` plus one and the rest
        must follow without gaps; otherwise another writer got there first and the call
        raises :class:`SequenceConflictError`, appending nothing.
        """

    def append_events_nowait(
        self, run_id: str, events: Sequence[Event], *, run: Run | None = None
    ) -> bool:
        """Append as :meth:`append_events` does, at once, if this store can without blocking.

        Returns False, appending nothing, when it cannot: the caller then awaits
        :meth:`append_events`. Only a store whose writes are plain memory operations
        overrides this (the memory store); the default never appends.
        """
        return False

    async def append_events_grouped(
        self, run_id: str, events: Sequence[Event], *, run: Run | None = None
    ) -> None:
        """Append as :meth:`append_events` does, for a writer that reached its checkpoint
        together with others (:meth:`floe.Kernel.record_grouped`).

        A store that groups appends (:attr:`groups_appends`) sends the call straight to
        its group commit, whose wait is the call's checkpoint, instead of checkpointing
        again to find out whether the writer is alone. The default is
        :meth:`append_events`.
        """
        await self.append_events(run_id, events, run=run)

    @abc.abstractmethod
    async def read_events(
        self, run_id: str, *, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        """The run's events with ``seq > after_seq``, in order."""

    @abc.abstractmethod
    async def list_runs(self, query: RunQuery = RunQuery()) -> list[Run]:
        """Runs matching *query*, newest first (ties: most recently created first).

        The order is total, so that ``query.after`` (a run id: only the runs after it)
        pages through it; an ``after`` run missing from the store is a
        :class:`NotFoundError` (:func:`no_such_cursor`). A damaged record fails the whole
        call with a :class:`PersistenceError`.
        """

    async def list_runs_checked(self, query: RunQuery = RunQuery()) -> RunListing:
        """Runs matching *query*, as :meth:`list_runs`, with damaged records reported.

        A record that cannot be read (damaged, or written by a newer floe) is left out of
        ``runs`` and described in ``damaged`` as a :class:`DamagedRecord`, so that one bad
        record does not hide the others. A damaged record is reported whenever the store
        cannot tell that it does not match the query; where the store pages in its
        database (SQLite), it takes its place in the page. The default, for stores that
        cannot read records one by one, is :meth:`list_runs` with nothing reported.
        """
        return RunListing(runs=tuple(await self.list_runs(query)))

    async def find_run_ids(self, prefix: str, *, limit: int = 10) -> list[str]:
        """The ids of the runs whose id starts with *prefix*: at most *limit*, sorted.

        How a shortened run id is looked up (``floe status 4f0c``). Ids sort by code point;
        an id equal to *prefix* is among them. This default reads every run through
        :meth:`list_runs`; a store that can look ids up by range overrides it.
        """
        check_run_id_prefix(prefix)
        check_limit(limit)
        found: set[str] = set()
        query = RunQuery(limit=_PAGE)
        while True:
            page = await self.list_runs(query)
            found.update(run.run_id for run in page if run.run_id.startswith(prefix))
            if len(page) < query.limit:
                return sorted(found)[:limit]
            query = attrs.evolve(query, offset=query.offset + len(page))

    async def count_runs(self) -> dict[tuple[RunStatus, str], int]:
        """How many runs the store holds, by status and queue: ``{(status, queue): n}``,
        only the pairs that have runs.

        What a monitor reads (the server's ``/metrics``): exact however many runs there
        are. This default pages through :meth:`list_runs_checked` and leaves out the
        records it cannot read; a store that can count in its database overrides it
        (counting its status and queue columns, so a record whose document is damaged
        is counted there).
        """
        counts: dict[tuple[RunStatus, str], int] = {}
        query = RunQuery(limit=_PAGE)
        while True:
            listing = await self.list_runs_checked(query)
            for run in listing.runs:
                key = (run.status, run.queue)
                counts[key] = counts.get(key, 0) + 1
            if len(listing.runs) + len(listing.damaged) < query.limit or not listing.runs:
                return counts
            query = attrs.evolve(query, after=listing.runs[-1].run_id)

    # -- the task-result cache ------------------------------------------------------------

    @abc.abstractmethod
    async def get_cached(self, key: str) -> CacheEntry | None:
        """The entry under *key*, or None when missing or expired."""

    @abc.abstractmethod
    async def put_cached(self, entry: CacheEntry) -> None:
        """Store or replace the entry under ``entry.key``."""

    # -- component snapshots --------------------------------------------------------------

    @abc.abstractmethod
    async def save_snapshot(self, snapshot: Snapshot) -> int:
        """Store a snapshot; return its id (increasing with insertion order)."""

    @abc.abstractmethod
    async def latest_snapshot(self, component: str) -> Snapshot | None:
        """The newest snapshot of *component* (ties: the last inserted), or None."""

    @abc.abstractmethod
    async def list_snapshots(self, component: str, *, limit: int = 10) -> list[Snapshot]:
        """Snapshots of *component*, newest first (ties: the last inserted first)."""

    @abc.abstractmethod
    async def prune_snapshots(self, component: str, *, keep_last: int = 10) -> int:
        """Delete all but the newest *keep_last* snapshots; return how many went."""

    # -- plugin values: a small key-value space per namespace -----------------------------

    @abc.abstractmethod
    async def get_value(self, namespace: str, key: str) -> bytes | None:
        """The bytes stored under (*namespace*, *key*), or None.

        The key-value capability is for plugins' own state (the ``secrets`` namespace
        holds the secret store's ciphertexts). Every method validates its arguments with
        :func:`check_namespace`, :func:`check_value_key` and :func:`check_value`, so a
        bad namespace, key or value is a :class:`ConfigError` in every store.
        """

    @abc.abstractmethod
    async def put_value(self, namespace: str, key: str, value: bytes) -> None:
        """Store *value* under (*namespace*, *key*), replacing what was there."""

    @abc.abstractmethod
    async def delete_value(self, namespace: str, key: str) -> bool:
        """Delete the value under (*namespace*, *key*); False when there was none."""

    @abc.abstractmethod
    async def list_keys(self, namespace: str) -> list[str]:
        """Every key of *namespace*, sorted (by code point, as Python sorts strings)."""

    # -- leases for workers (optional) ----------------------------------------------------

    async def claim_runs(
        self,
        owner: str,
        *,
        limit: int = 1,
        lease_seconds: float = 30.0,
        now: datetime | None = None,
        queues: Collection[str] | None = None,
        queue_limits: Sequence[Queue] = (),
    ) -> list[Run]:
        """Lease up to *limit* runnable runs of *queues* (None: every queue) to *owner*:
        the highest priority first, then the longest due, then the first submitted.

        A run is claimable when it is due (``runnable_at <= now``), is no other run's
        child (a child run is executed by its parent's replay), has no live lease (a
        submitted run nobody started, or an unfinished one whose executor is gone) and
        is the first unfinished run of its partition (its queue and partition key),
        when it has a key. The claim keeps *queue_limits*: a limited queue gives no more
        runs than its concurrency (live leases of its runs), worker concurrency (those
        *owner* holds) and rate limit (runs first claimed within its period) leave room
        for. A run's first claim sets its ``claimed_at``. Atomic across every process
        sharing the store: each run goes to one claimer, and the limits hold however
        claims interleave. The helpers of :mod:`floe.storage` make the selection.
        """
        raise self._unsupported("claim_runs")

    async def wait_for_runnable(self) -> None:
        """Return when a run may have become claimable: one was submitted, released or
        made due. The caller bounds the wait by cancelling it.

        What an idle worker waits on between two :meth:`claim_runs`, beside its poll
        interval. A store that can tell (PostgreSQL's ``LISTEN``) returns as soon as a
        run becomes claimable, so that it starts within milliseconds; returning early is
        always allowed (the worker claims again). The default never returns: the worker
        polls. Cancellation must stop the wait promptly.
        """
        await anyio.sleep_forever()

    async def acquire_lease(
        self,
        run_id: str,
        owner: str,
        *,
        lease_seconds: float = 30.0,
        now: datetime | None = None,
    ) -> Run:
        """Lease the run *run_id* to *owner*, to execute it, whatever its ``runnable_at``.

        Succeeds when the run has no live lease or *owner* holds it already, and returns
        the run as stored with the lease; raises :class:`RunLeasedError` (built by
        :func:`lease_held`) when another owner's lease is live, :class:`NotFoundError`
        when there is no such run. Atomic, like :meth:`claim_runs`.
        """
        raise self._unsupported("acquire_lease")

    async def renew_lease(self, run_id: str, owner: str, *, lease_seconds: float = 30.0) -> bool:
        """Extend *owner*'s lease; False when the lease was lost."""
        raise self._unsupported("renew_lease")

    async def release_lease(self, run_id: str, owner: str) -> None:
        """Give up *owner*'s lease on the run."""
        raise self._unsupported("release_lease")

    def _unsupported(self, method: str) -> FloeError:
        return FloeError(
            f"The store {self.url or type(self).__name__} does not support {method}()",
            why="Leases are for stores shared by several workers.",
            fix="Check Store.supports_leases before claiming runs, or use a store that has it.",
        )


def check_append(
    run_id: str,
    events: Sequence[Event],
    last_seq: int | None,
    *,
    where: str,
    run: Run | None = None,
) -> None:
    """The validation every store does before appending, on the whole batch.

    The run exists; *run* (the record written with the events), when given, is that
    run's; every event belongs to the run; the first ``seq`` follows the journal's last
    (a lower one means another writer appended first: :class:`SequenceConflictError`)
    and the others follow it one by one. Anything else is a :class:`PersistenceError`.
    A store calls this before writing anything, so a refused batch appends nothing.
    """
    if last_seq is None:
        raise NotFoundError(
            f"Cannot append to run {run_id!r}: it does not exist in {where}",
            fix="Create the run with create_run() first.",
            context={"run_id": run_id},
        )
    if run is not None and run.run_id != run_id:
        raise PersistenceError(
            f"Cannot append to run {run_id!r} with the record of run {run.run_id!r}",
            fix="Pass the record of the run whose journal you append to.",
            context={"run_id": run_id},
        )
    if not events:
        return
    first = events[0].seq
    for offset, event in enumerate(events):
        if event.run_id != run_id:
            raise PersistenceError(
                f"Event {event.kind!r} (seq {event.seq}) belongs to run {event.run_id!r}, "
                f"not {run_id!r}",
                why="A batch is appended to one run's journal.",
                fix="Append each run's events to that run.",
                context={"run_id": run_id, "other_run_id": event.run_id},
            )
        if event.seq != first + offset:
            raise _out_of_sequence(run_id, events, offset)
    if first != last_seq + 1:
        conflict = first <= last_seq
        raise (SequenceConflictError if conflict else PersistenceError)(
            f"Journal of run {run_id!r} is at seq {last_seq}; cannot append seq {first}",
            why="Another writer appended first."
            if conflict
            else "Sequence numbers must follow on without gaps.",
            fix="Reload the run's journal and continue from its last event.",
            context={"run_id": run_id, "expected_seq": last_seq + 1, "got_seq": first},
        )


def no_such_run(run_id: str, where: str) -> NotFoundError:
    """The error of a store method given a run that does not exist in *where*."""
    return NotFoundError(
        f"Run {run_id!r} does not exist in {where}",
        fix="Create the run with create_run() first.",
        context={"run_id": run_id},
    )


def no_such_cursor(run_id: str, where: str) -> NotFoundError:
    """The error of :meth:`Store.list_runs` given ``after=run_id`` not in *where*."""
    return NotFoundError(
        f"Cursor run {run_id!r} does not exist in {where}",
        why="RunQuery.after names the last run of the previous page, and the listing goes "
        "on from where that run is; a run the store does not hold has no place in it.",
        fix="Pass the run_id of the last run a listing of this store returned, or start "
        "again from the first page with after=None.",
        context={"after": run_id, "store": where},
    )


def after_cursor(
    ordered: Sequence[T], after: str | None, run_id: Callable[[T], str], *, where: str
) -> Sequence[T]:
    """The items of *ordered* (every run, in the listing's order) after the run *after*.

    All of them when *after* is None; filter the result, then apply the offset and limit.
    A store that sorts its runs in Python pages with this; the run must be among them.
    """
    if after is None:
        return ordered
    for index, item in enumerate(ordered):
        if run_id(item) == after:
            return ordered[index + 1 :]
    raise no_such_cursor(after, where)


def run_counts(rows: Iterable[tuple[str, str, int]]) -> dict[tuple[RunStatus, str], int]:
    """What :meth:`Store.count_runs` returns, from a database's ``(status, queue, count)``
    rows; a status this floe does not know (a newer floe's) is left out."""
    known = {str(status): status for status in RunStatus}
    return {(known[status], queue): int(count) for status, queue, count in rows if status in known}


def lease_live(run: Run, owner: str, now: datetime) -> bool:
    """Whether an owner other than *owner* holds a lease on *run* that is live at *now*."""
    return (
        run.lease_owner is not None
        and run.lease_owner != owner
        and run.lease_expires_at is not None
        and run.lease_expires_at > now
    )


def lease_held(run: Run, where: str) -> RunLeasedError:
    """The error of :meth:`Store.acquire_lease` for a run another owner holds."""
    expires = run.lease_expires_at.isoformat() if run.lease_expires_at else "never"
    return RunLeasedError(
        f"Run {run.run_id!r} is being executed by {run.lease_owner} (leased until {expires})",
        why="A run has one executor at a time; the process that holds its lease renews it "
        "while it runs.",
        fix="Wait for it to finish ('floe status RUN_ID'); if that process is gone, its "
        "lease expires on its own and the run can be executed again then.",
        context={"run_id": run.run_id, "owner": run.lease_owner, "store": where},
    )


def _out_of_sequence(run_id: str, events: Sequence[Event], offset: int) -> PersistenceError:
    """A batch whose events do not number one after the other (a bug of the writer)."""
    expected = events[0].seq + offset
    got = events[offset].seq
    if any(event.seq == got for event in events[:offset]):
        problem = f"repeats seq {got}"
    elif got < expected:
        problem = f"is out of order: seq {got} comes after seq {events[offset - 1].seq}"
    else:
        problem = f"has a gap: seq {got} where {expected} should be"
    return PersistenceError(
        f"The batch of {len(events)} events for run {run_id!r} {problem}",
        why="The events of one append must number one after the other; nothing of the "
        "batch was appended.",
        fix="Number a batch's events consecutively from the journal's last seq plus one.",
        context={"run_id": run_id, "expected_seq": expected, "got_seq": got},
    )


def check_keep_last(keep_last: Any) -> int:
    if type(keep_last) is not int or keep_last < 1:
        raise ConfigError(
            f"Invalid keep_last={keep_last!r} for prune_snapshots()",
            why="Pruning keeps at least the newest snapshot.",
            fix="Pass keep_last as a whole number >= 1.",
        )
    return keep_last


def check_run_id_prefix(prefix: Any) -> str:
    """Validate the *prefix* of :meth:`Store.find_run_ids` (a non-empty str); return it."""
    if not isinstance(prefix, str) or not prefix:
        raise ConfigError(
            f"Invalid run id prefix {prefix!r}",
            why="find_run_ids() looks up the runs whose id starts with a non-empty string.",
            fix="Pass the first characters of a run id, e.g. '4f0c'.",
        )
    return prefix


def check_limit(limit: Any, *, name: str = "limit") -> int:
    if type(limit) is not int or limit < 1:
        raise ConfigError(
            f"Invalid {name}={limit!r}",
            fix=f"Pass {name} as a whole number >= 1.",
        )
    return limit


def check_namespace(namespace: Any) -> str:
    """Validate a namespace of the key-value capability; return it.

    A namespace is 1-64 characters of lower-case letters, digits, ``_``, ``.`` and
    ``-``, starting with a letter or digit: backends may make it a column value, a
    folder or a key prefix.
    """
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
        raise ConfigError(
            f"Invalid value namespace {namespace!r}",
            why="A namespace is 1-64 characters of lower-case letters, digits, '_', '.' and "
            "'-', starting with a letter or digit.",
            fix="Use a short fixed name for your plugin's values, e.g. 'secrets'.",
            context={"namespace": namespace},
        )
    return namespace


def check_value_key(namespace: Any, key: Any) -> tuple[str, str]:
    """Validate a namespace (:func:`check_namespace`) and a key; return them.

    A key is any non-empty string of at most :data:`MAX_VALUE_KEY_LENGTH` characters
    without NUL characters or lone surrogates, so that every backend (SQLite, files,
    PostgreSQL text) holds it exactly.
    """
    check_namespace(namespace)
    if not isinstance(key, str) or not key:
        raise ConfigError(
            f"Invalid key {key!r} in value namespace {namespace!r}",
            why="A key is a non-empty string.",
            fix="Pass the key as a non-empty str.",
            context={"namespace": namespace},
        )
    problem = None
    if len(key) > MAX_VALUE_KEY_LENGTH:
        problem = f"it has {len(key)} characters, more than {MAX_VALUE_KEY_LENGTH}"
    elif "\x00" in key:
        problem = "it holds a NUL character"
    else:
        try:
            key.encode("utf-8")
        except UnicodeEncodeError:
            problem = "it holds a lone surrogate, which has no UTF-8 form"
    if problem is not None:
        raise ConfigError(
            f"Invalid key in value namespace {namespace!r}: {problem}",
            why="Keys must be storable exactly by every backend.",
            fix=f"Use a key of at most {MAX_VALUE_KEY_LENGTH} characters of ordinary text.",
            context={"namespace": namespace, "key": key[:80]},
        )
    return namespace, key


def check_value(namespace: str, key: str, value: Any) -> bytes:
    """Validate a value of the key-value capability: it must be ``bytes``."""
    if type(value) is not bytes:
        raise ConfigError(
            f"Invalid value for key {key!r} in namespace {namespace!r}: "
            f"a {type(value).__name__}, not bytes",
            why="The key-value capability stores bytes, exactly as given.",
            fix="Encode the value yourself, e.g. text.encode() or floe.storage.dump_json(data).",
            context={"namespace": namespace, "key": key},
        )
    return value


@attrs.frozen
class ClaimRequest:
    """One call of :meth:`Store.claim_runs`, its arguments checked (see
    :func:`claim_request`)."""

    owner: str
    limit: int
    now: datetime
    expires: datetime
    """When the leases of the runs claimed run out."""
    queues: frozenset[str] | None
    """The queues to claim from (None: every queue)."""
    limits: list[Queue]
    """The limited queues among them."""

    @property
    def claims_nothing(self) -> bool:
        """Whether no queue is named, so that no run can be claimed."""
        return self.queues is not None and not self.queues

    def lease(self, run: Run) -> Run:
        """*run* as this claim leaves it: leased to the owner, started at its first claim."""
        return lease_claimed(run, self.owner, self.expires, self.now)


def claim_request(
    owner: str,
    limit: Any,
    lease_seconds: float,
    now: datetime | None,
    queues: Collection[str] | None,
    queue_limits: Sequence[Queue],
) -> ClaimRequest:
    """The arguments of :meth:`Store.claim_runs` checked, as one :class:`ClaimRequest`: a
    bad limit, queue name or queue limit is a :class:`ConfigError`; *now* defaults to now."""
    check_limit(limit)
    names, limits = check_claim_queues(queues, queue_limits)
    now = now or utcnow()
    return ClaimRequest(owner, limit, now, now + timedelta(seconds=lease_seconds), names, limits)
