from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import floe
from floe import ConfigError, ExponentialBackoff, RetryOptions


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 2.5}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"base_delay": -1}, "base_delay"),
        ({"base_delay": "1"}, "base_delay"),
        ({"backoff": 0.5}, "backoff"),
        ({"max_delay": -2}, "max_delay"),
        ({"jitter": 1.5}, "jitter"),
        ({"retry_on": "ValueError"}, "retry_on"),
        ({"retry_on": ()}, "retry_on"),
        ({"retry_on": (ValueError, int)}, "retry_on"),
    ],
)
def test_options_are_validated_when_built(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as caught:
        RetryOptions(**options)
    assert caught.value.fix


def test_retry_on_accepts_one_type_or_several() -> None:
    assert RetryOptions(retry_on=ValueError).retry_on == (ValueError,)
    assert RetryOptions(retry_on=[KeyError, OSError]).retry_on == (KeyError, OSError)


def test_delays_compound_and_cap() -> None:
    policy = ExponentialBackoff(RetryOptions(max_attempts=6, base_delay=1, backoff=2, max_delay=10))
    delays = [policy.next_delay(attempt, RuntimeError()) for attempt in range(1, 7)]
    assert delays == [1, 2, 4, 8, 10, None]


@given(
    attempt=st.integers(1, 20),
    base=st.floats(0, 100),
    backoff=st.floats(1, 4),
    jitter=st.floats(0, 1),
    seed=st.integers(),
)
def test_jitter_stays_within_its_fraction(
    attempt: int, base: float, backoff: float, jitter: float, seed: int
) -> None:
    options = RetryOptions(max_attempts=21, base_delay=base, backoff=backoff, jitter=jitter)
    exact = ExponentialBackoff(RetryOptions(max_attempts=21, base_delay=base, backoff=backoff))
    jittered = ExponentialBackoff(options, random=random.Random(seed))
    nominal = exact.next_delay(attempt, ValueError())
    delay = jittered.next_delay(attempt, ValueError())
    assert nominal is not None
    assert delay is not None
    assert nominal * (1 - jitter) - 1e-6 <= delay <= nominal * (1 + jitter) + 1e-6


def test_policy_satisfies_the_protocol() -> None:
    assert isinstance(ExponentialBackoff(RetryOptions()), floe.RetryPolicy)
