"""floe: a durable, plugin-based workflow kernel on structured concurrency.

The names below load on first use, so ``import floe`` stays cheap for the command line
and for plugins, which every kernel imports at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._api import cancel
    from ._schedules import (
        Schedule,
        add_schedule,
        list_schedules,
        pause_schedule,
        remove_schedule,
        resume_schedule,
    )
    from ._worker import Worker
    from .components._component_journal import component_run_id
    from .components._components import Component, Engine
    from .components._config import (
        ComponentConfig,
        config_registry,
        load_config,
        load_rules,
        register_config_states,
    )
    from .components._explain import Diagnostic, Explanation, explain
    from .components._snapshots import (
        list_snapshots,
        load_latest_snapshot,
        load_snapshot,
        prune_snapshots,
        restore_component,
        save_component,
        save_snapshot,
    )
    from .components._state_machine import StateMachine, Transitioned
    from .components._visualize import visualize
    from .hookspecs import hookimpl
    from .kernel._bus import BusStatistics, EventBus, Listener, SubscriptionHandle, on
    from .kernel._errors import (
        ConfigError,
        ExitCode,
        FloeError,
        ImportPathError,
        NonDeterminismError,
        NotFoundError,
        PersistenceError,
        PluginError,
        RenamedError,
        RunLeasedError,
        SequenceConflictError,
        SerializationError,
        StateError,
        TaskFailedError,
        TaskTimeoutError,
        WorkflowTimeoutError,
    )
    from .kernel._inject import FlowHandle, InjectionContext, TaskHandle, TaskMetadata
    from .kernel._kernel import Kernel, current_kernel, open_kernel
    from .kernel._logging import bind_log_context
    from .kernel._memory import MemoryStore
    from .kernel._models import (
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
    from .kernel._plugins import PluginInfo, PluginWarning
    from .kernel._resources import (
        ArtifactStore,
        DirectoryArtifactStore,
        EnvironmentSecretStore,
        SecretStore,
    )
    from .kernel._retry import ExponentialBackoff, RetryOptions, RetryPolicy, retry
    from .kernel._schema import (
        ABSENT,
        PAYLOADS,
        ArtifactCreated,
        ComponentMessageReceived,
        ComponentRegistered,
        ComponentRulesUpdated,
        EventKind,
        HandlerFailed,
        JobCancelled,
        JobCompleted,
        JobFailed,
        JobPaused,
        JobResumed,
        JobStarted,
        LogMessage,
        Payload,
        ResultCreated,
        RoutineEmitted,
        RoutineFailed,
        RoutineRetrying,
        RoutineSlotReceived,
        RunCancelled,
        RunCancelling,
        RunCompleted,
        RunFailed,
        RunPaused,
        RunResumed,
        RunStarted,
        StateChanged,
        TaskCacheHit,
        TaskCompleted,
        TaskFailed,
        TaskFallback,
        TaskRetrying,
        TaskRolledBack,
        TaskStarted,
        TimerFired,
        TimerScheduled,
        data_of,
        payload_of,
    )
    from .kernel._sealing import PayloadCodec
    from .kernel._secrets import MIN_SECRET_LENGTH, SECRET_MASK, Secret, Secrets, mask
    from .kernel._settings import Settings, load_settings
    from .kernel._states import Message, State, StateRegistry, Transition
    from .kernel._store import Store, StoreURL
    from .kernel._sync import run_sync
    from .workflows._artifacts import Artifact, Result, add_artifact, add_result
    from .workflows._compose import parallel, pipeline
    from .workflows._control import call, pause, resume
    from .workflows._dag import TaskGraph, TaskGraphResult
    from .workflows._determinism import choice, now, randint, randrange, uuid4
    from .workflows._execution import Context, Execution
    from .workflows._recovery import Recovered, recover
    from .workflows._submit import RunHandle
    from .workflows._subworkflows import RunCancelledError
    from .workflows._tasks import Task, TaskOptions, task
    from .workflows._timers import sleep
    from .workflows._workflows import Workflow, workflow


from .kernel._version import VERSION

__version__ = VERSION
del VERSION

__all__ = [
    "ABSENT",
    "MIN_SECRET_LENGTH",
    "PAYLOADS",
    "SECRET_MASK",
    "Artifact",
    "ArtifactCreated",
    "ArtifactStore",
    "BusStatistics",
    "CacheEntry",
    "Component",
    "ComponentConfig",
    "ComponentMessageReceived",
    "ComponentRegistered",
    "ComponentRulesUpdated",
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
    "EventKind",
    "Execution",
    "ExitCode",
    "Explanation",
    "ExponentialBackoff",
    "FloeError",
    "FlowHandle",
    "HandlerFailed",
    "ImportPathError",
    "InjectionContext",
    "JobCancelled",
    "JobCompleted",
    "JobFailed",
    "JobPaused",
    "JobResumed",
    "JobStarted",
    "Kernel",
    "Listener",
    "LogMessage",
    "MemoryStore",
    "Message",
    "NonDeterminismError",
    "NotFoundError",
    "Payload",
    "PayloadCodec",
    "PersistenceError",
    "PluginError",
    "PluginInfo",
    "PluginWarning",
    "Recovered",
    "RenamedError",
    "Result",
    "ResultCreated",
    "RetryOptions",
    "RetryPolicy",
    "RoutineEmitted",
    "RoutineFailed",
    "RoutineRetrying",
    "RoutineSlotReceived",
    "Run",
    "RunCancelled",
    "RunCancelledError",
    "RunCancelling",
    "RunCompleted",
    "RunFailed",
    "RunHandle",
    "RunLeasedError",
    "RunListing",
    "RunPaused",
    "RunQuery",
    "RunResumed",
    "RunStarted",
    "RunStatus",
    "Schedule",
    "Secret",
    "SecretStore",
    "Secrets",
    "SequenceConflictError",
    "SerializationError",
    "Settings",
    "Snapshot",
    "State",
    "StateChanged",
    "StateError",
    "StateMachine",
    "StateRegistry",
    "Store",
    "StoreURL",
    "SubscriptionHandle",
    "Task",
    "TaskCacheHit",
    "TaskCompleted",
    "TaskFailed",
    "TaskFailedError",
    "TaskFallback",
    "TaskGraph",
    "TaskGraphResult",
    "TaskHandle",
    "TaskMetadata",
    "TaskOptions",
    "TaskRetrying",
    "TaskRolledBack",
    "TaskStarted",
    "TaskTimeoutError",
    "TimerFired",
    "TimerScheduled",
    "Transition",
    "Transitioned",
    "Worker",
    "Workflow",
    "WorkflowTimeoutError",
    "add_artifact",
    "add_result",
    "add_schedule",
    "bind_log_context",
    "call",
    "cancel",
    "choice",
    "component_run_id",
    "config_registry",
    "current_kernel",
    "data_of",
    "explain",
    "hookimpl",
    "list_schedules",
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
    "pause_schedule",
    "payload_of",
    "pipeline",
    "prune_snapshots",
    "randint",
    "randrange",
    "recover",
    "register_config_states",
    "remove_schedule",
    "restore_component",
    "resume",
    "resume_schedule",
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
    "resume_schedule": "_schedules",
    "remove_schedule": "_schedules",
    "pause_schedule": "_schedules",
    "list_schedules": "_schedules",
    "add_schedule": "_schedules",
    "Schedule": "_schedules",
    "ABSENT": "kernel._schema",
    "MIN_SECRET_LENGTH": "kernel._secrets",
    "PAYLOADS": "kernel._schema",
    "SECRET_MASK": "kernel._secrets",
    "Artifact": "workflows._artifacts",
    "ArtifactCreated": "kernel._schema",
    "ArtifactStore": "kernel._resources",
    "BusStatistics": "kernel._bus",
    "CacheEntry": "kernel._models",
    "Component": "components._components",
    "ComponentConfig": "components._config",
    "ComponentMessageReceived": "kernel._schema",
    "ComponentRegistered": "kernel._schema",
    "ComponentRulesUpdated": "kernel._schema",
    "ConfigError": "kernel._errors",
    "Context": "workflows._execution",
    "DamagedRecord": "kernel._models",
    "Diagnostic": "components._explain",
    "DirectoryArtifactStore": "kernel._resources",
    "Engine": "components._components",
    "EnvironmentSecretStore": "kernel._resources",
    "ErrorInfo": "kernel._models",
    "Event": "kernel._models",
    "EventBus": "kernel._bus",
    "EventKind": "kernel._kinds",
    "Execution": "workflows._execution",
    "ExitCode": "kernel._errors",
    "Explanation": "components._explain",
    "ExponentialBackoff": "kernel._retry",
    "FloeError": "kernel._errors",
    "FlowHandle": "kernel._inject",
    "HandlerFailed": "kernel._schema",
    "ImportPathError": "kernel._errors",
    "InjectionContext": "kernel._inject",
    "JobCancelled": "kernel._schema",
    "JobCompleted": "kernel._schema",
    "JobFailed": "kernel._schema",
    "JobPaused": "kernel._schema",
    "JobResumed": "kernel._schema",
    "JobStarted": "kernel._schema",
    "Kernel": "kernel._kernel",
    "Listener": "kernel._bus",
    "LogMessage": "kernel._schema",
    "MemoryStore": "kernel._memory",
    "Message": "kernel._states",
    "NonDeterminismError": "kernel._errors",
    "NotFoundError": "kernel._errors",
    "Payload": "kernel._schema",
    "PayloadCodec": "kernel._sealing",
    "PersistenceError": "kernel._errors",
    "PluginError": "kernel._errors",
    "PluginInfo": "kernel._plugins",
    "PluginWarning": "kernel._plugins",
    "RenamedError": "kernel._errors",
    "Result": "workflows._artifacts",
    "ResultCreated": "kernel._schema",
    "RetryOptions": "kernel._retry",
    "RetryPolicy": "kernel._retry",
    "RoutineEmitted": "kernel._schema",
    "RoutineFailed": "kernel._schema",
    "RoutineRetrying": "kernel._schema",
    "RoutineSlotReceived": "kernel._schema",
    "Recovered": "workflows._recovery",
    "Run": "kernel._models",
    "RunCancelled": "kernel._schema",
    "RunCancelling": "kernel._schema",
    "RunCancelledError": "workflows._subworkflows",
    "RunCompleted": "kernel._schema",
    "RunFailed": "kernel._schema",
    "RunHandle": "workflows._submit",
    "RunLeasedError": "kernel._errors",
    "RunListing": "kernel._models",
    "RunPaused": "kernel._schema",
    "RunQuery": "kernel._models",
    "RunResumed": "kernel._schema",
    "RunStarted": "kernel._schema",
    "RunStatus": "kernel._models",
    "Secret": "kernel._secrets",
    "SecretStore": "kernel._resources",
    "Secrets": "kernel._secrets",
    "SequenceConflictError": "kernel._errors",
    "SerializationError": "kernel._errors",
    "Settings": "kernel._settings",
    "Snapshot": "kernel._models",
    "State": "kernel._states",
    "StateChanged": "kernel._schema",
    "StateError": "kernel._errors",
    "StateMachine": "components._state_machine",
    "StateRegistry": "kernel._states",
    "Store": "kernel._store",
    "StoreURL": "kernel._store",
    "SubscriptionHandle": "kernel._bus",
    "Task": "workflows._tasks",
    "TaskCacheHit": "kernel._schema",
    "TaskCompleted": "kernel._schema",
    "TaskFailed": "kernel._schema",
    "TaskFailedError": "kernel._errors",
    "TaskGraph": "workflows._dag",
    "TaskGraphResult": "workflows._dag",
    "TaskFallback": "kernel._schema",
    "TaskHandle": "kernel._inject",
    "TaskMetadata": "kernel._inject",
    "TaskOptions": "workflows._tasks",
    "TaskRetrying": "kernel._schema",
    "TaskRolledBack": "kernel._schema",
    "TaskStarted": "kernel._schema",
    "TaskTimeoutError": "kernel._errors",
    "TimerFired": "kernel._schema",
    "TimerScheduled": "kernel._schema",
    "Transition": "kernel._states",
    "Transitioned": "components._state_machine",
    "Worker": "_worker",
    "Workflow": "workflows._workflows",
    "WorkflowTimeoutError": "kernel._errors",
    "add_artifact": "workflows._artifacts",
    "add_result": "workflows._artifacts",
    "bind_log_context": "kernel._logging",
    "call": "workflows._control",
    "cancel": "_api",
    "choice": "workflows._determinism",
    "component_run_id": "components._component_journal",
    "config_registry": "components._config",
    "current_kernel": "kernel._kernel",
    "data_of": "kernel._schema",
    "explain": "components._explain",
    "hookimpl": "hookspecs",
    "list_snapshots": "components._snapshots",
    "load_config": "components._config",
    "load_latest_snapshot": "components._snapshots",
    "load_rules": "components._config",
    "load_settings": "kernel._settings",
    "load_snapshot": "components._snapshots",
    "mask": "kernel._secrets",
    "now": "workflows._determinism",
    "on": "kernel._bus",
    "open_kernel": "kernel._kernel",
    "parallel": "workflows._compose",
    "pause": "workflows._control",
    "payload_of": "kernel._schema",
    "pipeline": "workflows._compose",
    "prune_snapshots": "components._snapshots",
    "randint": "workflows._determinism",
    "randrange": "workflows._determinism",
    "register_config_states": "components._config",
    "restore_component": "components._snapshots",
    "recover": "workflows._recovery",
    "resume": "workflows._control",
    "retry": "kernel._retry",
    "run_sync": "kernel._sync",
    "save_component": "components._snapshots",
    "save_snapshot": "components._snapshots",
    "sleep": "workflows._timers",
    "task": "workflows._tasks",
    "uuid4": "workflows._determinism",
    "visualize": "components._visualize",
    "workflow": "workflows._workflows",
}
"""Public name -> the private module that defines it."""


_SUBMODULES = frozenset({"graph", "storage", "testing"})
"""Public submodules, imported on first use as ``floe.graph`` after ``import floe``."""


_RENAMED = {"Graph": "TaskGraph", "GraphResult": "TaskGraphResult"}
"""Former public names, still served (with a DeprecationWarning): former -> current."""


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"floe.{name}")
    if name in _RENAMED:
        import warnings

        current = _RENAMED[name]
        warnings.warn(
            f"floe.{name} is now floe.{current} (floe.graph is the unrelated routine "
            f"graphs); floe.{name} will be removed",
            DeprecationWarning,
            stacklevel=2,
        )
        return __getattr__(current)
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'floe' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"floe.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
