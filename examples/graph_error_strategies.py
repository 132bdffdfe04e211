"""Error strategies: the same flaky stage under STOP, CONTINUE, SKIP and RETRY.

A source emits three readings; the 'parse' stage fails on the second one (and, for
RETRY, only on its first attempt). The last stage counts what reached it. Prints one line
per strategy: the job's status, what the sink saw and parse's routine state.
"""

from __future__ import annotations

import sys

import anyio

import floe
from floe.graph import ErrorHandler, ErrorStrategy, Flow, Routine


class Readings(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_event("reading", ["raw"])

    def __call__(self, values: list[str]) -> None:
        for raw in values:
            self.emit("reading", raw=raw)


class Parse(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.parse)
        self.define_event("parsed", ["value"])
        self.failed_once: set[str] = set()

    def parse(self, raw: str) -> None:
        if raw == "n/a" and (not self.get_config("transient") or raw not in self.failed_once):
            self.failed_once.add(raw)
            raise ValueError(f"cannot parse {raw!r}")
        self.emit("parsed", value=0 if raw == "n/a" else int(raw))


class Sink(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.take)
        self.seen: list[int] = []

    def take(self, value: int) -> None:
        self.seen.append(value)


async def run(handler: ErrorHandler, transient: bool) -> str:
    flow = Flow(f"readings-{handler.strategy.value}")
    parse = Parse()
    parse.set_config(transient=transient)
    parse.set_error_handler(handler)
    sink = Sink()
    flow.add_routine(Readings(), "readings")
    flow.add_routine(parse, "parse")
    flow.add_routine(sink, "sink")
    flow.connect("readings", "reading", "parse", "input")
    flow.connect("parse", "parsed", "sink", "input")
    job = await flow.execute_async("readings", {"values": ["1", "n/a", "3"]})
    state = job.routine_states["parse"]
    return (
        f"{handler.strategy.name:<8} job {job.status:<9} sink saw {sink.seen} "
        f"parse: {state.completed} ok, {state.failed} failed, {state.skipped} skipped, "
        f"{state.retry_count} retries"
    )


async def main(store: str) -> None:
    cases = [
        (ErrorHandler(ErrorStrategy.STOP), False),
        (ErrorHandler(ErrorStrategy.CONTINUE), False),
        (ErrorHandler(ErrorStrategy.SKIP), False),
        (ErrorHandler(ErrorStrategy.RETRY, max_retries=2, retry_delay=0.01), True),
    ]
    async with floe.open_kernel(store=store, log_format="off"):
        for handler, transient in cases:
            print(await run(handler, transient))


if __name__ == "__main__":
    anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else "memory://")
