"""Install the peer engines, each into a virtual environment of its own.

    python benchmarks/peers/install.py            # every peer, where not installed yet
    python benchmarks/peers/install.py dbos flux  # some of them

The environments go under ``.nox/bench-peers/`` (or ``$FLOE_BENCH_PEERS``); the pins are
in ``engines.py``. A peer already installed with the same requirements is kept. A
peer that cannot be installed here (no suitable Python, a failing pip) is reported and
skipped: the benchmark then shows it as not available. The exit code is 0 either way,
so a missing peer never stops the benchmarks.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

from engines import MARKER, PEERS, Peer, peers_directory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("peers", nargs="*", metavar="PEER", help=", ".join(p.key for p in PEERS))
    parser.add_argument("--force", action="store_true", help="reinstall installed peers")
    options = parser.parse_args(argv)
    unknown = set(options.peers) - {peer.key for peer in PEERS}
    if unknown:
        parser.error(f"unknown peer {', '.join(sorted(unknown))}")
    chosen = [peer for peer in PEERS if not options.peers or peer.key in options.peers]
    peers_directory().mkdir(parents=True, exist_ok=True)
    for peer in chosen:
        if peer.installed() and not options.force:
            print(f"{peer.key}: installed ({' '.join(peer.requirements)})")
            continue
        print(f"{peer.key}: installing {' '.join(peer.requirements)} ...", flush=True)
        problem = install(peer)
        print(f"{peer.key}: {problem or 'installed'}", flush=True)
    return 0


def install(peer: Peer) -> str | None:
    """Create the peer's environment and install its requirements; None, or what failed."""
    python = find_python(peer.min_python, peer.max_python)
    if python is None:
        return f"not installed: needs Python {_versions(peer)}, and none was found"
    environment = peer.environment()
    log = peers_directory() / f"{peer.key}.log"
    if environment.exists():
        shutil.rmtree(environment)
    with log.open("w", encoding="utf-8") as output:
        steps = [
            [python, "-m", "venv", str(environment)],
            [str(peer.python()), "-m", "pip", "install", "--quiet", *peer.requirements],
        ]
        for command in steps:
            output.write(f"$ {' '.join(command)}\n")
            output.flush()
            result = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT, check=False)
            if result.returncode != 0:
                return f"not installed: {command[2]} failed (see {log})"
    (environment / MARKER).write_text("\n".join(peer.requirements) + "\n", encoding="utf-8")
    return None


def find_python(minimum: tuple[int, int], maximum: tuple[int, int] | None) -> str | None:
    """This interpreter when it fits, else one on PATH (``python3.X``) or under pyenv."""
    newest = maximum or (minimum[0], minimum[1] + 4)
    candidates = [sys.executable]
    for minor in range(minimum[1], newest[1] + 1):
        found = shutil.which(f"python{minimum[0]}.{minor}")
        if found:
            candidates.append(found)
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{minimum[0]}.*/bin/python3"))
    for candidate in candidates:
        version = _version(candidate)
        if version >= minimum and (maximum is None or version <= maximum):
            return candidate
    return None


def _versions(peer: Peer) -> str:
    low = ".".join(map(str, peer.min_python))
    if peer.max_python is None:
        return f"{low} or later"
    return f"{low} to {'.'.join(map(str, peer.max_python))}"


def _version(python: str) -> tuple[int, int]:
    # a pyenv shim for a version that is not selected exists but fails: ask it
    try:
        result = subprocess.run(
            [python, "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return (0, 0)
    parts = result.stdout.split()
    if result.returncode != 0 or len(parts) != 2:
        return (0, 0)
    return (int(parts[0]), int(parts[1]))


if __name__ == "__main__":
    sys.exit(main())
