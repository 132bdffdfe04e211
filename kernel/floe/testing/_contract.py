"""The store contract: the behaviour every ``floe.Store`` must show.

Subclass :class:`StoreContract` in a test module and provide a ``store_url`` fixture;
the store is opened through the plugin hooks exactly as the kernel opens it, so the
suite also checks that your plugin is discovered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any, ClassVar

import anyio
import attrs
import pytest

from ..kernel._errors import (
    ConfigError,
    NotFoundError,
    PersistenceError,
    RunLeasedError,
    SequenceConflictError,
)
from ..kernel._kernel import Kernel
from ..kernel._models import (
    CacheEntry,
    ErrorInfo,
    Event,
    Run,
    RunQuery,
    RunStatus,
    Snapshot,
    utcnow,
)
from ..kernel._schema import EventKind, TaskCompleted, data_of
from ..kernel._settings import Settings
from ..kernel._store import Store
from ._queue_contract import QueueContract

__all__ = ["StoreContract", "open_store"]


def open_store(url: str, *, plugins: tuple[object, ...] = ()) -> Store:
    """An unopened store for *url*, found through the plugin hooks as the kernel does."""
    kernel = Kernel(Settings(store=url, log_format="off", strict_plugins=True), plugins=plugins)
    return kernel.hooks.open_store(url)


def _events(
    run_id: str, first: int, count: int, kind: str = EventKind.TASK_COMPLETED
) -> list[Event]:
    return [
        Event(run_id=run_id, seq=seq, kind=kind, step=f"step#{seq}", data=_step_data(seq))
        for seq in range(first, first + count)
    ]


def _step_data(seq: int) -> dict[str, object]:
    """A step outcome's data, as a run writes it (stores keep any JSON, this is typical)."""
    return data_of(TaskCompleted(task="step", position=str(seq), result={"n": seq}))


class StoreContract(QueueContract):
    """Contract tests for a store; subclasses define the ``store_url`` fixture."""

    pytestmark: ClassVar[Any] = pytest.mark.anyio

    durable: ClassVar[bool] = True
    """Whether data survives closing and reopening the same URL."""

    @pytest.fixture
    def store_url(self) -> str:
        raise NotImplementedError("subclasses of StoreContract define a store_url fixture")

    @pytest.fixture
    async def store(self, store_url: str) -> AsyncIterator[Store]:
        async with open_store(store_url) as store:
            yield store

    @pytest.fixture
    def reopen(self, store_url: str) -> Callable[[], Store]:
        return lambda: open_store(store_url)

    # -- runs ---------------------------------------------------------------------------

    async def test_create_and_get_run(self, store: Store) -> None:
        run = Run(
            run_id="r-1",
            name="hello",
            input={"who": "world", "nested": [1, 2.5, None, "é"]},
            metadata={"tag": "x"},
            error=ErrorInfo(type="builtins.ValueError", message="boom"),
        )
        await store.create_run(run)
        loaded = await store.get_run("r-1")
        assert loaded == run
        assert await store.get_run("missing") is None

    async def test_create_existing_run_fails_and_keeps_the_original(self, store: Store) -> None:
        await store.create_run(Run(run_id="r-1", name="first"))
        with pytest.raises(PersistenceError, match="already exists"):
            await store.create_run(Run(run_id="r-1", name="second"))
        loaded = await store.get_run("r-1")
        assert loaded is not None
        assert loaded.name == "first"

    async def test_update_run(self, store: Store) -> None:
        run = Run(run_id="r-1", name="hello")
        await store.create_run(run)
        done = Run(
            run_id="r-1",
            name="hello",
            status=RunStatus.COMPLETED,
            output=[1, 2, 3],
            created_at=run.created_at,
        )
        await store.update_run(done)
        assert await store.get_run("r-1") == done

    async def test_update_missing_run_fails(self, store: Store) -> None:
        with pytest.raises(NotFoundError):
            await store.update_run(Run(run_id="nope", name="x"))
        assert await store.get_run("nope") is None

    # -- journals -----------------------------------------------------------------------

    async def test_append_and_read_events(self, store: Store) -> None:
        await store.create_run(Run(run_id="r-1", name="hello"))
        first, second = _events("r-1", 1, 3), _events("r-1", 4, 2)
        await store.append_events("r-1", first)
        await store.append_events("r-1", second)
        events = await store.read_events("r-1")
        assert [e.seq for e in events] == [1, 2, 3, 4, 5]
        assert events == first + second
        assert [e.seq for e in await store.read_events("r-1", after_seq=3)] == [4, 5]
        assert [e.seq for e in await store.read_events("r-1", after_seq=1, limit=2)] == [2, 3]
        run = await store.get_run("r-1")
        assert run is not None
        assert run.last_seq == 5
        assert await store.read_events("missing") == []

    async def test_append_empty_is_a_no_op(self, store: Store) -> None:
        await store.create_run(Run(run_id="r-1", name="hello"))
        await store.append_events("r-1", [])
        assert await store.read_events("r-1") == []

    async def test_stale_writer_is_fenced(self, store: Store) -> None:
        await store.create_run(Run(run_id="r-1", name="hello"))
        await store.append_events("r-1", _events("r-1", 1, 2))
        with pytest.raises(SequenceConflictError):
            await store.append_events("r-1", _events("r-1", 2, 2, kind="stale"))
        events = await store.read_events("r-1")
        assert [e.kind for e in events] == [EventKind.TASK_COMPLETED] * 2
        assert [e.data for e in events] == [_step_data(1), _step_data(2)]

    async def test_gap_in_sequence_is_refused(self, store: Store) -> None:
        await store.create_run(Run(run_id="r-1", name="hello"))
        with pytest.raises(PersistenceError):
            await store.append_events("r-1", _events("r-1", 2, 1))
        assert await store.read_events("r-1") == []

    @pytest.mark.parametrize(
        ("seqs", "problem"),
        [
            ((3, 5), "has a gap"),
            ((3, 4, 6), "has a gap"),
            ((3, 3), "repeats seq 3"),
            ((3, 4, 3), "repeats seq 3"),
            ((4, 3), "is out of order"),
            ((3, 5, 4), "has a gap"),
        ],
        ids=["gap", "gap-later", "duplicate", "duplicate-later", "swapped", "unordered"],
    )
    async def test_a_batch_that_does_not_follow_on_inside_is_refused_whole(
        self, store: Store, seqs: tuple[int, ...], problem: str
    ) -> None:
        # a store that checked only the first event's seq would append these
        run = Run(run_id="r-1", name="hello")
        await store.create_run(run)
        await store.append_events("r-1", _events("r-1", 1, 2))
        batch = [Event(run_id="r-1", seq=seq, kind="bad", data={"n": seq}) for seq in seqs]
        done = attrs.evolve(run, status=RunStatus.COMPLETED)
        with pytest.raises(PersistenceError, match=problem) as caught:
            await store.append_events("r-1", batch, run=done)
        # a writer's own bug, not a lost race: retrying after a reload would not help
        assert not isinstance(caught.value, SequenceConflictError)
        await self._assert_untouched(store, "r-1", 2)

    async def test_a_batch_out_of_order_inside_is_refused_whole(self, store: Store) -> None:
        await store.create_run(Run(run_id="r-1", name="hello"))
        await store.append_events("r-1", _events("r-1", 1, 2))
        batch = [Event(run_id="r-1", seq=seq, kind="bad") for seq in (3, 4, 6, 5)]
        with pytest.raises(PersistenceError, match="has a gap") as caught:
            await store.append_events("r-1", batch)
        assert not isinstance(caught.value, SequenceConflictError)
        batch = [Event(run_id="r-1", seq=seq, kind="bad") for seq in (3, 4, 5, 4)]
        with pytest.raises(PersistenceError, match="repeats seq 4"):
            await store.append_events("r-1", batch)
        batch = [Event(run_id="r-1", seq=seq, kind="bad") for seq in (3, 5, 2)]
        with pytest.raises(PersistenceError, match="has a gap"):
            await store.append_events("r-1", batch)
        await self._assert_untouched(store, "r-1", 2)

    async def test_a_batch_holding_another_runs_event_is_refused_whole(self, store: Store) -> None:
        await store.create_run(Run(run_id="r-1", name="hello"))
        await store.create_run(Run(run_id="r-2", name="other"))
        batch = [*_events("r-1", 1, 1), *_events("r-2", 2, 1)]
        with pytest.raises(PersistenceError, match="belongs to run 'r-2'") as caught:
            await store.append_events("r-1", batch)
        assert not isinstance(caught.value, SequenceConflictError)
        await self._assert_untouched(store, "r-1", 0)
        await self._assert_untouched(store, "r-2", 0)

    async def test_a_batch_with_another_runs_record_is_refused_whole(self, store: Store) -> None:
        await store.create_run(Run(run_id="r-1", name="hello"))
        other = Run(run_id="r-2", name="other")
        await store.create_run(other)
        done = attrs.evolve(other, status=RunStatus.COMPLETED)
        with pytest.raises(PersistenceError, match="record of run 'r-2'"):
            await store.append_events("r-1", _events("r-1", 1, 1), run=done)
        await self._assert_untouched(store, "r-1", 0)
        await self._assert_untouched(store, "r-2", 0)

    @staticmethod
    async def _assert_untouched(store: Store, run_id: str, length: int) -> None:
        events = await store.read_events(run_id)
        assert [event.seq for event in events] == list(range(1, length + 1))
        assert all(event.kind == EventKind.TASK_COMPLETED for event in events)
        run = await store.get_run(run_id)
        assert run is not None
        assert run.last_seq == length
        assert run.status is RunStatus.PENDING

    async def test_append_to_missing_run_fails(self, store: Store) -> None:
        with pytest.raises(NotFoundError):
            await store.append_events("ghost", _events("ghost", 1, 1))

    async def test_append_with_run_update_is_atomic(self, store: Store) -> None:
        run = Run(run_id="r-1", name="hello")
        await store.create_run(run)
        done = Run(
            run_id="r-1", name="hello", status=RunStatus.COMPLETED, created_at=run.created_at
        )
        completed = _events("r-1", 1, 1, kind=EventKind.RUN_COMPLETED)
        await store.append_events("r-1", completed, run=done)
        loaded = await store.get_run("r-1")
        assert loaded is not None
        assert loaded.status is RunStatus.COMPLETED
        failed = Run(run_id="r-1", name="hello", status=RunStatus.FAILED, created_at=run.created_at)
        with pytest.raises(SequenceConflictError):
            await store.append_events("r-1", _events("r-1", 1, 1), run=failed)
        loaded = await store.get_run("r-1")
        assert loaded is not None
        assert loaded.status is RunStatus.COMPLETED

    async def test_two_writers_one_winner(self, store: Store) -> None:
        await store.create_run(Run(run_id="r-1", name="hello"))
        outcomes: list[str] = []

        async def writer(name: str) -> None:
            try:
                await store.append_events("r-1", _events("r-1", 1, 1, kind=name))
            except SequenceConflictError:
                outcomes.append("lost")
            else:
                outcomes.append("won")

        async with anyio.create_task_group() as group:
            group.start_soon(writer, "a")
            group.start_soon(writer, "b")
        assert sorted(outcomes) == ["lost", "won"]
        assert len(await store.read_events("r-1")) == 1

    async def test_grouped_appends_are_appends(self, store: Store) -> None:
        # what the kernel's group commit calls: the same contract as append_events
        count = 20
        for index in range(count):
            await store.create_run(Run(run_id=f"r-{index}", name="grouped"))
        outcomes: dict[int, str] = {}

        async def append(index: int, first: int) -> None:
            run_id = f"r-{index % count}"
            try:
                await store.append_events_grouped(run_id, _events(run_id, first, 2))
            except SequenceConflictError:
                outcomes[index] = "lost"
            else:
                outcomes[index] = "won"

        async def append_to_ghost() -> None:  # in the same batch as the others
            try:
                await store.append_events_grouped("ghost", _events("ghost", 1, 1))
            except NotFoundError:
                outcomes[-1] = "missing"

        async with anyio.create_task_group() as group:
            for index in range(count):
                group.start_soon(append, index, 1)
            group.start_soon(append, count + 3, 1)  # a second writer of r-3, at seq 1
            group.start_soon(append_to_ghost)
        assert outcomes.pop(-1) == "missing"
        assert sorted([outcomes.pop(3), outcomes.pop(count + 3)]) == ["lost", "won"]
        assert set(outcomes.values()) == {"won"}
        for index in range(count):
            assert [e.seq for e in await store.read_events(f"r-{index}")] == [1, 2]
        with pytest.raises(NotFoundError):
            await store.append_events_grouped("ghost", _events("ghost", 1, 1))

    async def test_concurrent_appends_to_many_runs(self, store: Store) -> None:
        count = 50
        for index in range(count):
            await store.create_run(Run(run_id=f"r-{index}", name="many"))

        async def steps(run_id: str) -> None:
            for seq in range(1, 6):
                await store.append_events(run_id, _events(run_id, seq, 1))

        async with anyio.create_task_group() as group:
            for index in range(count):
                group.start_soon(steps, f"r-{index}")
        for index in range(count):
            events = await store.read_events(f"r-{index}")
            assert [e.seq for e in events] == [1, 2, 3, 4, 5]

    # -- listing ------------------------------------------------------------------------

    async def test_list_runs_filters_and_orders(self, store: Store) -> None:
        now = utcnow()
        for index in range(6):
            await store.create_run(
                Run(
                    run_id=f"r-{index}",
                    name="even" if index % 2 == 0 else "odd",
                    kind="graph" if index == 5 else "workflow",
                    status=RunStatus.COMPLETED if index < 3 else RunStatus.RUNNING,
                    parent_id="r-0" if index in (1, 2) else None,
                    created_at=now + timedelta(seconds=index),
                )
            )
        assert [r.run_id for r in await store.list_runs()] == [f"r-{i}" for i in range(5, -1, -1)]
        assert [r.run_id for r in await store.list_runs(RunQuery(name="even"))] == [
            "r-4",
            "r-2",
            "r-0",
        ]
        completed = await store.list_runs(RunQuery(status=RunStatus.COMPLETED))
        assert [r.run_id for r in completed] == ["r-2", "r-1", "r-0"]
        assert [r.run_id for r in await store.list_runs(RunQuery(kind="graph"))] == ["r-5"]
        children = await store.list_runs(RunQuery(parent_id="r-0"))
        assert [r.run_id for r in children] == ["r-2", "r-1"]
        page = await store.list_runs(RunQuery(limit=2, offset=1))
        assert [r.run_id for r in page] == ["r-4", "r-3"]

    async def test_checked_listing_of_sound_runs_is_the_listing(self, store: Store) -> None:
        now = utcnow()
        for index in range(4):
            await store.create_run(
                Run(
                    run_id=f"r-{index}",
                    name="even" if index % 2 == 0 else "odd",
                    created_at=now + timedelta(seconds=index),
                )
            )
        for query in (RunQuery(), RunQuery(name="odd"), RunQuery(limit=2, offset=1)):
            listing = await store.list_runs_checked(query)
            assert listing.runs == tuple(await store.list_runs(query))
            assert listing.damaged == ()
        assert [r.run_id for r in (await store.list_runs_checked()).runs] == [
            "r-3",
            "r-2",
            "r-1",
            "r-0",
        ]

    async def test_list_runs_ties_newest_insert_first(self, store: Store) -> None:
        moment = utcnow()
        for index in range(3):
            await store.create_run(Run(run_id=f"t-{index}", name="tie", created_at=moment))
        assert [r.run_id for r in await store.list_runs()] == ["t-2", "t-1", "t-0"]

    # -- paging with a cursor -----------------------------------------------------------

    async def _create_paging_runs(self, store: Store) -> list[str]:
        """Nine runs, three of them created at one instant; their ids, newest first."""
        now = utcnow()
        moments = [now + timedelta(seconds=second) for second in (0, 1, 2, 2, 2, 3, 4, 5, 6)]
        for index, moment in enumerate(moments):
            status = RunStatus.COMPLETED if index % 3 else RunStatus.FAILED
            await store.create_run(
                Run(run_id=f"p-{index}", name="page", status=status, created_at=moment)
            )
        listed = [run.run_id for run in await store.list_runs()]
        assert listed == [f"p-{index}" for index in (8, 7, 6, 5, 4, 3, 2, 1, 0)]
        return listed

    @staticmethod
    async def _page_through(store: Store, query: RunQuery, between: Any = None) -> list[str]:
        """Every run id the pages of *query* list, calling *between* after each page."""
        seen: list[str] = []
        while True:
            page = await store.list_runs(attrs.evolve(query, after=seen[-1] if seen else None))
            seen += [run.run_id for run in page]
            if len(page) < query.limit:
                return seen
            if between is not None:
                await between(len(seen))

    async def test_pages_after_a_cursor_list_every_run_once_in_order(self, store: Store) -> None:
        listed = await self._create_paging_runs(store)
        for limit in (1, 2, 3, 4, 9, 10):
            assert await self._page_through(store, RunQuery(limit=limit)) == listed
        assert await store.list_runs(RunQuery(after="p-0")) == []  # after the oldest
        # the cursor's place, not a count: a page after a tied run goes on with the others
        page = await store.list_runs(RunQuery(after="p-3", limit=2))
        assert [run.run_id for run in page] == ["p-2", "p-1"]

    async def test_runs_created_between_pages_do_not_shift_them(self, store: Store) -> None:
        listed = await self._create_paging_runs(store)
        newest = (await store.list_runs(RunQuery(limit=1)))[0]
        pages: list[int] = []

        async def create_newer(count: int) -> None:
            pages.append(count)
            # newer than every run listed, and tied with the newest: both come first
            later = newest.created_at + timedelta(minutes=count)
            await store.create_run(Run(run_id=f"new-{count}", name="page", created_at=later))
            tied = Run(run_id=f"tied-{count}", name="page", created_at=newest.created_at)
            await store.create_run(tied)

        assert await self._page_through(store, RunQuery(limit=3), create_newer) == listed
        assert pages == [3, 6, 9]
        assert len(await store.list_runs()) == len(listed) + 6

    async def test_cursor_combines_with_filters_offset_and_checked_listing(
        self, store: Store
    ) -> None:
        listed = await self._create_paging_runs(store)
        completed = RunQuery(status=RunStatus.COMPLETED, limit=2)
        expected = [f"p-{index}" for index in (8, 7, 5, 4, 2, 1)]
        assert await self._page_through(store, completed) == expected
        assert await self._page_through(store, RunQuery(name="page", limit=4)) == listed
        assert await store.list_runs(RunQuery(name="other", after="p-5")) == []
        # the offset counts from the cursor, among the runs that match
        page = await store.list_runs(attrs.evolve(completed, after="p-7", offset=1))
        assert [run.run_id for run in page] == ["p-4", "p-2"]
        checked = await store.list_runs_checked(RunQuery(after="p-4", limit=3))
        assert [run.run_id for run in checked.runs] == ["p-3", "p-2", "p-1"]
        # the cursor need not match the filters: its status changed since its page
        cursor = await store.get_run("p-7")
        assert cursor is not None
        await store.update_run(attrs.evolve(cursor, status=RunStatus.CANCELLED))
        page = await store.list_runs(attrs.evolve(completed, after="p-7"))
        assert [run.run_id for run in page] == ["p-5", "p-4"]

    async def test_any_kind_of_run_is_a_cursor(self, store: Store) -> None:
        now = utcnow()
        for index, run_id in enumerate(("component:orders", "schedule:tick:1", "job/é-1")):
            moment = now + timedelta(seconds=index)
            await store.create_run(Run(run_id=run_id, name="mixed", created_at=moment))
        page = await store.list_runs(RunQuery(after="job/é-1"))
        assert [run.run_id for run in page] == ["schedule:tick:1", "component:orders"]
        page = await store.list_runs(RunQuery(after="schedule:tick:1"))
        assert [run.run_id for run in page] == ["component:orders"]

    async def test_count_runs_counts_every_run_by_status_and_queue(self, store: Store) -> None:
        assert await store.count_runs() == {}
        now = utcnow()
        placed = [
            (RunStatus.PENDING, "default"),
            (RunStatus.PENDING, "default"),
            (RunStatus.PENDING, "emails"),
            (RunStatus.COMPLETED, "emails"),
            (RunStatus.FAILED, "default"),
        ]
        for index, (status, queue) in enumerate(placed):
            moment = now + timedelta(seconds=index)
            run = Run(run_id=f"c-{index}", name="n", status=status, queue=queue, created_at=moment)
            await store.create_run(run)
        assert await store.count_runs() == {
            (RunStatus.PENDING, "default"): 2,
            (RunStatus.PENDING, "emails"): 1,
            (RunStatus.COMPLETED, "emails"): 1,
            (RunStatus.FAILED, "default"): 1,
        }
        finished = await store.get_run("c-0")
        assert finished is not None
        await store.update_run(attrs.evolve(finished, status=RunStatus.COMPLETED))
        counts = await store.count_runs()
        assert counts[(RunStatus.PENDING, "default")] == 1
        assert counts[(RunStatus.COMPLETED, "default")] == 1
        assert sum(counts.values()) == len(placed)

    async def test_an_unknown_cursor_is_not_found(self, store: Store) -> None:
        for query in (
            RunQuery(after="missing"),
            RunQuery(after="missing", status=RunStatus.FAILED),
        ):
            with pytest.raises(NotFoundError, match="missing") as raised:
                await store.list_runs(query)
            assert raised.value.context["after"] == "missing"
            assert raised.value.fix
        await self._create_paging_runs(store)
        with pytest.raises(NotFoundError):
            await store.list_runs(RunQuery(after="p-"))  # the start of an id is not one
        with pytest.raises(NotFoundError):
            await store.list_runs_checked(RunQuery(after="P-1", limit=2))

    @pytest.mark.parametrize("after", ["", 7, b"p-1", "a\x00b", "tab\there", "\ud800", "x" * 1025])
    async def test_an_unusable_cursor_is_a_config_error(self, store: Store, after: Any) -> None:
        # refused when the query is built, before any store sees it
        await store.create_run(Run(run_id="p-1", name="page"))
        with pytest.raises(ConfigError, match="after="):
            await store.list_runs(RunQuery(after=after))

    # -- run ids by prefix --------------------------------------------------------------

    _PREFIXED_IDS: ClassVar[tuple[str, ...]] = (
        "4f0c2a9e5bd44b1f9a0e4b1c2d3e4f50",
        "4f0c2a9e00000000000000000000000a",
        "4f0d0000000000000000000000000000",
        "pay-1",
        "pay-10",
        "Pay-2",
        "component:orders",
        "job/é-1",
        "job/é-2",
        "job/e-3",
        "z\U0010ffff",
        "z\U0010ffffa",
        "z\U0010fffe",
        "{",
    )

    async def test_find_run_ids_by_prefix(self, store: Store) -> None:
        for run_id in self._PREFIXED_IDS:
            await store.create_run(Run(run_id=run_id, name="hello"))
        assert await store.find_run_ids("4f0c") == [
            "4f0c2a9e00000000000000000000000a",
            "4f0c2a9e5bd44b1f9a0e4b1c2d3e4f50",
        ]
        assert await store.find_run_ids("4f0c2a9e5") == ["4f0c2a9e5bd44b1f9a0e4b1c2d3e4f50"]
        full = "4f0c2a9e5bd44b1f9a0e4b1c2d3e4f50"
        assert await store.find_run_ids(full) == [full]
        assert await store.find_run_ids(full + "0") == []
        # an exact id is a prefix of itself and of longer ones; case counts
        assert await store.find_run_ids("pay-1") == ["pay-1", "pay-10"]
        assert await store.find_run_ids("pay") == ["pay-1", "pay-10"]
        assert await store.find_run_ids("component:") == ["component:orders"]
        assert await store.find_run_ids("job/é") == ["job/é-1", "job/é-2"]
        assert await store.find_run_ids("job/") == ["job/e-3", "job/é-1", "job/é-2"]
        # the highest code point ends a prefix: nothing past the prefix slips in
        assert await store.find_run_ids("z\U0010ffff") == ["z\U0010ffff", "z\U0010ffffa"]
        assert await store.find_run_ids("z") == ["z\U0010fffe", "z\U0010ffff", "z\U0010ffffa"]
        assert await store.find_run_ids("nothing-like-it") == []

    async def test_find_run_ids_stops_at_the_limit(self, store: Store) -> None:
        for index in range(12):
            await store.create_run(Run(run_id=f"batch-{index:02d}", name="hello"))
        assert await store.find_run_ids("batch-") == [f"batch-{i:02d}" for i in range(10)]
        assert await store.find_run_ids("batch-", limit=3) == ["batch-00", "batch-01", "batch-02"]
        assert len(await store.find_run_ids("batch-", limit=50)) == 12

    @pytest.mark.parametrize(
        ("prefix", "limit"), [("", 10), (None, 10), (4, 10), ("ab", 0), ("ab", "3")]
    )
    async def test_find_run_ids_rejects_bad_arguments(
        self, store: Store, prefix: Any, limit: Any
    ) -> None:
        with pytest.raises(ConfigError):
            await store.find_run_ids(prefix, limit=limit)

    # -- cache --------------------------------------------------------------------------

    @pytest.mark.parametrize("value", [0, "", None, [], {}, False, {"deep": [1, {"x": "y"}]}])
    async def test_cache_round_trip_including_falsy_values(self, store: Store, value: Any) -> None:
        await store.put_cached(CacheEntry(key="k", value=value))
        entry = await store.get_cached("k")
        assert entry is not None
        assert entry.value == value
        assert await store.get_cached("other") is None

    async def test_cache_replace_and_expiry(self, store: Store) -> None:
        await store.put_cached(CacheEntry(key="k", value=1))
        await store.put_cached(CacheEntry(key="k", value=2))
        entry = await store.get_cached("k")
        assert entry is not None
        assert entry.value == 2
        past = utcnow() - timedelta(seconds=1)
        await store.put_cached(CacheEntry(key="old", value=3, expires_at=past))
        assert await store.get_cached("old") is None

    # -- snapshots ----------------------------------------------------------------------

    async def test_snapshots_latest_and_history(self, store: Store) -> None:
        assert await store.latest_snapshot("c") is None
        assert await store.list_snapshots("c") == []
        base = utcnow()
        first = await store.save_snapshot(
            Snapshot(
                component="c", state="A", rules=[{"r": 1}], metadata={"v": "1"}, created_at=base
            )
        )
        second = await store.save_snapshot(
            Snapshot(component="c", state="B", created_at=base + timedelta(seconds=2))
        )
        # inserted later but older: history is by time, not insertion
        third = await store.save_snapshot(
            Snapshot(component="c", state="C", created_at=base + timedelta(seconds=1))
        )
        assert first < second < third
        latest = await store.latest_snapshot("c")
        assert latest is not None
        assert latest.state == "B"
        history = await store.list_snapshots("c")
        assert [s.state for s in history] == ["B", "C", "A"]
        assert history[-1].rules == [{"r": 1}]
        assert history[-1].metadata == {"v": "1"}
        assert [s.state for s in await store.list_snapshots("c", limit=1)] == ["B"]
        assert await store.list_snapshots("other") == []

    async def test_snapshot_ties_go_to_the_last_inserted(self, store: Store) -> None:
        moment = utcnow()
        for state in ("A", "B", "C"):
            await store.save_snapshot(Snapshot(component="c", state=state, created_at=moment))
        latest = await store.latest_snapshot("c")
        assert latest is not None
        assert latest.state == "C"
        assert [s.state for s in await store.list_snapshots("c")] == ["C", "B", "A"]

    async def test_prune_keeps_exactly_the_newest(self, store: Store) -> None:
        base = utcnow()
        for index in range(7):
            await store.save_snapshot(
                Snapshot(
                    component="c", state=f"S{index}", created_at=base + timedelta(seconds=index)
                )
            )
        await store.save_snapshot(Snapshot(component="keep-me", state="X", created_at=base))
        assert await store.prune_snapshots("c", keep_last=3) == 4
        assert [s.state for s in await store.list_snapshots("c", limit=100)] == ["S6", "S5", "S4"]
        assert await store.prune_snapshots("c", keep_last=3) == 0
        assert await store.prune_snapshots("missing", keep_last=1) == 0
        assert len(await store.list_snapshots("keep-me")) == 1

    @pytest.mark.parametrize("keep_last", [0, -1, 1.5, True, "3"])
    async def test_prune_rejects_bad_keep_last(self, store: Store, keep_last: Any) -> None:
        await store.save_snapshot(Snapshot(component="c", state="A"))
        with pytest.raises(ConfigError):
            await store.prune_snapshots("c", keep_last=keep_last)
        assert len(await store.list_snapshots("c")) == 1

    # -- plugin values ------------------------------------------------------------------

    @pytest.mark.parametrize(
        "value", [b"", b"x", bytes(range(256)), "é ✓".encode(), b"\x00" * 70_000]
    )
    async def test_value_round_trip(self, store: Store, value: bytes) -> None:
        assert await store.get_value("plugin", "k") is None
        await store.put_value("plugin", "k", value)
        assert await store.get_value("plugin", "k") == value
        assert await store.get_value("plugin", "other") is None

    async def test_value_put_replaces(self, store: Store) -> None:
        await store.put_value("plugin", "k", b"first")
        await store.put_value("plugin", "k", b"second")
        assert await store.get_value("plugin", "k") == b"second"
        assert await store.list_keys("plugin") == ["k"]

    async def test_value_delete_says_whether_there_was_one(self, store: Store) -> None:
        await store.put_value("plugin", "k", b"v")
        await store.put_value("plugin", "kept", b"w")
        assert await store.delete_value("plugin", "k") is True
        assert await store.get_value("plugin", "k") is None
        assert await store.delete_value("plugin", "k") is False
        assert await store.delete_value("plugin", "never") is False
        assert await store.list_keys("plugin") == ["kept"]
        await store.put_value("plugin", "k", b"again")
        assert await store.get_value("plugin", "k") == b"again"

    async def test_list_keys_sorted_by_code_point(self, store: Store) -> None:
        # case, unsafe characters and non-ASCII text: each key is its own, kept exactly
        keys = ["b", "a", "B", "a/b", "../up", "é", "Ω", "z z", "\U0001f600", "A.b-c_d", "."]
        for index, key in enumerate(keys):
            await store.put_value("plugin", key, str(index).encode())
        assert await store.list_keys("plugin") == sorted(keys)
        for index, key in enumerate(keys):
            assert await store.get_value("plugin", key) == str(index).encode()
        assert await store.list_keys("empty") == []

    async def test_value_namespaces_are_isolated(self, store: Store) -> None:
        await store.put_value("one", "k", b"1")
        await store.put_value("two", "k", b"2")
        await store.put_value("two", "only-two", b"3")
        assert await store.get_value("one", "k") == b"1"
        assert await store.get_value("two", "k") == b"2"
        assert await store.list_keys("one") == ["k"]
        assert await store.list_keys("two") == ["k", "only-two"]
        assert await store.delete_value("one", "k") is True
        assert await store.get_value("two", "k") == b"2"
        assert await store.get_value("one", "only-two") is None

    @pytest.mark.parametrize(
        ("namespace", "key"),
        [
            ("", "k"),
            (None, "k"),
            (b"plugin", "k"),
            ("Plugin", "k"),
            ("../escape", "k"),
            (".hidden", "k"),
            ("a/b", "k"),
            ("n" * 65, "k"),
            ("plugin", ""),
            ("plugin", None),
            ("plugin", b"k"),
            ("plugin", 7),
            ("plugin", "nul\x00byte"),
            ("plugin", "lone \ud800 surrogate"),
            ("plugin", "k" * 1025),
        ],
    )
    async def test_bad_namespace_or_key_is_a_config_error(
        self, store: Store, namespace: Any, key: Any
    ) -> None:
        await store.put_value("plugin", "kept", b"v")
        calls: list[Callable[[], Any]] = [
            lambda: store.get_value(namespace, key),
            lambda: store.put_value(namespace, key, b"v"),
            lambda: store.delete_value(namespace, key),
        ]
        if key == "k":
            calls.append(lambda: store.list_keys(namespace))
        for call in calls:
            with pytest.raises(ConfigError):
                await call()
        assert await store.list_keys("plugin") == ["kept"]

    @pytest.mark.parametrize("value", ["text", None, bytearray(b"v"), memoryview(b"v"), 1])
    async def test_value_that_is_not_bytes_is_a_config_error(
        self, store: Store, value: Any
    ) -> None:
        await store.put_value("plugin", "k", b"kept")
        with pytest.raises(ConfigError, match="not bytes"):
            await store.put_value("plugin", "k", value)
        assert await store.get_value("plugin", "k") == b"kept"

    async def test_concurrent_puts_to_many_keys(self, store: Store) -> None:
        async with anyio.create_task_group() as group:
            for index in range(50):
                group.start_soon(store.put_value, "plugin", f"k{index:02}", bytes([index]))
        assert await store.list_keys("plugin") == [f"k{index:02}" for index in range(50)]
        assert await store.get_value("plugin", "k49") == bytes([49])

    # -- leases -------------------------------------------------------------------------

    async def test_leases(self, store: Store) -> None:
        if not store.supports_leases:
            pytest.skip(f"{type(store).__name__} does not support leases")
        now = utcnow()
        await store.create_run(Run(run_id="due", name="w", runnable_at=now - timedelta(seconds=1)))
        await store.create_run(Run(run_id="later", name="w", runnable_at=now + timedelta(hours=1)))
        await store.create_run(Run(run_id="idle", name="w"))
        claimed = await store.claim_runs("worker-1", limit=5, lease_seconds=60, now=now)
        assert [r.run_id for r in claimed] == ["due"]
        assert claimed[0].lease_owner == "worker-1"
        assert await store.claim_runs("worker-2", limit=5, now=now) == []
        assert await store.renew_lease("due", "worker-1", lease_seconds=60)
        assert not await store.renew_lease("due", "worker-2")
        # after the lease runs out, another worker takes the run over
        later = now + timedelta(seconds=120)
        taken = await store.claim_runs("worker-2", limit=5, lease_seconds=60, now=later)
        assert [r.run_id for r in taken] == ["due"]
        await store.release_lease("due", "worker-1")  # not the owner any more: no effect
        loaded = await store.get_run("due")
        assert loaded is not None
        assert loaded.lease_owner == "worker-2"
        await store.release_lease("due", "worker-2")
        again = await store.claim_runs("worker-3", now=now + timedelta(seconds=1))
        assert [r.run_id for r in again] == ["due"]

    async def test_claims_skip_child_runs_and_go_longest_due_first(self, store: Store) -> None:
        if not store.supports_leases:
            pytest.skip(f"{type(store).__name__} does not support leases")
        now = utcnow()
        for name, due in (("recent", 1), ("oldest", 30), ("middle", 10)):
            await store.create_run(
                Run(run_id=name, name="w", runnable_at=now - timedelta(seconds=due))
            )
        child = Run(
            run_id="child", name="w", parent_id="oldest", runnable_at=now - timedelta(hours=1)
        )
        await store.create_run(child)
        claimed = await store.claim_runs("worker-1", limit=10, now=now)
        assert [run.run_id for run in claimed] == ["oldest", "middle", "recent"]
        stored = await store.get_run("child")
        assert stored is not None
        assert stored.lease_owner is None

    async def test_acquire_lease_takes_a_run_whatever_it_is_due(self, store: Store) -> None:
        if not store.supports_leases:
            pytest.skip(f"{type(store).__name__} does not support leases")
        now = utcnow()
        await store.create_run(Run(run_id="r", name="w", status=RunStatus.RUNNING))
        await store.append_events("r", _events("r", 1, 2))
        leased = await store.acquire_lease("r", "owner-1", lease_seconds=60, now=now)
        assert (leased.lease_owner, leased.last_seq) == ("owner-1", 2)
        assert leased.lease_expires_at == now + timedelta(seconds=60)
        stored = await store.get_run("r")
        assert stored is not None
        assert stored.lease_owner == "owner-1"
        # the holder may take it again (a resume in the same process), renewing it
        again = await store.acquire_lease("r", "owner-1", lease_seconds=90, now=now)
        assert again.lease_expires_at == now + timedelta(seconds=90)

    async def test_acquire_lease_refuses_a_live_lease_and_names_its_owner(
        self, store: Store
    ) -> None:
        if not store.supports_leases:
            pytest.skip(f"{type(store).__name__} does not support leases")
        now = utcnow()
        await store.create_run(Run(run_id="r", name="w", status=RunStatus.RUNNING))
        await store.acquire_lease("r", "owner-1", lease_seconds=60, now=now)
        with pytest.raises(RunLeasedError, match="owner-1") as caught:
            await store.acquire_lease("r", "owner-2", now=now + timedelta(seconds=59))
        assert caught.value.context["owner"] == "owner-1"
        stored = await store.get_run("r")
        assert stored is not None
        assert stored.lease_owner == "owner-1"
        # once it has run out, the run is free again
        taken = await store.acquire_lease("r", "owner-2", now=now + timedelta(seconds=61))
        assert taken.lease_owner == "owner-2"

    async def test_acquire_lease_of_a_missing_run_is_not_found(self, store: Store) -> None:
        if not store.supports_leases:
            pytest.skip(f"{type(store).__name__} does not support leases")
        with pytest.raises(NotFoundError, match="nope"):
            await store.acquire_lease("nope", "owner-1")

    async def test_one_of_many_concurrent_acquirers_wins(self, store: Store) -> None:
        if not store.supports_leases:
            pytest.skip(f"{type(store).__name__} does not support leases")
        await store.create_run(Run(run_id="r", name="w", status=RunStatus.RUNNING))
        winners: list[str] = []

        async def acquire(owner: str) -> None:
            try:
                await store.acquire_lease("r", owner, lease_seconds=60)
            except RunLeasedError:
                return
            winners.append(owner)

        async with anyio.create_task_group() as group:
            for index in range(20):
                group.start_soon(acquire, f"owner-{index}")
        assert len(winners) == 1
        stored = await store.get_run("r")
        assert stored is not None
        assert stored.lease_owner == winners[0]

    # -- durability ---------------------------------------------------------------------

    async def test_data_survives_reopening(self, reopen: Callable[[], Store]) -> None:
        if not self.durable:
            pytest.skip("this store keeps nothing across instances")
        async with reopen() as store:
            await store.create_run(Run(run_id="r-1", name="kept"))
            await store.append_events("r-1", _events("r-1", 1, 2))
            await store.put_cached(CacheEntry(key="k", value=[1]))
            await store.save_snapshot(Snapshot(component="c", state="A"))
            await store.put_value("plugin", "k", b"\x00kept")
            await store.put_value("plugin", "gone", b"x")
            await store.delete_value("plugin", "gone")
        async with reopen() as store:
            run = await store.get_run("r-1")
            assert run is not None
            assert run.last_seq == 2
            assert len(await store.read_events("r-1")) == 2
            entry = await store.get_cached("k")
            assert entry is not None
            assert entry.value == [1]
            latest = await store.latest_snapshot("c")
            assert latest is not None
            assert latest.state == "A"
            assert await store.get_value("plugin", "k") == b"\x00kept"
            assert await store.list_keys("plugin") == ["k"]
