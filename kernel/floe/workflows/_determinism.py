"""Values that differ between runs, made steps so that a replay sees the same ones.

Inside a workflow each call is journaled like a task (``floe.now#1`` ...); outside a
workflow they are the plain functions. Await them from async code.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..kernel._models import utcnow
from ._tasks import Task, TaskOptions

__all__ = ["choice", "now", "randint", "randrange", "uuid4"]

_random = random.SystemRandom()


async def _now() -> datetime:
    return utcnow()


async def _uuid4() -> uuid.UUID:
    return uuid.uuid4()


async def _randint(a: int, b: int) -> int:
    return _random.randint(a, b)


async def _randrange(start: int, stop: int | None = None, step: int = 1) -> int:
    return _random.randrange(start, stop, step)


async def _choice(options: Sequence[Any]) -> Any:
    return _random.choice(options)


now: Task[[], datetime] = Task(_now, TaskOptions(name="floe.now"))
"""``await floe.now()``: the current UTC time, recorded."""
uuid4: Task[[], uuid.UUID] = Task(_uuid4, TaskOptions(name="floe.uuid4"))
"""``await floe.uuid4()``: a random UUID, recorded."""
randint: Task[[int, int], int] = Task(_randint, TaskOptions(name="floe.randint"))
"""``await floe.randint(a, b)``: a random integer a <= n <= b, recorded."""
randrange: Task[..., int] = Task(_randrange, TaskOptions(name="floe.randrange"))
"""``await floe.randrange(start, stop=None, step=1)``: like :func:`random.randrange`, recorded."""
choice: Task[[Sequence[Any]], Any] = Task(_choice, TaskOptions(name="floe.choice"))
"""``await floe.choice(seq)``: a random element of *seq*, recorded."""
