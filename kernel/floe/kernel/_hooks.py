"""The typed facade over the hooks: the only place the kernel calls ``pm.hook``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, overload

import pluggy

from ._errors import ConfigError
from ._store import Store, StoreURL

if TYPE_CHECKING:
    import click

    from ._bus import EventBus
    from ._inject import InjectionContext
    from ._kernel import Kernel, Service
    from ._resources import ArtifactStore, SecretStore
    from ._retry import RetryOptions, RetryPolicy
    from ._sealing import PayloadCodec
    from ._settings import Settings
    from ._states import StateRegistry

__all__ = ["Hooks"]


class Hooks:
    """One typed method per hook spec, in the order of :data:`floe.hookspecs.PHASES`."""

    def __init__(self, manager: pluggy.PluginManager) -> None:
        self._manager = manager
        self._hook = manager.hook

    # -- start-up -----------------------------------------------------------------------

    def configure(self, settings: Settings) -> None:
        self._hook.floe_configure(settings=settings)

    def register_states(self, registry: StateRegistry) -> None:
        """Let every state pack register into *registry*, recording each provider."""
        # one implementation at a time, in load order, so that a name clash can name
        # both providers; each through a pluggy caller (a subset of the hook holding
        # only that plugin), so that tracing and hook-call monitoring see every call
        impls = self._hook.floe_register_states.get_hookimpls()
        for impl in impls:
            provider = f"plugin {impl.plugin_name!r}"

            def register(
                name: str, state: type, *, replace: bool = False, _provider: str = provider
            ) -> None:
                registry.register(name, state, replace=replace, provider=_provider)

            others = [other.plugin for other in impls if other is not impl]
            caller = self._manager.subset_hook_caller("floe_register_states", others)
            caller(register=register)

    # -- resources ----------------------------------------------------------------------

    def store_schemes(self) -> list[str]:
        schemes = {scheme for result in self._hook.floe_store_schemes() for scheme in result}
        return sorted(schemes)

    def open_store(self, url: str) -> Store:
        parsed = StoreURL.parse(url)
        store = self._hook.floe_open_store(url=parsed)
        if store is None:
            raise ConfigError(
                f"No plugin provides stores for the scheme {parsed.scheme!r}",
                why=f"Known store schemes: {', '.join(self.store_schemes()) or 'none'}.",
                fix="Correct the URL's scheme, or install and enable the plugin that provides it.",
                context={"url": url},
            )
        if not isinstance(store, Store):
            raise ConfigError(
                f"The plugin for {parsed.scheme!r} returned {store!r}, not a floe.Store",
                fix="Return an instance of a floe.Store subclass from floe_open_store.",
                context={"url": url},
            )
        return store

    def open_artifact_store(self, url: str) -> ArtifactStore:
        store: ArtifactStore = self._open_resource(
            self._hook.floe_open_artifact_store, url, "artifact stores"
        )
        return store

    @overload
    def open_secrets(self, url: str) -> SecretStore: ...

    @overload
    def open_secrets(self, url: str, *, required: bool) -> SecretStore | None: ...

    def open_secrets(self, url: str, *, required: bool = True) -> SecretStore | None:
        """The secret store for *url*; None when nothing claims it and it is not *required*."""
        secrets: SecretStore | None = self._open_resource(
            self._hook.floe_open_secrets, url, "secret stores", required=required
        )
        return secrets

    def _open_resource(
        self, caller: Callable[..., Any], url: str, what: str, *, required: bool = True
    ) -> Any:
        parsed = StoreURL.parse(url)
        resource = caller(url=parsed)
        if resource is None and required:
            raise ConfigError(
                f"No plugin provides {what} for the scheme {parsed.scheme!r}",
                fix="Correct the URL's scheme, or install and enable the plugin that provides it.",
                context={"url": url},
            )
        return resource

    def payload_codec(self, settings: Settings) -> PayloadCodec | None:
        """The codec that seals payloads holding a secret's value; None when none is set."""
        from ._sealing import PayloadCodec

        codec = self._hook.floe_payload_codec(settings=settings)
        if codec is not None and not isinstance(codec, PayloadCodec):
            raise ConfigError(
                f"floe_payload_codec returned {codec!r}, not a payload codec",
                why="A payload codec has a fingerprint and seal() and open() methods.",
                fix="Return an object implementing floe.PayloadCodec, or None.",
            )
        return codec

    def log_handlers(self, settings: Settings) -> list[logging.Handler]:
        return [
            handler
            for result in self._hook.floe_log_handlers(settings=settings)
            for handler in result
        ]

    # -- running ------------------------------------------------------------------------

    def subscribe(self, bus: EventBus) -> None:
        self._hook.floe_subscribe(bus=bus)

    def services(self, kernel: Kernel) -> list[Service]:
        return [service for result in self._hook.floe_services(kernel=kernel) for service in result]

    def retry_policy(self, options: RetryOptions) -> RetryPolicy:
        policy = self._hook.floe_retry_policy(options=options)
        if policy is None:
            raise ConfigError(
                "No plugin provides a retry policy",
                why="The kernel's backoff plugin (floe.backoff) is blocked; nothing replaces it.",
                fix="Unblock floe.backoff or install a plugin implementing floe_retry_policy.",
            )
        return policy  # type: ignore[no-any-return]

    def inject(self, parameter: str, context: InjectionContext) -> Any:
        return self._hook.floe_inject(parameter=parameter, context=context)

    # -- command line -------------------------------------------------------------------

    def cli(self, group: click.Group) -> None:
        self._hook.floe_cli(cli=group)
