"""The kernel: plugins, settings, bus, store and state registry in one task group."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import Token
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import anyio
import pluggy
from anyio.abc import TaskGroup, TaskStatus

from .. import hookspecs
from ._builtin import KERNEL_PLUGINS
from ._bus import EventBus, subscribe_listeners
from ._current import current_kernel, enter_kernel, leave_kernel, running_kernel
from ._errors import FloeError
from ._hooks import Hooks
from ._logging import CorrelationFilter
from ._models import Event
from ._plugins import PluginInfo, load_plugins
from ._resources import ArtifactStore, SecretStore
from ._retry import RetryOptions, RetryPolicy
from ._secrets import MaskFilter
from ._settings import Settings, level_number, load_settings
from ._states import StateRegistry
from ._store import Store
from ._version import VERSION

if TYPE_CHECKING:
    from ._sealing import PayloadCodec

__all__ = ["Kernel", "Service", "current_kernel", "open_call_kernel", "open_kernel"]

Service = Callable[..., Awaitable[None]]
"""``async def service(*, task_status)``: a background service the kernel runs."""

_T = TypeVar("_T")

DEFAULT_SECRETS_URL = "store://"
"""The secret store used when the ``secrets`` setting is empty: encrypted in the store."""


class Kernel:
    """The microkernel, an async context manager owning its task group.

    Constructing a kernel loads its plugins (synchronously, in the documented order);
    entering it configures them, opens the store, starts the bus's drain task and the
    plugins' services; leaving it stops the services, drains the bus and closes the
    store, in that order.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        plugins: Sequence[object] = (),
        entry_points: bool = True,
    ) -> None:
        self.settings = settings if settings is not None else load_settings()
        strict = self.settings.strict_plugins or os.environ.get("FLOE_STRICT_PLUGINS") == "1"
        self.plugin_manager = pluggy.PluginManager("floe")
        self.plugin_manager.add_hookspecs(hookspecs)
        self.plugins: list[PluginInfo] = load_plugins(
            self.plugin_manager,
            kernel_plugins=KERNEL_PLUGINS,
            settings_plugins=self.settings.plugins,
            explicit=plugins,
            disabled=self.settings.disable_plugins,
            strict=strict,
            entry_points=entry_points,
            kernel_version=VERSION,
        )
        self.plugin_manager.check_pending()
        self.hooks = Hooks(self.plugin_manager)
        self.bus = EventBus(queue_size=self.settings.bus_queue_size)
        self.states = StateRegistry()
        self._store: Store | None = None
        self._artifacts: ArtifactStore | None = None
        self._secrets: SecretStore | None = None
        self._payload_codec: PayloadCodec | None = None
        self._codec_asked = False
        self._task_group: TaskGroup | None = None
        self._service_scopes: list[anyio.CancelScope] = []
        self._token: Token[Kernel | None] | None = None
        self._log_handlers: list[logging.Handler] = []
        self._previous_level: int | None = None
        self._entered = False

    # -- resources ----------------------------------------------------------------------

    @property
    def store(self) -> Store:
        return self._require(self._store, "store")

    @property
    def artifacts(self) -> ArtifactStore:
        return self._require(self._artifacts, "artifact store (setting 'artifact_store')")

    @property
    def secrets(self) -> SecretStore:
        return self._require(self._secrets, "secret store (setting 'secrets')")

    @property
    def payload_codec(self) -> PayloadCodec | None:
        """What seals stored payloads holding a secret's value (``floe_payload_codec``),
        or None when no plugin provides one."""
        if not self._codec_asked:
            self._payload_codec = self.hooks.payload_codec(self.settings)
            self._codec_asked = True
        return self._payload_codec

    @property
    def task_group(self) -> TaskGroup:
        return self._require(self._task_group, "task group")

    def retry_policy(self, options: RetryOptions) -> RetryPolicy:
        """The retry policy plugins choose for *options* (one code path for all retries)."""
        return self.hooks.retry_policy(options)

    def _require(self, value: _T | None, what: str) -> _T:
        if value is None:
            raise FloeError(
                f"The kernel has no {what}",
                why="It is opened when the kernel starts, if configured."
                if self._entered
                else "The kernel has not been started.",
                fix="Use the kernel inside 'async with kernel:' and configure the resource.",
            )
        return value

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._entered:
            raise FloeError(
                "This kernel was already started",
                fix="Create a new Kernel (floe.open_kernel()) for each 'async with'.",
            )
        self._entered = True
        self.hooks.configure(self.settings)
        self.hooks.register_states(self.states)
        self._attach_log_handlers()
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        # set before the drain task and services start, so bus handlers and services see
        # this kernel as current_kernel()
        self._token = enter_kernel(self)
        try:
            await self._start(task_group)
        except BaseException as error:
            leave_kernel(self._token)
            self._token = None
            await self._shutdown(type(error), error, error.__traceback__)
            raise
        return self

    async def _start(self, task_group: TaskGroup) -> None:
        store = self.hooks.open_store(self.settings.store)
        await store.__aenter__()
        self._store = store
        if self.settings.artifact_store:
            artifacts = self.hooks.open_artifact_store(self.settings.artifact_store)
            self._artifacts = await artifacts.__aenter__()
        secrets = self.hooks.open_secrets(
            self.settings.secrets or DEFAULT_SECRETS_URL, required=bool(self.settings.secrets)
        )
        if secrets is not None:
            self._secrets = await secrets.__aenter__()
        _ = self.payload_codec  # a malformed key fails now, before any run starts
        await task_group.start(self.bus.run)
        self.hooks.subscribe(self.bus)
        for service in self.hooks.services(self):
            await self.start_service(service)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            leave_kernel(self._token)
            self._token = None
        await self._shutdown(exc_type, exc, tb)

    async def _shutdown(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            for scope in self._service_scopes:
                scope.cancel()
            self._service_scopes.clear()
            self.bus.close()
            if self._task_group is not None:
                task_group, self._task_group = self._task_group, None
                # Waits for the services to stop and the bus to deliver what is queued.
                # The body's own exception is not the task group's: it propagates from
                # the caller's 'async with' as it is, not wrapped in an ExceptionGroup.
                await task_group.__aexit__(None, None, None)
        finally:
            await self._close_resources(exc_type, exc, tb)
            self._detach_log_handlers()

    async def _close_resources(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with anyio.CancelScope(shield=True):
            for attribute in ("_secrets", "_artifacts", "_store"):
                resource = getattr(self, attribute)
                if resource is not None:
                    setattr(self, attribute, None)
                    await resource.__aexit__(exc_type, exc, tb)

    def _attach_log_handlers(self) -> None:
        if self.settings.log_format == "off":
            return
        logger = logging.getLogger("floe")
        self._previous_level = logger.level
        logger.setLevel(level_number(self.settings))
        for handler in self.hooks.log_handlers(self.settings):
            handler.addFilter(CorrelationFilter())
            handler.addFilter(MaskFilter())
            logger.addHandler(handler)
            self._log_handlers.append(handler)

    def _detach_log_handlers(self) -> None:
        logger = logging.getLogger("floe")
        for handler in self._log_handlers:
            logger.removeHandler(handler)
            handler.close()
        self._log_handlers.clear()
        if self._previous_level is not None:
            logger.setLevel(self._previous_level)
            self._previous_level = None

    # -- the spine: journal and bus -----------------------------------------------------

    async def record(self, events: Sequence[Event], *, run: Any = None) -> None:
        """Append *events* to their run's journal, then post them to the bus in order.

        The journal is the durable truth and is written first; observers see an event
        only once it is stored. On a store that appends without blocking (the memory
        store) the call checkpoints first and then stores and posts at once: a caller
        cancelled at the checkpoint has stored nothing, and one that got past it has
        stored and posted everything.
        """
        if not events:
            return
        store = self.store
        run_id = events[0].run_id
        if type(store).append_events_nowait is not Store.append_events_nowait:
            await anyio.lowlevel.checkpoint()
            if store.append_events_nowait(run_id, events, run=run):
                await self.bus.post_events(events)
                return
        await store.append_events(run_id, events, run=run)
        await self.bus.post_events(events)

    async def start_service(self, service: Service, *, name: str | None = None) -> Any:
        """Run *service* in the kernel's task group until the kernel closes.

        Waits until the service calls ``task_status.started(value)``; returns the value.
        """
        task_group = self.task_group
        scope = anyio.CancelScope()
        self._service_scopes.append(scope)

        async def supervised(*, task_status: TaskStatus[Any]) -> None:
            with scope:
                await service(task_status=task_status)

        return await task_group.start(supervised, name=name or _service_name(service))


def _service_name(service: Service) -> str:
    return getattr(service, "__qualname__", None) or repr(service)


def open_kernel(
    settings: Settings | None = None,
    *,
    root: str | os.PathLike[str] | None = None,
    plugins: Sequence[object] = (),
    entry_points: bool = True,
    **overrides: Any,
) -> Kernel:
    """Build a kernel from settings (read from every source, then *overrides*).

    Use it as ``async with floe.open_kernel(store="memory://") as kernel: ...``.
    """
    if settings is None:
        settings = load_settings(root, **overrides)
    elif overrides:
        raise FloeError(
            "open_kernel() takes settings or setting overrides, not both",
            fix="Pass load_settings(..., **overrides) as settings, or only the overrides.",
        )
    return Kernel(settings, plugins=plugins, entry_points=entry_points)


@asynccontextmanager
async def kernel_for_call() -> AsyncIterator[Kernel]:
    """The running kernel, or one opened from the settings for the length of one call.

    What the sync-friendly entry points (``wf.run_async``, ``floe.cancel``,
    ``flow.execute_async`` ...) use when no kernel is running.
    """
    kernel = running_kernel()
    if kernel is not None:
        yield kernel
        return
    async with open_call_kernel() as opened:
        yield opened


def open_call_kernel(settings: Settings | None = None) -> Kernel:
    """A kernel floe opens on a caller's behalf (default: settings from every source).

    Its bus has the handlers registered with ``floe.on`` subscribed already, so they
    see everything from the kernel's start.
    """
    kernel = open_kernel(settings)
    subscribe_listeners(kernel.bus)
    return kernel
