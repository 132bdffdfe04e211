"""``floe secrets``: list, set, get, remove secrets, and make a key.

Values are printed only by ``get --reveal``; every other output and every error names
secrets, never shows them. The secret store is the one in the settings (``secrets``),
by default ``store://``: sealed in the store the command uses (``--store``/``FLOE_STORE``).
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import click
import orjson

import floe

from ._state import CliState

if TYPE_CHECKING:
    from floe_secrets import ManagedSecretStore

T = TypeVar("T")

_VALUE_HELP = (
    "The value. Without it the value is read from stdin (one trailing newline is dropped) "
    "or, on a terminal, asked for without echo; prefer that: --value stays in the shell's "
    "history and is visible to other users in the process list."
)


@click.group("secrets")
def secrets_command() -> None:
    """Manage secrets: encrypted at rest with the key in FLOE_SECRET_KEY.

    Make a key once with 'floe secrets keygen' and keep it apart from the store.
    Tasks ask for secrets by name (secrets=["api_key"]); values never appear in
    the journal, logs or this command's output, except with 'get --reveal'.
    """


def _run(state: CliState, action: Callable[[ManagedSecretStore], Awaitable[T]]) -> T:
    """Run *action* on the kernel's secret store, with the kernel started around it."""
    kernel = state.kernel

    async def main() -> T:
        from floe_secrets import managed_secrets

        async with managed_secrets(kernel) as secrets:
            return await action(secrets)

    return floe.run_sync(main, kernel=kernel)


@secrets_command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of names.")
@click.pass_obj
def list_command(state: CliState, as_json: bool) -> None:
    """List the names of the secrets (never their values)."""

    async def names(secrets: ManagedSecretStore) -> list[str]:
        return await secrets.list_secrets()

    found = _run(state, names)
    if as_json:
        click.echo(orjson.dumps(found).decode())
    elif found:
        click.echo("\n".join(found))
    else:
        click.echo("No secrets are set.", err=True)


@secrets_command.command("set")
@click.argument("name")
@click.option("--value", metavar="VALUE", help=_VALUE_HELP)
@click.option(
    "--force",
    is_flag=True,
    help="Store it even though other secrets were stored under another key.",
)
@click.pass_obj
def set_command(state: CliState, name: str, value: str | None, force: bool) -> None:
    """Store the secret NAME, encrypted (replaces it).

    The value is sealed with AES-256-GCM under FLOE_SECRET_KEY. It is read from
    stdin unless --value is given. A value shorter than 6 characters is refused, and
    so is a key other than the one the stored secrets were sealed with (unless --force).
    """
    from floe_secrets import check_secret_name

    check_secret_name(name)  # before asking for a value
    if value is None:
        value = _read_value(name)

    async def store(secrets: ManagedSecretStore) -> None:
        await secrets.set_secret(name, value, force=force)

    _run(state, store)
    click.echo(f"Secret {name!r} set.")


def _read_value(name: str) -> str:
    if sys.stdin.isatty():
        entered: str = click.prompt(
            f"Value of {name}", hide_input=True, confirmation_prompt=True, err=True
        )
        return entered
    text = sys.stdin.read()
    # `echo value | floe secrets set NAME` ends the value with a newline it does not hold
    if text.endswith("\r\n"):
        return text[:-2]
    return text.removesuffix("\n")


@secrets_command.command("get")
@click.argument("name")
@click.option("--reveal", is_flag=True, help="Print the value itself (only the value).")
@click.pass_obj
def get_command(state: CliState, name: str, reveal: bool) -> None:
    """Show that NAME is set and readable (its value with --reveal)."""

    async def read(secrets: ManagedSecretStore) -> str:
        values = await secrets.get_secrets([name])
        return values[name]

    value = _run(state, read)
    if reveal:
        click.echo(value)
    else:
        from floe_secrets import MASK

        click.echo(f"{name}: {MASK}")


@secrets_command.command("remove")
@click.argument("name")
@click.pass_obj
def remove_command(state: CliState, name: str) -> None:
    """Delete the secret NAME."""

    async def remove(secrets: ManagedSecretStore) -> bool:
        return await secrets.remove_secret(name)

    if not _run(state, remove):
        raise floe.NotFoundError(
            f"No secret {name!r} to remove",
            fix="'floe secrets list' shows the names of the secrets that are set.",
            context={"secret": name},
        )
    click.echo(f"Secret {name!r} removed.")


@secrets_command.command("keygen")
def keygen_command() -> None:
    """Print a new random key for FLOE_SECRET_KEY (only the key, on stdout).

    The key is 32 random bytes in URL-safe base64. Keep it apart from the store;
    secrets stored with it cannot be read without it.
    """
    from floe_secrets import KEY_VARIABLE, generate_key

    click.echo(generate_key())
    if sys.stdout.isatty():
        click.echo(
            f"Use it as {KEY_VARIABLE} and keep it safe: secrets stored with a key "
            "cannot be read without it.",
            err=True,
        )
