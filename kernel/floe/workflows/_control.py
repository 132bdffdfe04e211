"""Pausing, resuming, cancelling and calling runs: ``floe.pause``, ``floe.resume``,
``floe.cancel`` and ``floe.call``.

``value = await floe.pause(name, output=...)`` suspends a run: ``run.paused`` is
journaled with the run's status ``paused``, the body unwinds, and ``run_async`` returns
a paused execution (the process may exit). ``await floe.resume(run_id, value)`` journals
``run.resumed`` and continues the run by replay; the pause step returns *value*.
"""

from __future__ import annotations

import functools
from typing import Any, Final

import attrs

from ..kernel._errors import ConfigError, NonDeterminismError, StateError
from ..kernel._kernel import kernel_for_call
from ..kernel._models import RunStatus
from ..kernel._schema import RunPaused, RunResumed, data_of, payload_of
from ..kernel._serialize import encode_value
from ._elsewhere import no_run
from ._runtime import (
    RunState,
    Unwind,
    allocate_step,
    call_from_worker,
    current_run,
    in_worker_thread,
    stop_for_cancel,
)
from ._subworkflows import run_child
from ._tasks import Task
from ._workflows import Execution, Workflow, workflow_for

__all__ = ["PAUSE_STEP", "call", "pause", "resume"]

PAUSE_STEP = "floe.pause"
_VALUE: Final = attrs.fields(RunResumed).value.name
"""The field of ``run.resumed`` a resume value is sealed under."""


def pause(name: str, *, output: Any = None) -> Any:
    """Suspend the run until it is resumed; return the value it is resumed with.

    ``approved = await floe.pause("approval", output={"amount": 120})``. The run's
    status becomes ``paused`` and *output* its output, until ``floe.resume(run_id,
    value)`` (or ``floe resume RUN_ID --input JSON``). A sync workflow body calls it
    without ``await``. Outside a workflow it is a :class:`StateError`.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(
            f"Invalid pause name {name!r}",
            why="A pause is named so that people and tools can tell what it waits for.",
            fix='Pass a non-empty string, e.g. floe.pause("approval").',
        )
    state = current_run()
    if state is None:
        raise StateError(
            f"floe.pause({name!r}) was called outside a workflow",
            why="Only a workflow run can be suspended and resumed.",
            fix="Call floe.pause() from a workflow body, or from a task a workflow calls.",
        )
    key, position = allocate_step(state, PAUSE_STEP)
    encoded = encode_value(output, where=f"the output of pause {name!r}")
    if in_worker_thread():
        return call_from_worker(state, _pause, state, name, encoded, key, position)
    return _pause(state, name, encoded, key, position)


async def _pause(state: RunState, name: str, encoded: Any, key: str, position: str) -> Any:
    replay = state.replay
    replay.check(position, PAUSE_STEP, key)
    last = replay.pauses.get(position)
    if last is not None:
        pause = payload_of(last)
        assert isinstance(pause, RunPaused | RunResumed)  # replay indexes these two
        recorded = pause.name
        if recorded != name:
            raise NonDeterminismError(
                f"Pause {position} of run {state.run_id!r} was named {recorded!r} when it "
                f"ran, but the code now names it {name!r}",
                why="Replay matches pauses by position and name.",
                fix="Keep the old code for runs started with it, or start a new run.",
                context={"run_id": state.run_id, "position": position, "step": key},
            )
        if isinstance(pause, RunResumed):
            return state.opener().value(pause.value, last.kind, last.step, _VALUE)
    if state.cancel_requested:
        await stop_for_cancel(state)
    paused = RunPaused(task=PAUSE_STEP, position=position, name=name, output=encoded)
    run = state.evolve_run(status=RunStatus.PAUSED, runnable_at=None, output=encoded)
    await state.journal.write([(paused.kind, key, data_of(paused))], run=run)
    raise Unwind("paused")


async def resume(run_id: str, value: Any = None, *, raise_on_error: bool = False) -> Execution:
    """Resume the paused run *run_id* with *value*, whichever workflow it runs.

    The workflow is found by the target the run recorded (``"package.module:name"`` or
    ``"path/to/file.py:name"``), among the workflows of this process first. A run that
    is not paused is a :class:`StateError`; an unknown one a :class:`NotFoundError`.
    """
    async with kernel_for_call() as kernel:
        run = await kernel.store.get_run(run_id)
        if run is None:
            raise no_run(run_id, kernel)
        return await workflow_for(run).resume_async(run_id, value, raise_on_error=raise_on_error)


def call(target: Workflow[..., Any] | Task[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Call a workflow as a step of the current one and return its output.

    ``total = await floe.call(child, 1, 2)`` runs *child* as a child run (its own
    journal, ``parent_id`` set, run id ``"{parent_run_id}:{step_key}"``); its failure is
    raised here as the step's failure. Outside a workflow it runs *target* as a run of
    its own and returns its output. A task is simply called.
    """
    if isinstance(target, Task):
        return target(*args, **kwargs)
    if not isinstance(target, Workflow):
        raise ConfigError(
            f"floe.call() needs a workflow or a task, got {target!r}",
            fix="Pass a function decorated with @floe.workflow (or @floe.task).",
        )
    state = current_run()
    if state is None:
        return _call_outside(target, args, kwargs)
    key, position = allocate_step(state, target.name)
    step = functools.partial(
        run_child,
        target,
        state,
        key,
        position,
        args,
        kwargs,
        run_id=None,
        raise_on_error=True,
        returns="output",
    )
    if in_worker_thread():
        return call_from_worker(state, step)
    return step()


async def _call_outside(
    workflow: Workflow[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    execution = await workflow.run_async(*args, raise_on_error=True, **kwargs)
    if execution.paused:
        raise StateError(
            f"The run {execution.run_id!r} of {workflow.name!r} paused at "
            f"{execution.pause_name!r}; it has no output yet",
            fix="Use run_async() to get the paused execution, then floe.resume(run_id, value).",
            context={"run_id": execution.run_id},
        )
    return workflow.decode_output(execution.output)
