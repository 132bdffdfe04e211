"""A tour of the kernel: settings, plugins, the store, the journal and the event bus.

Run it with ``python examples/kernel_tour.py [STORE_URL]`` (default: ``memory://``).
"""

from __future__ import annotations

import sys

import anyio

import floe


async def tour(store_url: str) -> list[str]:
    lines: list[str] = []
    observed: list[str] = []
    async with floe.open_kernel(store=store_url, log_format="off") as kernel:
        loaded = [info.name for info in kernel.plugins if info.status == "loaded"]
        lines.append(f"plugins: {', '.join(loaded)}")

        # Observers subscribe to patterns. They see journal events after they are stored,
        # through the kernel's queue: never blocking the writer, always in order.
        kernel.bus.subscribe(
            "*", "tour", lambda event: observed.append(f"{event.kind}#{event.seq}"), inline=True
        )

        run = floe.Run(run_id="tour-1", name="tour", input={"greeting": "hello"})
        await kernel.store.create_run(run)
        await kernel.record(
            [
                floe.Event(run_id=run.run_id, seq=1, kind="run.started"),
                floe.Event(
                    run_id=run.run_id, seq=2, kind="task.completed", step="greet#1", data="hi"
                ),
            ]
        )

        # a second writer that read the journal earlier is fenced off
        try:
            await kernel.record([floe.Event(run_id=run.run_id, seq=2, kind="task.completed")])
        except floe.SequenceConflictError as error:
            lines.append(f"fenced: {error.what}")

        journal = await kernel.store.read_events(run.run_id)
        lines.append(f"journal: {[(event.seq, event.kind) for event in journal]}")
    # leaving the kernel drained the queue: every stored event was observed
    lines.append(f"observed: {', '.join(observed)}")
    return lines


def main() -> None:
    store_url = sys.argv[1] if len(sys.argv) > 1 else "memory://"
    for line in anyio.run(tour, store_url, backend="trio"):
        print(line)


if __name__ == "__main__":
    main()
