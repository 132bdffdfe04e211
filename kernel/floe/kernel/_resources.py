"""Artifact and secret stores: the protocols, and the two simple built-ins.

Artifacts too large to keep inline in the journal go to an :class:`ArtifactStore`;
secrets come from a :class:`SecretStore`. Both are async context managers opened by the
kernel from ``settings.artifact_store`` / ``settings.secrets`` through the hooks
``floe_open_artifact_store`` and ``floe_open_secrets``.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Final, Protocol, Self, runtime_checkable

import anyio

from ._errors import ConfigError, NotFoundError

__all__ = [
    "ArtifactStore",
    "DirectoryArtifactStore",
    "EnvironmentSecretStore",
    "SecretStore",
    "create_private_file",
    "make_private_directories",
    "write_atomically",
]

PRIVATE_DIRECTORY_MODE: Final = 0o700
PRIVATE_FILE_MODE: Final = 0o600
"""The modes of what floe creates: its owner's only, as ssh and most databases do."""

# \Z, not $: "$" also matches before a final newline, which would let "key\n" through
_SAFE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}\Z")


@runtime_checkable
class ArtifactStore(Protocol):
    """Stores artifact bodies by (run, key) and hands back a reference string."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def put(self, run_id: str, key: str, body: bytes) -> str:
        """Store *body*; return a reference for :meth:`get`."""
        ...

    async def get(self, reference: str) -> bytes:
        """The body stored under *reference*; :class:`floe.NotFoundError` if gone."""
        ...


@runtime_checkable
class SecretStore(Protocol):
    """Named secret values."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def get_secrets(self, names: list[str]) -> dict[str, str]:
        """The values of *names*; :class:`floe.NotFoundError` naming every missing one."""
        ...


def make_private_directories(path: str | os.PathLike[str]) -> None:
    """Create the directory *path* and its missing parents, each owner-only (``0700``).

    Directories that exist already keep their mode: floe never changes the mode of a
    directory it did not create. Blocking: call it from a worker thread.
    """
    missing: list[Path] = []
    current = Path(path)
    while not current.is_dir() and current.parent != current:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIRECTORY_MODE)
        except FileExistsError:
            if not directory.is_dir():  # a file in the way: the caller reports it
                raise


def create_private_file(path: str | os.PathLike[str]) -> bool:
    """Create the empty file *path* owner-only (``0600``) unless it exists; True if created.

    An existing file is left as it is, mode included. Blocking.
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return False
    os.close(descriptor)
    return True


def write_atomically(path: Path, body: bytes) -> None:
    """Write *body* to *path* so that readers see the old file or the new, never half.

    A new file is owner-only (``0600``), in directories created owner-only (``0700``);
    a replaced file keeps its mode. Blocking: call it from a worker thread.
    """
    make_private_directories(path.parent)
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = PRIVATE_FILE_MODE
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        with os.fdopen(os.open(temporary, flags, mode), "wb") as file:
            os.fchmod(file.fileno(), mode)  # exactly: neither the umask nor a leftover's
            file.write(body)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    # the rename itself survives a power loss only once the directory is synced
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _check_key(kind: str, value: str) -> str:
    if not isinstance(value, str) or not _SAFE_KEY.match(value):
        raise ConfigError(
            f"Invalid {kind} {value!r} for an artifact",
            why="Artifact keys and run ids become file names.",
            fix="Use letters, digits, '.', '_' and '-' (at most 200, not starting with a dot).",
        )
    return value


class DirectoryArtifactStore:
    """Artifacts as files under one directory: ``<root>/<run_id>/<key>``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    async def __aenter__(self) -> Self:
        await anyio.to_thread.run_sync(make_private_directories, self.root)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await anyio.lowlevel.checkpoint()

    async def put(self, run_id: str, key: str, body: bytes) -> str:
        reference = f"{_check_key('run id', run_id)}/{_check_key('key', key)}"
        await anyio.to_thread.run_sync(write_atomically, self.root / reference, body)
        return reference

    async def get(self, reference: str) -> bytes:
        run_id, _, key = reference.partition("/")
        path = self.root / _check_key("run id", run_id) / _check_key("key", key)
        try:
            return await anyio.to_thread.run_sync(path.read_bytes)
        except FileNotFoundError:
            raise NotFoundError(
                f"Artifact {reference!r} is not in {self.root}",
                fix="Check the reference; the file may have been deleted.",
                context={"reference": reference},
            ) from None


class EnvironmentSecretStore:
    """Secrets from environment variables: secret ``api_key`` is ``$<prefix>API_KEY``."""

    def __init__(self, prefix: str = "SECRET_", environ: Mapping[str, str] | None = None) -> None:
        self.prefix = prefix
        self._environ = os.environ if environ is None else environ

    async def __aenter__(self) -> Self:
        await anyio.lowlevel.checkpoint()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await anyio.lowlevel.checkpoint()

    async def get_secrets(self, names: list[str]) -> dict[str, str]:
        await anyio.lowlevel.checkpoint()
        found = {name: self._environ.get(self.prefix + name.upper()) for name in names}
        missing = sorted(name for name, value in found.items() if value is None)
        if missing:
            raise NotFoundError(
                f"Missing secrets: {', '.join(missing)}",
                fix=f"Set {', '.join('$' + self.prefix + n.upper() for n in missing)}.",
                context={"missing": missing},
            )
        return {name: value for name, value in found.items() if value is not None}
