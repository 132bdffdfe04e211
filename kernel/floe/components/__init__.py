"""Components with state machines: message-driven objects whose state survives restarts.

A component holds a state machine over the states of the kernel's state registry; each
message it handles is journaled (run ``component:<name>``), with snapshots to restore
from. Here are the machine, components and their engine, their journal and snapshots,
YAML configs (read within bounds) and rules, ``explain`` and Mermaid drawings.

It imports only the kernel (``floe.kernel``), never another programming model. Users
import its names from ``floe``.
"""
