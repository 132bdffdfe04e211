"""The kernel: plugins, settings, bus, store and state registry in one task group."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import anyio
import pluggy
from anyio.abc import TaskGroup, TaskStatus

from .. import hookspecs
from ._backends import loop_checkpoint
from ._builtin import KERNEL_PLUGINS
from ._bus import EventBus, subscribe_listeners
from ._current import current_kernel, enter_kernel, leave_kernel, running_kernel
from ._errors import FloeError
from ._hooks import Hooks
from ._leases import keep_leases, new_owner_id
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
        self._stack: AsyncExitStack | None = None
        self._log_handlers: list[logging.Handler] = []
        self._previous_level: int | None = None
        self._entered = False
        self._arriving = 0
        """Writers between the start and the end of their checkpoint (see arrive)."""
        self._grouped = 0
        """Writers waiting in the store's group commit (see record_grouped)."""
        self._groups_appends = False
        """The store's :attr:`Store.groups_appends` (read once, when it opens)."""
        self._checkpoint: Callable[[], Awaitable[None]] = anyio.lowlevel.checkpoint
        """The checkpoint of the loop the kernel runs on (bound when it starts)."""
        self.owner_id = new_owner_id()
        """Who holds the leases of the runs this kernel executes (see _leases)."""

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
        self._checkpoint = loop_checkpoint()
        self.hooks.configure(self.settings)
        self.hooks.register_states(self.states)
        # Everything started is on the stack, undone in reverse on leaving, or at once
        # when a later step of the start fails: the running task group first (services
        # stop, the bus drains), then the current-kernel mark, then the resources
        # (shielded), then the log handlers.
        async with AsyncExitStack() as stack:
            stack.callback(self._detach_log_handlers)
            self._attach_log_handlers()
            resources = await stack.enter_async_context(_ShieldedExit(AsyncExitStack()))
            # set before the resources open and the drain task and services start, so
            # that they see this kernel as current_kernel()
            stack.callback(leave_kernel, enter_kernel(self))
            await self._open_resources(resources)
            await stack.enter_async_context(self._running())
            self._stack = stack.pop_all()
        return self

    async def _open_resources(self, stack: AsyncExitStack) -> None:
        self._store = await stack.enter_async_context(self.hooks.open_store(self.settings.store))
        self._groups_appends = self._store.groups_appends
        stack.callback(setattr, self, "_store", None)
        if self.settings.artifact_store:
            artifacts = self.hooks.open_artifact_store(self.settings.artifact_store)
            self._artifacts = await stack.enter_async_context(artifacts)
            stack.callback(setattr, self, "_artifacts", None)
        secrets = self.hooks.open_secrets(
            self.settings.secrets or DEFAULT_SECRETS_URL, required=bool(self.settings.secrets)
        )
        if secrets is not None:
            self._secrets = await stack.enter_async_context(secrets)
            stack.callback(setattr, self, "_secrets", None)
        _ = self.payload_codec  # a malformed key fails now, before any run starts

    @asynccontextmanager
    async def _running(self) -> AsyncIterator[None]:
        """The task group with the bus's drain task and the plugins' services in it.

        Leaving stops the services, closes the bus and waits for both: the drain task
        delivers what is queued. The body's own exception is not the task group's: it
        is raised after the group, as it is, not wrapped in an ExceptionGroup.
        """
        body_error: BaseException | None = None
        async with anyio.create_task_group() as task_group:
            self._task_group = task_group
            try:
                await task_group.start(self.bus.run)
                if self.store.supports_leases:
                    await self.start_service(functools.partial(keep_leases, self), name="leases")
                self.hooks.subscribe(self.bus)
                for service in self.hooks.services(self):
                    await self.start_service(service)
                yield
            except BaseException as error:
                body_error = error
            finally:
                for scope in self._service_scopes:
                    scope.cancel()
                self._service_scopes.clear()
                self.bus.close()
        self._task_group = None
        if body_error is not None:
            raise body_error

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        stack, self._stack = self._stack, None
        if stack is None:
            return None
        return await stack.__aexit__(exc_type, exc, tb)

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

    async def record(
        self, events: Sequence[Event], *, run: Any = None, posted: Sequence[Event] | None = None
    ) -> None:
        """Append *events* to their run's journal, then post them to the bus in order.

        The spine: every event floe journals reaches the bus through here or through
        :meth:`record_nowait` (a component's message, and a workflow's or a graph's
        :class:`~floe.kernel._journal.Journal` from its group commit). The journal is
        the durable truth and is written first; observers see an event only once it is
        stored. *run* updates the run record in the same transaction (with no events,
        only the record is written). *posted* is what goes to the bus when it is not all
        of *events* (a workflow's step starts were published already).

        Always a checkpoint, first: :meth:`arrive`, or, when writers are waiting in the
        store's group commit already, that commit's wait, which the write joins at once
        (:meth:`joins_group`); a caller cancelled there has stored nothing. After
        :meth:`arrive`, a lone writer — or any writer, on a store that does not group
        appends, such as the memory store — stores and posts at once where neither
        would wait (:meth:`record_nowait`); writers that met at the checkpoint go to the
        store's group commit (:meth:`record_grouped`). A caller cancelled after its
        write was taken is in doubt and reads its run's journal to learn what was
        stored.
        """
        if self.joins_group():
            await self.record_grouped(events, run=run, posted=posted)
            return
        if await self.arrive():
            try:
                self.record_nowait(events, run=run, posted=posted)
                return
            except anyio.WouldBlock:
                pass
        await self.record_grouped(events, run=run, posted=posted)

    async def arrive(self, checkpoint: Callable[[], Awaitable[None]] | None = None) -> bool:
        """The checkpoint before a write, counting the writers in it; True when the write
        may be stored at once with :meth:`record_nowait`.

        False when other writers reached their checkpoint meanwhile and the store groups
        appends (:attr:`Store.groups_appends`): one transaction for them all costs less
        than one each, so the caller stores with :meth:`record_grouped`. *checkpoint* is
        the one to await (default: the loop's own ``checkpoint``; a journal passes its
        shielded one).
        """
        self._arriving += 1
        try:
            await (checkpoint or self._checkpoint)()
        finally:
            self._arriving -= 1
        return not self._arriving or not self._groups_appends

    @property
    def groups_appends(self) -> bool:
        """Whether the store groups appends (:attr:`Store.groups_appends`): writers that
        meet at :meth:`arrive` share a transaction. Where it does not, a writer gains
        nothing from meeting others, and may store at once with :meth:`record_nowait`."""
        return self._groups_appends

    def joins_group(self) -> bool:
        """Whether a write now would join writers waiting in the store's group commit
        (a store that groups appends, with :meth:`record_grouped` calls under way).

        Such a write needs no checkpoint of its own to learn that it is not alone: it
        goes straight to :meth:`record_grouped`, whose wait is its schedule point (a
        caller cancelled there before the store took the write has stored nothing).
        """
        return self._grouped > 0 and self._groups_appends

    async def record_grouped(
        self, events: Sequence[Event], *, run: Any = None, posted: Sequence[Event] | None = None
    ) -> None:
        """Store *events* through the store's :meth:`~Store.append_events_grouped`,
        where writers arriving together share a transaction, then post them as
        :meth:`record` does (waiting only for room in the bus's queue)."""
        run_id = _run_id(events, run)
        if run_id is None:
            await anyio.lowlevel.checkpoint()
            return
        self._grouped += 1
        try:
            await self.store.append_events_grouped(run_id, events, run=run)
        finally:
            self._grouped -= 1
        posted = events if posted is None else posted
        try:
            self.bus.post_events_nowait(posted)
        except anyio.WouldBlock:
            # waits for room in the bus's queue: a caller cancelled meanwhile has its
            # events stored and not posted, and learns which from the journal
            await self.bus.post_events(posted)

    def record_nowait(
        self, events: Sequence[Event], *, run: Any = None, posted: Sequence[Event] | None = None
    ) -> None:
        """Append and post as :meth:`record` does, at once, without a checkpoint.

        Raises :exc:`anyio.WouldBlock`, having stored and posted nothing, when either
        would wait: the store cannot append without blocking
        (:meth:`Store.append_events_nowait`) or the bus's queue has no room
        (:meth:`EventBus.wanted_nowait`, asked first, so that a stored batch is always
        posted at once).
        """
        run_id = _run_id(events, run)
        if run_id is None:
            return
        bus = self.bus
        posted = events if posted is None else posted
        wanted = bus.wanted_nowait(posted)  # raises WouldBlock, before anything is stored
        if not self.store.append_events_nowait(run_id, events, run=run):
            raise anyio.WouldBlock
        bus.queue_wanted(wanted, len(posted))

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


class _ShieldedExit(AbstractAsyncContextManager[_T]):
    """*manager*, its exit shielded from cancellation: resources close in any case."""

    def __init__(self, manager: AbstractAsyncContextManager[_T]) -> None:
        self._manager = manager

    async def __aenter__(self) -> _T:
        return await self._manager.__aenter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        suppress: bool | None = None
        with anyio.CancelScope(shield=True):
            suppress = await self._manager.__aexit__(exc_type, exc, tb)
        return suppress


def _run_id(events: Sequence[Event], run: Any) -> str | None:
    """The run a write is for: its events', or its record's when there are none."""
    if events:
        return events[0].run_id
    return None if run is None else str(run.run_id)


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
