"""The migration guides' floe examples run as printed.

Every python block of docs/migration-flux.md and docs/migration-osbot.md runs in a fresh
process and working directory (the default SQLite store lands there), except the blocks
titled with the other system's name (`title="Flux"`), which are its code, not floe's. A
top-level ``print(...)  # text`` promises that *text* is a line of what the block prints.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
GUIDES = ["migration-flux.md", "migration-osbot.md"]
FENCE = re.compile(r"^```python(?P<info>[^\n]*)\n(?P<code>.*?)^```", re.DOTALL | re.MULTILINE)
PROMISE = re.compile(r"^print\(.*\)  # (?P<text>.+)$", re.MULTILINE)


def floe_blocks(guide: str) -> list[str]:
    text = (DOCS / guide).read_text(encoding="utf-8")
    return [match["code"] for match in FENCE.finditer(text) if "title=" not in match["info"]]


BLOCKS = [
    pytest.param(code, id=f"{guide.removesuffix('.md')}-{index}")
    for guide in GUIDES
    for index, code in enumerate(floe_blocks(guide), 1)
]


def test_every_guide_has_floe_blocks_and_titles_the_other_systems_code() -> None:
    for guide in GUIDES:
        text = (DOCS / guide).read_text(encoding="utf-8")
        assert len(floe_blocks(guide)) >= 6, guide
        assert "```python\n# " not in text, f"{guide}: title a block instead of a comment"


@pytest.mark.parametrize("code", BLOCKS)
def test_guide_block_runs_as_printed(tmp_path: Path, code: str) -> None:
    script = tmp_path / "block.py"
    script.write_text(code, encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLOE_")}
    env["FLOE_STRICT_PLUGINS"] = "1"
    env["PYTHONWARNINGS"] = "error"
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{result.stderr}\n--- the block:\n{code}"
    printed = result.stdout.splitlines()
    for promise in PROMISE.finditer(code):
        assert promise["text"] in printed, f"{promise['text']!r} not printed: {printed}"
