"""``floe.on``: synchronous code listens to the events of the kernels floe opens for it.

The tests are plain functions: no event loop of their own, as in a script calling
``wf.run(...)``. Each works in its own directory with its own store.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest

import floe

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True, params=["trio", "asyncio"])
def sync_settings(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> str:
    """The sync entry points read their settings from here: a SQLite store, a backend."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLOE_STORE", f"sqlite:///{tmp_path}/floe.db")
    monkeypatch.setenv("FLOE_BACKEND", request.param)
    monkeypatch.setenv("FLOE_LOG_FORMAT", "off")
    return str(request.param)


@floe.task(retries=1)
def fetch(page: int, this_task: floe.TaskHandle) -> str:
    if this_task.attempt == 1:
        raise ConnectionError("not yet")
    return f"page {page}"


@floe.workflow
def crawl(page: int) -> str:
    return fetch(page)


def kinds(events: list[floe.Event]) -> list[tuple[str, str | None]]:
    return [(event.kind, event.step) for event in events]


CRAWL_EVENTS = [
    ("run.started", None),
    ("task.started", "fetch#1"),
    ("task.retrying", "fetch#1"),
    ("task.completed", "fetch#1"),
    ("run.completed", None),
]


def test_a_listener_sees_every_event_of_a_sync_run_until_removed() -> None:
    seen: list[floe.Event] = []
    with floe.on("*", seen.append) as listener:
        assert listener.active
        execution = crawl.run(1)
    assert execution.output == "page 1"
    assert kinds(seen) == CRAWL_EVENTS
    assert {event.run_id for event in seen} == {execution.run_id}
    assert not listener.active
    assert listener.remove() is False  # the with block removed it

    crawl.run(2)
    assert len(seen) == len(CRAWL_EVENTS)


def test_listeners_follow_globs_priorities_and_filters() -> None:
    order: list[str] = []
    mine: list[floe.Event] = []
    late = floe.on("task.completed", lambda event: order.append("late"), priority=5)
    early = floe.on("task.c*", lambda event: order.append("early"), priority=1, inline=True)
    only_retries = floe.on(
        "task.*", mine.append, filter=lambda name, event: name == "task.retrying"
    )
    try:
        crawl.run(3)
    finally:
        assert [late.remove(), early.remove(), only_retries.remove()] == [True] * 3
    assert order == ["early", "late"]
    assert [event.data["attempt"] for event in mine] == [1]
    assert mine[0].data["error"]["type"] == "builtins.ConnectionError"


def test_a_handler_can_remove_its_listener_while_the_run_goes_on() -> None:
    seen: list[str] = []

    def first_only(event: floe.Event) -> None:
        seen.append(event.kind)
        listener.remove()  # from the worker thread the sync handler runs in

    listener = floe.on("task.*", first_only)
    try:
        assert crawl.run(4).output == "page 4"
    finally:
        listener.remove()
    assert seen == ["task.started"]
    assert not listener.active


def test_a_failing_listener_is_reported_and_the_run_completes() -> None:
    failures: list[floe.Event] = []

    def broken(event: floe.Event) -> None:
        raise RuntimeError("listener bug")

    with floe.on("run.started", broken), floe.on("event.handler.failed", failures.append):
        execution = crawl.run(5)
    assert execution.output == "page 5"
    (failure,) = failures
    assert isinstance(failure, floe.Event)
    assert failure.run_id == execution.run_id
    assert failure.data["owner"].startswith("floe.on:")
    assert failure.data["owner"].endswith("broken")
    assert failure.data["event_name"] == "run.started"
    assert isinstance(failure.data["exception"], RuntimeError)


def test_runs_in_many_threads_each_see_their_own_events() -> None:
    """Listeners registered and removed from many threads at once, each thread running
    its own workflow (its own event loop and kernel): nothing is lost or crossed."""
    results: dict[int, list[floe.Event]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def worker(page: int) -> None:
        try:
            run_id = f"thread-{page}"
            events: list[floe.Event] = []
            start.wait()
            listener = floe.on(
                "*", events.append, filter=lambda name, event: event.run_id == run_id
            )
            try:
                crawl.run(page, run_id=run_id)
            finally:
                assert listener.remove() is True
            results[page] = events
        except BaseException as error:  # handed to the test's thread
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(page,)) for page in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sorted(results) == list(range(6))
    for page, events in results.items():
        assert kinds(events) == CRAWL_EVENTS, page


def test_a_kernel_you_open_yourself_does_not_get_the_listeners() -> None:
    seen: list[floe.Event] = []

    async def own_kernel() -> floe.Execution:
        async with floe.open_kernel() as kernel:
            assert kernel.bus.subscriptions("task.started") == []
            return await crawl.run_async(6)

    with floe.on("*", seen.append):
        assert anyio.run(own_kernel).output == "page 6"
        assert seen == []
        # outside a kernel, run_async opens one: the listeners are there
        assert anyio.run(crawl.run_async, 7).output == "page 7"
    assert kinds(seen) == CRAWL_EVENTS


@pytest.mark.parametrize(
    ("arguments", "options", "message"),
    [
        (("", print), {}, "Invalid event name ''"),
        (("task.*", "print"), {}, "is not callable"),
        (("task.*", print), {"priority": 0}, "Invalid priority 0"),
        (("task.*", print), {"filter": True}, "Filter for 'task.*' is not callable"),
        (("task.*", print), {"inline": "yes"}, "Invalid inline='yes' for floe.on()"),
    ],
)
def test_bad_listeners_are_refused_and_never_registered(
    arguments: tuple[Any, ...], options: dict[str, Any], message: str
) -> None:
    with pytest.raises(floe.ConfigError) as caught:
        floe.on(*arguments, **options)
    assert message in caught.value.what
    assert caught.value.fix
    seen: list[floe.Event] = []
    with floe.on("*", seen.append):
        crawl.run(8)
    assert kinds(seen) == CRAWL_EVENTS  # only the good listener's deliveries


def test_the_documented_example_runs(tmp_path: Path, sync_settings: str) -> None:
    page = (ROOT / "docs" / "workflows.md").read_text(encoding="utf-8")
    section = page.split("## Listening to events from sync code", 1)[1]
    example = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)[0]
    script = tmp_path / "listening.py"
    script.write_text(example, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "task.started fetch#1 1",
        "task.retrying fetch#1 1",
        "task.completed fetch#1 None",
        "page 1",
    ]
