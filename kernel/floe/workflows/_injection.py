"""Injected parameters of tasks and workflow bodies: which to fill, and filling them.

A parameter that the caller leaves unfilled is offered to the ``floe_inject`` hook with
an :class:`~floe.InjectionContext` built here; explicitly passed arguments always win
and never reach the hook.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..kernel._inject import FlowHandle, InjectionContext, TaskHandle, TaskMetadata
from . import _artifacts

if TYPE_CHECKING:
    from ..kernel._secrets import Secrets
    from ._runtime import RunState

__all__ = ["Parameters", "inject", "injectable_parameters", "unfilled"]

Parameters = tuple[tuple[str, int | None], ...]
"""A callable's injectable parameters: (name, positional index or None)."""


def injectable_parameters(function: Callable[..., Any]) -> Parameters:
    """The parameters of *function* that may be filled by name (not ``*args``/``**kw``)."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # builtins without a signature: nothing to inject
        return ()
    found: list[tuple[str, int | None]] = []
    for index, parameter in enumerate(signature.parameters.values()):
        if parameter.kind is parameter.POSITIONAL_OR_KEYWORD:
            found.append((parameter.name, index))
        elif parameter.kind is parameter.KEYWORD_ONLY:
            found.append((parameter.name, None))
    return tuple(found)


def unfilled(parameters: Parameters, args: Sequence[Any], kwargs: Mapping[str, Any]) -> list[str]:
    """The names in *parameters* that *args* and *kwargs* leave unfilled."""
    count = len(args)
    return [
        name
        for name, index in parameters
        if name not in kwargs and (index is None or index >= count)
    ]


def inject(
    state: RunState,
    names: list[str],
    kwargs: dict[str, Any],
    *,
    target: str,
    step: str | None = None,
    position: str | None = None,
    attempt: int | None = None,
    task_data: dict[str, Any] | None = None,
    secrets: Secrets | None = None,
    metadata: bool = False,
) -> dict[str, Any]:
    """*kwargs* plus the value of each name in *names* that a provider serves."""
    kernel = state.kernel
    flow = FlowHandle(
        run_id=state.run_id,
        workflow=state.run.name,
        data=state.data,
        reporter=_artifacts,
    )
    context = InjectionContext(
        kernel=kernel,
        run_id=state.run_id,
        step=step,
        target=target,
        attempt=attempt,
        this_flow=flow,
        this_task=(
            TaskHandle(
                name=target,
                step=step,
                position=position or "",
                attempt=attempt or 1,
                run_id=state.run_id,
                data=task_data if task_data is not None else {},
            )
            if step is not None
            else None
        ),
        flow_data=state.data,
        task_data=task_data,
        secrets=secrets,
        metadata=(
            TaskMetadata(
                run_id=state.run_id,
                step=step or "",
                position=position or "",
                task=target,
                attempt=attempt or 1,
            )
            if metadata
            else None
        ),
    )
    filled = dict(kwargs)
    for name in names:
        value = kernel.hooks.inject(name, context)
        if value is not None:
            filled[name] = value
    return filled
