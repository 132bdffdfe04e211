"""Every option of @task and @workflow is checked where it is written: a bad one is a
ConfigError naming it, never a TypeError or a failure inside a run; names spelled as in
Flux or OSBot-Utils fail with a FloeError whose fix names floe's spelling."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import floe
from floe import ConfigError, Kernel, RenamedError


async def body() -> None:
    return None


BAD_TASK_OPTIONS = [
    ({"timeout": math.nan}, "timeout", "finite number"),
    ({"timeout": math.inf}, "timeout", "finite number"),
    ({"timeout": -1}, "timeout", "greater than 0"),
    ({"timeout": 0}, "timeout", "greater than 0"),
    ({"timeout": "10"}, "timeout", "number of seconds"),
    ({"retry_delay": math.nan}, "retry_delay", ">= 0"),
    ({"retry_delay": -0.5}, "retry_delay", ">= 0"),
    ({"retry_max_delay": math.inf}, "retry_max_delay", "finite"),
    ({"retry_backoff": math.nan}, "retry_backoff", "times retry_backoff"),
    ({"retry_backoff": math.inf}, "retry_backoff", "times retry_backoff"),
    ({"retry_backoff": 0.5}, "retry_backoff", "times retry_backoff"),
    ({"retry_jitter": 2}, "retry_jitter", "fraction"),
    ({"retry_jitter": math.nan}, "retry_jitter", "fraction"),
    ({"cache_ttl": -3}, "cache_ttl", "greater than 0"),
    ({"retries": -1}, "retries", "extra attempts"),
    ({"retries": 1.5}, "retries", "extra attempts"),
    ({"name": 123}, "name", "non-empty string"),
    ({"name": ""}, "name", "non-empty string"),
    ({"secrets": "api_token"}, "secrets", "letter by letter"),
    ({"secrets": ["ok", 3]}, "secrets", "non-empty string"),
    ({"secrets": 7}, "secrets", "list of names"),
    ({"cache": 1}, "cache", "switch"),
    ({"metadata": "yes"}, "metadata", "switch"),
    ({"raise_on_error": None}, "raise_on_error", "switch"),
    ({"fallback": "nope"}, "fallback", None),
    ({"timout": 3}, "timout", None),
    ({"retry_max_attempts": 3}, "retry_max_attempts", None),
    ({"secret_requests": ["API_KEY"]}, "secret_requests", None),
]


@pytest.mark.parametrize(("options", "option", "why"), BAD_TASK_OPTIONS)
def test_a_bad_task_option_fails_at_decoration(
    options: dict[str, Any], option: str, why: str | None
) -> None:
    with pytest.raises(ConfigError) as info:
        floe.task(**options)
    assert info.value.context["option"] == option
    if why is not None:
        assert why in str(info.value.why)


def test_a_single_secret_name_is_not_split_into_letters() -> None:
    with pytest.raises(ConfigError, match="Invalid task option secrets='api_token'") as info:
        floe.task(secrets="api_token")
    assert info.value.fix == "Pass a list: secrets=['api_token']."


def test_unknown_options_suggest_the_closest_and_name_the_floe_spelling() -> None:
    with pytest.raises(ConfigError, match="Unknown task option 'timout'") as typo:
        floe.task(timout=3)
    assert typo.value.fix == "Did you mean timeout?"
    with pytest.raises(ConfigError) as flux:
        floe.task(retry_max_attempts=3)
    assert "retries=3" in str(flux.value.fix)
    with pytest.raises(ConfigError) as secrets:
        floe.task(secret_requests=["API_KEY"])
    assert "secrets=['API_KEY']" in str(secrets.value.fix)
    with pytest.raises(ConfigError, match="Unknown workflow option 'flow_config'") as osbot:
        floe.workflow(flow_config=object())
    assert "capture_output=True" in str(osbot.value.fix)
    with pytest.raises(ConfigError) as raising:
        floe.workflow(raise_on_error=True)
    assert "run(..., raise_on_error=True)" in str(raising.value.fix)


def test_with_options_checks_like_the_decorator() -> None:
    base = floe.task(body)
    assert base.with_options(retries=2).options.retries == 2
    with pytest.raises(ConfigError, match="timeout=nan"):
        base.with_options(timeout=math.nan)
    with pytest.raises(ConfigError, match="Did you mean retries"):
        base.with_options(retires=2)


def test_flux_task_with_options_names_the_floe_decorator() -> None:
    with pytest.raises(ConfigError, match=r"floe\.task has no with_options") as info:
        floe.task.with_options(name="custom_task", retries=3)  # type: ignore[attr-defined]
    assert "@floe.task(name=..., retries=..., timeout=...)" in str(info.value.fix)
    with pytest.raises(ConfigError, match="@task needs a function") as named:
        floe.task("custom_task")  # type: ignore[call-overload]
    assert named.value.fix == "To name the task, write @floe.task(name='custom_task')."


BAD_WORKFLOW_OPTIONS = [
    ({"timeout": math.nan}, "timeout"),
    ({"timeout": -5}, "timeout"),
    ({"timeout": math.inf}, "timeout"),
    ({"name": 42}, "name"),
    ({"backend": "curio"}, "backend"),
    ({"capture_output": "yes"}, "capture_output"),
    ({"logging_enabled": 0}, "logging_enabled"),
    ({"log_to_memory": True}, "log_to_memory"),
]


@pytest.mark.parametrize(("options", "option"), BAD_WORKFLOW_OPTIONS)
def test_a_bad_workflow_option_fails_at_decoration(options: dict[str, Any], option: str) -> None:
    with pytest.raises(ConfigError) as info:
        floe.workflow(**options)(body)
    assert info.value.context["option"] == option


# -- fuzzing: any option value is a Task/Workflow or a ConfigError, nothing else -----------

ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.one_of(st.text(max_size=4), st.integers()), max_size=3),
    st.tuples(st.sampled_from([ValueError, KeyError, TimeoutError])),
    st.just(ValueError),
    st.just(print),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
TASK_OPTION_NAMES = [field.name for field in floe.TaskOptions.__attrs_attrs__]
WORKFLOW_OPTION_NAMES = [
    "name",
    "capture_output",
    "log_to_console",
    "logging_enabled",
    "backend",
    "timeout",
]


def option_sets(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    name = st.one_of(st.sampled_from(names), st.text(min_size=1, max_size=12))
    return st.dictionaries(name, ANY_VALUE, max_size=4)


@given(option_sets(TASK_OPTION_NAMES))
def test_any_task_options_make_a_task_or_a_config_error(options: dict[str, Any]) -> None:
    made: Any = None
    try:
        made = floe.task(**options)(body)
    except ConfigError as error:
        problem = error
    else:
        problem = None
    if problem is not None:
        assert problem.fix  # a ConfigError that says what to do, and nothing else
        return
    assert isinstance(made, floe.Task)
    timeout = made.options.timeout
    assert timeout is None or (math.isfinite(timeout) and timeout > 0)
    assert all(isinstance(name, str) and name for name in made.options.secrets)
    assert made.options.name is None or isinstance(made.options.name, str)


@given(option_sets(WORKFLOW_OPTION_NAMES))
def test_any_workflow_options_make_a_workflow_or_a_config_error(options: dict[str, Any]) -> None:
    made: Any = None
    try:
        made = floe.workflow(**options)(body)
    except ConfigError as error:
        problem = error
    else:
        problem = None
    if problem is not None:
        assert problem.fix
        return
    assert isinstance(made, floe.Workflow)
    assert made.timeout is None or (math.isfinite(made.timeout) and made.timeout > 0)
    assert made.backend in (None, "trio", "asyncio")


SECONDS = st.floats(min_value=0.001, max_value=1e6, allow_nan=False)


@given(
    timeout=st.none() | SECONDS,
    retries=st.integers(min_value=0, max_value=50),
    retry_delay=st.floats(min_value=0, max_value=1e6),
    retry_backoff=st.floats(min_value=1, max_value=100),
    retry_jitter=st.floats(min_value=0, max_value=1),
    secrets=st.lists(st.text(min_size=1, max_size=10), max_size=3),
    name=st.none()
    | st.text(min_size=1, max_size=10)
    .filter(str.strip)
    .filter(lambda text: "{" not in text and "}" not in text),
)
def test_valid_task_options_are_accepted(**options: Any) -> None:
    made = floe.task(**options)(body)
    assert made.options.secrets == tuple(options["secrets"])
    assert made.options.timeout == options["timeout"]


# -- names spelled as in Flux and OSBot-Utils ----------------------------------------------


@pytest.mark.anyio
async def test_flux_and_osbot_attribute_names_are_renamed_errors(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    seen: dict[str, Any] = {}

    @floe.task
    def uses_osbot_names(this_flow: Any = None) -> None:
        with pytest.raises(RenamedError, match="add_flow_artifact") as info:
            this_flow.add_flow_artifact(key="k", data={})
        seen["osbot"] = info.value.fix
        seen["has_flow_name"] = hasattr(this_flow, "flow_name")

    @floe.workflow
    async def uses_flux_names(ctx: floe.Context[str]) -> str:
        with pytest.raises(RenamedError) as info:
            ctx.execution_id  # noqa: B018
        seen["flux_ctx"] = info.value.fix
        await floe.call(floe.task(uses_osbot_names))
        return ctx.input

    async with floe_kernel_factory():
        execution = await uses_flux_names.run_async("x")
    assert execution.succeeded, execution.error
    assert "ctx.run_id" in seen["flux_ctx"]
    assert "this_flow.add_artifact(key, data" in seen["osbot"]
    assert seen["has_flow_name"] is False
    for flux, floe_name in [
        ("has_finished", "finished"),
        ("has_succeeded", "succeeded"),
        ("has_failed", "failed"),
        ("execution_id", "run_id"),
    ]:
        with pytest.raises(RenamedError) as info:
            getattr(execution, flux)
        assert f"execution.{floe_name}" in str(info.value.fix)
        assert isinstance(info.value, AttributeError)
    assert getattr(execution, "no_such_thing", "default") == "default"
    with pytest.raises(AttributeError, match="no_such_thing") as plain:
        execution.no_such_thing  # noqa: B018
    assert not isinstance(plain.value, RenamedError)


@pytest.mark.anyio
async def test_workflows_are_run_not_called(floe_kernel_factory: Callable[..., Kernel]) -> None:
    @floe.workflow
    async def my_flow(data: str) -> str:
        return data

    with pytest.raises(ConfigError, match="was called like a function") as info:
        my_flow("hello")
    assert "my_flow.run(...)" in str(info.value.fix)
    async with floe_kernel_factory():
        with pytest.raises(ConfigError, match="no parameter execution_id") as flux:
            await my_flow.run_async("x", execution_id="previous")
    assert "run_id='previous'" in str(flux.value.fix)
