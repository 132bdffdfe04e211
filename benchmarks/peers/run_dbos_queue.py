"""DBOS queues on PostgreSQL: trivial runs through one DBOS process, the workers benchmark's
workload for floe.

Runs in DBOS's own virtual environment (``peers/install.py dbos``). The system database
is a PostgreSQL database made for this process and dropped after it. *runs* workflows of
one step each are enqueued on a queue (``worker_concurrency`` as floe's worker
concurrency, polled every ``--poll-seconds``, as floe's idle worker polls), and the
clock runs from the first workflow's start to the last one's completion, both read from
DBOS's ``workflow_status`` table, as the floe figure reads its runs' journals: the
enqueuing is not counted. The answer is one JSON object on stdout; a failure is
``{"error": ...}`` with exit code 1.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
import traceback
from importlib import metadata


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="postgresql://… of the server")
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--poll-seconds", type=float, default=0.05)
    options = parser.parse_args()
    database = f"floe_bench_dbos_{secrets.token_hex(4)}"
    try:
        answer = measure(options, database)
    except Exception:  # reported to the caller, which shows DBOS as not available
        print(json.dumps({"error": traceback.format_exc(limit=4)}))
        return 1
    finally:
        _drop(options.server, database)
    print(json.dumps(answer))
    return 0


def measure(options: argparse.Namespace, database: str) -> dict[str, object]:
    from dbos import DBOS

    @DBOS.step()
    def one(n: int) -> int:
        return n

    @DBOS.workflow()
    def trivial(n: int) -> int:
        return one(n)

    url = f"{options.server.rsplit('/', 1)[0]}/{database}"
    DBOS(
        config={
            "name": "floe-bench-queue",
            "system_database_url": url,
            "run_admin_server": False,
            "log_level": "WARNING",
        }
    )
    DBOS.launch()
    try:
        queue = DBOS.register_queue(
            "bench",
            worker_concurrency=options.concurrency,
            polling_interval_sec=options.poll_seconds,
        )
        for handle in [queue.enqueue(trivial, n) for n in range(10)]:  # warm up
            handle.get_result()
        started = time.perf_counter()
        handles = [queue.enqueue(trivial, n) for n in range(options.runs)]
        enqueued = time.perf_counter()
        results = [handle.get_result() for handle in handles]
        ended = time.perf_counter()
        if results != list(range(options.runs)):
            raise RuntimeError("the workflows did not return their inputs")
        ids = [handle.get_workflow_id() for handle in handles]
    finally:
        DBOS.destroy()
    seconds = _span(url, ids)
    return {
        "engine": "DBOS",
        "version": metadata.version("dbos"),
        "runs": options.runs,
        "seconds": seconds,
        "enqueue_seconds": enqueued - started,
        "end_to_end_seconds": ended - started,
    }


def _span(url: str, ids: list[str]) -> float:
    """From the first workflow's start to the last one's end, in seconds."""
    import psycopg

    with psycopg.connect(url) as connection:
        row = connection.execute(
            "SELECT min(started_at_epoch_ms), max(updated_at) FROM dbos.workflow_status"
            " WHERE workflow_uuid = ANY(%s)",
            (ids,),
        ).fetchone()
    if row is None or row[0] is None:
        raise RuntimeError("DBOS recorded no start for the workflows")
    return (int(row[1]) - int(row[0])) / 1000


def _drop(server: str, database: str) -> None:
    try:
        import psycopg

        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    except Exception as error:  # the answer is already made: say it, do not fail
        print(f"could not drop {database}: {error}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
