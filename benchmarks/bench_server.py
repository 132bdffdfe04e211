"""HTTP server: ``run/async`` submissions per second and their latency, over loopback.

A real ``floe server`` (floe-server) on a SQLite file, with no worker (``--workers 0``:
the figure is the submission alone, each one a stored pending run), is sent
:data:`REQUESTS` ``POST /workflows/hello/run/async`` requests by :data:`CONCURRENCY`
clients at once (keep-alive connections, one request at a time on each), after a
warm-up; the pass is repeated and the median pass by requests/s reported. Beside it, the
floor: the same Hypercorn on trio serving an ASGI app that answers 202 at once, measured
the same way — what HTTP alone costs on this machine, client included (both share its 2
cores).
"""

from __future__ import annotations

import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import anyio.abc
from _harness import Goal, MeasureConfig, Section, format_ms, format_rate

TITLE = "HTTP server: run/async submissions over loopback"
COLUMNS = ("server", "requests/s", "p50", "p99", "note")
REQUESTS = 2000
WARM_UP = 200
CONCURRENCY = 32
GOAL_RATE = 1000.0
GOAL_P99_MS = 50.0
PASSES = 5

FLOWS = """
import floe


@floe.workflow
async def hello(name: str) -> str:
    return f"Hello, {name}!"
"""
FLOOR = """
import sys

import trio
from hypercorn.config import Config
from hypercorn.trio import serve


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 202,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"14")]})
    await send({"type": "http.response.body", "body": b'{"run_id":"x"}'})


async def main():
    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    async with trio.open_nursery() as nursery:
        addresses = await nursery.start(serve, app, config)
        print(f"listening on {addresses[0]}", file=sys.stderr, flush=True)


trio.run(main)
"""


def run_server(config: MeasureConfig) -> Section:
    try:
        import floe_server  # noqa: F401
    except ImportError as error:
        return Section("server", TITLE, COLUMNS, unavailable=f"not installed: {error}")
    token = secrets.token_urlsafe(32)
    passes = min(config.repeat, PASSES)
    with tempfile.TemporaryDirectory() as folder:
        here = Path(folder)
        (here / "flows.py").write_text(FLOWS)
        (here / "floor.py").write_text(FLOOR)
        env = {key: value for key, value in os.environ.items() if not key.startswith("FLOE_")}
        env.update(FLOE_API_TOKEN=token, FLOE_LOG_LEVEL="WARNING")
        floe_command = [
            str(Path(sys.executable).with_name("floe")),
            "server",
            "--port",
            "0",
            "--store",
            f"sqlite:///{here / 'floe.db'}",
            "--import",
            "flows",
        ]
        measured = {
            "floe server": _measure(floe_command, here, env, token, passes),
            "floor: Hypercorn, empty app": _measure(
                [sys.executable, "floor.py"], here, env, token, passes
            ),
        }
    rows = [
        (name, format_rate(rate), format_ms(p50), format_ms(p99), note)
        for name, (rate, p50, p99, note) in measured.items()
    ]
    rate, _, p99, _ = measured["floe server"]
    floor_rate = measured["floor: Hypercorn, empty app"][0]
    return Section(
        key="server",
        title=TITLE,
        columns=COLUMNS,
        rows=rows,
        notes=[
            f"{REQUESTS} requests by {CONCURRENCY} concurrent clients after {WARM_UP} "
            f"warm-up requests, the median of {passes} passes; server and client share the "
            "machine's 2 cores.",
            f"floe reaches {rate / floor_rate:.0%} of the floor's requests/s.",
        ],
        goals=[
            Goal(
                "server",
                "run/async submissions, SQLite",
                f"≥ {GOAL_RATE:,.0f}/s, p99 ≤ {GOAL_P99_MS:.0f} ms",
                f"{format_rate(rate)}, p99 {format_ms(p99)}",
                rate >= GOAL_RATE and p99 <= GOAL_P99_MS,
            )
        ],
    )


def _measure(
    command: list[str], cwd: Path, env: dict[str, str], token: str, passes: int
) -> tuple[float, float, float, str]:
    log = cwd / "server.err"
    with log.open("w") as errors:
        process = subprocess.Popen(command, cwd=cwd, env=env, stderr=errors)
    try:
        address = _address(process, log)
        results = [anyio.run(_load, address, token, backend="trio") for _ in range(passes)]
        return sorted(results)[len(results) // 2]  # the median pass by requests/s
    finally:
        process.terminate()
        process.wait(timeout=60)


def _address(process: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"listening on (http://\S+)", log.read_text())
        if found:
            return found.group(1)
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()}")
        time.sleep(0.02)
    raise RuntimeError("the server did not start")


async def _load(address: str, token: str) -> tuple[float, float, float, str]:
    host, port = address.removeprefix("http://").rsplit(":", 1)
    latencies: list[float] = []
    await _drive(host, int(port), token, WARM_UP, [])
    began = time.perf_counter()
    await _drive(host, int(port), token, REQUESTS, latencies)
    elapsed = time.perf_counter() - began
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    return REQUESTS / elapsed, p50, p99, f"{CONCURRENCY} keep-alive connections"


async def _drive(host: str, port: int, token: str, count: int, latencies: list[float]) -> None:
    """*count* requests over :data:`CONCURRENCY` keep-alive connections, one request at a
    time on each: a client as lean as HTTP/1.1 allows, so that the figure is the server's
    (an httpx client costs more CPU per request than the server's own work here)."""
    numbers = iter(range(count))

    async def connection() -> None:
        stream = await anyio.connect_tcp(host, port)
        buffer = b""
        async with stream:
            for n in numbers:
                body = f'"{n}"'.encode()
                request = (
                    f"POST /workflows/hello/run/async HTTP/1.1\r\nHost: {host}\r\n"
                    f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                ).encode() + body
                began = time.perf_counter()
                await stream.send(request)
                buffer = await _response(stream, buffer)
                latencies.append(time.perf_counter() - began)

    async with anyio.create_task_group() as group:
        for _ in range(CONCURRENCY):
            group.start_soon(connection)


async def _response(stream: anyio.abc.ByteStream, buffer: bytes) -> bytes:
    """Read one response (status 202 expected); what is left after it in *buffer*."""
    while b"\r\n\r\n" not in buffer:
        buffer += await stream.receive()
    head, _, rest = buffer.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1]
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(rest) < length:
        rest += await stream.receive()
    if status != b"202":
        raise RuntimeError(f"{status.decode()}: {rest[:length].decode()}")
    return rest[length:]
