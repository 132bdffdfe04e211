"""What ``floe`` offers across programming models, above them all.

``floe.cancel(run_id)`` takes a run of any model that can be cancelled from outside it,
so it is the one function here that knows the models: the models themselves import only
the kernel (see the layer contracts in ``pyproject.toml``).
"""

from __future__ import annotations

from .graph._engine import GRAPH_KIND
from .graph._flow import cancel_job
from .kernel._kernel import kernel_for_call
from .workflows._execution import Execution
from .workflows._workflows import cancel_run

__all__ = ["cancel"]


async def cancel(run_id: str) -> Execution:
    """Cancel the running or paused run *run_id*; return its cancelled execution.

    A workflow run executing in this process is stopped (its cancel scope, and its child
    runs'); any other unfinished run is replayed up to where it stands. Then the
    rollbacks of its completed steps run, newest first (each journaled as
    ``task.rolled_back``), and ``run.cancelled`` is recorded. A finished run is a
    :class:`StateError`. A routine graph's job (a run of kind ``graph``) needs no
    replay: it is recorded cancelled.
    """
    async with kernel_for_call() as kernel:
        run = await kernel.store.get_run(run_id) if isinstance(run_id, str) else None
        if run is not None and run.kind == GRAPH_KIND:
            cancelled = await cancel_job(kernel, run_id)
            return Execution.from_run(cancelled, await kernel.store.read_events(run_id))
        return await cancel_run(kernel, run_id)
