"""Pause and resume: an approval stage pauses the job; later (here: in a second kernel on
the same SQLite file, as another process would) the job resumes where it stopped.

Usage: ``python examples/graph_pause_resume.py [STORE]`` (default: a SQLite file in the
working directory). Prints the status after each part and what ran when.
"""

from __future__ import annotations

import sys

import anyio

import floe
from floe.graph import Flow, Routine

RAN: list[str] = []


class Draft(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.write)
        self.define_event("drafted", ["text"])

    def write(self, topic: str) -> None:
        RAN.append("draft")
        self.emit("drafted", text=f"All about {topic}")


class Approval(Routine):
    """Pauses the flow the first time it sees a draft; emits it after the resume."""

    flow: Flow | None = None

    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.review)
        self.define_event("approved", ["text"])

    def review(self, text: str) -> None:
        RAN.append("approval")
        if Approval.flow is not None:
            Approval.flow.pause("waiting for an editor", checkpoint={"draft": text})
        self.emit("approved", text=text)


class Publish(Routine):
    def __init__(self) -> None:
        super().__init__()
        self.define_slot("input", handler=self.publish)

    def publish(self, text: str) -> None:
        RAN.append("publish")
        self.set_stat("published", text)


def build() -> Flow:
    flow = Flow("article")
    flow.add_routine(Draft(), "draft")
    flow.add_routine(Approval(), "approval")
    flow.add_routine(Publish(), "publish")
    flow.connect("draft", "drafted", "approval", "input")
    flow.connect("approval", "approved", "publish", "input")
    return flow


async def main(store: str) -> None:
    flow = build()
    Approval.flow = flow
    async with floe.open_kernel(store=store, log_format="off"):
        paused = await flow.execute_async("draft", {"topic": "durable graphs"})
    point = paused.pause_points[-1]
    print(f"{paused.status}: {point.reason} ({point.pending} pending) after {RAN}")

    RAN.clear()
    Approval.flow = None  # the editor approved: do not pause again
    later = build()  # a fresh flow object, as in another process
    async with floe.open_kernel(store=store, log_format="off"):
        done = await later.resume_async(paused.job_id)
    published = later.get_routine("publish").get_stat("published")
    print(f"{done.status}: ran {RAN}; published {published!r}")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1] if len(sys.argv) > 1 else "sqlite:///article.db")
