"""Plain tables of the listing commands: columns padded to their widest cell."""

from __future__ import annotations

from collections.abc import Sequence

import click

__all__ = ["echo_table"]


def echo_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print *header* and *rows* as left-aligned columns, two spaces apart."""
    lines = [header, *rows]
    widths = [max(len(line[index]) for line in lines) for index in range(len(header))]
    for line in lines:
        cells = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        click.echo("  ".join(cells).rstrip())
