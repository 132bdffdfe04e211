from __future__ import annotations

import pytest

import floe
from floe import MemoryStore, Run, Store
from floe.testing import StoreContract, make_store_machine


class TestMemoryStoreContract(StoreContract):
    durable = False

    @pytest.fixture
    def store_url(self) -> str:
        return "memory://"


TestMemoryStoreMachine = make_store_machine(lambda: "memory://").TestCase
TestMemoryStoreMachineAsyncio = make_store_machine(lambda: "memory://", backend="asyncio").TestCase


class _ListingStore(MemoryStore):
    """The memory store finding run ids with the ``Store`` default: through list_runs."""

    find_run_ids = Store.find_run_ids


@pytest.mark.anyio
async def test_the_default_find_run_ids_keeps_the_contract() -> None:
    contract = StoreContract()
    async with _ListingStore() as store:
        await contract.test_find_run_ids_by_prefix(store)
    async with _ListingStore() as store:
        await contract.test_find_run_ids_stops_at_the_limit(store)


@pytest.mark.anyio
async def test_the_default_find_run_ids_reads_every_page_of_runs() -> None:
    async with _ListingStore() as store:
        for index in range(1_234):
            await store.create_run(Run(run_id=f"{index:04d}", name="hello"))
        assert await store.find_run_ids("12") == [f"12{index:02d}" for index in range(10)]
        assert len(await store.find_run_ids("12", limit=100)) == 34
        assert await store.find_run_ids("0000") == ["0000"]
        with pytest.raises(floe.ConfigError):
            await store.find_run_ids("")
