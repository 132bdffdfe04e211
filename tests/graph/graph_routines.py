"""Routines shared by the graph tests (module level, so serialized flows can import them)."""

from __future__ import annotations

from typing import Any

import anyio

from floe.graph import Routine


class Recorder(Routine):
    """Appends ``(routine name, message)`` to the class-level log, then emits ``output``."""

    log: list[tuple[str, Any]] = []

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.handle)
        self.define_event("output", ["value"])

    def handle(self, value: Any = None) -> None:
        name = self.get_config("name", "?")
        Recorder.log.append((name, value))
        self.increment_stat("handled")
        self.emit("output", value=f"{value}>{name}")


class AsyncRecorder(Routine):
    """Like Recorder, async, sleeping the config's ``delay`` first."""

    log: list[str] = []

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.handle)
        self.define_event("output", ["value"])

    async def handle(self, value: Any = None) -> None:
        await anyio.sleep(self.get_config("delay", 0))
        AsyncRecorder.log.append(self.get_config("name", "?"))
        self.increment_stat("handled")
        self.emit("output", value=value)


class Source(Routine):
    """An entry that emits ``count`` numbered items from its ``__call__``."""

    def __init__(self) -> None:
        super().__init__()
        self.define_event("item", ["n"])

    def __call__(self, count: int = 1) -> None:
        for n in range(count):
            self.emit("item", n=n)


class Failing(Routine):
    """Raises ConnectionError for the first ``failures`` calls (config), then emits."""

    calls: list[float] = []

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.handle)
        self.define_event("output", ["value"])
        self.attempts = 0

    async def handle(self, value: Any = None) -> None:
        self.attempts += 1
        Failing.calls.append(anyio.current_time())
        self.emit("output", value=f"partial-{value}")
        if self.attempts <= self.get_config("failures", 10**9):
            raise ConnectionError(f"attempt {self.attempts} failed")


class NeedsArguments(Routine):
    def __init__(self, required: int) -> None:
        super().__init__()
        self.required = required


class Holder(Routine):
    """Accumulates values on an append slot; emits the running list."""

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.handle, merge_strategy="append")
        self.define_event("output", ["value"])

    def handle(self, value: list[Any]) -> None:
        self.increment_stat("handled")
        self.emit("output", value=",".join(str(v) for v in value))


def double(message: dict[str, Any]) -> dict[str, Any]:
    """A transform function for the Transformer tests."""
    return {**message, "value": message["value"] * 2}
