"""floe: a durable, plugin-based workflow kernel on structured concurrency.

The names below load on first use, so ``import floe`` stays cheap for the command line
and for plugins, which every kernel imports at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._artifacts import Artifact, Result, add_artifact, add_result
    from ._bus import BusStatistics, EventBus, Listener, SubscriptionHandle, on
    from ._component_journal import component_run_id
    from ._components import Component, Engine
    from ._compose import parallel, pipeline
    from ._config import (
        ComponentConfig,
        config_registry,
        load_config,
        load_rules,
        register_config_states,
    )
    from ._control import call, cancel, pause, resume
    from ._dag import Graph, GraphResult
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
        RenamedError,
        SequenceConflictError,
        SerializationError,
        StateError,
        TaskFailedError,
        TaskTimeoutError,
        WorkflowTimeoutError,
    )
    from ._execution import Context, Execution
    from ._explain import Diagnostic, Explanation, explain
    from ._inject import FlowHandle, InjectionContext, TaskHandle, TaskMetadata
    from ._kernel import Kernel, current_kernel, open_kernel
    from ._logging import bind_log_context
    from ._memory import MemoryStore
    from ._models import (
        CacheEntry,
        DamagedRecord,
        ErrorInfo,
        Event,
        Run,
        RunListing,
        RunQuery,
        RunStatus,
        Snapshot,
    )
    from ._plugins import PluginInfo, PluginWarning
    from ._resources import (
        ArtifactStore,
        DirectoryArtifactStore,
        EnvironmentSecretStore,
        SecretStore,
    )
    from ._retry import ExponentialBackoff, RetryOptions, RetryPolicy, retry
    from ._sealing import PayloadCodec
    from ._secrets import MIN_SECRET_LENGTH, SECRET_MASK, Secret, Secrets, mask
    from ._settings import Settings, load_settings
    from ._snapshots import (
        list_snapshots,
        load_latest_snapshot,
        load_snapshot,
        prune_snapshots,
        restore_component,
        save_component,
        save_snapshot,
    )
    from ._state_machine import Message, State, StateMachine, Transition, Transitioned
    from ._states import StateRegistry
    from ._store import Store, StoreURL
    from ._subworkflows import RunCancelledError
    from ._sync import run_sync
    from ._tasks import Task, TaskOptions, task
    from ._timers import sleep
    from ._visualize import visualize
    from ._workflows import Workflow, workflow
    from .hookspecs import hookimpl


__version__ = "0.1.0.dev0"

__all__ = [
    "MIN_SECRET_LENGTH",
    "SECRET_MASK",
    "Artifact",
    "ArtifactStore",
    "BusStatistics",
    "CacheEntry",
    "Component",
    "ComponentConfig",
    "ConfigError",
    "Context",
    "DamagedRecord",
    "Diagnostic",
    "DirectoryArtifactStore",
    "Engine",
    "EnvironmentSecretStore",
    "ErrorInfo",
    "Event",
    "EventBus",
    "Execution",
    "ExitCode",
    "Explanation",
    "ExponentialBackoff",
    "FloeError",
    "FlowHandle",
    "Graph",
    "GraphResult",
    "ImportPathError",
    "InjectionContext",
    "Kernel",
    "Listener",
    "MemoryStore",
    "Message",
    "NonDeterminismError",
    "NotFoundError",
    "PayloadCodec",
    "PersistenceError",
    "PluginError",
    "PluginInfo",
    "PluginWarning",
    "RenamedError",
    "Result",
    "RetryOptions",
    "RetryPolicy",
    "Run",
    "RunCancelledError",
    "RunListing",
    "RunQuery",
    "RunStatus",
    "Secret",
    "SecretStore",
    "Secrets",
    "SequenceConflictError",
    "SerializationError",
    "Settings",
    "Snapshot",
    "State",
    "StateError",
    "StateMachine",
    "StateRegistry",
    "Store",
    "StoreURL",
    "SubscriptionHandle",
    "Task",
    "TaskFailedError",
    "TaskHandle",
    "TaskMetadata",
    "TaskOptions",
    "TaskTimeoutError",
    "Transition",
    "Transitioned",
    "Workflow",
    "WorkflowTimeoutError",
    "add_artifact",
    "add_result",
    "bind_log_context",
    "call",
    "cancel",
    "choice",
    "component_run_id",
    "config_registry",
    "current_kernel",
    "explain",
    "hookimpl",
    "list_snapshots",
    "load_config",
    "load_latest_snapshot",
    "load_rules",
    "load_settings",
    "load_snapshot",
    "mask",
    "now",
    "on",
    "open_kernel",
    "parallel",
    "pause",
    "pipeline",
    "prune_snapshots",
    "randint",
    "randrange",
    "register_config_states",
    "restore_component",
    "resume",
    "retry",
    "run_sync",
    "save_component",
    "save_snapshot",
    "sleep",
    "task",
    "uuid4",
    "visualize",
    "workflow",
]

_EXPORTS: dict[str, str] = {
    "Artifact": "_artifacts",
    "ArtifactStore": "_resources",
    "BusStatistics": "_bus",
    "CacheEntry": "_models",
    "Component": "_components",
    "ComponentConfig": "_config",
    "ConfigError": "_errors",
    "Context": "_execution",
    "DamagedRecord": "_models",
    "Diagnostic": "_explain",
    "DirectoryArtifactStore": "_resources",
    "Engine": "_components",
    "EnvironmentSecretStore": "_resources",
    "ErrorInfo": "_models",
    "Event": "_models",
    "EventBus": "_bus",
    "Execution": "_execution",
    "ExitCode": "_errors",
    "Explanation": "_explain",
    "ExponentialBackoff": "_retry",
    "FloeError": "_errors",
    "FlowHandle": "_inject",
    "Graph": "_dag",
    "GraphResult": "_dag",
    "ImportPathError": "_errors",
    "InjectionContext": "_inject",
    "Kernel": "_kernel",
    "Listener": "_bus",
    "MemoryStore": "_memory",
    "Message": "_state_machine",
    "MIN_SECRET_LENGTH": "_secrets",
    "NonDeterminismError": "_errors",
    "NotFoundError": "_errors",
    "PersistenceError": "_errors",
    "PluginError": "_errors",
    "PluginInfo": "_plugins",
    "PluginWarning": "_plugins",
    "RenamedError": "_errors",
    "Result": "_artifacts",
    "RetryOptions": "_retry",
    "RetryPolicy": "_retry",
    "Run": "_models",
    "RunCancelledError": "_subworkflows",
    "RunListing": "_models",
    "RunQuery": "_models",
    "RunStatus": "_models",
    "PayloadCodec": "_sealing",
    "Secret": "_secrets",
    "SECRET_MASK": "_secrets",
    "SecretStore": "_resources",
    "Secrets": "_secrets",
    "SequenceConflictError": "_errors",
    "SerializationError": "_errors",
    "Settings": "_settings",
    "Snapshot": "_models",
    "State": "_state_machine",
    "StateError": "_errors",
    "StateMachine": "_state_machine",
    "StateRegistry": "_states",
    "Store": "_store",
    "StoreURL": "_store",
    "SubscriptionHandle": "_bus",
    "Task": "_tasks",
    "TaskFailedError": "_errors",
    "TaskHandle": "_inject",
    "TaskMetadata": "_inject",
    "TaskOptions": "_tasks",
    "TaskTimeoutError": "_errors",
    "Transition": "_state_machine",
    "Transitioned": "_state_machine",
    "Workflow": "_workflows",
    "WorkflowTimeoutError": "_errors",
    "add_artifact": "_artifacts",
    "add_result": "_artifacts",
    "bind_log_context": "_logging",
    "call": "_control",
    "cancel": "_control",
    "choice": "_determinism",
    "component_run_id": "_component_journal",
    "config_registry": "_config",
    "current_kernel": "_kernel",
    "explain": "_explain",
    "hookimpl": "hookspecs",
    "list_snapshots": "_snapshots",
    "load_config": "_config",
    "load_latest_snapshot": "_snapshots",
    "load_rules": "_config",
    "load_settings": "_settings",
    "load_snapshot": "_snapshots",
    "mask": "_secrets",
    "now": "_determinism",
    "on": "_bus",
    "open_kernel": "_kernel",
    "parallel": "_compose",
    "pause": "_control",
    "pipeline": "_compose",
    "prune_snapshots": "_snapshots",
    "randint": "_determinism",
    "randrange": "_determinism",
    "register_config_states": "_config",
    "restore_component": "_snapshots",
    "resume": "_control",
    "retry": "_retry",
    "run_sync": "_sync",
    "save_component": "_snapshots",
    "save_snapshot": "_snapshots",
    "sleep": "_timers",
    "task": "_tasks",
    "uuid4": "_determinism",
    "visualize": "_visualize",
    "workflow": "_workflows",
}
"""Public name -> the private module that defines it."""


_SUBMODULES = frozenset({"graph", "storage", "testing"})
"""Public submodules, imported on first use as ``floe.graph`` after ``import floe``."""


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"floe.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'floe' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"floe.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
