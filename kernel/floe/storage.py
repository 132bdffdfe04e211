"""Building blocks for store plugins: the converter's functions and the shared checks.

Every first-party store is written with these, and so can yours: they keep documents,
format versions and error messages the same across backends.
"""

from __future__ import annotations

from typing import Any

from .kernel._models import (
    FORMAT_VERSION,
    MAX_RUN_ID_LENGTH,
    RESERVED_RUN_ID_PREFIXES,
    check_run_id,
    utcnow,
)
from .kernel._queues import (
    QueueUsage,
    check_partition_key,
    check_priority,
    check_queue_name,
    claim_budgets,
    claimable_now,
    fill_claims,
    partition_heads,
    pick_claims,
    queue_usage,
)
from .kernel._resources import create_private_file, make_private_directories, write_atomically
from .kernel._serialize import check_finite, converter, decode_document, encode_value
from .kernel._serialize import dumps as dump_json
from .kernel._store import (
    MAX_VALUE_KEY_LENGTH,
    ClaimRequest,
    after_cursor,
    check_append,
    check_keep_last,
    check_limit,
    check_namespace,
    check_run_id_prefix,
    check_value,
    check_value_key,
    claim_request,
    lease_held,
    lease_live,
    no_such_cursor,
    no_such_run,
    run_counts,
)
from .kernel._wakeups import set_from_thread

__all__ = [
    "FORMAT_VERSION",
    "MAX_RUN_ID_LENGTH",
    "MAX_VALUE_KEY_LENGTH",
    "RESERVED_RUN_ID_PREFIXES",
    "ClaimRequest",
    "QueueUsage",
    "after_cursor",
    "check_append",
    "check_finite",
    "check_keep_last",
    "check_limit",
    "check_namespace",
    "check_partition_key",
    "check_priority",
    "check_queue_name",
    "check_run_id",
    "check_run_id_prefix",
    "check_value",
    "check_value_key",
    "claim_budgets",
    "claim_request",
    "claimable_now",
    "create_private_file",
    "decode_document",
    "dump_json",
    "encode_value",
    "fill_claims",
    "lease_held",
    "lease_live",
    "make_private_directories",
    "no_such_cursor",
    "no_such_run",
    "partition_heads",
    "pick_claims",
    "queue_usage",
    "run_counts",
    "set_from_thread",
    "to_document",
    "utcnow",
    "write_atomically",
]


def to_document(value: Any) -> Any:
    """*value* (an attrs model, a datetime ...) as plain Python data, ready for orjson."""
    return converter.unstructure(value)
