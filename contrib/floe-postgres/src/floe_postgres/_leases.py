"""Leases: claims of runnable runs (``FOR UPDATE SKIP LOCKED``), acquire, renew, release."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import attrs

from floe import Queue, Run
from floe.storage import (
    ClaimRequest,
    claim_request,
    lease_held,
    lease_live,
    no_such_run,
    utcnow,
)

from ._claims import claim_runs
from ._rows import UPDATE_RUN, micros, run_columns, unstorable
from ._runs import Runs

if TYPE_CHECKING:
    import psycopg

    Connection = psycopg.Connection[Any]

__all__ = ["Leases"]


class Leases(Runs):
    """Leases on runs: each run goes to one claimer, across every process."""

    # -- leases ---------------------------------------------------------------------------

    async def wait_for_runnable(self) -> None:
        """Return when a run may have become claimable: another process (or this one)
        committed a write that left a run due and unleased, or the listening connection
        was (re)opened, which may have missed one. The first wait starts listening, so it
        returns at once. Cancelling the wait stops it within a moment."""
        listener, limiter = self._require_listener()
        # from what the last wait that returned was told: a notification read by the
        # slice of a cancelled wait is the next wait's
        seen = listener.delivered
        while listener.received == seen and not listener.closed:
            # a slice of at most SLICE_SECONDS in a thread; cancelled, the thread is left
            # to end its slice and the listener's lock keeps the next one waiting for it
            await anyio.to_thread.run_sync(
                listener.wait_slice, seen, abandon_on_cancel=True, limiter=limiter
            )
            await anyio.lowlevel.checkpoint()
        listener.delivered = max(listener.delivered, listener.received)

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
        claim = claim_request(owner, limit, lease_seconds, now, queues, queue_limits)
        return await self._call(self._claim_runs, claim, what="claim runs")

    def _claim_runs(self, connection: Connection, claim: ClaimRequest) -> list[Run]:
        def lease(runs: list[Run]) -> list[Run]:
            leased = [claim.lease(run) for run in runs]
            with connection.cursor() as cursor:
                cursor.executemany(UPDATE_RUN, [run_columns(run) for run in leased])
            return leased

        return claim_runs(connection, claim, self._decode_run, lease)

    async def acquire_lease(
        self,
        run_id: str,
        owner: str,
        *,
        lease_seconds: float = 30.0,
        now: datetime | None = None,
    ) -> Run:
        if unstorable(run_id):
            raise no_such_run(run_id, f"the {self._where}")
        now = now or utcnow()
        expires = now + timedelta(seconds=lease_seconds)
        return await self._call(
            self._acquire_lease, run_id, owner, now, expires, what="lease a run"
        )

    def _acquire_lease(
        self,
        connection: Connection,
        run_id: str,
        owner: str,
        now: datetime,
        expires: datetime,
    ) -> Run:
        # the row stays locked to the commit: the check and the lease are one step for
        # every process sharing the database
        run = self._get_run(connection, run_id, lock=True)
        if run is None:
            raise no_such_run(run_id, f"the {self._where}")
        if lease_live(run, owner, now):
            raise lease_held(run, self._where)
        leased = attrs.evolve(run, lease_owner=owner, lease_expires_at=expires)
        connection.execute(UPDATE_RUN, run_columns(leased))
        return leased

    async def renew_lease(self, run_id: str, owner: str, *, lease_seconds: float = 30.0) -> bool:
        if unstorable(run_id) or unstorable(owner):
            return False
        return await self._call(
            self._renew_lease, run_id, owner, lease_seconds, what="renew a lease"
        )

    def _renew_lease(
        self, connection: Connection, run_id: str, owner: str, lease_seconds: float
    ) -> bool:
        now = utcnow()
        run = self._leased_run(connection, run_id, owner, now)
        if run is None:
            return False
        renewed = attrs.evolve(run, lease_expires_at=now + timedelta(seconds=lease_seconds))
        connection.execute(UPDATE_RUN, run_columns(renewed))
        return True

    async def release_lease(self, run_id: str, owner: str) -> None:
        if unstorable(run_id) or unstorable(owner):
            return
        await self._call(self._release_lease, run_id, owner, what="release a lease")

    def _release_lease(self, connection: Connection, run_id: str, owner: str) -> None:
        run = self._leased_run(connection, run_id, owner, None)
        if run is not None:
            released = attrs.evolve(run, lease_owner=None, lease_expires_at=None)
            # a due run let go (a worker drained, a wrong kind): the others are told
            returning, parameters = self._notice(released)
            connection.execute(UPDATE_RUN + returning, (*run_columns(released), *parameters))

    def _leased_run(
        self, connection: Connection, run_id: str, owner: str, live_at: datetime | None
    ) -> Run | None:
        """The run, locked, if *owner* holds its lease (still live at *live_at*, if given)."""
        row = connection.execute(
            "SELECT doc, lease_expires_at, last_seq FROM runs"
            " WHERE run_id = %s AND lease_owner = %s FOR UPDATE",
            (run_id, owner),
        ).fetchone()
        if row is None:
            return None
        if live_at is not None and row[1] is not None and row[1] <= micros(live_at):
            return None
        return self._decode_run(run_id, row[0], row[2])
