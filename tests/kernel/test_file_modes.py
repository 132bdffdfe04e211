"""What floe creates on disk is its owner's only: directories 0700, files 0600.

The stores, artifacts, the log file and component snapshot files are all checked.

Each test runs under the common umask 022, which would otherwise leave everything
readable by every user of the machine. Directories and files that exist already keep
their modes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

import floe
from floe import Kernel
from floe.components._snapshots import save_component_async
from floe.storage import write_atomically
from floe.testing import open_store

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def modes_under(root: Path) -> dict[str, int]:
    found = {".": mode(root)}
    for folder, directories, files in os.walk(root):
        for name in directories + files:
            path = Path(folder) / name
            found[str(path.relative_to(root))] = mode(path)
    return found


@floe.task
async def step(n: int) -> int:
    return n + 1


@floe.workflow
async def flow(n: int) -> int:
    return await step(n)


async def test_the_default_store_is_private(
    floe_kernel_factory: Callable[..., Kernel], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with floe_kernel_factory(store="sqlite:///.floe/floe.db"):
        assert (await flow.run_async(1)).output == 2
        found = modes_under(tmp_path / ".floe")
    assert found.pop(".") == 0o700
    assert set(found) >= {"floe.db", "floe.db-wal", "floe.db-shm"}
    assert set(found.values()) == {0o600}


async def test_sqlite_creates_every_missing_parent_private_and_keeps_existing_modes(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    database = shared / "a" / "b" / "floe.db"
    async with open_store(f"sqlite:///{database}") as store:
        await store.create_run(floe.Run(run_id="r", name="w"))
    assert mode(shared) == 0o755  # the user's directory is theirs
    assert mode(shared / "a") == 0o700
    assert mode(shared / "a" / "b") == 0o700
    assert mode(database) == 0o600


async def test_an_existing_database_keeps_its_mode(tmp_path: Path) -> None:
    database = tmp_path / "floe.db"
    async with open_store(f"sqlite:///{database}"):
        pass
    database.chmod(0o640)
    async with open_store(f"sqlite:///{database}") as store:
        await store.create_run(floe.Run(run_id="r", name="w"))
        assert mode(database) == 0o640
        assert mode(tmp_path / "floe.db-wal") == 0o640  # SQLite follows the database


async def test_every_file_of_the_json_store_is_private(tmp_path: Path) -> None:
    root = tmp_path / "json" / "store"
    async with open_store(f"json:///{root}") as store:
        await store.create_run(floe.Run(run_id="r", name="w"))
        await store.append_events("r", [floe.Event(run_id="r", seq=1, kind="k")])
        await store.put_cached(floe.CacheEntry(key="k", value=1))
        await store.save_snapshot(floe.Snapshot(component="c", state="A"))
        await store.put_value("plugin", "k", b"v")
    found = modes_under(tmp_path / "json")
    directories = {".", "store", "store/runs", "store/cache", "store/snapshots", "store/values"}
    directories.add("store/values/plugin")
    assert {name for name, bits in found.items() if bits == 0o700} == directories
    files = {name for name in found if name not in directories}
    assert {"store/store.json", "store/.lock"} <= files
    assert len(files) == 6
    assert {found[name] for name in files} == {0o600}


async def test_a_rewritten_file_keeps_the_mode_it_was_given(tmp_path: Path) -> None:
    root = tmp_path / "store"
    async with open_store(f"json:///{root}") as store:
        await store.create_run(floe.Run(run_id="r", name="w"))
        (run_file,) = (root / "runs").iterdir()
        run_file.chmod(0o640)
        await store.append_events("r", [floe.Event(run_id="r", seq=1, kind="k")])
    assert mode(run_file) == 0o640
    assert len(await _events(root)) == 1


async def _events(root: Path) -> list[floe.Event]:
    async with open_store(f"json:///{root}") as store:
        return await store.read_events("r")


async def test_artifact_files_are_private(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    async with floe.DirectoryArtifactStore(root) as artifacts:
        reference = await artifacts.put("run-1", "report.txt", b"body")
        assert await artifacts.get(reference) == b"body"
    assert modes_under(root) == {".": 0o700, "run-1": 0o700, "run-1/report.txt": 0o600}


def test_write_atomically_makes_a_private_file_in_private_directories(tmp_path: Path) -> None:
    target = tmp_path / "new" / "deeper" / "file.bin"
    write_atomically(target, b"x")
    assert target.read_bytes() == b"x"
    assert (mode(tmp_path / "new"), mode(target.parent), mode(target)) == (0o700, 0o700, 0o600)


@pytest.mark.hook("floe_configure")
async def test_the_log_file_is_private_and_an_existing_one_keeps_its_mode(
    floe_kernel_factory: Callable[..., Kernel], tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    log_file = shared / "logs" / "daily" / "floe.log"
    sections = {"logging": {"file": str(log_file)}}
    async with floe_kernel_factory(log_format="json", log_level="INFO", sections=sections):
        logging.getLogger("floe.tests.modes").warning("first")
    assert modes_under(shared) == {
        ".": 0o755,
        "logs": 0o700,
        "logs/daily": 0o700,
        "logs/daily/floe.log": 0o600,
    }
    # a log the user opened up for a log shipper stays open, and is appended to
    log_file.chmod(0o640)
    async with floe_kernel_factory(log_format="json", log_level="INFO", sections=sections):
        logging.getLogger("floe.tests.modes").warning("second")
    assert mode(log_file) == 0o640
    messages = [orjson.loads(line)["message"] for line in log_file.read_text().splitlines()]
    assert messages == ["first", "second"]


async def test_component_snapshot_files_are_private(
    floe_kernel_factory: Callable[..., Kernel], tmp_path: Path
) -> None:
    async with floe_kernel_factory():
        component = floe.Component("orders", rules=[{"max_items": 3}])
        target = tmp_path / "snapshots" / "2024" / "orders.json"
        assert floe.save_component(component, target) == target
        later = tmp_path / "snapshots" / "later" / "orders.json"
        await save_component_async(component, later)
    assert modes_under(tmp_path / "snapshots") == {
        ".": 0o700,
        "2024": 0o700,
        "2024/orders.json": 0o600,
        "later": 0o700,
        "later/orders.json": 0o600,
    }
    # saved again over a file the user made readable: it keeps the user's mode
    target.chmod(0o644)
    floe.save_component(component, target, metadata={"again": True})
    assert mode(target) == 0o644
    assert floe.load_snapshot(target).metadata == {"again": True}
