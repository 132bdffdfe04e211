"""Real ``floe`` processes for the tests: a server or a worker on a SQLite file, with its
stderr in a file (never a pipe nobody reads)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

FLOE = Path(sys.executable).with_name("floe")
HERE = Path(__file__).parent
TOKEN = "cli-test-token-" + "t" * 24


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLOE_")}
    env.update(
        FLOE_STRICT_PLUGINS="1",
        FLOE_STORE=f"sqlite:///{tmp_path / 'floe.db'}",
        FLOE_API_TOKEN=TOKEN,
        **extra,
    )
    return env


class Started:
    """A ``floe`` process with its stderr in a file (never a pipe nobody reads)."""

    def __init__(self, tmp_path: Path, *args: str, **extra: str) -> None:
        self.log = tmp_path / f"{args[0]}-{time.monotonic_ns()}.err"
        with self.log.open("w") as errors:
            self.process = subprocess.Popen(
                [str(FLOE), *args],
                cwd=HERE,
                env=environment(tmp_path, **extra),
                stdout=subprocess.DEVNULL,
                stderr=errors,
                text=True,
            )

    def wait_for(self, pattern: str, seconds: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + seconds
        while True:
            found = re.search(pattern, self.log.read_text())
            if found:
                return found
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, f"no {pattern!r} in {self.log.read_text()}"
            time.sleep(0.02)

    def stop(self) -> tuple[int, str]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        return self.process.returncode, self.log.read_text()


def serve(tmp_path: Path, started: list[Started], *options: str) -> tuple[Started, str]:
    server = Started(tmp_path, "server", "--port", "0", "--import", "server_flows", *options)
    started.append(server)
    address = server.wait_for(r"listening on (http://\S+)").group(1)
    return server, address
