"""An application that embeds floe's component engine: an order desk.

    pip install ./order-states        # the state pack, a plugin distribution
    python app.py pay:900 pay:120 ship
    python app.py deliver return      # a new process: the order carries on where it was

Each argument is a message for the order (``type`` or ``type:content``). What it shows:

* custom states from an installed state pack (``order-states``), used by name from
  ``order.yaml``; the ``New`` state reads the component's rules (``max_amount``);
* persistence on SQLite (``--db``, default ``orders.db``): the component is a journaled run,
  so the next process restores it in the state it reached;
* observers on the bus: one keeps a snapshot of every transition in the store and prunes
  the history to the newest three, one counts the messages; they never hold up handling;
* the snapshot history and a JSON export of the order, read after the kernel has closed
  (closing waits for the observers to finish).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import anyio

import floe

HERE = Path(__file__).resolve().parent
CONFIG = HERE / "order.yaml"
ORDER = "order-1001"
KEEP_LAST = 3


def parse_message(text: str) -> tuple[str, Any]:
    """``"pay:120"`` -> ``("pay", 120)``; ``"ship"`` -> ``("ship", None)``."""
    kind, _, content = text.partition(":")
    if not content:
        return kind, None
    try:
        return kind, float(content) if "." in content else int(content)
    except ValueError:
        return kind, content


class Observers:
    """What the application does on the bus: snapshots, pruning, counting."""

    def __init__(self, kernel: floe.Kernel, engine: floe.Engine) -> None:
        self.kernel = kernel
        self.engine = engine
        self.transitions: list[str] = []
        self.messages = 0
        self.pruned = 0

    def subscribe(self, bus: floe.EventBus) -> None:
        bus.subscribe("state.changed", "order-desk", self.keep_snapshot, priority=1)
        bus.subscribe("component.message.received", "order-desk", self.count, inline=True)

    async def keep_snapshot(self, event: floe.Event) -> None:
        # the bus hands over the journal event; its data is the documented payload
        change = event.data
        component = self.engine.get(change["component"])
        # the snapshot records the transition itself: by the time an observer runs, the
        # component may have moved on
        snapshot = floe.Snapshot(
            component=change["component"],
            state=change["to_state"],
            rules=list(component.rules),
            metadata={"transition": f"{change['from_state']} -> {change['to_state']}"},
        )
        store = self.kernel.store
        await store.save_snapshot(snapshot)
        self.pruned += await floe.prune_snapshots(ORDER, keep_last=KEEP_LAST, store=store)
        self.transitions.append(snapshot.metadata["transition"])

    def count(self, event: floe.Event) -> None:
        self.messages += 1


async def handle(store: str, messages: list[str]) -> tuple[floe.Component, Observers]:
    async with floe.open_kernel(store=store, log_format="off") as kernel:
        engine = floe.Engine(kernel)
        observers = Observers(kernel, engine)
        observers.subscribe(kernel.bus)
        try:
            component = await engine.restore(ORDER)
            print(f"{ORDER}: restored in {component.state}")
        except floe.NotFoundError:
            component = engine.create_component(CONFIG)
            await component.flush()
            print(f"{ORDER}: registered in {component.state} (rules: {list(component.rules)})")
        for text in messages:
            kind, content = parse_message(text)
            moved = await component.handle_message(kind, content=content)
            label = kind if content is None else f"{kind} {content}"
            print(f"{label}: {moved if moved else f'ignored (stays in {component.state})'}")
    # leaving the kernel waited for the observers: their work is done and stored
    return component, observers


async def history(store: str) -> list[floe.Snapshot]:
    async with floe.open_kernel(store=store, log_format="off"):
        return await floe.list_snapshots(ORDER, limit=10)


def main() -> None:
    parser = argparse.ArgumentParser(description="An order desk on floe's component engine.")
    parser.add_argument("messages", nargs="*", help="messages such as pay:120 or ship")
    parser.add_argument("--db", default="orders.db", help="the SQLite file (default: %(default)s)")
    parser.add_argument("--export", metavar="PATH", help="also write the order as JSON here")
    arguments = parser.parse_args()
    store = f"sqlite:///{Path(arguments.db).resolve()}"

    component, observers = anyio.run(handle, store, arguments.messages, backend="trio")
    print(f"observed: {observers.messages} messages; {', '.join(observers.transitions) or '-'}")
    snapshots = anyio.run(history, store, backend="trio")
    states = ", ".join(snapshot.state for snapshot in snapshots)
    print(f"snapshots (newest first): {states or '-'}; pruned {observers.pruned}")
    if arguments.export:
        floe.save_component(component, arguments.export, metadata={"exported_by": "app.py"})
        exported = floe.load_snapshot(arguments.export)
        print(f"exported {exported.component} in {exported.state} to {arguments.export}")


if __name__ == "__main__":
    main()
