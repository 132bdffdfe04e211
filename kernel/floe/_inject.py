"""The context handed to ``floe_inject`` providers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from ._kernel import Kernel

__all__ = ["InjectionContext"]


@attrs.frozen
class InjectionContext:
    """Where a parameter is being injected: which kernel, run, step and call."""

    kernel: Kernel | None = None
    run_id: str | None = None
    step: str | None = None
    """The step key of the task call, or None for the workflow body."""
    target: str | None = None
    """The name of the task or workflow whose parameter is filled."""
    data: Mapping[str, Any] = attrs.field(factory=dict)
    """Provider-specific values (the run's shared data, the caller's metadata ...)."""
