"""Flux's and OSBot-Utils' async examples, as their READMEs print them, run on floe.

Each example is the README's code with only its import lines replaced, as the migration
guides prescribe (docs/migration-flux.md, docs/migration-osbot.md), plus the call that
runs it. Each runs as a real process with floe's default settings: the trio backend and
the SQLite store in the working directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

FLUX_IMPORTS = {
    "from flux import task, workflow, ExecutionContext": (
        "from floe import task, workflow, Context as ExecutionContext"
    ),
    "from flux.tasks import parallel": "from floe import parallel",
    "from flux.tasks import pipeline": "from floe import pipeline",
    "from flux.tasks import now, sleep, uuid4, choice, randint, pause": (
        "from floe import now, sleep, uuid4, choice, randint, pause"
    ),
}
"""The import lines of docs/migration-flux.md, "Porting by imports"."""

OSBOT_IMPORTS = {
    "from osbot_utils.helpers.flows.decorators.flow import flow": (
        "from floe import workflow as flow"
    ),
    "from osbot_utils.helpers.flows.decorators.task import task": "from floe import task",
}
"""The import lines of docs/migration-osbot.md, "Porting by imports"."""

FLUX_HELLO = """
from flux import task, workflow, ExecutionContext

@task
async def say_hello(name: str) -> str:
    return f"Hello, {name}"

@workflow
async def hello_world(ctx: ExecutionContext[str]):
    return await say_hello(ctx.input)

# Execute locally
result = hello_world.run("World")
print(result.output)  # "Hello, World"
"""

FLUX_PARALLEL = """
from flux import task, workflow, ExecutionContext
from flux.tasks import parallel

@task
async def say_hi(name: str):
    return f"Hi, {name}"

@task
async def say_hello(name: str):
    return f"Hello, {name}"

@task
async def say_hola(name: str):
    return f"Hola, {name}"

@workflow
async def parallel_workflow(ctx: ExecutionContext[str]):
    results = await parallel(
        say_hi(ctx.input),
        say_hello(ctx.input),
        say_hola(ctx.input)
    )
    return results
"""

FLUX_PIPELINE = """
from flux import task, workflow, ExecutionContext
from flux.tasks import pipeline

@task
async def multiply_by_two(x):
    return x * 2

@task
async def add_three(x):
    return x + 3

@task
async def square(x):
    return x * x

@workflow
async def pipeline_workflow(ctx: ExecutionContext[int]):
    result = await pipeline(
        multiply_by_two,
        add_three,
        square,
        input=ctx.input
    )
    return result
"""

FLUX_MAP = """
@task
async def process_item(item: str):
    return item.upper()

@workflow
async def map_workflow(ctx: ExecutionContext[list[str]]):
    results = await process_item.map(ctx.input)
    return results
"""

FLUX_BUILT_INS = """
from flux.tasks import now, sleep, uuid4, choice, randint, pause

@workflow
async def built_in_tasks_example(ctx: ExecutionContext):
    # Time operations
    start_time = await now()
    await sleep(2.5)  # Sleep for 2.5 seconds

    # Random operations
    random_choice = await choice(['option1', 'option2', 'option3'])
    random_number = await randint(1, 100)

    # UUID generation
    unique_id = await uuid4()

    # Workflow pause points
    await pause("wait_for_approval")

    return {
        'start_time': start_time,
        'choice': random_choice,
        'number': random_number,
        'id': str(unique_id)
    }
"""

OSBOT_ASYNC = """
@flow()
async def async_flow():
    # Flows can be async
    result = await async_task()
    return result

@task()
async def async_task():
    # Tasks can be async
    await asyncio.sleep(1)
    return "completed"
"""

OSBOT_PRELUDE = """
import asyncio
from osbot_utils.helpers.flows.decorators.flow import flow
from osbot_utils.helpers.flows.decorators.task import task
"""
"""What the README's snippet assumes: asyncio and the decorators imported."""


def ported(code: str, imports: dict[str, str]) -> str:
    """*code* with each import line replaced by its floe line; any other line untouched."""
    lines = []
    for line in textwrap.dedent(code).splitlines():
        lines.append(imports.get(line.strip(), line))
    text = "\n".join(lines)
    assert "flux" not in text.replace("# ", ""), text
    assert "osbot" not in text, text
    return text


def run_script(tmp_path: Path, code: str) -> str:
    script = tmp_path / "ported.py"
    script.write_text(code, encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith("FLOE_")}
    env["PYTHONWARNINGS"] = "error"
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_flux_hello_world(tmp_path: Path) -> None:
    assert run_script(tmp_path, ported(FLUX_HELLO, FLUX_IMPORTS)) == "Hello, World\n"


@pytest.mark.parametrize(
    ("example", "call", "printed"),
    [
        (
            FLUX_PARALLEL,
            'parallel_workflow.run("World").output',
            "['Hi, World', 'Hello, World', 'Hola, World']",
        ),
        (FLUX_PIPELINE, "pipeline_workflow.run(2).output", "49"),
        (
            "from flux import task, workflow, ExecutionContext\n" + FLUX_MAP,
            'map_workflow.run(["a", "b"]).output',
            "['A', 'B']",
        ),
    ],
    ids=["parallel", "pipeline", "map"],
)
def test_flux_composition_examples(tmp_path: Path, example: str, call: str, printed: str) -> None:
    code = ported(example, FLUX_IMPORTS) + f"\nprint({call})\n"
    assert run_script(tmp_path, code) == printed + "\n"


def test_flux_built_in_tasks_pause_then_resume(tmp_path: Path) -> None:
    example = "from flux import task, workflow, ExecutionContext\n" + FLUX_BUILT_INS
    code = ported(example, FLUX_IMPORTS) + textwrap.dedent(
        """
        paused = built_in_tasks_example.run(run_id="built-ins")
        print(paused.status, paused.pause_name)
        done = built_in_tasks_example.resume("built-ins")
        print(done.status, sorted(done.output), done.output["choice"].startswith("option"))
        """
    )
    assert run_script(tmp_path, code).splitlines() == [
        "paused wait_for_approval",
        "completed ['choice', 'id', 'number', 'start_time'] True",
    ]


def test_osbot_async_flow_with_asyncio_sleep(tmp_path: Path) -> None:
    code = ported(OSBOT_PRELUDE + OSBOT_ASYNC, OSBOT_IMPORTS) + textwrap.dedent(
        """
        execution = async_flow.run()
        print(execution.status, execution.output)
        """
    )
    assert run_script(tmp_path, code) == "completed completed\n"
