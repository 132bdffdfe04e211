"""docs/migration-flowforge.md quotes what a literal port of each FlowForge spelling gets.

Each spelling below is FlowForge code run against floe; the first line of what it raises
(or of the error a job records) must be quoted in the guide's tables, so a port's failure
message is explained there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import floe
from floe.graph import Flow, Routine

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "migration-flowforge.md"
pytestmark = pytest.mark.anyio


class Upper(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.handle)
        self.define_event("output", ["text"])

    def handle(self, text: str) -> None:
        self.emit("output", text=text.upper())


class Shout(Upper):
    def handle(self, text: str) -> None:
        self.emit("done", text=text.upper())  # an event it never defined


class Whisper(Upper):
    def handle(self, text: str) -> None:
        self.emit("output")  # without its output parameter


class Raw(Upper):
    def handle(self, text: str) -> None:
        self.emit("output", text=object())  # not JSON


class Words(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.handle)

    def handle(self, text: str, words: int) -> None:
        pass


class Prefixed(Routine):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix


class Helper(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("other", handler=self.handle)

    def handle(self, text: str) -> None:
        pass


def _raised(spelling: Callable[[], Any]) -> BaseException:
    with pytest.raises(Exception) as caught:  # noqa: PT011 - each raises its own
        spelling()
    return caught.value


def _quoted(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error).splitlines()[0]}"


def _one(routine: Routine, routine_id: str = "upper", **options: Any) -> Flow:
    flow = Flow("pipeline", **options)
    flow.add_routine(routine, routine_id)
    return flow


def _prefixed() -> Flow:
    return _one(Prefixed("> "), "prefix")


def _deserialized() -> Flow:
    document = Flow("pipeline").serialize()
    document["routines"]["upper"] = {"class": "myapp.routines:Upper", "config": {}}
    return Flow.deserialize(document)


def _loop() -> Flow:
    flow = Flow("loop", max_deliveries=50)
    flow.add_routine(Upper(), "a")
    flow.add_routine(Upper(), "b")
    flow.connect("a", "output", "b", "input")
    flow.connect("b", "output", "a", "input")
    return flow


SPELLINGS: list[Callable[[], Any]] = [
    lambda: Flow("pipeline", "concurrent", max_workers=4),  # type: ignore[call-arg]
    lambda: _prefixed().serialize(),
    _deserialized,
    lambda: Flow.deserialize({"flow_id": "pipeline", "routines": {}}),
    lambda: Shout().handle("hi"),
    lambda: Whisper().handle("hi"),
    lambda: Raw().handle("hi"),
]


async def test_the_tables_quote_what_a_literal_port_gets(
    floe_kernel_factory: Callable[..., floe.Kernel],
) -> None:
    quoted = [_quoted(_raised(spelling)) for spelling in SPELLINGS]
    async with floe_kernel_factory():
        with pytest.raises(floe.ConfigError) as no_entry:
            await _one(Helper(), "helper").execute_async("helper", {"text": "x"})
        quoted.append(_quoted(no_entry.value))
        with pytest.raises(floe.ConfigError) as reserved:
            await _one(Upper()).execute_async("upper", {"text": "x"}, job_id="component:x")
        quoted.append(_quoted(reserved.value))
        cycle = await _loop().execute_async("a", {"text": "x"})
        unfilled = await _one(Words(), "words").execute_async("words", {"text": "x"})
    for job in (cycle, unfilled):
        assert job.status == "failed"
        assert job.error is not None
        # the job's error, up to the job id it names
        quoted.append(job.error.splitlines()[0].split(f" in job {job.job_id!r}")[0])
    guide = GUIDE.read_text("utf-8")
    missing = [text for text in quoted if text not in guide]
    assert not missing, f"docs/migration-flowforge.md does not quote: {missing}"


def test_every_row_of_the_tables_says_what_a_port_gets() -> None:
    rows = [line for line in GUIDE.read_text("utf-8").splitlines() if line.startswith("| ")]
    headers = [row for row in rows if "what a literal port gets" in row]
    assert len(headers) == 2
    body = [row for row in rows if row not in headers]
    assert len(body) >= 25
    for row in body:
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        assert len(cells) == 3, row
        assert all(cells), f"a row of the guide has an empty cell: {row}"
    for name in ("reentrant", "allow=", "max_concurrency", "ImportNotAllowedError"):
        assert re.search(re.escape(name), "\n".join(body)), name
