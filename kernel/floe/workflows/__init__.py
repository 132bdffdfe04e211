"""Durable workflows: ``@floe.task`` and ``@floe.workflow``.

A workflow's body calls tasks; each call is a step journaled in the kernel's journal, so
a run resumes by replay after a crash, and a completed step never runs again. Here are
tasks and their step path, workflows and their runs, composition (``parallel``, ``map``,
``Graph``), durable timers, pauses and cancellation, rollbacks, child runs, artifacts,
output capture and recorded non-determinism (``floe.now``).

It imports only the kernel (``floe.kernel``), never another programming model. Users
import its names from ``floe``.
"""
