"""floe_inject: the built-in injectable parameters of tasks and workflow bodies.

A task or workflow body that declares one of these parameters, and is not passed it,
receives:

``this_flow``
    a :class:`floe.FlowHandle`: ``run_id``, ``workflow``, ``data``, ``add_artifact(...)``
    and ``add_result(...)``;
``this_task``
    a :class:`floe.TaskHandle` (tasks only): ``name``, ``step``, ``position``,
    ``attempt``, ``run_id``, ``data``;
``flow_data``
    a dict shared by every task of the run in this process (not journaled: rebuild what
    you need from task results after a resume);
``task_data``
    a dict fresh for each task call, shared by its attempts;
``secrets``
    a :class:`floe.Secrets` of the names the task declared with ``secrets=[...]``;
``metadata``
    a :class:`floe.TaskMetadata` (``run_id``, ``step``, ``position``, ``task``,
    ``attempt``) when the task has ``metadata=True``.

Blocking this plugin (``FLOE_DISABLE_PLUGINS=inject``) turns these names off; other
plugins implementing ``floe_inject`` are asked before it and may serve any name.
"""

from __future__ import annotations

from typing import Any, Final

from floe import InjectionContext, hookimpl

__all__ = ["BUILT_IN_NAMES", "floe_inject"]

BUILT_IN_NAMES: Final = frozenset(
    {"this_flow", "this_task", "flow_data", "task_data", "secrets", "metadata"}
)


@hookimpl
def floe_inject(parameter: str, context: InjectionContext) -> Any:
    """The built-in value named *parameter*, or None when it is not one (or not given)."""
    if parameter not in BUILT_IN_NAMES:
        return None
    return getattr(context, parameter)
