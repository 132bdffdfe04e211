"""floe: a durable, plugin-based workflow kernel on structured concurrency."""

from ._bus import BusStatistics, EventBus, SubscriptionHandle
from ._determinism import choice, now, randint, randrange, uuid4
from ._errors import (
    ConfigError,
    ExitCode,
    FloeError,
    ImportPathError,
    NonDeterminismError,
    NotFoundError,
    PersistenceError,
    PluginError,
    SequenceConflictError,
    SerializationError,
    StateError,
    TaskTimeoutError,
)
from ._inject import InjectionContext
from ._kernel import Kernel, current_kernel, open_kernel
from ._logging import bind_log_context
from ._memory import MemoryStore
from ._models import CacheEntry, ErrorInfo, Event, Run, RunQuery, RunStatus, Snapshot
from ._plugins import PluginInfo, PluginWarning
from ._resources import ArtifactStore, DirectoryArtifactStore, EnvironmentSecretStore, SecretStore
from ._retry import ExponentialBackoff, RetryOptions, RetryPolicy
from ._settings import Settings, load_settings
from ._states import StateRegistry
from ._store import Store, StoreURL
from ._sync import run_sync
from ._tasks import Task, TaskFailedError, TaskOptions, task
from ._workflows import Context, Execution, Workflow, workflow
from .hookspecs import hookimpl

__version__ = "0.1.0.dev0"

__all__ = [
    "ArtifactStore",
    "BusStatistics",
    "CacheEntry",
    "ConfigError",
    "Context",
    "DirectoryArtifactStore",
    "EnvironmentSecretStore",
    "ErrorInfo",
    "Event",
    "EventBus",
    "Execution",
    "ExitCode",
    "ExponentialBackoff",
    "FloeError",
    "ImportPathError",
    "InjectionContext",
    "Kernel",
    "MemoryStore",
    "NonDeterminismError",
    "NotFoundError",
    "PersistenceError",
    "PluginError",
    "PluginInfo",
    "PluginWarning",
    "RetryOptions",
    "RetryPolicy",
    "Run",
    "RunQuery",
    "RunStatus",
    "SecretStore",
    "SequenceConflictError",
    "SerializationError",
    "Settings",
    "Snapshot",
    "StateError",
    "StateRegistry",
    "Store",
    "StoreURL",
    "SubscriptionHandle",
    "Task",
    "TaskFailedError",
    "TaskOptions",
    "TaskTimeoutError",
    "Workflow",
    "bind_log_context",
    "choice",
    "current_kernel",
    "hookimpl",
    "load_settings",
    "now",
    "open_kernel",
    "randint",
    "randrange",
    "run_sync",
    "task",
    "uuid4",
    "workflow",
]
