"""Finding the run a command names: its id, or the start of it, as git takes a commit's.

``floe status 4f0c`` finds the run whose id starts with ``4f0c`` when exactly one does.
An exact id always wins (``pay-1`` is the run ``pay-1`` even when ``pay-10`` exists); a
shortened id needs :data:`MIN_PREFIX` characters. Each command then checks that the run
is of a kind it can act on, and says what to do with the others.
"""

from __future__ import annotations

from typing import Final, Literal

import floe

__all__ = [
    "MIN_PREFIX",
    "RunBusyError",
    "check_kind",
    "find_run",
    "recorded_backend",
    "run_busy",
]

MIN_PREFIX: Final = 4
"""The fewest characters a shortened run id may have (git's minimum too)."""
_SHOWN_MATCHES: Final = 10
"""How many of the runs an ambiguous prefix matches the error lists."""

Action = Literal["run", "resume", "cancel"]


class RunBusyError(floe.FloeError, RuntimeError):
    """Another process is executing the run this command was executing (exit code 2)."""

    exit_code = floe.ExitCode.USAGE


def store_url(kernel: floe.Kernel) -> str:
    return kernel.store.url or kernel.settings.store


async def find_run(kernel: floe.Kernel, text: str) -> floe.Run:
    """The run whose id is *text*, or else the one run whose id starts with it."""
    store = kernel.store
    run = await store.get_run(text)
    if run is not None:
        return run
    if len(text) >= MIN_PREFIX:
        ids = await store.find_run_ids(text, limit=_SHOWN_MATCHES + 1)
        if len(ids) == 1:
            run = await store.get_run(ids[0])
            if run is not None:
                return run
        elif ids:
            raise await _ambiguous(kernel, text, ids)
    raise _no_run(kernel, text)


def recorded_backend(settings: floe.Settings, text: str) -> str | None:
    """The event loop the run *text* names recorded that it needs (None: the settings').

    Read in a kernel of its own before the command starts the loop the run needs; a
    run that is not found is left for the command itself to report.
    """

    async def read() -> str | None:
        try:
            run = await find_run(floe.current_kernel(), text)
        except floe.NotFoundError:
            return None
        backend = run.metadata.get("backend") if isinstance(run.metadata, dict) else None
        return backend if backend in ("trio", "asyncio") else None

    return floe.run_sync(read, settings=settings)


def _no_run(kernel: floe.Kernel, text: str) -> floe.NotFoundError:
    store = store_url(kernel)
    if len(text) < MIN_PREFIX:
        why = f"No run has this id, and a shortened id needs at least {MIN_PREFIX} characters."
    else:
        why = "No run has this id or an id that starts with it in the store in effect."
    return floe.NotFoundError(
        f"No run {text!r} in {store}",
        why=why,
        fix="List the runs with 'floe runs', or name the store that holds the run with "
        "--store URL.",
        context={"run_id": text, "store": store},
    )


async def _ambiguous(kernel: floe.Kernel, prefix: str, ids: list[str]) -> floe.NotFoundError:
    store = store_url(kernel)
    shown = ids[:_SHOWN_MATCHES]
    described = []
    for run_id in shown:
        run = await kernel.store.get_run(run_id)
        described.append(f"{run_id} ({run.name}, {run.status})" if run else run_id)
    more = len(ids) > len(shown)
    count = f"more than {len(shown)}" if more else str(len(ids))
    return floe.NotFoundError(
        f"The run id {prefix!r} is ambiguous in {store}: {count} runs start with it",
        why="It matches " + ", ".join(described) + (", and more" if more else "") + ".",
        fix="Give more of the run id, enough to tell these apart (or the whole id).",
        context={"prefix": prefix, "store": store},
    )


def check_kind(run: floe.Run, action: Action) -> None:
    """Refuse, saying what to do instead, a run that *action* cannot act on.

    Workflow runs take every action; a flow's job can be cancelled (it needs no code
    for that) but resumes only with the flow that started it; a component is driven by
    its messages, not resumed or cancelled.
    """
    if run.kind == "workflow" or (run.kind == "graph" and action == "cancel"):
        return
    command = "floe run --run-id" if action == "run" else f"floe {action}"
    context = {"run_id": run.run_id, "kind": run.kind, "name": run.name}
    if run.kind == "graph":
        raise floe.StateError(
            f"Run {run.run_id!r} is a job of the flow {run.name!r}, which '{command}' "
            "cannot continue",
            why="A routine graph's job resumes with the flow that started it, which your "
            "code builds: the store holds the job's journal, not the flow.",
            fix=f"Build the flow {run.name!r} in Python and call "
            f"'await flow.resume_async({run.run_id!r})'; 'floe cancel {run.run_id}' "
            "cancels the job.",
            context=context,
        )
    if run.kind == "component":
        raise floe.StateError(
            f"Run {run.run_id!r} is the component {run.name!r}, which '{command}' cannot {action}",
            why="A component is a long-lived run that its messages drive: it does not "
            "pause, resume or get cancelled.",
            fix="Send it a message with 'floe handle MESSAGE --config PATH'; "
            "'floe components' lists the components and their states.",
            context=context,
        )
    raise floe.StateError(
        f"Run {run.run_id!r} is a {run.kind} run of {run.name!r}, which '{command}' "
        f"cannot {action}",
        why=f"'{command}' acts on workflow runs.",
        fix=f"Use what started the {run.kind} run to {action} it.",
        context=context,
    )


def run_busy(run_id: str, store: str) -> RunBusyError:
    """The error for a run another process created or wrote while this one ran it."""
    return RunBusyError(
        f"Run {run_id!r} is being executed by another process",
        why="That process created the run, or recorded a step of it, while this one was "
        "starting or executing it; a run has one writer at a time, so this one stopped.",
        fix=f"Wait for it to finish ('floe status {run_id}' shows where it is), or stop it "
        f"with 'floe cancel {run_id}'.",
        context={"run_id": run_id, "store": store},
    )
