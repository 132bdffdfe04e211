"""The hook specifications: every way a plugin extends floe.

Hooks are grouped by the phase in which the kernel calls them. Every docstring follows
one template, from which the docs' hook reference is generated:

    Summary line.

    Calling: all results (a list) | stops at the first non-None result.
    Parameters:
        name: meaning.
    Returns: what the kernel does with the result.
    Implemented by: which plugins implement it in floe.
    Example:
        runnable plugin code

Implement a hook with :data:`floe.hookimpl` on a function or method of the same name;
a plugin module, class instance or class is registered through the entry-point group
``floe`` (see the plugin author's guide). Hooks are synchronous: a hook that needs
async work returns an awaitable, an async context manager or a service the kernel runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from .kernel._bus import EventBus
    from .kernel._inject import InjectionContext
    from .kernel._kernel import Kernel, Service
    from .kernel._resources import ArtifactStore, SecretStore
    from .kernel._retry import RetryOptions, RetryPolicy
    from .kernel._sealing import PayloadCodec
    from .kernel._settings import Settings
    from .kernel._store import Store, StoreURL

__all__ = ["PHASES", "hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("floe")
hookimpl = pluggy.HookimplMarker("floe")

PHASES: dict[str, tuple[str, ...]] = {
    "Start-up": ("floe_configure", "floe_register_states"),
    "Resources": (
        "floe_store_schemes",
        "floe_open_store",
        "floe_open_artifact_store",
        "floe_open_secrets",
        "floe_payload_codec",
        "floe_log_handlers",
    ),
    "Running": ("floe_subscribe", "floe_services", "floe_retry_policy", "floe_inject"),
    "Command line": ("floe_cli",),
}
"""Hook names by the phase in which the kernel calls them, in calling order."""


# -- Start-up --------------------------------------------------------------------------


@hookspec
def floe_configure(settings: Settings) -> None:
    """See the kernel's settings once, after every plugin is loaded.

    Calling: all implementations, before any resource is opened.
    Parameters:
        settings: the kernel's :class:`floe.Settings`; plugin tables are in
            ``settings.section(name)``.
    Returns: nothing; raise :class:`floe.ConfigError` to reject the settings.
    Implemented by: floe_logging (reads ``log_format``).
    Example:
        import floe


        class Greeter:
            @floe.hookimpl
            def floe_configure(self, settings):
                self.greeting = settings.section("greeter").get("greeting", "hello")
    """


@hookspec
def floe_register_states(register: Callable[..., None]) -> None:
    """Contribute named ``State`` classes to the kernel's state registry (state packs).

    Calling: all implementations, once per kernel, at start-up.
    Parameters:
        register: ``register(name, state_class, *, replace=False)``; registering a name
            twice is a :class:`floe.StateError` unless ``replace=True``.
    Returns: nothing.
    Implemented by: state-pack plugins.
    Example:
        import floe


        class Idle(floe.State):
            pass


        class MyPack:
            @floe.hookimpl
            def floe_register_states(self, register):
                register("Idle", Idle)
    """


# -- Resources -------------------------------------------------------------------------


@hookspec
def floe_store_schemes() -> Sequence[str]:
    """Name the URL schemes this plugin's store claims, for listings and error messages.

    Calling: all implementations; the results are merged.
    Parameters: none.
    Returns: a list of schemes such as ``["sqlite"]``.
    Implemented by: the kernel (``memory``), floe_sqlite, floe_json, floe-postgres.
    Example:
        import floe


        class RedisStorePlugin:
            @floe.hookimpl
            def floe_store_schemes(self):
                return ["redis"]
    """
    return []


@hookspec(firstresult=True)
def floe_open_store(url: StoreURL) -> Store | None:
    """Return a store for *url* if this plugin's backend claims its scheme.

    Calling: stops at the first non-None result; later-loaded plugins are asked first.
    Parameters:
        url: the parsed :class:`floe.StoreURL` (``scheme``, ``path``, ``query``, ``raw``).
    Returns: an unopened :class:`floe.Store` (the kernel enters it as an async context
        manager), or None when the scheme is not yours.
    Implemented by: the kernel (``memory://``), floe_sqlite, floe_json, floe-postgres.
    Example:
        import floe


        class MemoryAliasPlugin:
            @floe.hookimpl
            def floe_open_store(self, url):
                if url.scheme == "scratch":
                    return floe.MemoryStore(url.raw)
                return None
    """


@hookspec(firstresult=True)
def floe_open_artifact_store(url: StoreURL) -> ArtifactStore | None:
    """Return the artifact store for *url*: where artifacts too large to inline go.

    Calling: stops at the first non-None result, when ``settings.artifact_store`` is set.
    Parameters:
        url: the parsed :class:`floe.StoreURL`.
    Returns: an unopened :class:`floe.ArtifactStore` (an async context manager), or None.
    Implemented by: plugins providing artifact storage.
    Example:
        import floe


        class DirectoryArtifacts:
            @floe.hookimpl
            def floe_open_artifact_store(self, url):
                if url.scheme == "file":
                    return floe.DirectoryArtifactStore(url.path)
                return None
    """


@hookspec(firstresult=True)
def floe_open_secrets(url: StoreURL) -> SecretStore | None:
    """Return the secret store for *url*.

    Calling: stops at the first non-None result, when ``settings.secrets`` is set.
    Parameters:
        url: the parsed :class:`floe.StoreURL`.
    Returns: an unopened :class:`floe.SecretStore` (an async context manager), or None.
    Implemented by: secret-store plugins.
    Example:
        import floe


        class EnvironmentSecrets:
            @floe.hookimpl
            def floe_open_secrets(self, url):
                if url.scheme == "env":
                    return floe.EnvironmentSecretStore(prefix=url.path or "SECRET_")
                return None
    """


@hookspec(firstresult=True)
def floe_payload_codec(settings: Settings) -> PayloadCodec | None:
    """Return the codec that seals stored run payloads holding a secret's value.

    Calling: stops at the first non-None result, once per kernel, when it starts (after
        the secret store is open); later-loaded plugins are asked first.
    Parameters:
        settings: the kernel's :class:`floe.Settings`.
    Returns: a :class:`floe.PayloadCodec` (``fingerprint``, ``seal(plaintext,
        associated_data)``, ``open(body, associated_data)``), or None. Without a codec a
        write whose payload holds a secret's value is refused with a ``ConfigError``.
    Implemented by: floe_secrets (AES-256-GCM under ``FLOE_SECRET_KEY``, whichever secret
        store is used).
    Example:
        from pathlib import Path

        import floe
        from floe_secrets import KeyCodec


        class KeyFromFile:
            @floe.hookimpl(tryfirst=True)
            def floe_payload_codec(self, settings):
                path = settings.section("keyfile").get("path")
                if path is None:
                    return None
                return KeyCodec.from_text(Path(path).read_text(), source=path)
    """


@hookspec
def floe_log_handlers(settings: Settings) -> Sequence[logging.Handler]:
    """Return logging handlers (sinks) to attach to the ``floe`` logger.

    Calling: all implementations; every handler returned is attached while the kernel
        runs and removed when it closes.
    Parameters:
        settings: the kernel's settings (``log_format``, ``log_level``, sections).
    Returns: a list of :class:`logging.Handler`; records carry ``run_id``, ``step``,
        ``component`` and ``correlation_id`` attributes.
    Implemented by: floe_logging (console and JSON-lines sinks).
    Example:
        import logging

        import floe


        class ListSink:
            records = []

            @floe.hookimpl
            def floe_log_handlers(self, settings):
                sink = logging.Handler()
                sink.emit = self.records.append
                return [sink]
    """
    return []


# -- Running ---------------------------------------------------------------------------


@hookspec
def floe_subscribe(bus: EventBus) -> None:
    """Subscribe bus handlers when the kernel starts.

    Calling: all implementations, after the store is open and the bus drains.
    Parameters:
        bus: the kernel's :class:`floe.EventBus`.
    Returns: nothing; the subscriptions live as long as the kernel.
    Implemented by: observers, metrics exporters.
    Example:
        import floe


        class RunCounter:
            completed = 0

            @floe.hookimpl
            def floe_subscribe(self, bus):
                bus.subscribe("run.completed", "run-counter", self.count, inline=True)

            def count(self, event):
                RunCounter.completed += 1
    """


@hookspec
def floe_services(kernel: Kernel) -> Sequence[Service]:
    """Return background services to run in the kernel's task group.

    Calling: all implementations, after ``floe_subscribe``; each service is started with
        ``task_group.start`` and must call ``task_status.started()`` once ready.
    Parameters:
        kernel: the running :class:`floe.Kernel`.
    Returns: a list of ``async def service(*, task_status)`` callables; they are
        cancelled when the kernel closes.
    Implemented by: workers, watchers, servers.
    Example:
        import anyio

        import floe


        class Heartbeat:
            @floe.hookimpl
            def floe_services(self, kernel):
                async def beat(*, task_status=anyio.TASK_STATUS_IGNORED):
                    task_status.started()
                    while True:
                        await anyio.sleep(30)

                return [beat]
    """
    return []


@hookspec(firstresult=True)
def floe_retry_policy(options: RetryOptions) -> RetryPolicy | None:
    """Return the retry policy for a task's (handler's, routine's) retry options.

    Calling: stops at the first non-None result; the kernel's exponential backoff
        answers last.
    Parameters:
        options: the validated :class:`floe.RetryOptions`.
    Returns: an object with ``next_delay(attempt, error) -> float | None``.
    Implemented by: the kernel (:class:`floe.ExponentialBackoff`).
    Example:
        import floe


        class NoWaiting:
            @floe.hookimpl
            def floe_retry_policy(self, options):
                return floe.ExponentialBackoff(
                    floe.RetryOptions(max_attempts=options.max_attempts, retry_on=options.retry_on)
                )
    """


@hookspec(firstresult=True)
def floe_inject(parameter: str, context: InjectionContext) -> Any:
    """Provide the value of an injectable parameter of a task or workflow.

    Calling: stops at the first non-None result; explicitly passed arguments always win
        and never reach this hook.
    Parameters:
        parameter: the parameter's name (``this_flow``, ``secrets``, your own ...).
        context: the :class:`floe.InjectionContext` of the call (kernel, run, step, data).
    Returns: the value to pass, or None when the name is not yours.
    Implemented by: floe_inject (the built-in names), user plugins.
    Example:
        import floe


        class ClockInjector:
            @floe.hookimpl
            def floe_inject(self, parameter, context):
                if parameter == "started_by":
                    return context.data.get("user", "anonymous")
                return None
    """


# -- Command line ----------------------------------------------------------------------


@hookspec
def floe_cli(cli: click.Group) -> None:
    """Add commands to the ``floe`` command line.

    Calling: all implementations, when the ``floe`` command starts.
    Parameters:
        cli: the root :class:`click.Group`.
    Returns: nothing; add commands with ``cli.add_command`` or ``@cli.command()``. A
        command that imports the project's code (a dotted path, a config's states) is
        decorated with ``floe_cli.imports_project_code``, under click's decorators, so
        that modules in the working directory import as they do for floe's commands.
        A command whose module is costly to import is added as
        ``floe_cli.lazy_command(NAME, "package.module:attribute", SUMMARY)``: ``floe
        --help`` lists it by name and summary, and the module is imported only when the
        command runs (or shows its own help).
    Implemented by: floe_cli (``plugins``, ``worker``, ``schedule`` ...), floe-reload
        (``watch``), floe-server (``server``).
    Example:
        import click

        import floe


        class Hello:
            @floe.hookimpl
            def floe_cli(self, cli):
                @cli.command()
                def hello():
                    click.echo("hello from a plugin")
    """
