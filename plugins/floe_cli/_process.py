"""What a long-lived command (a worker, a server) does to the process it owns."""

from __future__ import annotations

import gc

__all__ = ["freeze_start_up_objects"]


def freeze_start_up_objects() -> None:
    """Keep what start-up made (modules, plugins, the kernel) out of the collector's scans.

    They live as long as the process; without this, every full collection walks all of
    them again: a pause of tens of milliseconds every few thousand runs or requests.
    Only a command that owns its process calls this, once it is ready to serve.
    """
    gc.collect()
    gc.freeze()
