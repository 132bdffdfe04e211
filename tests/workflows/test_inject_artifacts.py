"""Injected parameters, artifacts and results, captured output, secrets kept out of the journal."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import orjson
import pytest

import floe
from floe import ConfigError, FloeError, Kernel, NotFoundError, RunStatus

pytestmark = pytest.mark.anyio


def _journal_text(events: Any) -> str:
    return orjson.dumps([[e.kind, e.step, e.data] for e in events]).decode()


# -- injection ---------------------------------------------------------------------------


async def test_tasks_and_bodies_receive_the_built_in_names(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    seen: dict[str, Any] = {}

    @floe.task(metadata=True)
    def sync_step(x: int, this_task=None, task_data=None, metadata=None, flow_data=None):  # type: ignore[no-untyped-def]
        task_data["mine"] = x
        flow_data["from_sync"] = x
        seen["sync"] = (this_task.name, this_task.step, this_task.attempt, this_task.data)
        return metadata

    @floe.task
    async def async_step(this_flow=None, flow_data=None, task_data=None, metadata="kept"):  # type: ignore[no-untyped-def]
        seen["async"] = (this_flow.workflow, flow_data["from_sync"], task_data, metadata)
        return this_flow.run_id

    @floe.workflow
    async def injected(x: int, this_flow=None, flow_data=None) -> Any:  # type: ignore[no-untyped-def]
        flow_data["start"] = x
        meta = await sync_step(x)
        run_id = await async_step()
        return {"meta": meta, "run_id": run_id, "body_run": this_flow.run_id}

    async with floe_kernel_factory(store=store_url):
        execution = await injected.run_async(7, run_id="inj-1")
    assert execution.succeeded, execution.error
    assert execution.output == {
        "meta": {
            "run_id": "inj-1",
            "step": "sync_step#1",
            "position": "1",
            "task": "sync_step",
            "attempt": 1,
        },
        "run_id": "inj-1",
        "body_run": "inj-1",
    }
    assert seen["sync"] == ("sync_step", "sync_step#1", 1, {"mine": 7})
    # metadata only with metadata=True: the default stays; task_data is fresh per call
    assert seen["async"] == ("injected", 7, {}, "kept")


async def test_explicit_arguments_win_and_retries_keep_task_data(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    attempts: list[tuple[int, dict[str, Any]]] = []

    @floe.task(retries=2)
    async def flaky(this_task=None, task_data=None):  # type: ignore[no-untyped-def]
        task_data.setdefault("tries", 0)
        task_data["tries"] += 1
        attempts.append((this_task.attempt, dict(task_data)))
        if this_task.attempt < 3:
            raise ConnectionError("again")
        return task_data["tries"]

    @floe.task
    async def echo(flow_data=None):  # type: ignore[no-untyped-def]
        return flow_data

    @floe.workflow
    async def calls() -> Any:
        return [await flaky(), await echo(flow_data={"explicit": True})]

    async with floe_kernel_factory():
        execution = await calls.run_async()
    assert execution.output == [3, {"explicit": True}]
    assert attempts == [(1, {"tries": 1}), (2, {"tries": 2}), (3, {"tries": 3})]


async def test_a_plugin_adds_its_own_name_and_the_built_ins_can_be_disabled(
    floe_kernel_factory: Callable[..., Kernel],
    floe_register_plugin: Callable[..., object],
) -> None:
    class Tenant:
        @floe.hookimpl
        def floe_inject(self, parameter: str, context: floe.InjectionContext) -> Any:
            if parameter == "tenant":
                return f"tenant-of-{context.target}"
            return None

    @floe.task
    async def who(tenant=None, this_flow=None):  # type: ignore[no-untyped-def]
        return [tenant, this_flow is not None]

    @floe.workflow
    async def asks() -> Any:
        return await who()

    async with floe_kernel_factory() as kernel:
        floe_register_plugin(kernel, Tenant())
        execution = await asks.run_async()
    assert execution.output == ["tenant-of-who", True]

    async with floe_kernel_factory(disable_plugins=["inject"]):
        execution = await asks.run_async()
    assert execution.output == [None, False]


async def test_a_body_must_be_given_its_ordinary_arguments(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.workflow
    async def needs(x: int, this_flow) -> int:  # type: ignore[no-untyped-def]
        return x

    async with floe_kernel_factory() as kernel:
        with pytest.raises(ConfigError, match="missing a required argument: 'x'"):
            await needs.run_async()
        assert await kernel.store.list_runs() == []
        assert (await needs.run_async(1)).output == 1


async def test_an_input_that_does_not_fit_its_annotation_creates_no_run(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.workflow
    async def numbers(count: int) -> int:
        return count

    async with floe_kernel_factory() as kernel:
        with pytest.raises(ConfigError, match="does not fit its annotation int"):
            await numbers.run_async("four")
        assert await kernel.store.list_runs() == []


async def test_task_names_are_templates_over_the_arguments(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.task(name="fetch-{city}")
    async def fetch(city: str, retries: int = 0) -> str:
        return city.upper()

    @floe.workflow
    async def cities() -> list[str]:
        return [await fetch("oslo"), await fetch(city="lima"), await fetch("oslo")]

    async with floe_kernel_factory():
        execution = await cities.run_async()
    assert execution.output == ["OSLO", "LIMA", "OSLO"]
    assert execution.executed_tasks == ["fetch-oslo#1", "fetch-lima#1", "fetch-oslo#2"]

    with pytest.raises(ConfigError, match="names 'town', which is not a parameter"):
        floe.task(name="fetch-{town}")(fetch.function)
    for broken in ("fetch-{", "fetch-{city", "fetch-{city}-}"):
        with pytest.raises(ConfigError, match="is not a valid template") as caught:
            floe.task(name=broken)(fetch.function)
        assert "'{{'" in (caught.value.fix or "")


# -- artifacts and results ---------------------------------------------------------------------


async def test_artifacts_and_results_are_journaled_and_published(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    published: list[str] = []

    @floe.task
    def render(rows: list[int], this_flow=None):  # type: ignore[no-untyped-def]
        this_flow.add_artifact("table", {"rows": rows}, description="the rows")
        this_flow.add_artifact("raw", b"\x00\x01", artifact_type="binary")
        return len(rows)

    @floe.workflow
    async def report(rows: list[int]) -> int:
        floe.add_artifact("notes", "# Notes", artifact_type="markdown")
        count = await render(rows)
        floe.add_result("count", f"{count} rows")
        return count

    async with floe_kernel_factory(store=store_url) as kernel:
        kernel.bus.subscribe("artifact.*", "t", lambda e: published.append(e.data["key"]))
        kernel.bus.subscribe("result.created", "t", lambda e: published.append(e.data["key"]))
        execution = await report.run_async([1, 2, 3])
        stored = await report.load(kernel, execution.run_id)
    assert execution.output == 3
    for loaded in (execution, stored):
        artifacts = {a.key: a for a in loaded.artifacts}
        assert artifacts["notes"].value == "# Notes"
        assert artifacts["notes"].task is None
        assert artifacts["table"].value == {"rows": [1, 2, 3]}
        assert artifacts["table"].description == "the rows"
        assert (artifacts["table"].task, artifacts["table"].step) == ("render", "render#1")
        assert artifacts["raw"].value == b"\x00\x01"
        assert artifacts["raw"].size == 2
        assert [(r.key, r.description, r.task) for r in loaded.results] == [
            ("count", "3 rows", None)
        ]
    assert sorted(published) == ["count", "notes", "raw", "table"]


async def test_a_large_artifact_goes_to_the_artifact_store(
    floe_kernel_factory: Callable[..., Kernel], tmp_path: Path
) -> None:
    @floe.workflow
    async def big() -> None:
        floe.add_artifact("small", "tiny", artifact_type="text")
        floe.add_artifact("large", {"blob": "x" * 500})

    async with floe_kernel_factory(
        store=f"sqlite:///{tmp_path}/floe.db",
        artifact_store=f"file:///{tmp_path}/artifacts",
        artifact_inline_limit=100,
    ) as kernel:
        execution = await big.run_async()
        small, large = execution.artifacts
        assert small.inline
        assert await small.read() == "tiny"
        assert not large.inline
        assert large.value is None
        assert large.size > 500
        assert await large.read(kernel) == {"blob": "x" * 500}
    assert "x" * 500 not in _journal_text(execution.events)


async def test_bad_artifacts_are_refused_where_they_are_added(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.workflow
    async def bad(case: str) -> None:
        if case == "type":
            floe.add_artifact("k", 1, artifact_type="pickle")
        elif case == "text":
            floe.add_artifact("k", 1, artifact_type="text")
        elif case == "key":
            floe.add_artifact("", 1)
        elif case == "json":
            floe.add_artifact("k", object())
        else:
            floe.add_result("k", 42)  # type: ignore[arg-type]

    async with floe_kernel_factory():
        for case, match in [
            ("type", "Unknown artifact type 'pickle'"),
            ("text", "needs a str, not a int"),
            ("key", "non-empty str"),
            ("json", "artifact 'k'"),
            ("result", "description of result 'k' is a int"),
        ]:
            execution = await bad.run_async(case)
            assert execution.failed
            assert execution.error is not None
            assert match in execution.error.message
            assert execution.artifacts == []
    with pytest.raises(FloeError, match="outside a workflow run"):
        floe.add_artifact("k", 1)


async def test_a_replayed_body_does_not_report_twice(
    floe_kernel_factory: Callable[..., Kernel], store_url: str
) -> None:
    @floe.workflow(capture_output=True)
    async def twice() -> str:
        floe.add_artifact("before", 1)
        print("before the pause")
        value = await floe.pause("approve")
        floe.add_result("approved", str(value))
        print("after the pause")
        return str(value)

    async with floe_kernel_factory(store=store_url):
        paused = await twice.run_async(run_id="twice")
        assert paused.paused
        done = await twice.resume_async("twice", "yes")
    assert done.output == "yes"
    assert [a.key for a in done.artifacts] == ["before"]
    assert [r.key for r in done.results] == ["approved"]
    assert done.captured_logs() == ["before the pause", "after the pause"]


# -- captured output ---------------------------------------------------------------------------


async def test_print_and_logging_are_captured_per_step(
    floe_kernel_factory: Callable[..., Kernel], capsys: pytest.CaptureFixture[str]
) -> None:
    user_log = logging.getLogger("user.tasks")

    @floe.task
    def noisy(x: int) -> int:
        print(f"working on {x}")
        print("to stderr", file=sys.stderr)
        user_log.warning("careful with %s", x)
        return x

    @floe.workflow(capture_output=True)
    async def captured() -> int:
        print("start", end="")
        print(" of body")
        return await noisy(2)

    @floe.workflow(capture_output=True, logging_enabled=False)
    async def silent() -> int:
        print("plain print")
        return await noisy(3)

    async with floe_kernel_factory():
        execution = await captured.run_async()
        assert execution.captured_logs() == [
            "start of body",
            "working on 2",
            "to stderr",
            "careful with 2",
        ]
        logs = [e for e in execution.events if e.kind == "log.message"]
        assert [(e.step, e.data["stream"], e.data["level"]) for e in logs] == [
            (None, "stdout", "INFO"),
            ("noisy#1", "stdout", "INFO"),
            ("noisy#1", "stderr", "ERROR"),
            ("noisy#1", "logging", "WARNING"),
        ]
        assert logs[3].data["logger"] == "user.tasks"
        out = capsys.readouterr().out
        assert "working on 2" not in out  # log_to_console is off

        quiet = await silent.run_async()
        assert quiet.captured_logs() == []
        assert "plain print" in capsys.readouterr().out
    print("outside any run")
    assert capsys.readouterr().out == "outside any run\n"


async def test_log_to_console_also_shows_the_output(
    floe_kernel_factory: Callable[..., Kernel], capsys: pytest.CaptureFixture[str]
) -> None:
    @floe.workflow(capture_output=True, log_to_console=True)
    async def echoed() -> None:
        print("seen twice")

    async with floe_kernel_factory():
        execution = await echoed.run_async()
    assert execution.captured_logs() == ["seen twice"]
    assert capsys.readouterr().out == "seen twice\n"


def test_workflow_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="capture_output='yes'"):
        floe.workflow(capture_output="yes")(lambda: None)  # type: ignore[arg-type]


# -- secrets ---------------------------------------------------------------------------------


async def test_secrets_are_injected_exact_for_the_program_and_sealed_in_the_journal(
    floe_kernel_factory: Callable[..., Kernel],
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from floe_secrets import generate_key

    monkeypatch.setenv("SECRET_API_KEY", "s3cr3t-value")
    monkeypatch.setenv("FLOE_SECRET_KEY", generate_key())

    @floe.task(secrets=["api_key"])
    def call_api(secrets=None, this_flow=None):  # type: ignore[no-untyped-def]
        key = secrets["api_key"]
        print(f"using {key} and {key.reveal()}")
        this_flow.add_artifact("request", {"header": f"Bearer {key.reveal()}"})
        return {"token": key.reveal(), "shown": str(key)}

    @floe.task(secrets=["api_key"])
    def leaks(secrets=None):  # type: ignore[no-untyped-def]
        raise RuntimeError(f"rejected {secrets.reveal('api_key')}")

    @floe.workflow(capture_output=True)
    async def uses_secret() -> Any:
        answer = await call_api()
        try:
            await leaks()
        except RuntimeError as error:
            answer["error"] = str(error)
        return answer

    async with floe_kernel_factory(store=store_url, secrets="env://SECRET_") as kernel:
        execution = await uses_secret.run_async()
        events = await kernel.store.read_events(execution.run_id)
    assert execution.succeeded, execution.error
    assert execution.output == {
        "token": "s3cr3t-value",
        "shown": "***",
        "error": "rejected s3cr3t-value",
    }
    assert floe.mask(execution.output)["token"] == "***"
    assert execution.captured_logs() == ["using *** and s3cr3t-value"]
    assert execution.artifacts[0].value == {"header": "Bearer s3cr3t-value"}
    assert "s3cr3t-value" not in _journal_text(events)
    assert "$sealed" in _journal_text(events)


async def test_a_missing_secret_fails_the_task_naming_it(
    floe_kernel_factory: Callable[..., Kernel], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SECRET_NOPE", raising=False)
    monkeypatch.delenv("SECRET_ALSO_NOPE", raising=False)
    ran: list[bool] = []

    @floe.task(secrets=["nope", "also_nope"], retries=3)
    async def needs(secrets=None):  # type: ignore[no-untyped-def]
        ran.append(True)

    @floe.workflow
    async def wants() -> None:
        await needs()

    async with floe_kernel_factory(secrets="env://SECRET_"):
        execution = await wants.run_async()
    assert execution.status is RunStatus.FAILED
    assert execution.error is not None
    assert execution.error.type == f"{NotFoundError.__module__}.NotFoundError"
    assert "also_nope, nope" in execution.error.message
    assert ran == []
    assert [e.kind for e in execution.events].count("task.retrying") == 0


async def test_a_failed_run_hands_out_its_exception_as_raised(
    floe_kernel_factory: Callable[..., Kernel], monkeypatch: pytest.MonkeyPatch
) -> None:
    from floe_secrets import generate_key

    monkeypatch.setenv("SECRET_TOKEN", "very-secret-token")
    monkeypatch.setenv("FLOE_SECRET_KEY", generate_key())

    @floe.task(secrets=["token"])
    async def reject(secrets=None):  # type: ignore[no-untyped-def]
        raise PermissionError(f"token {secrets.reveal('token')} refused")

    @floe.workflow
    async def fails() -> None:
        await reject()

    async with floe_kernel_factory(secrets="env://SECRET_") as kernel:
        execution = await fails.run_async()
        stored = await kernel.store.get_run(execution.run_id)
    assert execution.error is not None
    assert execution.error.message == "token very-secret-token refused"
    assert isinstance(execution.exception, PermissionError)
    assert str(execution.exception) == "token very-secret-token refused"
    assert stored is not None
    assert stored.error is not None
    assert stored.error.message == "token *** refused"  # the record's copy to show


async def test_metadata_is_an_object_with_attributes_and_item_access(
    floe_kernel_factory: Callable[..., Kernel],
) -> None:
    @floe.task(metadata=True, retries=1)
    async def charge(amount: int, metadata: floe.TaskMetadata | None = None) -> dict[str, Any]:
        assert metadata is not None
        if metadata.attempt == 1:
            raise ConnectionError("flaky")
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            metadata.attempt = 5  # type: ignore[misc]
        return {
            "key": f"{metadata.run_id}/{metadata.step}/{metadata.attempt}",
            "flux": [metadata.task_id, metadata.task_name],
            "items": [metadata["task"], metadata["position"]],
            "as_dict": dict(metadata),
        }

    @floe.workflow
    async def pays() -> dict[str, Any]:
        return await charge(10)

    async with floe_kernel_factory():
        execution = await pays.run_async(run_id="pay-9")
    assert execution.succeeded, execution.error
    assert execution.output == {
        "key": "pay-9/charge#1/2",
        "flux": ["charge#1", "charge"],
        "items": ["charge", "1"],
        "as_dict": {
            "run_id": "pay-9",
            "step": "charge#1",
            "position": "1",
            "task": "charge",
            "attempt": 2,
        },
    }
    metadata = floe.TaskMetadata(run_id="r", step="s#1", position="1", task="s", attempt=1)
    with pytest.raises(KeyError):
        metadata["secrets"]
