"""Run ids a caller asks for: validated, and never one a programming model reserves."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

import floe
from floe import Kernel
from floe.storage import MAX_RUN_ID_LENGTH, RESERVED_RUN_ID_PREFIXES, check_run_id

pytestmark = pytest.mark.anyio


@floe.task
async def echo(text: str) -> str:
    return text


@floe.workflow
async def say(text: str) -> str:
    return await echo(text)


async def test_a_workflow_run_cannot_take_a_components_run_id(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    async with floe_kernel_factory(store=store_url) as kernel:
        with pytest.raises(floe.ConfigError) as caught:
            await say.run_async("hi", run_id="component:orders")
        assert "'component:'" in caught.value.what
        assert "reserved for components" in caught.value.what
        assert caught.value.context["prefix"] == "component:"
        assert caught.value.context["owner"] == "component"
        assert caught.value.fix
        assert await kernel.store.list_runs() == []
        # an id that merely mentions the word is an ordinary id
        done = await say.run_async("hi", run_id="my-component:orders")
        assert done.output == "hi"


def test_a_sync_run_is_refused_the_same_way() -> None:
    with pytest.raises(floe.ConfigError, match="reserved for components"):
        say.run("hi", run_id="component:x")


@pytest.mark.parametrize(
    ("run_id", "problem"),
    [
        ("", "it is empty"),
        (42, "a str, not int"),
        (b"bytes", "a str, not bytes"),
        ("x" * (MAX_RUN_ID_LENGTH + 1), f"more than {MAX_RUN_ID_LENGTH}"),
        ("line\nbreak", "control character"),
        ("nul\x00", "control character"),
        ("escape\x1b[31m", "control character"),
        ("lone \ud800", "lone surrogate"),
    ],
)
async def test_unusable_run_ids_are_config_errors(
    floe_kernel_factory: Callable[..., Kernel], store_url: str, run_id: Any, problem: str
) -> None:
    async with floe_kernel_factory(store=store_url) as kernel:
        with pytest.raises(floe.ConfigError, match=problem):
            await say.run_async("hi", run_id=run_id)
        assert await kernel.store.list_runs() == []


@pytest.mark.parametrize("run_id", ["a", "order-42", "é ✓ 日本", "x" * MAX_RUN_ID_LENGTH])
async def test_ordinary_run_ids_run(
    floe_kernel_factory: Callable[..., Kernel], store_url: str, run_id: str
) -> None:
    async with floe_kernel_factory(store=store_url) as kernel:
        assert (await say.run_async("hi", run_id=run_id)).succeeded
        assert [run.run_id for run in await kernel.store.list_runs()] == [run_id]


def test_the_owner_of_a_prefix_may_use_it() -> None:
    assert RESERVED_RUN_ID_PREFIXES == {"component:": "component", "schedule:": "schedule"}
    assert check_run_id("component:orders", kind="component") == "component:orders"
    with pytest.raises(floe.ConfigError, match="reserved for components"):
        check_run_id("component:orders", kind="graph")
    with pytest.raises(floe.ConfigError, match="reserved for schedules"):
        check_run_id("schedule:nightly:2026-12-03T02:00:00+00:00")


async def test_a_components_journal_still_lives_under_its_prefix(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    async with floe_kernel_factory() as kernel:
        engine = floe.Engine(kernel)
        await engine.register_async(floe.Component("orders"))
        await engine.flush()
        runs = await kernel.store.list_runs(floe.RunQuery(kind="component"))
        assert [run.run_id for run in runs] == ["component:orders"]


def test_a_components_run_id_starts_with_the_prefix_reserved_for_components() -> None:
    from floe.components._component_journal import COMPONENT_KIND, COMPONENT_RUN_ID_PREFIX

    (reserved,) = [p for p, owner in RESERVED_RUN_ID_PREFIXES.items() if owner == COMPONENT_KIND]
    assert reserved == COMPONENT_RUN_ID_PREFIX
    run_id = floe.Component("orders").run_id
    assert run_id == f"{reserved}orders"
    # so the check every store applies lets components have it, and nothing else
    assert check_run_id(run_id, kind=COMPONENT_KIND) == run_id
    with pytest.raises(floe.ConfigError, match="reserved for components"):
        check_run_id(run_id)


async def test_a_run_id_another_process_creates_after_the_lookup_is_refused_untouched(
    floe_kernel_factory: Callable[..., Kernel], tmp_path: Path
) -> None:
    """Two starts of one caller-chosen run id: the one that loses the race to create it
    runs nothing and raises the error of a run another process executes (which ``floe
    run`` reports with exit code 2), not the store's "already exists"."""
    from floe_sqlite import SQLiteStore

    database = tmp_path / "floe.db"
    ran: list[str] = []

    @floe.task
    async def note(text: str) -> str:
        ran.append(text)
        return text

    @floe.workflow
    async def noted(text: str) -> str:
        return await note(text)

    class Racing:
        floe_plugin_name = "racing"

        @floe.hookimpl
        def floe_open_store(self, url: floe.StoreURL) -> floe.Store | None:
            return RacedStore(database) if url.scheme == "raced" else None

    class RacedStore(SQLiteStore):
        async def create_run(self, run: floe.Run) -> None:
            # the other process, on its own connection, creates the run first
            async with SQLiteStore(database) as other:
                await other.create_run(attrs.evolve(run, name="theirs"))
            await super().create_run(run)

    async with floe_kernel_factory(Racing(), store="raced://") as kernel:
        with pytest.raises(floe.SequenceConflictError) as caught:
            await noted.run_async("mine", run_id="shared")
        assert caught.value.what == "Run 'shared' is being executed by another process"
        assert caught.value.why == "Another execution created the run after this one looked it up."
        assert ran == []
        stored = await kernel.store.get_run("shared")
        assert stored is not None
        assert stored.name == "theirs"
        assert await kernel.store.read_events("shared") == []
