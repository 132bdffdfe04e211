"""What reaches a real store is what the code gave, and what a store holds is only data.

Values JSON cannot hold (NaN, infinities, values that contain themselves or nest too
deep) fail with a SerializationError naming where they came from, instead of being
stored altered; a stored error is rebuilt without importing the module it names.
"""

from __future__ import annotations

import math
import pickle
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

import floe
from floe import Kernel
from floe.kernel._errors import rebuild_error
from floe.kernel._serialize import dumps
from floe.testing import open_store

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
async def test_a_non_finite_result_fails_the_step_instead_of_becoming_none(
    floe_kernel_factory: Callable[..., Kernel], store_url: str, number: float
) -> None:
    @floe.task
    async def ratio() -> float:
        return number

    @floe.workflow
    async def report() -> str:
        try:
            value = await ratio()
        except floe.SerializationError as error:
            return str(error)
        return f"the body saw {value!r}"

    async with floe_kernel_factory(store=store_url) as kernel:
        execution = await report.run_async(run_id="nan-1")
        assert execution.succeeded
        assert execution.output.startswith("the result of task 'ratio' cannot be stored")
        assert repr(number) in execution.output
        failed = next(e for e in execution.events if e.kind == "task.failed")
        assert failed.data["error"]["type"] == "floe.SerializationError"
        # replayed, the recorded failure is what the body sees again
        again = await report.run_async(run_id="nan-1")
        assert again.output == execution.output
        assert await kernel.store.get_run("nan-1") is not None


async def test_a_nan_deep_inside_a_result_is_named_by_its_path(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    @floe.task
    async def measure() -> dict[str, Any]:
        return {"series": [1.0, 2.5, None, math.nan], "unit": "s"}

    @floe.workflow
    async def survey() -> None:
        await measure()

    async with floe_kernel_factory(store=store_url) as kernel:
        with pytest.raises(floe.SerializationError) as caught:
            await survey.run_async(run_id="nan-2", raise_on_error=True)
        assert "the result of task 'measure'" in caught.value.what
        assert "['series'][3]" in caught.value.what
        assert caught.value.context["value"] == "nan"
        run = await kernel.store.get_run("nan-2")
        assert run is not None
        assert run.status is floe.RunStatus.FAILED


async def test_finite_floats_and_none_still_round_trip(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    @floe.task
    async def values() -> list[float | None]:
        return [0.1, -2.5e300, None, 5e-324]

    @floe.workflow
    async def keep() -> list[float | None]:
        return await values()

    async with floe_kernel_factory(store=store_url):
        first = await keep.run_async(run_id="floats")
        assert first.output == [0.1, -2.5e300, None, 5e-324]
        assert (await keep.run_async(run_id="floats")).output == first.output


async def test_the_sqlite_and_json_stores_refuse_a_nan_in_event_data(tmp_path: Path) -> None:
    for url in (f"sqlite:///{tmp_path}/floe.db", f"json:///{tmp_path}/json"):
        async with open_store(url) as store:
            await store.create_run(floe.Run(run_id="r", name="w"))
            event = floe.Event(run_id="r", seq=1, kind="custom", data={"x": [math.inf]})
            with pytest.raises(floe.SerializationError, match=r"\['x'\]\[0\]"):
                await store.append_events("r", [event])
            assert await store.read_events("r") == []
            with pytest.raises(floe.SerializationError, match="nan"):
                await store.create_run(floe.Run(run_id="n", name="w", input=math.nan))
            assert await store.get_run("n") is None


def _self_containing() -> list[Any]:
    loop: list[Any] = [1]
    loop.append({"back": loop})
    return loop


def _deep(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (_self_containing, "contains itself at [1]['back']"),
        (lambda: _deep(100_000), "nested more than 254 levels deep"),
        (lambda: _deep(300), "nested more than 254 levels deep"),
    ],
    ids=["recursive", "100k-deep", "300-deep"],
)
async def test_recursive_and_too_deep_results_are_serialization_errors(
    floe_kernel_factory: Callable[..., Kernel],
    store_url: str,
    make: Callable[[], Any],
    expected: str,
) -> None:
    @floe.task
    async def build() -> Any:
        return make()

    @floe.workflow
    async def tree() -> None:
        await build()

    async with floe_kernel_factory(store=store_url) as kernel:
        with pytest.raises(floe.SerializationError) as caught:
            await tree.run_async(run_id="deep", raise_on_error=True)
        assert caught.value.what.startswith("the result of task 'build' cannot be stored")
        assert expected in caught.value.what
        assert caught.value.why
        assert caught.value.fix
        run = await kernel.store.get_run("deep")
        assert run is not None
        assert run.status is floe.RunStatus.FAILED


# -- stored errors are data ------------------------------------------------------------


_EVIL_MODULE = """
from pathlib import Path
Path({marker!r}).write_text("imported")


class Boom(Exception):
    pass
"""


async def test_replay_never_imports_the_module_a_stored_error_names(
    floe_kernel_factory: Callable[..., Kernel],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    marker = tmp_path / "imported.txt"
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "evilmodule.py").write_text(_EVIL_MODULE.format(marker=str(marker)))
    monkeypatch.syspath_prepend(str(modules))
    seen: list[BaseException] = []

    @floe.task
    async def charge() -> None:
        raise ValueError("card declined")

    @floe.workflow
    async def checkout() -> str:
        try:
            await charge()
        except Exception as error:
            seen.append(error)
        await floe.pause("review")
        return "done"

    database = tmp_path / "floe.db"
    async with floe_kernel_factory(store=f"sqlite:///{database}"):
        assert (await checkout.run_async(run_id="order-1")).paused
    # the store is edited as an attacker with write access to the file would
    with sqlite3.connect(database) as connection:
        (data,) = connection.execute(
            "SELECT data FROM events WHERE run_id = 'order-1' AND kind = 'task.failed'"
        ).fetchone()
        document = orjson.loads(data)
        document["error"]["type"] = "evilmodule.Boom"
        connection.execute(
            "UPDATE events SET data = ? WHERE run_id = 'order-1' AND kind = 'task.failed'",
            (orjson.dumps(document),),
        )
    connection.close()
    seen.clear()
    async with floe_kernel_factory(store=f"sqlite:///{database}"):
        done = await checkout.resume_async("order-1", "ok")
    assert done.succeeded
    assert "evilmodule" not in sys.modules
    assert not marker.exists()
    (error,) = seen
    assert isinstance(error, floe.TaskFailedError)
    assert error.recorded_type == "evilmodule.Boom"
    assert error.recorded_message == "card declined"
    assert "card declined" in str(error)


class _Recorded(Exception):
    pass


class _Outer:
    class Inner(Exception):
        pass


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        (floe.ErrorInfo(type="builtins.ValueError", message="bad", args=["bad"]), ValueError),
        (floe.ErrorInfo(type=f"{__name__}._Recorded", message="mine"), _Recorded),
        (floe.ErrorInfo(type=f"{__name__}._Outer.Inner", message="nested"), _Outer.Inner),
        (floe.ErrorInfo(type="builtins.KeyError", message="'k'", args=["k"]), KeyError),
    ],
)
def test_loaded_exception_types_rebuild_as_themselves(
    info: floe.ErrorInfo, expected: type[Exception]
) -> None:
    rebuilt = rebuild_error(info)
    assert type(rebuilt) is expected
    assert str(rebuilt) == info.message


@pytest.mark.parametrize(
    ("error", "recorded"),
    [
        (floe.TaskTimeoutError("slow"), "floe.TaskTimeoutError"),
        (floe.ConfigError("bad"), "floe.ConfigError"),
        (floe.RunCancelledError("gone"), "floe.RunCancelledError"),
        (floe.graph.DeliveryLimitError("loop"), "floe.graph.DeliveryLimitError"),
    ],
)
def test_floe_errors_are_recorded_under_their_public_name(
    error: floe.FloeError, recorded: str
) -> None:
    """A journal names floe's own errors as users import them, so the name stays valid
    whichever module defines the class."""
    info = floe.ErrorInfo.from_exception(error)
    assert info.type == recorded
    assert type(rebuild_error(info)) is type(error)


@pytest.mark.parametrize(
    ("former", "expected"),
    [
        ("floe._errors.TaskTimeoutError", floe.TaskTimeoutError),
        ("floe._errors.SerializationError", floe.SerializationError),
        ("floe._subworkflows.RunCancelledError", floe.RunCancelledError),
        ("floe.graph._strategy.DeliveryLimitError", floe.graph.DeliveryLimitError),
    ],
)
def test_errors_recorded_under_their_former_names_rebuild(
    former: str, expected: type[floe.FloeError]
) -> None:
    rebuilt = rebuild_error(floe.ErrorInfo(type=former, message="recorded", args=["recorded"]))
    assert type(rebuilt) is expected
    assert str(rebuilt).startswith("recorded")


@pytest.mark.parametrize(
    "type_name",
    [
        "never_imported_module_xyz.Error",
        "builtins.len",  # not an exception class: nothing is called
        "builtins.SystemExit",  # not an Exception subclass
        f"{__name__}.missing",
        "no-dots",
    ],
)
def test_other_stored_types_rebuild_as_task_failed_error(type_name: str) -> None:
    rebuilt = rebuild_error(floe.ErrorInfo(type=type_name, message="recorded"))
    assert isinstance(rebuilt, floe.TaskFailedError)
    assert rebuilt.recorded_type == type_name
    assert rebuilt.recorded_message == "recorded"
    assert "never_imported_module_xyz" not in sys.modules


def test_an_error_whose_args_are_not_finite_keeps_its_message_only() -> None:
    info = floe.ErrorInfo.from_exception(ValueError("out of range", math.nan))
    assert info.args is None
    assert info.message == "('out of range', nan)"
    dumps(info)  # storable: no NaN left in it


def test_a_task_failed_error_pickles_with_what_it_recorded() -> None:
    rebuilt = rebuild_error(floe.ErrorInfo(type="gone.Error", message="lost"))
    copy = pickle.loads(pickle.dumps(rebuilt))
    assert isinstance(copy, floe.TaskFailedError)
    assert (copy.recorded_type, copy.recorded_message) == ("gone.Error", "lost")
    assert str(copy) == str(rebuilt)
