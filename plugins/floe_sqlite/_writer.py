"""One thread per store that owns the SQLite connection and commits writes in groups.

Callers on the event loop put a job on a queue and wait on an event. The thread takes
every job that is queued (up to a batch limit), runs the writes in ONE transaction,
commits, runs the reads, and wakes the waiters with a single call into each waiting
event loop. A lone write therefore costs one transaction, and a burst of concurrent
writes shares one commit.

A job must raise :class:`floe.FloeError` only before it has changed anything (it
validates, then writes); the batch then goes on without it. Jobs queued one after the
other with the same *combine* function (appends to many runs) run as one call of it,
which does for all of them in a few statements what each action does alone. Any other exception may
leave a job half-done, so the batch is rolled back and every write in it is retried in
a transaction of its own, which gives each caller exactly its own outcome.

A lone write may also commit at once on the caller's thread (:meth:`WriterThread.
call_nowait`), through a second connection, when that cannot wait: nothing of this
store is queued or running on the thread, no other connection holds the write lock
(that connection's busy timeout is 0) and the commit does not sync (``synchronous``
normal or off: in WAL mode SQLite then syncs only at checkpoints, which the thread
runs). Such a commit is a few page writes into the file system's cache, about as long
as one raw INSERT + COMMIT; the hop to the thread and back is two thread wake-ups,
which on a virtual machine cost ten times that.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, Final

import anyio
import anyio.lowlevel
import attrs

from floe import FloeError, PersistenceError
from floe.storage import set_from_thread

__all__ = ["Action", "WriterStatistics", "WriterThread"]

logger = logging.getLogger("floe.sqlite")

Action = Callable[..., Any]
"""``action(connection, *args) -> result``, run in the writer thread."""

Combine = Callable[[sqlite3.Connection, list[tuple[Any, ...]]], list[BaseException | None]]
"""``combine(connection, [args, ...]) -> [error or None, ...]``: the actions of several
jobs in one call, each job's error (a FloeError raised before anything of that job was
written) in its place; any other exception leaves the whole group in doubt."""

MAX_BATCH: Final = 1024
"""Most jobs taken into one batch, so that one transaction stays reasonably small."""

CHECKPOINT_EVERY: Final = 256
"""Commits made on the caller's thread after which the writer thread checkpoints the
write-ahead log (that connection never checkpoints on its own: a checkpoint syncs)."""

_WOULD_WAIT: Final = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})

# job states, changed under WriterThread._lock: the waiter and the thread race to
# decide whether a cancelled job still runs
_QUEUED: Final = 0
_RUNNING: Final = 1
_DONE: Final = 2
_ABANDONED: Final = 3


@attrs.frozen
class WriterStatistics:
    """Counters of one store's writer thread (since the store was opened)."""

    transactions: int
    """Write transactions committed: with group commit, fewer than write calls."""
    writes: int
    """Write calls run (appends, updates, snapshot saves ...)."""
    reads: int
    """Read calls run."""
    batches: int
    """Times the thread woke up and took jobs off its queue."""
    largest_batch: int
    """Most jobs handled in one batch."""
    abandoned: int
    """Jobs whose caller was cancelled before the thread started them (never run)."""
    immediate: int = 0
    """Of the writes and transactions, those committed at once on the caller's thread
    (see :meth:`WriterThread.call_nowait`)."""
    combined: int = 0
    """Of the writes, those run together with others in one combined call (appends to
    many runs in a few statements; see :data:`Combine`)."""


class _Job:
    __slots__ = (
        "action",
        "args",
        "combine",
        "done",
        "error",
        "orphaned",
        "result",
        "state",
        "token",
        "write",
    )

    def __init__(
        self,
        action: Action,
        args: tuple[Any, ...],
        write: bool,
        token: anyio.lowlevel.EventLoopToken,
        combine: Combine | None = None,
    ) -> None:
        self.action = action
        self.args = args
        self.combine = combine
        self.write = write
        self.token = token
        self.done = anyio.Event()
        self.state = _QUEUED
        self.result: Any = None
        self.error: BaseException | None = None
        self.orphaned = False
        """The waiter was cancelled while the job ran: nobody will read the outcome."""


_STOP: Final = object()
"""Queued by :meth:`WriterThread.stop`: everything before it is done, then the thread ends."""


class WriterThread:
    """The thread that owns one SQLite connection; see the module docstring."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        path: str,
        name: str,
        connect_immediate: Callable[[], sqlite3.Connection] | None = None,
    ) -> None:
        self._connect = connect
        self._connect_immediate = connect_immediate
        self._immediate: sqlite3.Connection | None = None
        """The connection :meth:`call_nowait` commits through (None: never at once)."""
        self._outstanding = 0
        """Calls waiting for the thread (changed on the event loop only)."""
        self._immediate_commits = 0
        self._combined = 0
        self._checkpointing = False
        """A checkpoint is queued or running on the thread (set here, cleared there)."""
        self._path = path
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._accepting = False
        self._opened: _Job | None = None
        self._stopped: anyio.Event | None = None
        self._stop_token: anyio.lowlevel.EventLoopToken | None = None
        self._close_error: BaseException | None = None
        self._transactions = 0
        self._writes = 0
        self._reads = 0
        self._batches = 0
        self._largest_batch = 0
        self._abandoned = 0

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    def statistics(self) -> WriterStatistics:
        return WriterStatistics(
            transactions=self._transactions,
            writes=self._writes,
            reads=self._reads,
            batches=self._batches,
            largest_batch=self._largest_batch,
            abandoned=self._abandoned,
            immediate=self._immediate_commits,
            combined=self._combined,
        )

    # -- the event-loop side -----------------------------------------------------------

    async def start(self) -> None:
        """Start the thread and wait until it has connected (or failed to)."""
        job = _Job(_connect_placeholder, (), True, anyio.lowlevel.current_token())
        self._opened = job
        self._thread.start()
        try:
            await job.done.wait()
        except BaseException:
            # cancelled while connecting: the thread must not outlive this call
            with anyio.CancelScope(shield=True):
                await job.done.wait()
                if job.error is None:
                    await self.stop()
                else:
                    await self._join()
            raise
        if job.error is not None:
            await self._join()
            error, job.error = job.error, None
            raise error
        self._accepting = True

    async def call(
        self, action: Action, *args: Any, write: bool, combine: Combine | None = None
    ) -> Any:
        """Run ``action(connection, *args)`` in the thread; return or raise its outcome.

        *combine*, for a write whose result is None, runs it together with the jobs
        queued next to it that name the same function (see :data:`Combine`).

        When the caller is cancelled, a job the thread has not started is dropped;
        one it has started completes, and an error it ends with is logged, since no
        one is left to receive it.
        """
        if not self._accepting:
            raise PersistenceError(
                f"The SQLite store {self._path} is closed",
                fix="Use the store inside 'async with store:' (or call open() first).",
                context={"database": self._path},
            )
        job = _Job(action, args, write, anyio.lowlevel.current_token(), combine)
        self._outstanding += 1
        self._queue.put(job)
        try:
            await job.done.wait()
        except BaseException:
            self._abandon(job)
            raise
        finally:
            self._outstanding -= 1
        if job.error is not None:
            error, job.error = job.error, None
            raise error
        # the thread may still hold the job: a long journal read is released with the caller
        result, job.result = job.result, None
        return result

    @property
    def would_wait(self) -> bool:
        """Whether :meth:`call_nowait` would surely raise :exc:`anyio.WouldBlock` now."""
        return (
            self._immediate is None
            or not self._accepting
            or self._outstanding > 0
            or self._checkpointing
        )

    def call_nowait(self, action: Action, *args: Any) -> Any:
        """Run the write ``action(connection, *args)`` and commit it at once, on this
        thread, if that cannot wait (see the module docstring); return its result.

        Raises :exc:`anyio.WouldBlock`, having changed nothing, when it could wait: the
        caller then awaits :meth:`call`. An error of the action is raised as
        :meth:`call` raises it, the transaction rolled back.
        """
        connection = self._immediate
        if connection is None or self.would_wait:
            raise anyio.WouldBlock
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            if getattr(error, "sqlite_errorcode", None) in _WOULD_WAIT:
                raise anyio.WouldBlock from None  # another connection is writing
            raise self._database_error(error, "starting a transaction") from error
        try:
            result = action(connection, *args)
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            self._rollback(connection)
            raise self._database_error(error, "writing") from error
        except BaseException:
            self._rollback(connection)
            raise
        # the thread writes these counters only while it runs writes, and then this
        # method refuses (calls outstanding): they never change on two threads at once
        self._immediate_commits += 1
        self._transactions += 1
        self._writes += 1
        if self._immediate_commits % CHECKPOINT_EVERY == 0:
            self._checkpoint_soon()
        return result

    def _checkpoint_soon(self) -> None:
        # nobody waits for it; until it is done, writes go to the thread (after it):
        # a checkpoint that writes overtake never catches up, and the log never restarts
        self._checkpointing = True
        job = _Job(self._checkpoint, (), False, anyio.lowlevel.current_token())
        self._queue.put(job)

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        """Copy the write-ahead log into the database, so that the log starts over."""
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            self._checkpointing = False

    def _abandon(self, job: _Job) -> None:
        with self._lock:
            if job.state == _QUEUED:
                job.state = _ABANDONED
                return
            if job.state == _RUNNING:
                job.orphaned = True
                return
        self._report_orphan(job)

    async def stop(self) -> None:
        """Finish every queued job, close the connection, end and join the thread.

        Shielded from cancellation: a store that is closing must not leave its thread
        (and possibly its last writes) behind.
        """
        with anyio.CancelScope(shield=True):
            self._accepting = False
            self._stopped = anyio.Event()
            self._stop_token = anyio.lowlevel.current_token()
            self._queue.put(_STOP)
            await self._stopped.wait()
            await self._join()
        if self._close_error is not None:
            error, self._close_error = self._close_error, None
            raise error

    async def _join(self) -> None:
        # the thread wakes us as its very last step, so this polls for microseconds:
        # joining it directly would block the event loop for as long
        while self._thread.is_alive():  # noqa: ASYNC110 - a thread's end has no event
            await anyio.sleep(0.0005)
        self._thread.join()

    # -- the thread --------------------------------------------------------------------

    def _main(self) -> None:
        opened = self._opened
        assert opened is not None
        try:
            connection = self._connect()
        except Exception as error:
            opened.error = error
            self._deliver([opened])
            return
        try:
            if self._connect_immediate is not None:
                self._immediate = self._connect_immediate()
        except Exception as error:
            connection.close()
            opened.error = error
            self._deliver([opened])
            return
        self._deliver([opened])
        try:
            self._serve(connection)
        finally:
            # the event loop no longer commits through it: calls are refused by now
            immediate, self._immediate = self._immediate, None
            try:
                if immediate is not None:
                    immediate.close()
                connection.close()
            except Exception as error:
                self._close_error = self._database_error(error, "closing the database")
            self._signal_stopped()

    def _signal_stopped(self) -> None:
        stopped, token = self._stopped, self._stop_token
        if stopped is None or token is None:
            return
        try:
            token.backend_class.run_sync_soon(stopped.set, (), token.native_token)
        except Exception:  # the waiting loop is gone: no one to wake
            pass

    def _serve(self, connection: sqlite3.Connection) -> None:
        get, get_nowait, waiting = self._queue.get, self._queue.get_nowait, self._queue.qsize
        while True:
            batch = [get()]
            # only this thread takes from the queue, so qsize() jobs are surely there
            for _ in range(min(waiting(), MAX_BATCH - 1)):
                batch.append(get_nowait())
            self._batches += 1
            if len(batch) > self._largest_batch:
                self._largest_batch = len(batch)
            if _STOP not in batch:
                self._process_safely(connection, batch)
                continue
            stop = batch.index(_STOP)
            self._process_safely(connection, batch[:stop])
            # nothing may be queued after the stop: calls are refused once it is sent
            leftovers = batch[stop + 1 :]
            while True:
                try:
                    leftovers.append(get_nowait())
                except queue.Empty:
                    break
            self._refuse([job for job in leftovers if job is not _STOP])
            return

    def _process_safely(self, connection: sqlite3.Connection, batch: list[_Job]) -> None:
        try:
            self._process(connection, batch)
        except Exception as error:
            # a bug in this module: fail what is left of the batch and keep serving,
            # because a dead thread would leave every later caller waiting forever
            logger.exception("The SQLite writer thread of %s failed", self._path)
            self._rollback(connection)
            with self._lock:
                left = [job for job in batch if job.state in (_QUEUED, _RUNNING)]
            for job in left:
                job.error = PersistenceError(
                    f"The SQLite store {self._path} failed internally: {error!r}",
                    fix="Please report this as a bug in floe_sqlite.",
                    context={"database": self._path},
                )
            self._deliver(left)

    def _process(self, connection: sqlite3.Connection, batch: list[_Job]) -> None:
        writes: list[_Job] = []
        reads: list[_Job] = []
        with self._lock:
            for job in batch:
                if job.state == _ABANDONED:
                    self._abandoned += 1
                    continue
                job.state = _RUNNING
                (writes if job.write else reads).append(job)
        if writes:
            self._writes += len(writes)
            self._commit(connection, writes)
            self._deliver(writes)
        # reads go after the commit: they see every write that was queued with them,
        # and never a write that might still roll back
        if reads:
            self._reads += len(reads)
            for job in reads:
                try:
                    job.result = job.action(connection, *job.args)
                except sqlite3.Error as error:
                    job.error = self._database_error(error, "reading")
                except Exception as error:
                    job.error = error
            self._deliver(reads)

    def _commit(self, connection: sqlite3.Connection, writes: list[_Job]) -> None:
        if len(writes) == 1:
            self._commit_alone(connection, writes[0])
            return
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            for job in writes:
                job.error = self._database_error(error, "starting a transaction")
            return
        try:
            for group in _groups(writes):
                self._combined += _run(connection, group)
        except Exception:
            # a job may be half-done: undo the batch, give every job its own try
            self._rollback(connection)
            for retried in writes:
                retried.result = retried.error = None
                self._commit_alone(connection, retried)
            return
        try:
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            self._rollback(connection)
            for job in writes:
                if job.error is None:  # a job's own error says more than the commit's
                    job.result, job.error = None, self._database_error(error, "committing")
            return
        self._transactions += 1

    def _commit_alone(self, connection: sqlite3.Connection, job: _Job) -> None:
        try:
            connection.execute("BEGIN IMMEDIATE")
            job.result = job.action(connection, *job.args)
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            self._rollback(connection)
            job.result, job.error = None, self._database_error(error, "writing")
            return
        except Exception as error:
            self._rollback(connection)
            job.result, job.error = None, error
            return
        self._transactions += 1

    def _rollback(self, connection: sqlite3.Connection) -> None:
        if connection.in_transaction:
            try:
                connection.execute("ROLLBACK")
            except sqlite3.Error:
                # SQLite has already rolled back on its own (after I/O errors and the like)
                pass

    def _database_error(self, error: Exception, doing: str) -> PersistenceError:
        return PersistenceError(
            f"SQLite failed while {doing} {self._path}: {error}",
            why="The database file is locked for too long by another process, damaged, "
            "on a full disk or not writable."
            if isinstance(error, sqlite3.OperationalError)
            else f"{type(error).__name__} from SQLite.",
            fix="Check the file, its directory and the disk; make sure no other program "
            "holds a long write lock on it.",
            context={"database": self._path},
        )

    def _refuse(self, jobs: list[_Job]) -> None:
        for job in jobs:
            job.error = PersistenceError(
                f"The SQLite store {self._path} closed before the call ran",
                fix="Finish the store's calls before closing it.",
                context={"database": self._path},
            )
        self._deliver(jobs)

    def _deliver(self, jobs: list[_Job]) -> None:
        """Publish the outcomes and wake each waiting loop with one call."""
        orphans: list[_Job] = []
        waiting: list[_Job] = []
        with self._lock:
            for job in jobs:
                job.state = _DONE
                (orphans if job.orphaned else waiting).append(job)
        for orphan in orphans:
            self._report_orphan(orphan)
        set_from_thread([(job.token, job.done) for job in waiting])

    def _report_orphan(self, job: _Job) -> None:
        if job.error is not None:
            logger.warning(
                "A call to the SQLite store %s was cancelled while it ran, and then failed: %s",
                self._path,
                job.error,
            )


def _connect_placeholder(connection: sqlite3.Connection) -> None:
    """The opening job's action: the thread connects itself (see ``WriterThread._main``)."""


def _groups(writes: list[_Job]) -> list[list[_Job]]:
    """*writes* in order, those next to each other with the same combine in one group."""
    groups: list[list[_Job]] = []
    for job in writes:
        if job.combine is not None and groups and groups[-1][0].combine == job.combine:
            groups[-1].append(job)
        else:
            groups.append([job])
    return groups


def _run(connection: sqlite3.Connection, group: list[_Job]) -> int:
    """Run a group's jobs (one combined call for several; returns how many it combined);
    a FloeError is the job's own outcome, any other exception is raised: the batch is
    then in doubt."""
    first = group[0]
    if len(group) > 1 and first.combine is not None:
        errors = first.combine(connection, [job.args for job in group])
        for job, error in zip(group, errors, strict=True):
            job.error = error
        return len(group)
    for job in group:
        try:
            job.result = job.action(connection, *job.args)
        except FloeError as error:  # raised before the job changed anything
            job.error = error
    return 0
