"""A hypothesis state machine: random store operations checked against a model."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime, timedelta
from typing import Any

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ..kernel._errors import PersistenceError, SequenceConflictError
from ..kernel._models import CacheEntry, Event, Run, RunQuery, RunStatus, Snapshot, utcnow
from ..kernel._store import Store
from ._contract import open_store

__all__ = ["make_store_machine"]

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
_run_ids = st.sampled_from(["a", "b", "c"])
_components = st.sampled_from(["x", "y"])
_namespaces = st.sampled_from(["one", "two"])
_value_keys = st.sampled_from(["k", "K", "k/1", "é"])


def make_store_machine(
    store_url: Callable[[], str],
    *,
    backend: str = "trio",
    max_examples: int = 25,
    steps: int = 20,
) -> type[RuleBasedStateMachine]:
    """A state machine class running random operations on the store at ``store_url()``.

    Use it as ``TestMyStore = make_store_machine(url_factory).TestCase``. Each example
    gets a fresh URL from *store_url*; the store runs in an event loop of *backend*
    inside a blocking portal. *max_examples* and *steps* (per example) bound the run.
    """
    from anyio.from_thread import start_blocking_portal

    class StoreMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self._stack = ExitStack()
            self.runs: dict[str, list[Event]] = {}
            self.statuses: dict[str, RunStatus] = {}
            self.created: dict[str, tuple[datetime, int]] = {}
            """Each run's place in listings: created_at, then creation order."""
            self.cache: dict[str, Any] = {}
            self.snapshots: dict[str, list[tuple[int, int, str]]] = {}
            self.values: dict[str, dict[str, bytes]] = {"one": {}, "two": {}}
            self.clock = utcnow()

        @initialize()
        def open(self) -> None:
            self.portal = self._stack.enter_context(start_blocking_portal(backend))
            self.store: Store = self._stack.enter_context(
                self.portal.wrap_async_context_manager(open_store(store_url()))
            )

        def teardown(self) -> None:
            self._stack.close()

        def call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            return self.portal.call(lambda: method(*args, **kwargs))

        @rule(run_id=_run_ids, data=_json, tied=st.booleans())
        def create_run(self, run_id: str, data: Any, tied: bool) -> None:
            # runs created at one instant: only the store's tie-breaker orders them
            created = self.clock if tied else utcnow()
            run = Run(run_id=run_id, name="machine", input=data, created_at=created)
            if run_id in self.runs:
                try:
                    self.call(self.store.create_run, run)
                except PersistenceError:
                    return
                raise AssertionError("creating an existing run must fail")
            self.call(self.store.create_run, run)
            self.created[run_id] = (created, len(self.created))
            self.runs[run_id] = []
            self.statuses[run_id] = RunStatus.PENDING

        @precondition(lambda self: bool(self.runs))
        @rule(data=st.data(), count=st.integers(1, 3), skew=st.integers(-2, 1))
        def append(self, data: st.DataObject, count: int, skew: int) -> None:
            run_id = data.draw(st.sampled_from(sorted(self.runs)))
            journal = self.runs[run_id]
            first = len(journal) + 1 + skew
            if first < 1:
                first = 1
            events = [
                Event(run_id=run_id, seq=seq, kind="step", data=data.draw(_json))
                for seq in range(first, first + count)
            ]
            if first == len(journal) + 1:
                self.call(self.store.append_events, run_id, events)
                journal.extend(events)
            else:
                try:
                    self.call(self.store.append_events, run_id, events)
                except (SequenceConflictError, PersistenceError):
                    return
                raise AssertionError("an append out of sequence must fail")

        @precondition(lambda self: bool(self.runs))
        @rule(data=st.data(), status=st.sampled_from(list(RunStatus)))
        def set_status(self, data: st.DataObject, status: RunStatus) -> None:
            run_id = data.draw(st.sampled_from(sorted(self.runs)))
            current = self.call(self.store.get_run, run_id)
            self.call(
                self.store.update_run,
                Run(run_id=run_id, name="machine", status=status, created_at=current.created_at),
            )
            self.statuses[run_id] = status

        @rule(key=st.sampled_from(["k1", "k2"]), value=_json)
        def put_cached(self, key: str, value: Any) -> None:
            self.call(self.store.put_cached, CacheEntry(key=key, value=value))
            self.cache[key] = value

        @rule(component=_components, state=st.sampled_from(["A", "B", "C"]), age=st.integers(0, 3))
        def save_snapshot(self, component: str, state: str, age: int) -> None:
            created = self.clock - timedelta(seconds=age)
            snapshot_id = self.call(
                self.store.save_snapshot,
                Snapshot(component=component, state=state, created_at=created),
            )
            self.snapshots.setdefault(component, []).append((-age, snapshot_id, state))

        @rule(component=_components, keep=st.integers(1, 4))
        def prune(self, component: str, keep: int) -> None:
            history = sorted(self.snapshots.get(component, []), reverse=True)
            deleted = self.call(self.store.prune_snapshots, component, keep_last=keep)
            assert deleted == max(len(history) - keep, 0)
            self.snapshots[component] = history[:keep]

        @rule(namespace=_namespaces, key=_value_keys, value=st.binary(max_size=16))
        def put_value(self, namespace: str, key: str, value: bytes) -> None:
            self.call(self.store.put_value, namespace, key, value)
            self.values[namespace][key] = value

        @rule(namespace=_namespaces, key=_value_keys)
        def delete_value(self, namespace: str, key: str) -> None:
            deleted = self.call(self.store.delete_value, namespace, key)
            assert deleted == (key in self.values[namespace])
            self.values[namespace].pop(key, None)

        @invariant()
        def journals_match(self) -> None:
            if not hasattr(self, "store"):
                return
            for run_id, journal in self.runs.items():
                stored = self.call(self.store.read_events, run_id)
                assert [(e.seq, e.data) for e in stored] == [(e.seq, e.data) for e in journal]
                run = self.call(self.store.get_run, run_id)
                assert run.last_seq == len(journal)
                assert run.status == self.statuses[run_id]

        @invariant()
        def pages_after_cursors_are_the_listing(self) -> None:
            if not hasattr(self, "store"):
                return
            listed = [run.run_id for run in self.call(self.store.list_runs)]
            assert listed == sorted(self.created, key=self.created.__getitem__, reverse=True)
            for query in (RunQuery(limit=1), RunQuery(limit=2, status=RunStatus.PENDING)):
                expected = [r for r in listed if query.status in (None, self.statuses[r])]
                assert self._page_through(query) == expected

        def _page_through(self, query: RunQuery) -> list[str]:
            seen: list[str] = []
            while True:
                page = self.call(
                    self.store.list_runs, attrs.evolve(query, after=seen[-1] if seen else None)
                )
                seen += [run.run_id for run in page]
                if len(page) < query.limit:
                    return seen

        @invariant()
        def cache_matches(self) -> None:
            if not hasattr(self, "store"):
                return
            for key, value in self.cache.items():
                entry = self.call(self.store.get_cached, key)
                assert entry is not None
                assert entry.value == value

        @invariant()
        def snapshots_match(self) -> None:
            if not hasattr(self, "store"):
                return
            for component, history in self.snapshots.items():
                stored = self.call(self.store.list_snapshots, component, limit=100)
                assert [s.state for s in stored] == [
                    state for *_, state in sorted(history, reverse=True)
                ]

        @invariant()
        def values_match(self) -> None:
            if not hasattr(self, "store"):
                return
            for namespace, values in self.values.items():
                assert self.call(self.store.list_keys, namespace) == sorted(values)
                for key, value in values.items():
                    assert self.call(self.store.get_value, namespace, key) == value

    StoreMachine.TestCase.settings = settings(
        max_examples=max_examples, stateful_step_count=steps, deadline=None
    )
    return StoreMachine
