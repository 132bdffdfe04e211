"""What the ``floe_inject`` hook is told: :class:`InjectionContext` and the handles in it.

A parameter that the caller leaves unfilled is offered to the ``floe_inject`` hook;
the first provider that returns a value fills it. The plugin ``floe_inject`` serves the
built-in names (``this_flow``, ``this_task``, ``flow_data``, ``task_data``, ``secrets``,
``metadata``) from the context; user plugins add names of their own, or serve a
built-in name differently (they are asked first). The workflows model builds the
context for each call (``floe.workflows._injection``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from ._errors import FloeError, renamed_attribute

if TYPE_CHECKING:
    from ._kernel import Kernel
    from ._secrets import Secrets

__all__ = [
    "FlowHandle",
    "InjectionContext",
    "TaskHandle",
    "TaskMetadata",
]


class Reporter(Protocol):
    """What records a run's artifacts and results: ``floe.add_artifact`` and ``add_result``."""

    def add_artifact(
        self, key: str, data: Any, *, artifact_type: str = ..., description: str | None = ...
    ) -> Any: ...

    def add_result(self, key: str, description: str) -> Any: ...


@attrs.frozen
class FlowHandle:
    """``this_flow``: the run a task or body belongs to, and what it may report."""

    run_id: str
    workflow: str
    data: dict[str, Any] = attrs.field(repr=False)
    """``flow_data``: values shared by every task of the run in this process."""

    reporter: Reporter = attrs.field(default=None, repr=False, eq=False, kw_only=True)
    """Records artifacts and results of the run (given by the workflows model)."""

    def add_artifact(
        self,
        key: str,
        data: Any,
        *,
        artifact_type: str = "json",
        description: str | None = None,
    ) -> Any:
        """Record an artifact of this run (see :func:`floe.add_artifact`)."""
        return self._reporter().add_artifact(
            key, data, artifact_type=artifact_type, description=description
        )

    def add_result(self, key: str, description: str) -> Any:
        """Record a named result of this run (see :func:`floe.add_result`)."""
        return self._reporter().add_result(key, description)

    def _reporter(self) -> Reporter:
        if self.reporter is None:
            raise FloeError(
                f"This handle of run {self.run_id!r} cannot record artifacts or results",
                why="It was made outside a workflow run, which gives its handles a reporter.",
                fix="Use the this_flow a task or workflow body receives.",
                context={"run_id": self.run_id},
            )
        return self.reporter

    def __getattr__(self, name: str) -> Any:
        raise renamed_attribute(self, name, _OSBOT_FLOW)


_OSBOT_FLOW = {
    "add_flow_artifact": "Use this_flow.add_artifact(key, data, artifact_type='json', "
    "description=None): key and data come first.",
    "add_flow_result": "Use this_flow.add_result(key, description).",
    "flow_id": "Use this_flow.run_id.",
    "flow_run_id": "Use this_flow.run_id.",
    "flow_name": "Use this_flow.workflow.",
}
"""OSBot-Utils ``Flow`` attributes that floe spells differently, with the fix."""


@attrs.frozen
class TaskHandle:
    """``this_task``: the task call being made, as a step of its run."""

    name: str
    step: str
    position: str
    attempt: int
    run_id: str
    data: dict[str, Any] = attrs.field(repr=False)
    """``task_data``: a dict fresh for this call, shared by its attempts."""


@attrs.frozen
class TaskMetadata:
    """``metadata``: which call of which task this is, for a task with ``metadata=True``.

    Together the fields make an idempotency key for calls to outside services. Read them
    as attributes (``metadata.step``); ``metadata["step"]`` works as well, and Flux's
    names ``metadata.task_id`` (the step key) and ``metadata.task_name`` are kept.
    """

    run_id: str
    step: str
    """The step key of the call (``charge#2``), unique within the run."""
    position: str
    task: str
    """The task's name."""
    attempt: int
    """1 for the first attempt, 2 for the first retry ..."""

    @property
    def task_id(self) -> str:
        """The step key, under Flux's name."""
        return self.step

    @property
    def task_name(self) -> str:
        """The task's name, under Flux's name."""
        return self.task

    def __getitem__(self, key: str) -> Any:
        # item access and dict(metadata), as when the metadata was a dict
        if key not in _METADATA_KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def keys(self) -> tuple[str, ...]:
        return tuple(field.name for field in attrs.fields(TaskMetadata))


_METADATA_KEYS = frozenset(field.name for field in attrs.fields(TaskMetadata))


@attrs.frozen
class InjectionContext:
    """Where a parameter is being injected: which kernel, run, step and call."""

    kernel: Kernel | None = None
    run_id: str | None = None
    step: str | None = None
    """The step key of the task call, or None for the workflow body."""
    target: str | None = None
    """The name of the task or workflow whose parameter is filled."""
    data: Mapping[str, Any] = attrs.field(factory=dict)
    """Provider-specific values (the caller's metadata ...)."""
    attempt: int | None = None
    """The attempt of the task call (1 for the first), None for a workflow body."""
    this_flow: FlowHandle | None = None
    this_task: TaskHandle | None = None
    flow_data: dict[str, Any] | None = None
    task_data: dict[str, Any] | None = None
    secrets: Secrets | None = None
    """The secrets the task declared (``secrets=[...]``), None when it declared none."""
    metadata: TaskMetadata | None = None
    """Step key, task name, attempt and run id, when the task has ``metadata=True``."""
