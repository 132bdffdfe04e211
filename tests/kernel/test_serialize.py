from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Any

import attrs
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import floe
from floe.kernel._models import FORMAT_VERSION
from floe.kernel._serialize import converter, decode_document, dumps, encode_value, loads

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
times = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
identifiers = st.text(min_size=1, max_size=20)

errors = st.builds(
    floe.ErrorInfo, type=st.text(), message=st.text(), traceback=st.none() | st.text()
)
runs = st.builds(
    floe.Run,
    run_id=identifiers,
    name=st.text(),
    kind=st.sampled_from(["workflow", "component", "graph"]),
    status=st.sampled_from(list(floe.RunStatus)),
    created_at=times,
    updated_at=times,
    parent_id=st.none() | identifiers,
    input=json_values,
    output=json_values,
    error=st.none() | errors,
    metadata=st.dictionaries(st.text(max_size=5), json_values, max_size=3),
    runnable_at=st.none() | times,
    lease_owner=st.none() | st.text(),
    lease_expires_at=st.none() | times,
    last_seq=st.integers(0, 10**9),
)
events = st.builds(
    floe.Event,
    run_id=identifiers,
    seq=st.integers(1, 10**9),
    kind=st.text(min_size=1),
    step=st.none() | st.text(),
    at=times,
    data=json_values,
)
snapshots = st.builds(
    floe.Snapshot,
    component=st.text(min_size=1),
    state=st.text(min_size=1),
    rules=st.lists(json_values, max_size=3),
    metadata=st.dictionaries(st.text(max_size=5), json_values, max_size=3),
    created_at=times,
    snapshot_id=st.none() | st.integers(1, 10**9),
)
cache_entries = st.builds(
    floe.CacheEntry,
    key=st.text(min_size=1),
    value=json_values,
    created_at=times,
    expires_at=st.none() | times,
)


@pytest.mark.parametrize(
    ("strategy", "cls"),
    [
        (runs, floe.Run),
        (events, floe.Event),
        (snapshots, floe.Snapshot),
        (cache_entries, floe.CacheEntry),
    ],
    ids=["run", "event", "snapshot", "cache"],
)
@given(data=st.data())
def test_models_round_trip(data: st.DataObject, strategy: Any, cls: type) -> None:
    model = data.draw(strategy)
    assert loads(dumps(model), cls) == model
    document = orjson.loads(dumps(model))
    assert document["format"] == FORMAT_VERSION
    assert decode_document(document, cls, where="test") == model


@given(value=json_values)
def test_json_values_encode_unchanged(value: Any) -> None:
    assert orjson.loads(orjson.dumps(encode_value(value, where="test"))) == value


any_floats = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _holds_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_holds_non_finite(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_non_finite(item) for item in value)
    return False


@given(value=any_floats)
def test_exactly_the_values_holding_nan_or_infinity_are_refused(value: Any) -> None:
    if _holds_non_finite(value):
        with pytest.raises(floe.SerializationError, match="is not a JSON number"):
            dumps(value, where="the value")
    else:
        assert orjson.loads(dumps(value)) == orjson.loads(orjson.dumps(value))


@pytest.mark.parametrize(
    ("value", "path"),
    [
        (math.nan, "(the value itself)"),
        ([1, None, -math.inf], "[2]"),
        ({"a": {"b": (1.0, math.inf)}}, "['a']['b'][1]"),
        ({"null": "null", "x": [None, math.nan]}, "['x'][1]"),
    ],
)
def test_a_non_finite_float_is_named_with_its_path(value: Any, path: str) -> None:
    with pytest.raises(floe.SerializationError) as caught:
        encode_value(value, where="the result of task 'f'")
    assert caught.value.what.startswith("the result of task 'f' cannot be stored: the float")
    assert caught.value.context["path"] == path
    assert caught.value.fix


def test_a_model_holding_nan_is_refused_too() -> None:
    @attrs.frozen
    class Reading:
        value: float

    for value, path in ((Reading(math.inf), "['value']"), ([Reading(-math.inf)], "[0]['value']")):
        with pytest.raises(floe.SerializationError, match="is not a JSON number") as caught:
            dumps(value, where="x")
        assert caught.value.context["path"] == path


def test_rich_types_encode_to_json() -> None:
    @attrs.frozen
    class Point:
        x: int
        y: int

    moment = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    ident = uuid.UUID(int=7)
    plain = encode_value({"p": Point(1, 2), "t": moment, "u": ident}, where="test")
    assert plain == {"p": {"x": 1, "y": 2}, "t": moment.isoformat(), "u": str(ident)}
    assert converter.structure(plain["p"], Point) == Point(1, 2)


def test_unserializable_value_names_type_path_and_origin() -> None:
    class Handle:
        pass

    with pytest.raises(floe.SerializationError) as caught:
        encode_value({"ok": 1, "bad": [1, Handle()]}, where="argument 'x' of task 'fetch'")
    message = str(caught.value)
    assert "argument 'x' of task 'fetch'" in message
    assert "Handle" in message
    assert "['bad'][1]" in message
    assert "Fix:" in message
    assert isinstance(caught.value, TypeError)


def test_newer_format_is_refused() -> None:
    document = orjson.loads(dumps(floe.Event(run_id="r", seq=1, kind="x")))
    document["format"] = FORMAT_VERSION + 1
    with pytest.raises(floe.PersistenceError, match="newer floe"):
        decode_document(document, floe.Event, where="event 1 of run 'r'")


def test_damaged_documents_name_where_they_came_from() -> None:
    with pytest.raises(floe.PersistenceError, match=r"run 'r1' in x\.db"):
        loads(b"{not json", floe.Run, where="run 'r1' in x.db")
    with pytest.raises(floe.PersistenceError, match="does not match the Run format"):
        decode_document({"run_id": "r1"}, floe.Run, where="run 'r1' in x.db")


def test_models_validate() -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        floe.Event(run_id="r", seq=-1, kind="x")
    with pytest.raises(ValueError, match="run_id"):
        floe.Run(run_id="", name="x")
    assert floe.RunStatus.COMPLETED.finished
    assert not floe.RunStatus.PAUSED.finished


@pytest.mark.parametrize(
    "bad", [math.nan, {"x": object()}, [2**70]], ids=["nan", "object", "bigint"]
)
def test_where_may_be_a_function_called_only_for_an_error(bad: Any) -> None:
    calls: list[str] = []

    def where() -> str:
        calls.append("called")
        return "the data of event 'x.y'"

    assert dumps({"a": [1, None, 2.5]}, where=where) == b'{"a":[1,null,2.5]}'
    assert calls == []
    with pytest.raises(floe.SerializationError) as caught:
        dumps(bad, where=where)
    assert caught.value.what.startswith("the data of event 'x.y' cannot be stored")
    assert calls == ["called"]


@pytest.mark.parametrize("value", [0, -(2**63), 2**64 - 1, True, False, None])
def test_small_scalars_encode_as_themselves(value: Any) -> None:
    assert encode_value(value, where="the result") is value


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1])
def test_an_integer_json_cannot_hold_exactly_is_refused(value: int) -> None:
    with pytest.raises(floe.SerializationError, match="the result cannot be stored"):
        encode_value(value, where="the result")


def test_dumped_bytes_hold_only_their_own_length() -> None:
    # orjson's bytes keep the buffer they were written into (4 KiB): a store batching
    # 100,000 rows would hold 400 MiB of them
    import tracemalloc

    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [dumps({"task": "fetch", "position": str(i), "result": i}) for i in range(1000)]
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(kept) == 1000
    assert held < 1000 * 256
