"""The peer engines of the workflows benchmark: what to install, where, and how to run it.

Standard library only: ``install.py`` imports this from the benchmark's interpreter
before any peer exists, and ``bench_workflows.py`` uses it to find the peers' virtual
environments. Each peer lives in a virtual environment of its own (their dependencies
disagree with one another's and with floe's), under ``.nox/bench-peers/<key>`` in the
repository, or under ``$FLOE_BENCH_PEERS/<key>`` when that is set.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PEERS", "Peer", "peers_directory"]

REPOSITORY = Path(__file__).resolve().parents[2]
MARKER = "floe-bench-requirements.txt"
"""Written into a peer's environment once its requirements installed: what it holds."""


@dataclass(frozen=True)
class Peer:
    """One peer engine and how it is installed and run."""

    key: str
    title: str
    distribution: str
    requirements: tuple[str, ...]
    """Pip requirements, the pin first; the rest hold back what the pin needs held back."""
    min_python: tuple[int, int]
    max_python: tuple[int, int] | None
    """The newest Python the peer works with here (None: no limit)."""
    script: str
    """The engine script under ``benchmarks/peers/``."""
    store: str
    durable: bool
    """Journals its steps to a database: compared with floe on SQLite, else in memory."""

    @property
    def pin(self) -> str:
        return self.requirements[0].partition("==")[2]

    def environment(self) -> Path:
        return peers_directory() / self.key

    def python(self) -> Path:
        if sys.platform == "win32":
            return self.environment() / "Scripts" / "python.exe"
        return self.environment() / "bin" / "python"

    def installed(self) -> bool:
        """True when the environment holds exactly these requirements."""
        marker = self.environment() / MARKER
        if not self.python().exists() or not marker.is_file():
            return False
        return marker.read_text(encoding="utf-8").split() == list(self.requirements)


PEERS: tuple[Peer, ...] = (
    Peer(
        key="prefect",
        title="Prefect",
        distribution="prefect",
        # 3.9.x needs certifi>=2026.10.19, which the package index does not have yet;
        # 3.8.8 allows any FastAPI below 1.0, and FastAPI 0.151+ breaks its server
        # (Body(min_items=...)), so FastAPI is held where 3.9.1 holds it
        requirements=("prefect==3.8.8", "fastapi<0.151"),
        min_python=(3, 10),
        max_python=None,
        script="run_prefect.py",
        store="ephemeral server, SQLite",
        durable=True,
    ),
    Peer(
        key="dbos",
        title="DBOS",
        distribution="dbos",
        requirements=("dbos==3.4.0",),
        min_python=(3, 10),
        # on Python 3.12+ its SQLite schema defaults times to unixepoch('subsec'), which
        # needs SQLite 3.42; Pythons here bundle SQLite 3.40, where every run fails
        max_python=(3, 11),
        script="run_dbos.py",
        store="SQLite system database",
        durable=True,
    ),
    Peer(
        key="flux",
        title="flux-core",
        distribution="flux-core",
        requirements=("flux-core==0.87.5",),
        # every flux-core release needs Python 3.12 or later
        min_python=(3, 12),
        max_python=None,
        script="run_flux.py",
        store="SQLite",
        durable=True,
    ),
    Peer(
        key="osbot",
        title="osbot-utils flows",
        distribution="osbot-utils",
        requirements=("osbot-utils==3.75.0",),
        min_python=(3, 10),
        max_python=None,
        script="run_osbot.py",
        store="memory (no journal)",
        durable=False,
    ),
)


def peers_directory() -> Path:
    configured = os.environ.get("FLOE_BENCH_PEERS")
    return Path(configured) if configured else REPOSITORY / ".nox" / "bench-peers"
