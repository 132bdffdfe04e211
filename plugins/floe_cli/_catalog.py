"""The command line's own commands, as ``floe --help`` lists them without importing them.

Each command's module is imported when the command runs (see ``_group``); listing the
commands needs only what is here.
"""

from __future__ import annotations

__all__ = ["COMMANDS", "HIDDEN_COMMANDS"]

COMMANDS: tuple[tuple[str, str, str], ...] = (
    (
        "plugins",
        "_commands:plugins_command",
        "List every plugin in load order: stage, status, distribution and hooks.",
    ),
    (
        "secrets",
        "_secret_commands:secrets_command",
        "Manage secrets: encrypted at rest with the key in FLOE_SECRET_KEY.",
    ),
    (
        "schedule",
        "_schedule_commands:schedule_group",
        "Start a workflow at every tick of a cron expression or an interval.",
    ),
    (
        "queue",
        "_queue_commands:queue_group",
        "Limit the queues runs wait in: concurrency, per worker, rate.",
    ),
    (
        "register",
        "_component_commands:register_command",
        "Register the component a config describes.",
    ),
    (
        "handle",
        "_component_commands:handle_command",
        "Send MESSAGE to a component; print what it did.",
    ),
    (
        "update-rules",
        "_component_commands:update_rules_command",
        "Replace a component's rules with RULES_FILE.",
    ),
    (
        "explain",
        "_component_commands:explain_command",
        "Check a component config without running anything.",
    ),
    (
        "visualize",
        "_component_commands:visualize_command",
        "Print a diagram of a config's state machine.",
    ),
    (
        "components",
        "_component_commands:components_command",
        "List the stored components and their states.",
    ),
    (
        "snapshots",
        "_component_commands:snapshots_command",
        "List the snapshots of component NAME, newest first.",
    ),
    (
        "prune",
        "_component_commands:prune_command",
        "Delete all but the newest N snapshots of component NAME.",
    ),
    (
        "run",
        "_workflow_commands:run_command",
        "Run the workflow TARGET and print its output as JSON.",
    ),
    (
        "resume",
        "_workflow_commands:resume_command",
        "Resume the paused run RUN_ID with a value; print its output as JSON.",
    ),
    ("cancel", "_workflow_commands:cancel_command", "Cancel the running or paused run RUN_ID."),
    (
        "status",
        "_workflow_commands:status_command",
        "Show the status of run RUN_ID: status, times, input, output or error, steps.",
    ),
    ("runs", "_workflow_commands:runs_command", "List runs, newest first."),
    (
        "events",
        "_workflow_commands:events_command",
        "Show the journal of run RUN_ID as a timeline: seq, time, kind, step, data.",
    ),
    (
        "recover",
        "_worker_commands:recover_command",
        "Continue every interrupted run by replay, here, and print how each ended.",
    ),
    (
        "worker",
        "_worker_commands:worker_command",
        "Claim and execute the store's runnable runs until stopped (SIGTERM, Ctrl-C).",
    ),
    (
        "workers",
        "_worker_commands:workers_command",
        "List the workers serving the store: what each holds and its last heartbeat.",
    ),
)
"""Name, ``module:attribute`` in this package and the summary ``floe --help`` shows: the
first sentence of the command's help (a test holds the two equal)."""

HIDDEN_COMMANDS: tuple[tuple[str, str], ...] = (
    ("update_rules", "_component_commands:update_rules_alias"),
)
"""Commands accepted but not listed: name and ``module:attribute``."""
