from __future__ import annotations

import pytest

from floe.testing import StoreContract, make_store_machine


class TestMemoryStoreContract(StoreContract):
    durable = False

    @pytest.fixture
    def store_url(self) -> str:
        return "memory://"


TestMemoryStoreMachine = make_store_machine(lambda: "memory://").TestCase
TestMemoryStoreMachineAsyncio = make_store_machine(lambda: "memory://", backend="asyncio").TestCase
