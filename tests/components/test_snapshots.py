"""Component snapshots in every store, restoring from them, and the JSON file export."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from floe import (
    ConfigError,
    FloeError,
    Kernel,
    NotFoundError,
    PersistenceError,
    SerializationError,
    Snapshot,
    StateError,
)
from floe.components._components import REGISTERED, Component, Engine
from floe.components._snapshots import (
    list_snapshots,
    load_latest_snapshot,
    load_snapshot,
    load_snapshot_async,
    prune_snapshots,
    restore_component,
    save_component,
    save_component_async,
    save_snapshot,
    snapshot_of,
)
from floe.components._state_machine import Transitioned
from floe.kernel._models import utcnow

pytestmark = pytest.mark.anyio


@pytest.fixture
async def kernel(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> AsyncIterator[Kernel]:
    async with floe_kernel_factory(store=store_url) as kernel:
        yield kernel


@pytest.fixture
def engine(kernel: Kernel) -> Engine:
    return Engine(kernel)


async def _orders(engine: Engine) -> Component:
    component = engine.register(
        Component("orders", rules=[{"limit": 5}], metadata={"team": "shipping"})
    )
    await component.handle_message("start")
    return component


# -- in the store -----------------------------------------------------------------------


async def test_save_and_load_the_latest(engine: Engine) -> None:
    assert await load_latest_snapshot("orders") is None
    component = await _orders(engine)
    first = await save_snapshot(component, {"version": "1.0"})
    await component.handle_message("confirm", content="confirmed")
    second = await save_snapshot(component)
    assert first < second
    latest = await load_latest_snapshot(component)
    assert latest is not None
    assert (latest.component, latest.state, latest.snapshot_id) == (
        "orders",
        "ProcessingRequest",
        second,
    )
    assert latest.rules == [{"limit": 5}]
    assert latest.metadata == {"team": "shipping"}
    history = await list_snapshots("orders")
    assert [s.state for s in history] == ["ProcessingRequest", "AwaitingConfirmation"]
    assert history[1].metadata == {"team": "shipping", "version": "1.0"}
    assert await list_snapshots("nobody") == []


async def test_history_is_newest_first_with_ties_by_insertion(kernel: Kernel) -> None:
    moment = utcnow()
    store = kernel.store
    # equal times, then an older snapshot inserted last, then a newer one
    for state in ("A", "B", "C"):
        await store.save_snapshot(Snapshot(component="c", state=state, created_at=moment))
    await store.save_snapshot(
        Snapshot(component="c", state="Old", created_at=moment - timedelta(hours=1))
    )
    await store.save_snapshot(
        Snapshot(component="c", state="New", created_at=moment + timedelta(seconds=1))
    )
    assert [s.state for s in await list_snapshots("c", limit=10)] == ["New", "C", "B", "A", "Old"]
    assert [s.state for s in await list_snapshots("c", 2)] == ["New", "C"]
    latest = await load_latest_snapshot("c")
    assert latest is not None
    assert latest.state == "New"
    assert await prune_snapshots("c", keep_last=3) == 2
    assert [s.state for s in await list_snapshots("c")] == ["New", "C", "B"]


async def test_prune_keeps_exactly_the_newest(engine: Engine) -> None:
    component = await _orders(engine)
    ids = [await save_snapshot(component, {"n": n}) for n in range(7)]
    assert ids == sorted(ids)
    assert await prune_snapshots(component, keep_last=10) == 0
    assert await prune_snapshots("orders", keep_last=3) == 4
    assert [s.metadata["n"] for s in await list_snapshots("orders")] == [6, 5, 4]
    assert await prune_snapshots("orders", keep_last=3) == 0
    assert await prune_snapshots("orders", keep_last=1) == 2
    assert await prune_snapshots("nobody", keep_last=1) == 0


@pytest.mark.parametrize("keep_last", [0, -1, 1.5, True, "3", None])
async def test_prune_rejects_keep_last_below_one(engine: Engine, keep_last: Any) -> None:
    component = await _orders(engine)
    await save_snapshot(component)
    with pytest.raises(ConfigError, match="keep_last") as caught:
        await prune_snapshots("orders", keep_last=keep_last)
    assert caught.value.fix
    assert len(await list_snapshots("orders")) == 1


@pytest.mark.parametrize("limit", [0, -3, 2.5, "10"])
async def test_list_rejects_a_bad_limit(engine: Engine, limit: Any) -> None:
    with pytest.raises(ConfigError, match="limit"):
        await list_snapshots("orders", limit)


async def test_snapshot_arguments_are_checked(engine: Engine) -> None:
    component = await _orders(engine)
    with pytest.raises(SerializationError, match="snapshot metadata of component 'orders'"):
        await save_snapshot(component, {"when": object()})
    with pytest.raises(StateError, match="must be a mapping"):
        await save_snapshot(component, ["x"])  # type: ignore[arg-type]
    with pytest.raises(StateError, match=r"not a floe\.Component"):
        await save_snapshot("orders")  # type: ignore[arg-type]
    with pytest.raises(StateError, match="Invalid component name"):
        await load_latest_snapshot("")
    assert await list_snapshots("orders") == []


async def test_the_store_defaults_to_the_running_kernels() -> None:
    with pytest.raises(FloeError, match="No floe kernel is running"):
        await load_latest_snapshot("orders")


async def test_an_explicit_store(
    tmp_path: Path, floe_kernel_factory: Callable[..., Kernel]
) -> None:
    async with floe_kernel_factory(store=f"sqlite:///{tmp_path}/other.db") as other:
        other_store = other.store
        async with floe_kernel_factory(store="memory://") as kernel:
            component = await _orders(Engine(kernel))
            await save_snapshot(component, store=other_store)
            assert await load_latest_snapshot("orders") is None
            assert len(await list_snapshots("orders", store=other_store)) == 1
            assert await prune_snapshots("orders", 1, store=other_store) == 0
            latest = await load_latest_snapshot("orders", store=other_store)
            assert latest is not None
            assert latest.state == "AwaitingConfirmation"


# -- restoring --------------------------------------------------------------------------


async def test_restore_component_brings_back_state_rules_and_metadata(
    kernel: Kernel, engine: Engine
) -> None:
    component = await _orders(engine)
    await save_snapshot(component, {"version": "1.0"})
    component.update_rules([])
    await component.handle_message("cancel")
    snapshot = await load_latest_snapshot("orders")
    assert snapshot is not None
    restored = restore_component(snapshot, engine)
    assert restored is not component
    assert engine.get("orders") is restored
    assert not component.registered
    assert restored.state == "AwaitingConfirmation"
    assert restored.rules == ({"limit": 5},)
    assert restored.metadata == {"team": "shipping", "version": "1.0"}
    assert await restored.handle_message("confirm", content="confirmed") == Transitioned(
        "AwaitingConfirmation", "ProcessingRequest"
    )
    journal = await engine.history("orders")
    registrations = [e.data for e in journal if e.kind == REGISTERED]
    assert registrations[-1] == {
        "component": "orders",
        "state": "AwaitingConfirmation",
        "rules": [{"limit": 5}],
        "metadata": {"team": "shipping", "version": "1.0"},
    }
    with pytest.raises(StateError, match="already registered"):
        restore_component(snapshot, engine, replace=False)


async def test_restore_in_a_new_kernel(
    floe_kernel_factory: Callable[..., Kernel], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/x.db"
    async with floe_kernel_factory(store=url) as kernel:
        await save_snapshot(await _orders(Engine(kernel)))
    async with floe_kernel_factory(store=url) as kernel:
        snapshot = await load_latest_snapshot("orders")
        assert snapshot is not None
        engine = Engine(kernel)
        restored = restore_component(snapshot, engine)
        await restored.flush()
        assert restored.state == "AwaitingConfirmation"
        assert [e.kind for e in await engine.history("orders")][-1] == REGISTERED


async def test_a_snapshot_naming_an_unknown_state_lists_the_known_ones(
    kernel: Kernel, engine: Engine
) -> None:
    snapshot = Snapshot(component="orders", state="Shipped", snapshot_id=7)
    with pytest.raises(StateError, match="Unknown state 'Shipped'") as caught:
        restore_component(snapshot, engine)
    assert "AwaitingConfirmation, ErrorHandling, InitialState, ProcessingRequest" in (
        caught.value.why or ""
    )
    assert caught.value.context == {"name": "Shipped", "component": "orders", "snapshot_id": 7}
    assert "orders" not in engine
    with pytest.raises(StateError, match=r"takes a floe\.Snapshot"):
        restore_component({"component": "orders"}, engine)  # type: ignore[arg-type]
    with pytest.raises(StateError, match=r"takes a floe\.Engine"):
        restore_component(snapshot, kernel)  # type: ignore[arg-type]


# -- files ------------------------------------------------------------------------------


async def test_file_round_trip(engine: Engine, tmp_path: Path) -> None:
    component = await _orders(engine)
    path = save_component(component, tmp_path / "state" / "orders.json", {"version": "1.0"})
    assert path == tmp_path / "state" / "orders.json"
    document = orjson.loads(path.read_bytes())
    assert document["component"] == "orders"
    assert document["state"] == "AwaitingConfirmation"
    assert document["format"] == 1
    snapshot = load_snapshot(path)
    assert snapshot.created_at.isoformat() == document["created_at"]
    assert snapshot.snapshot_id is None
    assert (snapshot.state, snapshot.rules) == ("AwaitingConfirmation", [{"limit": 5}])
    assert snapshot.metadata == {"team": "shipping", "version": "1.0"}
    restored = restore_component(snapshot, engine)
    assert restored.state == "AwaitingConfirmation"
    assert os.listdir(path.parent) == ["orders.json"]  # no temporary file left behind


async def test_async_file_functions(engine: Engine, tmp_path: Path) -> None:
    component = await _orders(engine)
    path = await save_component_async(component, str(tmp_path / "orders.json"))
    await component.handle_message("cancel")
    loaded = await load_snapshot_async(path)
    assert loaded.state == "AwaitingConfirmation"  # taken when the call was made


async def test_overwriting_is_atomic_and_a_failed_save_keeps_the_old_file(
    engine: Engine, tmp_path: Path
) -> None:
    component = await _orders(engine)
    path = tmp_path / "files" / "orders.json"
    save_component(component, path)
    before = path.read_bytes()
    with pytest.raises(SerializationError):
        save_component(component, path, {"bad": object()})
    assert path.read_bytes() == before
    await component.handle_message("cancel")
    save_component(component, path)
    assert load_snapshot(path).state == "InitialState"
    assert os.listdir(path.parent) == ["orders.json"]


async def test_an_unwritable_path_is_a_persistence_error(engine: Engine, tmp_path: Path) -> None:
    component = await _orders(engine)
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(PersistenceError, match="snapshot of component 'orders'") as caught:
        save_component(component, tmp_path / "file" / "orders.json")
    assert caught.value.context["path"] == str(tmp_path / "file" / "orders.json")


@pytest.mark.parametrize(
    ("body", "component", "match"),
    [
        pytest.param(
            b'{"component": "orders", "state": "Initial',
            "'orders'",
            "is not valid JSON",
            id="truncated",
        ),
        pytest.param(b"\x00\x01garbage", "unknown", "is not valid JSON", id="garbage"),
        pytest.param(b"", "unknown", "is not valid JSON", id="empty"),
        pytest.param(
            b'{"component": "orders", "state": 3}',
            "'orders'",
            "has no valid 'state'",
            id="state-is-a-number",
        ),
        pytest.param(
            b'{"component": "orders"}',
            "'orders'",
            "does not match the Snapshot format",
            id="no-state",
        ),
        pytest.param(
            b'{"component": "orders", "state": ""}',
            "'orders'",
            "has no valid 'state'",
            id="empty-state",
        ),
        pytest.param(
            b'["orders", "InitialState"]', "unknown", "does not match the Snapshot", id="a-list"
        ),
        pytest.param(
            b'{"component": "orders", "state": "InitialState", "format": 99}',
            "'orders'",
            "written by a newer floe",
            id="newer-format",
        ),
    ],
)
def test_a_corrupt_file_names_the_component_and_the_path(
    tmp_path: Path, body: bytes, component: str, match: str
) -> None:
    path = tmp_path / "orders.json"
    path.write_bytes(body)
    with pytest.raises(PersistenceError, match=match) as caught:
        load_snapshot(path)
    error = caught.value
    assert isinstance(error, ValueError)
    assert str(path) in error.what
    assert f"(component {component})" in error.what
    assert error.context["path"] == str(path)
    assert error.context["component"] == component
    assert str(path) in (error.fix or "")
    assert path.read_bytes() == body  # left untouched


def test_a_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="No snapshot file") as caught:
        load_snapshot(tmp_path / "missing.json")
    assert caught.value.context == {"path": str(tmp_path / "missing.json")}
    with pytest.raises(PersistenceError, match="Cannot read the snapshot file"):
        load_snapshot(tmp_path)  # a directory


async def test_snapshot_of_merges_metadata_without_changing_the_component(
    engine: Engine,
) -> None:
    component = await _orders(engine)
    snapshot = snapshot_of(component, {"version": "2", "team": "billing"})
    assert snapshot.metadata == {"team": "billing", "version": "2"}
    assert component.metadata == {"team": "shipping"}
    assert (snapshot.component, snapshot.state, snapshot.rules) == (
        "orders",
        "AwaitingConfirmation",
        [{"limit": 5}],
    )
    assert snapshot.snapshot_id is None
