"""The test matrix and every other session: ``nox -l`` lists them.

``nox`` (the test command of README.md and of CI) runs the default sessions: tests,
lint, typecheck and docs, so that no change lands with a lint, type or docs failure.
``nox -s tests`` runs the suite on every Python below that the machine has (a missing
interpreter is skipped, not failed), on every core (pytest-xdist); each run covers both
async backends (trio and asyncio) through the anyio pytest plugin, and is followed by the
``contrib`` session on the same Python, so the contrib distributions are tested wherever
the suite is.
"""

from __future__ import annotations

import nox

PYTHONS = ["3.11", "3.12", "3.13"]
CONTRIB = ("./contrib/floe-reload", "./contrib/floe-postgres", "./contrib/floe-server")
"""The contrib distributions, each with its tests/ and src/."""
CONTRIB_TEST_EXTRAS = ("./contrib/floe-server[test]",)
"""What the contrib tests need besides the suite's: the test extras of the distributions."""
ON_POSTGRES = (
    "tests/workflows/test_workers.py",
    "tests/workflows/test_schedules.py",
    "tests/plugins/test_cli_workers.py",
    "tests/graph/test_graph_workers.py",
    "tests/plugins/test_cli_graph_workers.py",
    "tests/components/test_component_workers.py",
    "tests/plugins/test_cli_component_workers.py",
)
"""Suite modules whose ``postgresql`` cases run in the contrib session."""

nox.options.sessions = ["tests", "lint", "typecheck", "docs"]
nox.options.error_on_missing_interpreters = False
nox.options.reuse_existing_virtualenvs = True


def install(session: nox.Session, *args: str) -> None:
    """``session.install(*args)`` in an environment rid of the former distribution "floe"."""
    # A virtualenv reused from before floe was renamed floe-kernel still holds "floe", whose
    # entry points would register every first-party plugin a second time.
    session.run("python", "-m", "pip", "uninstall", "--yes", "--quiet", "floe", silent=True)
    session.install(*args)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite on every core, both backends; then the contrib session on this Python.

    ``nox -s tests -- ARGS`` runs ``pytest ARGS`` instead (serially unless ARGS say ``-n``)
    and leaves contrib out.
    """
    install(session, ".[test]")
    if session.posargs:
        session.run("pytest", *session.posargs)
        return
    # queued first, so that a failing suite still has the contrib distributions tested
    session.notify(f"contrib-{session.python}")
    session.run("pytest", "-n", "auto", "tests")


@nox.session(python=PYTHONS)
def contrib(session: nox.Session) -> None:
    """The tests of the contrib distributions (contrib/floe-*), against this checkout; then
    the suite's worker tests on the PostgreSQL store."""
    # one pip call, so that their dependency "floe-kernel" is this checkout (unpublished)
    install(session, ".[test]", *CONTRIB, *CONTRIB_TEST_EXTRAS)
    tests = [f"{path}/tests" for path in CONTRIB]
    session.run("pytest", "-n", "auto", *(session.posargs or tests))
    if not session.posargs:
        # the suite's tests of workers, submissions, jobs and schedules, on floe-postgres's store
        # (the tests session has no floe-postgres, and skips them)
        session.run("pytest", "-n", "auto", "-k", "postgresql", *ON_POSTGRES)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, and the import contracts (the layers, no cycles)."""
    session.install("ruff", "import-linter")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # the contracts read the source tree: no install needed, only the packages' paths
    sources = {"PYTHONPATH": ":".join(["kernel", "plugins", *(f"{path}/src" for path in CONTRIB)])}
    session.run("lint-imports", env=sources)
    session.run("lint-imports", "--config", "importlinter-runtime.ini", env=sources)


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy: strict on the kernel and contrib, checked on the plugins."""
    # the contrib distributions are installed for their dependencies' type hints
    editable = [argument for path in CONTRIB for argument in ("-e", path)]
    install(session, "-e", ".[test]", *editable, "mypy", "types-PyYAML", "types-croniter")
    session.run("mypy", "kernel/floe", "plugins", *(f"{path}/src" for path in CONTRIB))


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the docs site; warnings are errors."""
    install(session, "-e", ".", "mkdocs-material")
    session.run("python", "docs/gen_reference.py", "--check")
    session.run(
        "mkdocs",
        "build",
        "--strict",
        "--site-dir",
        f"{session.create_tmp()}/site",
        env={"NO_MKDOCS_2_WARNING": "1"},
    )


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Benchmarks side by side with their baselines and peers; writes benchmarks/RESULTS.md.

    The peer engines of the workflows benchmark (Prefect, DBOS, flux-core, osbot-utils)
    clash with one another's dependencies and with floe's, so each gets a virtual
    environment of its own under .nox/bench-peers (pins: benchmarks/peers/engines.py);
    one that cannot be installed here is reported as not available.
    """
    install(session, ".", "./contrib/floe-postgres", "./contrib/floe-server", "blinker", "pyee")
    session.run("python", "benchmarks/peers/install.py")
    session.run(
        "python", "benchmarks/run.py", "--output", "benchmarks/RESULTS.md", *session.posargs
    )
