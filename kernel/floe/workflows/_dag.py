"""``floe.TaskGraph``: tasks wired into a directed acyclic graph, with conditional edges.

A graph has named nodes (tasks, or plain sync or async functions), edges between them
with optional conditions, one start node and one end node. ``await graph.run(input)``
runs the start node with the input, then every node as soon as all its parents are
settled, as many side by side as the graph allows.

Inputs. The start node receives the graph's input. A node with one incoming edge receives
its parent's result. A node with several incoming edges receives a dict mapping each
parent whose edge was taken to that parent's result, in the order the edges were added.

Conditions. An edge's ``when`` is called (sync or async) with its source's result once
the source finishes. A node runs when all its parents are settled and at least one of its
incoming edges was taken; when none was, it is skipped, and so is everything below it
that only it leads to.

Durability. Inside a workflow the graph takes one step slot (its name, ``etl#1``) when
``run`` is called; each node is a step named after the node (``etl#1/fetch#1``), at a
position fixed by the node's place in the graph, so replay does not depend on which
branch finished first. Conditions run again on replay, on the recorded results: they
must be deterministic.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import attrs

from ..kernel._backends import Spawner, open_task_group
from ..kernel._errors import ConfigError
from ._compose import MISSING, as_task, call_in_scope
from ._fanout import refuse_sync_body
from ._runtime import RunState, Scope, current_run, current_scope, step_position
from ._tasks import Task

__all__ = ["Edge", "TaskGraph", "TaskGraphResult"]


@attrs.frozen
class Edge:
    """An edge from *source* to *target*, taken when *when* (if any) holds for the result."""

    source: str
    target: str
    when: Callable[[Any], Any] | None = None

    def describe(self) -> str:
        return f"{self.source!r} -> {self.target!r}"


@attrs.frozen
class TaskGraphResult:
    """What a graph run produced: results by node name, the skipped nodes, the output."""

    results: dict[str, Any]
    """The result of every node that ran, in the order the nodes were added."""
    skipped: tuple[str, ...]
    """Nodes that did not run because none of their incoming edges was taken."""
    end: str

    @property
    def output(self) -> Any:
        """The end node's result (None when the end node was skipped)."""
        return self.results.get(self.end)

    def __getitem__(self, name: str) -> Any:
        return self.results[name]

    def __contains__(self, name: object) -> bool:
        return name in self.results


@attrs.frozen
class _Plan:
    """A validated graph, ready to run."""

    name: str
    start: str
    end: str
    tasks: dict[str, Task[..., Any]]
    index: dict[str, int]
    incoming: dict[str, tuple[Edge, ...]]
    outgoing: dict[str, tuple[Edge, ...]]


class TaskGraph:
    """A DAG of tasks with conditional edges, an explicit start and end; see the module doc.

    Example::

        graph = floe.TaskGraph("etl", start="extract", end="load")
        graph.add_node("extract", extract).add_node("load", load)
        graph.add_edge("extract", "load", when=lambda rows: len(rows) > 0)
        result = await graph.run("input.csv")  # result["extract"], result.output
    """

    def __init__(
        self, name: str = "graph", *, start: str | None = None, end: str | None = None
    ) -> None:
        self.name = _check_name(name, "graph name")
        self._nodes: dict[str, Task[..., Any]] = {}
        self._edges: list[Edge] = []
        self._start: str | None = None
        self._end: str | None = None
        self._plan: _Plan | None = None
        if start is not None:
            self.set_start(start)
        if end is not None:
            self.set_end(end)

    def __repr__(self) -> str:
        return f"<floe graph {self.name!r}: {len(self._nodes)} nodes, {len(self._edges)} edges>"

    @property
    def nodes(self) -> tuple[str, ...]:
        """Node names, in the order they were added."""
        return tuple(self._nodes)

    @property
    def edges(self) -> tuple[Edge, ...]:
        """Edges, in the order they were added."""
        return tuple(self._edges)

    @property
    def start(self) -> str | None:
        return self._start

    @property
    def end(self) -> str | None:
        return self._end

    # -- building -------------------------------------------------------------------------

    def add_node(self, name: str, function: Callable[..., Any]) -> TaskGraph:
        """Add the node *name* running *function* (a task, or a sync or async function).

        The node is a step named *name*: a task keeps its options (retries, timeout,
        cache ...) under that name. Returns the graph, for chaining.
        """
        name = _check_name(name, "node name")
        if name in self._nodes:
            raise ConfigError(
                f"Graph {self.name!r} already has a node {name!r}",
                fix="Give each node its own name.",
            )
        task = as_task(function, f"function of node {name!r}", name=name)
        if task.name != name:
            task = task.with_options(name=name)
        self._nodes[name] = task
        self._plan = None
        return self

    def add_edge(
        self, source: str, target: str, *, when: Callable[[Any], Any] | None = None
    ) -> TaskGraph:
        """Add an edge; with *when*, it is taken only if ``when(source_result)`` is true.

        *when* may be sync or async. Nodes may be added before or after their edges;
        :meth:`validate` checks the names. Returns the graph, for chaining.
        """
        source = _check_name(source, "edge source")
        target = _check_name(target, "edge target")
        if when is not None and not callable(when):
            raise ConfigError(
                f"The condition of edge {source!r} -> {target!r} is {when!r}, not callable",
                fix="Pass a function of the source's result, e.g. when=lambda r: r > 0.",
            )
        if any(edge.source == source and edge.target == target for edge in self._edges):
            raise ConfigError(
                f"Graph {self.name!r} already has an edge {source!r} -> {target!r}",
                fix="Combine the conditions into one function.",
            )
        self._edges.append(Edge(source, target, when))
        self._plan = None
        return self

    def set_start(self, name: str) -> TaskGraph:
        """Make *name* the node that receives the graph's input."""
        self._start = _check_name(name, "start node")
        self._plan = None
        return self

    def set_end(self, name: str) -> TaskGraph:
        """Make *name* the node whose result is the graph's output."""
        self._end = _check_name(name, "end node")
        self._plan = None
        return self

    # -- checking -------------------------------------------------------------------------

    def validate(self) -> None:
        """Raise a ConfigError if the graph cannot run.

        Checked: a start and an end node are set; every name an edge, the start or the
        end uses is a node; there is no cycle (the error names one); every node can be
        reached from the start, and leads to the end.
        """
        self._validated()

    def _validated(self) -> _Plan:
        if self._plan is not None:
            return self._plan
        start, end = self._start, self._end
        for role, value, setter in (("start", start, "set_start"), ("end", end, "set_end")):
            if value is None:
                raise ConfigError(
                    f"Graph {self.name!r} has no {role} node",
                    why=f"A graph runs from its start node to its end node; the {role} is "
                    "never guessed.",
                    fix=f"Call graph.{setter}('name'), or pass {role}= to floe.TaskGraph(...).",
                )
        assert start is not None
        assert end is not None
        for role, value in (("start", start), ("end", end)):
            if value not in self._nodes:
                self._unknown(value, f"the {role} node")
        for edge in self._edges:
            for name in (edge.source, edge.target):
                if name not in self._nodes:
                    self._unknown(name, f"edge {edge.describe()}")
        outgoing: dict[str, list[Edge]] = {name: [] for name in self._nodes}
        incoming: dict[str, list[Edge]] = {name: [] for name in self._nodes}
        for edge in self._edges:
            outgoing[edge.source].append(edge)
            incoming[edge.target].append(edge)
        cycle = _find_cycle(self._nodes, outgoing)
        if cycle is not None:
            raise ConfigError(
                f"Graph {self.name!r} has a cycle: {' -> '.join(cycle)}",
                why="A graph runs each node once, after its parents; a cycle never settles.",
                fix="Remove one of the cycle's edges (to repeat work, loop inside a task).",
                context={"cycle": cycle},
            )
        reached = _reachable(start, lambda name: (e.target for e in outgoing[name]))
        unreachable = [name for name in self._nodes if name not in reached]
        if unreachable:
            raise ConfigError(
                f"Graph {self.name!r}: {_names(unreachable)} cannot be reached from the start "
                f"node {start!r}",
                why="Only nodes on a path from the start node ever run.",
                fix="Add an edge leading to them, or remove them.",
                context={"unreachable": unreachable},
            )
        leading = _reachable(end, lambda name: (e.source for e in incoming[name]))
        dead_ends = [name for name in self._nodes if name not in leading]
        if dead_ends:
            raise ConfigError(
                f"Graph {self.name!r}: {_names(dead_ends)} "
                f"{'does' if len(dead_ends) == 1 else 'do'} not lead to the end node {end!r}",
                why="Every node must be on a path from the start node to the end node.",
                fix="Add an edge from them towards the end node, or remove them.",
                context={"dead_ends": dead_ends},
            )
        self._plan = _Plan(
            name=self.name,
            start=start,
            end=end,
            tasks=dict(self._nodes),
            index={name: number for number, name in enumerate(self._nodes, 1)},
            incoming={name: tuple(edges) for name, edges in incoming.items()},
            outgoing={name: tuple(edges) for name, edges in outgoing.items()},
        )
        return self._plan

    def _unknown(self, name: str, where: str) -> None:
        raise ConfigError(
            f"Graph {self.name!r}: {where} names the unknown node {name!r}",
            fix=f"Add it with graph.add_node({name!r}, function), or correct the name.",
            context={"nodes": list(self._nodes)},
        )

    # -- running --------------------------------------------------------------------------

    def run(self, input: Any = MISSING) -> Coroutine[Any, Any, TaskGraphResult]:
        """Run the graph on *input*; ``await`` it for a :class:`TaskGraphResult`.

        Validates first. Inside a workflow the graph's slot is taken now and every node is
        a durable step; outside one, nodes are plain calls (sync ones in worker threads).
        The first node (or condition) that fails cancels the rest and its exception is
        raised. Without *input* the start node is called with no arguments.
        """
        refuse_sync_body(f"graph {self.name!r}")
        plan = self._validated()
        state = current_run()
        slot = current_scope().allocate(plan.name) if state is not None else None
        return _GraphRun(plan, state, slot).run(input)


class _GraphRun:
    """One execution of a plan: which nodes finished, which edges were taken."""

    def __init__(self, plan: _Plan, state: RunState | None, slot: tuple[str, str] | None) -> None:
        self.plan = plan
        self.state = state
        self.slot = slot
        self.results: dict[str, Any] = {}
        self.skipped: set[str] = set()
        self.settled: dict[str, dict[str, bool]] = {name: {} for name in plan.tasks}
        self.failures: list[Exception] = []

    async def run(self, value: Any) -> TaskGraphResult:
        plan = self.plan
        async with open_task_group() as group:
            arguments = () if value is MISSING else (value,)
            group.start_soon(self._node, group, plan.start, arguments)
        if self.failures:
            raise self.failures[0]
        return TaskGraphResult(
            results={name: self.results[name] for name in plan.tasks if name in self.results},
            skipped=tuple(name for name in plan.tasks if name in self.skipped),
            end=plan.end,
        )

    def _scope(self, name: str) -> Scope | None:
        if self.slot is None:
            return None
        key, position = self.slot
        # a position per node, not per call order: replay finds each node's step
        # wherever the timing of its branch put it
        return Scope(key=key, position=step_position(position, self.plan.index[name]))

    async def _node(self, group: Spawner, name: str, arguments: tuple[Any, ...]) -> None:
        try:
            task = self.plan.tasks[name]
            result = await call_in_scope(self.state, self._scope(name), task, arguments, {})
            self.results[name] = result
            for edge in self.plan.outgoing[name]:
                self._settle(group, edge, taken=await self._taken(edge, result))
        except Exception as error:
            if not self.failures:
                self.failures.append(error)
            group.cancel_scope.cancel()

    async def _taken(self, edge: Edge, result: Any) -> bool:
        if edge.when is None:
            return True
        try:
            verdict = edge.when(result)
            if inspect.isawaitable(verdict):
                verdict = await verdict
            return bool(verdict)
        except Exception as error:
            error.add_note(
                f"in the condition of edge {edge.describe()} of graph {self.plan.name!r}"
            )
            raise

    def _settle(self, group: Spawner, edge: Edge, *, taken: bool) -> None:
        target = edge.target
        decided = self.settled[target]
        decided[edge.source] = taken
        incoming = self.plan.incoming[target]
        if len(decided) < len(incoming):
            return
        taken_from = [e.source for e in incoming if decided[e.source]]
        if not taken_from:
            self.skipped.add(target)
            for onward in self.plan.outgoing[target]:
                self._settle(group, onward, taken=False)
            return
        if len(incoming) == 1:
            value = self.results[taken_from[0]]
        else:
            value = {source: self.results[source] for source in taken_from}
        group.start_soon(self._node, group, target, (value,))


def _check_name(name: Any, role: str) -> str:
    if not isinstance(name, str) or not name or "/" in name or "#" in name:
        raise ConfigError(
            f"Invalid {role} {name!r}",
            why="Names appear in step keys (graph#1/node#1), where '/' and '#' are separators.",
            fix="Use a non-empty string without '/' or '#'.",
        )
    return name


def _names(names: list[str]) -> str:
    if len(names) == 1:
        return f"node {names[0]!r}"
    return "nodes " + ", ".join(repr(name) for name in names)


def _reachable(origin: str, neighbours: Callable[[str], Iterator[str]]) -> set[str]:
    seen = {origin}
    stack = [origin]
    while stack:
        for following in neighbours(stack.pop()):
            if following not in seen:
                seen.add(following)
                stack.append(following)
    return seen


def _find_cycle(nodes: dict[str, Any], outgoing: dict[str, list[Edge]]) -> list[str] | None:
    """One cycle as a closed path of names (first name repeated last), or None."""
    finished: set[str] = set()
    for root in nodes:
        if root in finished:
            continue
        path: list[str] = [root]
        on_path = {root}
        stack = [iter(outgoing[root])]
        while stack:
            edge = next(stack[-1], None)
            if edge is None:
                stack.pop()
                done = path.pop()
                on_path.discard(done)
                finished.add(done)
                continue
            following = edge.target
            if following in on_path:
                return [*path[path.index(following) :], following]
            if following not in finished:
                path.append(following)
                on_path.add(following)
                stack.append(iter(outgoing[following]))
    return None
