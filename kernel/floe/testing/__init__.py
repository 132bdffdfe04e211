"""Test helpers for floe and its plugins.

* :class:`StoreContract`: the contract suite every store must pass; subclass it.
* :func:`make_store_machine`: a hypothesis state machine of random store operations.
* fixtures (enable with ``pytest_plugins = ["floe.testing"]``): ``floe_kernel_factory``,
  ``floe_hook_recorder``, ``floe_register_plugin``.

This module needs pytest and hypothesis (the ``floe[test]`` extra).
"""

from ._contract import StoreContract, open_store
from ._fixtures import (
    HookCall,
    HookRecorder,
    floe_hook_recorder,
    floe_kernel_factory,
    floe_register_plugin,
)
from ._stateful import make_store_machine

__all__ = [
    "HookCall",
    "HookRecorder",
    "StoreContract",
    "floe_hook_recorder",
    "floe_kernel_factory",
    "floe_register_plugin",
    "make_store_machine",
    "open_store",
]
