"""The JSON-files store: the shared contract, random operations, and its file format."""

from __future__ import annotations

import atexit
import base64
import json
import os
import shutil
import sys
import tempfile
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import floe
import floe.testing
from floe import (
    CacheEntry,
    ConfigError,
    Event,
    NotFoundError,
    PersistenceError,
    Run,
    SequenceConflictError,
    SerializationError,
    Snapshot,
)
from floe_json import JSONStore
from floe_json._files import file_name

# -- the shared suites -----------------------------------------------------------------------


class TestJSONStoreContract(floe.testing.StoreContract):
    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"json:///{tmp_path / 'store'}"


_MACHINE_ROOT = Path(tempfile.mkdtemp(prefix="floe-json-machine-"))
atexit.register(shutil.rmtree, _MACHINE_ROOT, ignore_errors=True)


def _fresh_machine_url() -> str:
    return f"json:///{tempfile.mkdtemp(dir=_MACHINE_ROOT)}"


TestJSONMachine = floe.testing.make_store_machine(_fresh_machine_url).TestCase
TestJSONMachineAsyncio = floe.testing.make_store_machine(
    _fresh_machine_url, backend="asyncio", max_examples=10
).TestCase

# -- helpers ---------------------------------------------------------------------------------

pytestmark = pytest.mark.anyio


def _events(run_id: str, first: int, count: int, kind: str = "task.completed") -> list[Event]:
    return [
        Event(run_id=run_id, seq=seq, kind=kind, step=f"step#{seq}", data={"n": seq})
        for seq in range(first, first + count)
    ]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
async def store(root: Path) -> AsyncIterator[JSONStore]:
    async with JSONStore.from_url(f"json:///{root}") as opened:
        yield opened


def _all_files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.rglob("*") if path.is_file())


def _rewrite_json(path: Path, change: Callable[[dict[str, Any]], None]) -> bytes:
    document = json.loads(path.read_bytes())
    change(document)
    path.write_text(json.dumps(document, indent=2))
    return path.read_bytes()


# -- discovery and URLs ----------------------------------------------------------------------


@pytest.mark.hook("floe_store_schemes")
@pytest.mark.hook("floe_open_store")
def test_plugin_claims_the_json_scheme(floe_kernel_factory: Callable[..., floe.Kernel]) -> None:
    kernel = floe_kernel_factory()
    assert "json" in kernel.hooks.store_schemes()
    store = kernel.hooks.open_store("json:////tmp/somewhere")
    assert isinstance(store, JSONStore)
    assert store.directory == Path("/tmp/somewhere")
    assert isinstance(kernel.hooks.open_store("memory://"), floe.MemoryStore)


async def test_relative_url_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with floe.testing.open_store("json:///.floe/json") as store:
        await store.create_run(Run(run_id="r-1", name="here"))
    assert (tmp_path / ".floe" / "json" / "runs" / file_name("r-1")).is_file()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("json:///dir?fsync=off", "Unknown option 'fsync'"),
        ("json:///", "names no directory"),
        ("json://host/dir", "has a host"),
    ],
)
def test_bad_url_is_a_config_error(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        floe.testing.open_store(url)
    assert isinstance(floe.testing.open_store("json:///dir"), JSONStore)


async def test_directory_that_is_a_file_is_refused(tmp_path: Path) -> None:
    occupied = tmp_path / "occupied"
    occupied.write_text("not a directory")
    for directory in (occupied, occupied / "below"):
        with pytest.raises(PersistenceError, match="Cannot use") as caught:
            async with JSONStore(directory):
                pass
        assert str(directory) in str(caught.value)
        assert caught.value.context["path"] == str(directory)
    assert occupied.read_text() == "not a directory"
    async with JSONStore(tmp_path / "free") as store:
        assert await store.get_run("r-1") is None


async def test_store_that_is_not_open_says_so(root: Path) -> None:
    store = JSONStore(root)
    with pytest.raises(PersistenceError, match="is not open"):
        await store.get_run("r-1")
    async with store:
        assert await store.get_run("r-1") is None


# -- the files -------------------------------------------------------------------------------


async def test_files_are_where_the_docs_say_as_indented_json(store: JSONStore, root: Path) -> None:
    await store.create_run(Run(run_id="order-42", name="ship", input={"items": [1, 2]}))
    await store.append_events("order-42", _events("order-42", 1, 2))
    await store.put_cached(CacheEntry(key="fetch:abc", value={"ok": True}))
    await store.save_snapshot(Snapshot(component="door", state="Open"))

    run_file = root / "runs" / file_name("order-42")
    cache_file = root / "cache" / file_name("fetch:abc")
    snapshot_file = root / "snapshots" / file_name("door")
    assert run_file.name.startswith("order-42-")
    assert _all_files(root) == sorted(
        [root / ".lock", root / "store.json", run_file, cache_file, snapshot_file]
    )
    for path in (run_file, cache_file, snapshot_file, root / "store.json"):
        text = path.read_text(encoding="utf-8")
        assert text.startswith('{\n  "')  # indented for people, not packed
        assert json.loads(text)["format"] == 1

    document = json.loads(run_file.read_bytes())
    assert document["run"]["run_id"] == "order-42"
    assert document["run"]["last_seq"] == 2
    assert [event["seq"] for event in document["events"]] == [1, 2]
    assert json.loads(cache_file.read_bytes())["value"] == {"ok": True}
    assert [s["state"] for s in json.loads(snapshot_file.read_bytes())["snapshots"]] == ["Open"]


@pytest.mark.parametrize(
    "name",
    ["../escape", "a/b/../../c", "..", ".", "/etc/passwd", "ü/ñ 🌊", "x" * 300, "A", "a", ".lock"],
)
async def test_any_name_stays_inside_the_directory_and_round_trips(
    store: JSONStore, root: Path, name: str
) -> None:
    await store.create_run(Run(run_id=name, name="odd"))
    await store.append_events(name, _events(name, 1, 1))
    await store.put_cached(CacheEntry(key=name, value=name))
    await store.save_snapshot(Snapshot(component=name, state="S"))

    loaded = await store.get_run(name)
    assert loaded is not None
    assert loaded.run_id == name
    assert [e.run_id for e in await store.read_events(name)] == [name]
    assert [r.run_id for r in await store.list_runs()] == [name]
    entry = await store.get_cached(name)
    assert entry is not None
    assert entry.value == name
    latest = await store.latest_snapshot(name)
    assert latest is not None
    assert latest.component == name

    folders = {path.parent for path in _all_files(root.parent)}
    assert folders <= {root, root / "runs", root / "cache", root / "snapshots"}
    assert all(len(path.name) < 100 for path in _all_files(root))


async def test_names_differing_in_case_or_unsafe_characters_get_their_own_files(
    store: JSONStore,
) -> None:
    names = ["A", "a", "a/b", "a_b", "a?b"]
    for name in names:
        await store.create_run(Run(run_id=name, name=name))
    for name in names:
        loaded = await store.get_run(name)
        assert loaded is not None
        assert loaded.name == name


async def test_writes_leave_no_temporary_files(store: JSONStore, root: Path) -> None:
    await store.create_run(Run(run_id="r-1", name="many"))
    for seq in range(1, 21):
        await store.append_events("r-1", _events("r-1", seq, 1))
        await store.put_cached(CacheEntry(key=f"k{seq % 3}", value=seq))
        await store.save_snapshot(Snapshot(component="c", state=f"S{seq}"))
    await store.prune_snapshots("c", keep_last=2)
    hidden = [path.name for path in _all_files(root) if path.name.startswith(".")]
    assert hidden == [".lock"]
    assert not [path for path in _all_files(root) if path.suffix == ".tmp"]


async def test_unserializable_value_fails_and_keeps_the_file(store: JSONStore, root: Path) -> None:
    await store.create_run(Run(run_id="r-1", name="kept", input={"fine": 1}))
    run_file = root / "runs" / file_name("r-1")
    before = run_file.read_bytes()
    with pytest.raises(SerializationError, match="not JSON-serializable"):
        await store.update_run(Run(run_id="r-1", name="kept", input={"bad": object()}))
    assert run_file.read_bytes() == before
    loaded = await store.get_run("r-1")
    assert loaded is not None
    assert loaded.input == {"fine": 1}


async def test_data_written_by_one_store_reads_in_another(root: Path) -> None:
    async with JSONStore(root) as writer:
        await writer.create_run(Run(run_id="r-1", name="shared"))
        await writer.append_events("r-1", _events("r-1", 1, 3))
        async with JSONStore(root) as reader:
            assert [e.seq for e in await reader.read_events("r-1", after_seq=1)] == [2, 3]


# -- newer formats and corrupt files ---------------------------------------------------------


def _run_operations(store: JSONStore) -> list[Callable[[], Awaitable[object]]]:
    return [
        lambda: store.get_run("r-1"),
        lambda: store.read_events("r-1"),
        store.list_runs,  # names the run when the file still says which it is
        lambda: store.update_run(Run(run_id="r-1", name="changed")),
        lambda: store.append_events("r-1", _events("r-1", 2, 1)),
    ]


def _cache_operations(store: JSONStore) -> list[Callable[[], Awaitable[object]]]:
    return [
        lambda: store.get_cached("k"),
        lambda: store.put_cached(CacheEntry(key="k", value="replaced")),
    ]


def _snapshot_operations(store: JSONStore) -> list[Callable[[], Awaitable[object]]]:
    return [
        lambda: store.latest_snapshot("c"),
        lambda: store.list_snapshots("c"),
        lambda: store.save_snapshot(Snapshot(component="c", state="B")),
        lambda: store.prune_snapshots("c", keep_last=1),
    ]


async def _fill(store: JSONStore) -> None:
    for run_id in ("r-1", "r-2"):
        await store.create_run(Run(run_id=run_id, name="filled"))
        await store.append_events(run_id, _events(run_id, 1, 1))
    for key in ("k", "other"):
        await store.put_cached(CacheEntry(key=key, value=1))
    for component in ("c", "other"):
        await store.save_snapshot(Snapshot(component=component, state="A"))
        await store.save_snapshot(Snapshot(component=component, state="A2"))


_RECORDS = {
    "run": ("runs", "r-1", "run 'r-1'", _run_operations),
    "cache": ("cache", "k", "cache entry 'k'", _cache_operations),
    "snapshot": ("snapshots", "c", "component 'c'", _snapshot_operations),
}


async def _others_still_load(store: JSONStore) -> None:
    other = await store.get_run("r-2")
    assert other is not None
    assert [e.seq for e in await store.read_events("r-2")] == [1]
    assert await store.get_cached("other") is not None
    assert [s.state for s in await store.list_snapshots("other")] == ["A2", "A"]


@pytest.mark.parametrize("record", sorted(_RECORDS))
async def test_newer_format_is_refused_and_left_untouched(
    store: JSONStore, root: Path, record: str
) -> None:
    await _fill(store)
    folder, name, label, operations = _RECORDS[record]
    path = root / folder / file_name(name)
    before = _rewrite_json(path, lambda document: document.update(format=2))
    for operation in operations(store):
        with pytest.raises(PersistenceError, match="written by a newer floe") as caught:
            await operation()
        assert label.split(" ", 1)[1] in str(caught.value)
        assert str(path) in str(caught.value)
        assert caught.value.context["format"] == 2
    assert path.read_bytes() == before
    await _others_still_load(store)


_CORRUPTIONS = {
    "bad JSON": (b'{"format": 1, "run": ', "is not valid JSON"),
    "wrong shape": (b'{"format": 1, "run": "nope", "component": 7, "snapshots": 3}', "format"),
    "not an object": (b"[1, 2, 3]", "format"),
    "empty": (b"", "is not valid JSON"),
}


@pytest.mark.parametrize("corruption", sorted(_CORRUPTIONS))
@pytest.mark.parametrize("record", sorted(_RECORDS))
async def test_corrupt_file_is_named_and_left_untouched(
    store: JSONStore, root: Path, record: str, corruption: str
) -> None:
    await _fill(store)
    folder, name, label, operations = _RECORDS[record]
    body, message = _CORRUPTIONS[corruption]
    path = root / folder / file_name(name)
    path.write_bytes(body)
    for operation in operations(store):
        with pytest.raises(PersistenceError, match=message) as caught:
            await operation()
        assert isinstance(caught.value, ValueError)
        if operation != store.list_runs:  # a listing met the file, not the name
            assert label.split(" ", 1)[1] in str(caught.value)
        assert str(path) in str(caught.value)
        assert caught.value.context["path"] == str(path)
    assert path.read_bytes() == body
    await _others_still_load(store)


@pytest.mark.parametrize("corruption", sorted(_CORRUPTIONS))
async def test_a_checked_listing_reports_a_damaged_run_file_and_lists_the_others(
    store: JSONStore, root: Path, corruption: str
) -> None:
    await _fill(store)
    body, message = _CORRUPTIONS[corruption]
    path = root / "runs" / file_name("r-1")
    path.write_bytes(body)
    listing = await store.list_runs_checked()
    assert [run.run_id for run in listing.runs] == ["r-2"]
    (damaged,) = listing.damaged
    assert damaged.location == str(path)
    assert message in damaged.why
    assert damaged.run_id is None  # the file no longer says which run it is
    assert path.read_bytes() == body


async def test_a_checked_listing_names_the_run_of_a_renamed_file(
    store: JSONStore, root: Path
) -> None:
    await _fill(store)
    runs = root / "runs"
    shutil.copy(runs / file_name("r-1"), runs / "renamed.json")
    listing = await store.list_runs_checked(floe.RunQuery(name="never matches"))
    assert listing.runs == ()
    (damaged,) = listing.damaged  # it cannot be told apart from a match: reported
    assert damaged.run_id == "r-1"
    assert "renamed.json holds run 'r-1'" in damaged.why


async def test_run_file_under_another_name_is_reported(store: JSONStore, root: Path) -> None:
    await _fill(store)
    runs = root / "runs"
    shutil.copy(runs / file_name("r-1"), runs / file_name("r-3"))
    with pytest.raises(PersistenceError, match="holds run id 'r-1', not 'r-3'"):
        await store.get_run("r-3")
    shutil.copy(runs / file_name("r-1"), runs / "renamed.json")
    with pytest.raises(PersistenceError, match=r"renamed\.json holds run 'r-1'"):
        await store.list_runs()
    assert await store.get_run("r-2") is not None


async def test_store_file_of_a_newer_floe_refuses_to_open(root: Path) -> None:
    async with JSONStore(root):
        pass
    before = _rewrite_json(root / "store.json", lambda document: document.update(format=9))
    with pytest.raises(PersistenceError, match="written by a newer floe"):
        async with JSONStore(root):
            pass
    assert (root / "store.json").read_bytes() == before


async def _save_states(store: JSONStore, component: str, *states: str) -> list[int]:
    return [await store.save_snapshot(Snapshot(component=component, state=s)) for s in states]


async def _all_snapshot_ids(store: JSONStore, *components: str) -> list[int]:
    found = [s for c in components for s in await store.list_snapshots(c, limit=100)]
    return sorted(s.snapshot_id or 0 for s in found)


async def test_deleting_the_store_file_never_reuses_an_id(root: Path) -> None:
    async with JSONStore(root) as store:
        await store.create_run(Run(run_id="r-1", name="w"))
        first = await _save_states(store, "a", "A1", "A2")
        first += await _save_states(store, "b", "B1")
        (root / "store.json").unlink()  # deleted while the store is open
        after_delete = await _save_states(store, "a", "A3")
    (root / "store.json").unlink()  # and while it is closed
    async with JSONStore(root) as store:
        after_reopen = await _save_states(store, "b", "B2")
        await store.create_run(Run(run_id="r-2", name="w"))
        ids = await _all_snapshot_ids(store, "a", "b")
        latest = await store.latest_snapshot("a")
        assert latest is not None
        assert latest.state == "A3"
        assert [run.run_id for run in await store.list_runs()] == ["r-2", "r-1"]
    assert first == [2, 3, 4]  # the run took id 1
    assert after_delete[0] > max(first)
    assert after_reopen[0] > after_delete[0]
    assert ids == sorted(set(ids))
    assert len(ids) == 5


async def test_a_store_file_restored_from_an_old_backup_is_caught_up(root: Path) -> None:
    async with JSONStore(root) as store:
        await _save_states(store, "a", "A1")
        backup = (root / "store.json").read_bytes()
        await _save_states(store, "a", "A2", "A3")
        (root / "store.json").write_bytes(backup)
        (again,) = await _save_states(store, "a", "A4")
        assert await _all_snapshot_ids(store, "a") == [1, 2, 3, again]
        assert again == 4


async def test_a_damaged_store_file_says_deleting_it_is_safe_and_it_is(root: Path) -> None:
    async with JSONStore(root) as store:
        await _save_states(store, "a", "A1", "A2")
    (root / "store.json").write_bytes(b'{"format": 1, "next_id": ')
    with pytest.raises(PersistenceError, match=r"store\.json") as caught:
        async with JSONStore(root):
            pass
    assert caught.value.fix is not None
    assert caught.value.fix.startswith("Delete store.json")
    assert "no id is given out twice" in caught.value.fix
    (root / "store.json").unlink()  # as the fix says
    async with JSONStore(root) as store:
        (third,) = await _save_states(store, "a", "A3")
        assert third == 3
        assert [s.state for s in await store.list_snapshots("a")] == ["A3", "A2", "A1"]


# -- concurrent writers ----------------------------------------------------------------------


async def test_two_stores_on_one_directory_cannot_both_append_a_seq(root: Path) -> None:
    async with JSONStore(root) as first, JSONStore(root) as second:
        await first.create_run(Run(run_id="r-1", name="contested"))
        await second.append_events("r-1", _events("r-1", 1, 1, kind="second"))
        with pytest.raises(SequenceConflictError, match="cannot append seq 1"):
            await first.append_events("r-1", _events("r-1", 1, 1, kind="first"))

        outcomes: list[str] = []

        async def writer(store: JSONStore, kind: str) -> None:
            try:
                await store.append_events("r-1", _events("r-1", 2, 1, kind=kind))
            except SequenceConflictError:
                outcomes.append("lost")
            else:
                outcomes.append("won")

        async with anyio.create_task_group() as group:
            group.start_soon(writer, first, "a")
            group.start_soon(writer, second, "b")
        assert sorted(outcomes) == ["lost", "won"]
        journal = await second.read_events("r-1")
        assert [e.seq for e in journal] == [1, 2]
        assert journal[0].kind == "second"
        assert journal[1].kind in {"a", "b"}


_APPENDER = textwrap.dedent(
    """
    import sys
    import anyio
    from floe import Event, SequenceConflictError
    from floe_json import JSONStore

    async def main(directory, name, count):
        appended = conflicts = 0
        async with JSONStore(directory) as store:
            while appended < count:
                run = await store.get_run("shared")
                event = Event(run_id="shared", seq=run.last_seq + 1, kind=name)
                try:
                    await store.append_events("shared", [event])
                except SequenceConflictError:
                    conflicts += 1
                else:
                    appended += 1
        print(conflicts)

    anyio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]))
    """
)


async def test_processes_appending_to_one_run_never_lose_an_event(root: Path) -> None:
    count = 40
    async with JSONStore(root) as store:
        await store.create_run(Run(run_id="shared", name="race"))
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    async def appender(name: str) -> None:
        result = await anyio.run_process(
            [sys.executable, "-c", _APPENDER, str(root), name, str(count)],
            env=environment,
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode()

    async with anyio.create_task_group() as group:
        for name in ("p1", "p2", "p3"):
            group.start_soon(appender, name)
    async with JSONStore(root) as store:
        events = await store.read_events("shared")
        run = await store.get_run("shared")
    assert [e.seq for e in events] == list(range(1, 3 * count + 1))
    assert sorted(e.kind for e in events) == sorted(["p1", "p2", "p3"] * count)
    assert run is not None
    assert run.last_seq == 3 * count


# -- argument checks next to the good case ---------------------------------------------------


async def test_append_with_another_runs_record_is_refused(store: JSONStore) -> None:
    await store.create_run(Run(run_id="r-1", name="one"))
    await store.create_run(Run(run_id="r-2", name="two"))
    with pytest.raises(PersistenceError, match="with the record of run 'r-2'"):
        await store.append_events("r-1", _events("r-1", 1, 1), run=Run(run_id="r-2", name="two"))
    assert await store.read_events("r-1") == []
    await store.append_events("r-1", _events("r-1", 1, 1), run=Run(run_id="r-1", name="renamed"))
    loaded = await store.get_run("r-1")
    assert loaded is not None
    assert (loaded.name, loaded.last_seq) == ("renamed", 1)


@pytest.mark.parametrize("limit", [0, -1, 1.5, "2"])
async def test_bad_limits_are_config_errors(store: JSONStore, limit: Any) -> None:
    await store.create_run(Run(run_id="r-1", name="x"))
    await store.append_events("r-1", _events("r-1", 1, 2))
    with pytest.raises(ConfigError):
        await store.read_events("r-1", limit=limit)
    with pytest.raises(ConfigError):
        await store.list_snapshots("c", limit=limit)
    with pytest.raises(ConfigError):
        await store.claim_runs("w", limit=limit)
    assert len(await store.read_events("r-1", limit=1)) == 1


async def test_update_of_a_missing_run_creates_no_file(store: JSONStore, root: Path) -> None:
    with pytest.raises(NotFoundError):
        await store.update_run(Run(run_id="ghost", name="x"))
    assert not list((root / "runs").iterdir())


async def test_store_opens_once(root: Path) -> None:
    async with JSONStore(root) as store:
        with pytest.raises(PersistenceError, match="already open"):
            await store.open()
        assert await store.list_runs() == []


async def test_removed_runs_folder_reads_as_empty_and_comes_back(
    store: JSONStore, root: Path
) -> None:
    shutil.rmtree(root / "runs")
    assert await store.list_runs() == []
    await store.create_run(Run(run_id="r-1", name="again"))
    assert [r.run_id for r in await store.list_runs()] == ["r-1"]


# -- plugin values: one file each, under values/<namespace>/ ---------------------------------


async def test_value_files_are_where_the_docs_say(store: JSONStore, root: Path) -> None:
    await store.put_value("secrets", "api_key", b"\x00\xffcipher")
    path = root / "values" / "secrets" / file_name("api_key")
    assert path.name.startswith("api_key-")
    text = path.read_text(encoding="utf-8")
    assert text.startswith('{\n  "')
    document = json.loads(text)
    assert document == {
        "format": 1,
        "namespace": "secrets",
        "key": "api_key",
        "value": base64.b64encode(b"\x00\xffcipher").decode(),
    }
    assert await store.delete_value("secrets", "api_key")
    assert not path.exists()


@pytest.mark.parametrize(
    "key", ["../escape", "..", ".", "/etc/passwd", "ü/ñ 🌊", "x" * 300, ".lock"]
)
async def test_any_value_key_stays_inside_its_namespace_folder(
    store: JSONStore, root: Path, key: str
) -> None:
    await store.put_value("plugin", key, key.encode())
    assert await store.get_value("plugin", key) == key.encode()
    assert await store.list_keys("plugin") == [key]
    folder = root / "values" / "plugin"
    assert {path.parent for path in _all_files(root / "values")} == {folder}
    assert all(len(path.name) < 100 for path in _all_files(folder))


async def test_value_writes_leave_no_temporary_files(store: JSONStore, root: Path) -> None:
    for index in range(20):
        await store.put_value("plugin", f"k{index % 3}", bytes([index]))
    await store.delete_value("plugin", "k0")
    assert [p.name for p in _all_files(root / "values")] == sorted(
        file_name(key) for key in ("k1", "k2")
    )


def _value_operations(store: JSONStore) -> list[Callable[[], Awaitable[object]]]:
    return [
        lambda: store.get_value("plugin", "k"),
        lambda: store.put_value("plugin", "k", b"replaced"),
        lambda: store.delete_value("plugin", "k"),
        lambda: store.list_keys("plugin"),  # names the file, which the listing met
    ]


async def _fill_values(store: JSONStore, root: Path) -> Path:
    await store.put_value("plugin", "k", b"v")
    await store.put_value("plugin", "other", b"w")
    return root / "values" / "plugin" / file_name("k")


async def test_value_of_a_newer_format_is_refused_and_left_untouched(
    store: JSONStore, root: Path
) -> None:
    path = await _fill_values(store, root)
    before = _rewrite_json(path, lambda document: document.update(format=2))
    for operation in _value_operations(store):
        with pytest.raises(PersistenceError, match="written by a newer floe") as caught:
            await operation()
        assert str(path) in str(caught.value)
        assert caught.value.context["format"] == 2
    assert path.read_bytes() == before
    assert await store.get_value("plugin", "other") == b"w"


_VALUE_CORRUPTIONS = {
    "bad JSON": (b'{"format": 1, "key": ', "is not valid JSON"),
    "wrong shape": (b'{"format": 1, "key": 7}', "does not match the ValueFile format"),
    "empty": (b"", "is not valid JSON"),
}


@pytest.mark.parametrize("corruption", sorted(_VALUE_CORRUPTIONS))
async def test_corrupt_value_file_is_named_and_left_untouched(
    store: JSONStore, root: Path, corruption: str
) -> None:
    path = await _fill_values(store, root)
    body, message = _VALUE_CORRUPTIONS[corruption]
    path.write_bytes(body)
    for operation in _value_operations(store):
        with pytest.raises(PersistenceError, match=message) as caught:
            await operation()
        assert caught.value.context["path"] == str(path)
    assert path.read_bytes() == body
    assert await store.get_value("plugin", "other") == b"w"


async def test_value_that_is_not_base64_is_named(store: JSONStore, root: Path) -> None:
    path = await _fill_values(store, root)
    _rewrite_json(path, lambda document: document.update(value="not base64!"))
    with pytest.raises(
        PersistenceError, match=r"Value 'k' of namespace 'plugin' .* not valid base64"
    ):
        await store.get_value("plugin", "k")


async def test_value_file_under_another_name_is_reported(store: JSONStore, root: Path) -> None:
    path = await _fill_values(store, root)
    shutil.copy(path, path.with_name(file_name("copy")))
    with pytest.raises(PersistenceError, match="holds key 'k', not 'copy'"):
        await store.get_value("plugin", "copy")
    with pytest.raises(PersistenceError, match="holds the value 'k' of namespace 'plugin'"):
        await store.list_keys("plugin")
    moved = root / "values" / "elsewhere" / file_name("k")
    moved.parent.mkdir()
    shutil.copy(path, moved)
    with pytest.raises(PersistenceError, match="holds the value 'k' of namespace 'plugin'"):
        await store.get_value("elsewhere", "k")
    assert await store.get_value("plugin", "other") == b"w"
