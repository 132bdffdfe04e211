"""Workflows the dashboard's browser test runs in a real ``floe server`` (imported by name
with ``--import dashboard_flows``, beside ``server_flows``), and the component and graph
job it shows.

``watched`` has a step of each kind the run page's timeline draws: a retried task, a
sleep, a child run and a step that waits for a file the test makes.
"""

from __future__ import annotations

import struct
import zlib

import anyio

import floe
from floe.graph import Flow, Transformer


def png(width: int, height: int) -> bytes:
    """A PNG of *width* by *height* pixels in a blue gradient: an image artifact."""
    rows = b"".join(
        b"\x00"
        + b"".join(
            bytes((30, 60 + 150 * x // width, 120 + 100 * y // height)) for x in range(width)
        )
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@floe.task(retries=2, retry_delay=0.05)
async def flaky(marker: str) -> str:
    # the first attempt leaves the file *marker* and fails: the journal holds a retry
    path = anyio.Path(marker)
    if not await path.exists():
        await path.write_text("tried")
        raise ConnectionError("the first attempt fails")
    return "steady"


@floe.task
async def wait_for_file(path: str) -> str:
    # the file is made by the test, outside any event loop: poll for it
    while not await anyio.Path(path).exists():  # noqa: ASYNC110
        await anyio.sleep(0.05)
    return path


@floe.workflow
async def child(text: str) -> str:
    """A child run of ``watched``."""
    return text[::-1]


@floe.workflow
async def watched(path: str) -> dict:
    """Retries, sleeps, calls a child, adds artifacts, then waits for the file *path*."""
    steady = await flaky(f"{path}.tried")
    await floe.sleep(0.2)
    reversed_text = await floe.call(child, "dashboard")
    floe.add_artifact("summary", {"rows": 3, "ok": True}, description="a JSON artifact")
    floe.add_artifact("notes", "# Notes\n\n*all* <b>fine</b>", artifact_type="markdown")
    floe.add_artifact("chart", png(96, 48), artifact_type="binary", description="image/png")
    waited = await wait_for_file(path)
    return {"steady": steady, "child": reversed_text, "waited": waited}


async def seed(store_url: str) -> None:
    """Add the component ``orders`` and the graph job ``job-1`` to the store at
    *store_url*."""
    async with floe.open_kernel(floe.load_settings(store=store_url)):
        engine = floe.Engine()
        component = await engine.register_async(floe.Component("orders"))
        await component.flush()
        flow = Flow("pipeline")
        flow.add_routine(Transformer(), "extract")
        flow.add_routine(Transformer(), "load")
        flow.connect("extract", "output", "load", "input")
        await flow.execute_async("extract", {"value": 1}, job_id="job-1")
