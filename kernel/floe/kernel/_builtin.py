"""The essential kernel plugins, registered before any other (load-order stage 1)."""

from __future__ import annotations

from collections.abc import Sequence

from ..hookspecs import hookimpl
from ._memory import MemoryStore
from ._resources import DirectoryArtifactStore, EnvironmentSecretStore
from ._retry import ExponentialBackoff, RetryOptions, RetryPolicy
from ._store import StoreURL

__all__ = ["KERNEL_PLUGINS"]


class MemoryStorePlugin:
    """``memory://``: the in-process store."""

    @hookimpl
    def floe_store_schemes(self) -> Sequence[str]:
        return ["memory"]

    @hookimpl(trylast=True)
    def floe_open_store(self, url: StoreURL) -> MemoryStore | None:
        if url.scheme != "memory":
            return None
        url.reject_unknown_options(())
        return MemoryStore(url.raw)


class BackoffPlugin:
    """The default retry policy: exponential backoff with optional jitter."""

    @hookimpl(trylast=True)
    def floe_retry_policy(self, options: RetryOptions) -> RetryPolicy:
        return ExponentialBackoff(options)


class FileArtifactsPlugin:
    """``file:///DIR``: artifacts as files."""

    @hookimpl(trylast=True)
    def floe_open_artifact_store(self, url: StoreURL) -> DirectoryArtifactStore | None:
        if url.scheme != "file":
            return None
        url.reject_unknown_options(())
        return DirectoryArtifactStore(url.path or ".floe/artifacts")


class EnvironmentSecretsPlugin:
    """``env://PREFIX``: secrets from environment variables."""

    @hookimpl(trylast=True)
    def floe_open_secrets(self, url: StoreURL) -> EnvironmentSecretStore | None:
        if url.scheme != "env":
            return None
        url.reject_unknown_options(())
        return EnvironmentSecretStore(prefix=url.host or url.path or "SECRET_")


KERNEL_PLUGINS: tuple[tuple[str, object], ...] = (
    ("floe.memory", MemoryStorePlugin()),
    ("floe.backoff", BackoffPlugin()),
    ("floe.file-artifacts", FileArtifactsPlugin()),
    ("floe.env-secrets", EnvironmentSecretsPlugin()),
)
