"""The command line's own commands."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import click
import orjson

import floe

from ._state import CliState

_STATUS_COLOURS = {"loaded": "green", "blocked": "yellow", "failed": "red"}
_COLUMNS = ("NAME", "STAGE", "STATUS", "DISTRIBUTION", "HOOKS")


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@click.pass_obj
def plugins_command(state: CliState, as_json: bool) -> None:
    """List every plugin in load order: stage, status, distribution and hooks.

    Blocked plugins (FLOE_DISABLE_PLUGINS, disable_plugins) and plugins that failed to
    load are listed too; a failed plugin shows the first line of its error.
    """
    plugins = state.kernel.plugins
    if as_json:
        records = [attrs.asdict(info) for info in plugins]
        click.echo(orjson.dumps(records, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(_table(plugins))
    settings = state.settings
    click.echo()
    source = settings.sources.get("store")
    click.echo(f"Store: {settings.store} ({f'from {source}' if source else 'default'})")
    schemes = state.kernel.hooks.store_schemes()
    click.echo(f"Store schemes: {', '.join(schemes) or 'none'}")


def _table(plugins: Sequence[floe.PluginInfo]) -> str:
    rows = [
        (
            info.name,
            info.stage,
            info.status,
            " ".join(filter(None, (info.distribution, info.version))) or "-",
            ", ".join(info.hooks) or "-",
        )
        for info in plugins
    ]
    # the last column is not padded, so long hook lists do not widen the table
    widths = [max(len(row[i]) for row in [_COLUMNS, *rows]) for i in range(len(_COLUMNS) - 1)]
    lines = [_row(_COLUMNS, widths, header=True)]
    for info, row in zip(plugins, rows, strict=True):
        lines.append(_row(row, widths, status=info.status))
        if info.status == "failed" and info.error:
            first_line = info.error.splitlines()[0]
            lines.append("    " + click.style(first_line, fg="red"))
    return "\n".join(lines)


def _row(
    cells: Sequence[str], widths: Sequence[int], *, header: bool = False, status: str = ""
) -> str:
    parts = []
    for index, cell in enumerate(cells):
        text = cell.ljust(widths[index]) if index < len(widths) else cell
        if header:
            text = click.style(text, bold=True)
        elif index == 2:
            text = click.style(text, fg=_STATUS_COLOURS.get(status))
        parts.append(text)
    return "  ".join(parts).rstrip()
