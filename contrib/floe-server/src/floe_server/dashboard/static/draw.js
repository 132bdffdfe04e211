// The dashboard's drawings, as SVG built from the API's documents: a run's timeline,
// a component's state diagram, a graph job's flow. Each has a text title for screen
// readers; the pages show the same facts in tables beside them.

import { h, s } from "./dom.js";

const time = (text) => new Date(text).getTime();

// -- a run's timeline -------------------------------------------------------------

/** The steps of a run's journal: each with its start, end, status and marks. */
export function stepsOf(run) {
  const steps = new Map();
  const step = (key, label, kind) => {
    if (!steps.has(key)) {
      steps.set(key, { key, label, kind, start: null, end: null, status: "running", marks: [], waits: [], child: null });
    }
    return steps.get(key);
  };
  const begin = (item, at) => {
    if (item.start === null || at < item.start) item.start = at;
  };
  let pausedAt = null;
  for (const event of run.events ?? []) {
    const at = time(event.at);
    const data = event.data ?? {};
    const key = event.step ?? event.kind;
    if (event.kind.startsWith("task.")) {
      const item = step(key, data.task ?? key, "task");
      begin(item, at);
      if (data.child_run_id) item.child = data.child_run_id;
      if (event.kind === "task.retrying") {
        item.marks.push({ at, label: `attempt ${data.attempt} failed: ${data.error?.message ?? ""}`, kind: "retry" });
        if (data.wake_at) item.waits.push({ from: at, to: time(data.wake_at), label: `waits ${data.delay} s to retry` });
      } else if (event.kind === "task.completed" || event.kind === "task.cache_hit") {
        item.end = at;
        item.status = "completed";
      } else if (event.kind === "task.failed") {
        item.end = at;
        item.status = "failed";
      } else if (event.kind === "task.rolled_back") {
        item.marks.push({ at, label: "rolled back", kind: "rollback" });
      }
    } else if (event.kind === "timer.scheduled") {
      const item = step(key, `sleep ${data.seconds ?? ""} s`, "sleep");
      begin(item, at);
      item.status = "sleeping";
      item.until = data.wake_at ? time(data.wake_at) : null;
    } else if (event.kind === "timer.fired") {
      const item = step(key, "sleep", "sleep");
      item.end = at;
      item.status = "completed";
    } else if (event.kind === "run.paused") {
      pausedAt = at;
      const item = step(`pause:${event.seq}`, `pause “${data.name ?? ""}”`, "pause");
      begin(item, at);
      item.status = "paused";
    } else if (event.kind === "run.resumed" && pausedAt !== null) {
      const open = [...steps.values()].reverse().find((item) => item.kind === "pause" && item.end === null);
      if (open) {
        open.end = at;
        open.status = "completed";
      }
      pausedAt = null;
    }
  }
  return [...steps.values()];
}

/** The timeline of *run* (a detailed run document) as an SVG. */
export function timeline(run) {
  const steps = stepsOf(run);
  const first = time(run.created_at);
  const finished = ["completed", "failed", "cancelled"].includes(run.status);
  const last = Math.max(finished ? time(run.updated_at) : Date.now(),
    ...steps.map((item) => item.end ?? item.start ?? first), first + 1);
  const labelWidth = 170;
  const width = 760;
  const row = 26;
  const span = width - labelWidth - 20;
  const x = (at) => labelWidth + ((at - first) / (last - first)) * span;
  const height = Math.max(1, steps.length) * row + 34;
  const svg = s("svg", {
    class: "timeline", viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-labelledby": "timeline-title",
  }, s("title", { id: "timeline-title" },
    `Timeline of ${steps.length} steps over ${((last - first) / 1000).toFixed(2)} seconds`));
  steps.forEach((item, index) => {
    const y = index * row + 6;
    const start = x(item.start ?? first);
    const end = item.end !== null ? x(item.end) : (item.until ? x(Math.min(item.until, last)) : x(last));
    const group = s("g", { class: `step step-${item.kind} step-${item.status}` },
      s("title", {}, `${item.label}: ${item.status}`));
    group.append(s("text", { x: labelWidth - 8, y: y + 15, "text-anchor": "end", class: "step-label" },
      item.label.length > 24 ? `${item.label.slice(0, 23)}…` : item.label));
    group.append(s("rect", { x: start, y: y + 3, width: Math.max(3, end - start), height: row - 10, rx: 3, class: "bar" }));
    for (const wait of item.waits) {
      const from = x(wait.from);
      group.append(s("rect", {
        x: from, y: y + 7, width: Math.max(2, x(Math.min(wait.to, last)) - from), height: row - 18, class: "wait",
      }, s("title", {}, wait.label)));
    }
    for (const mark of item.marks) {
      group.append(s("circle", { cx: x(mark.at), cy: y + row / 2 - 2, r: 5, class: `mark mark-${mark.kind}` },
        s("title", {}, mark.label)));
    }
    svg.append(group);
  });
  const axis = steps.length * row + 14;
  svg.append(s("line", { x1: labelWidth, x2: labelWidth + span, y1: axis, y2: axis, class: "axis" }));
  svg.append(s("text", { x: labelWidth, y: axis + 15, class: "tick" }, "0 s"));
  svg.append(s("text", { x: labelWidth + span, y: axis + 15, class: "tick", "text-anchor": "end" },
    `${((last - first) / 1000).toFixed(2)} s`));
  return svg;
}

// -- a component's state diagram -------------------------------------------------

/** The states and transitions of a Mermaid stateDiagram (as the API sends it). */
export function parseStateDiagram(text) {
  const labels = new Map();
  const states = [];
  const transitions = [];
  let start = null;
  const note = (id) => {
    if (id !== "[*]" && !states.includes(id)) states.push(id);
  };
  const decode = (label) => label.replace(/#quot;/g, '"').replace(/#59;/g, ";").replace(/#35;/g, "#");
  for (const raw of String(text ?? "").split("\n").slice(1)) {
    const line = raw.trim();
    if (!line) continue;
    let match = line.match(/^state "(.*)" as (\S+)$/);
    if (match) {
      labels.set(match[2], decode(match[1]));
      note(match[2]);
      continue;
    }
    match = line.match(/^(\S+) --> (\S+?)(?::\s*(.*))?$/);
    if (match) {
      if (match[1] === "[*]") {
        start = match[2];
        note(match[2]);
      } else {
        note(match[1]);
        note(match[2]);
        transitions.push({ from: match[1], to: match[2], label: decode(match[3] ?? "") });
      }
      continue;
    }
    note(line);
  }
  const name = (id) => labels.get(id) ?? id;
  return {
    start: start && name(start),
    states: states.map(name),
    transitions: transitions.map((item) => ({ ...item, from: name(item.from), to: name(item.to) })),
  };
}

/** Columns of nodes, breadth first from *roots* along *edges* (then any left over). */
function layers(nodes, edges, roots) {
  const depth = new Map();
  const queue = roots.filter((node) => nodes.includes(node));
  queue.forEach((node) => depth.set(node, 0));
  while (queue.length) {
    const node = queue.shift();
    for (const edge of edges.filter((item) => item.from === node)) {
      if (!depth.has(edge.to)) {
        depth.set(edge.to, depth.get(node) + 1);
        queue.push(edge.to);
      }
    }
  }
  for (const node of nodes) if (!depth.has(node)) depth.set(node, 0);
  const columns = [];
  for (const node of nodes) {
    const column = depth.get(node);
    (columns[column] ??= []).push(node);
  }
  return columns.filter(Boolean);
}

function arrowMarker(id) {
  return s("defs", {}, s("marker", {
    id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse",
  }, s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow-head" })));
}

/** A drawing of *nodes* and *edges* in columns; *classOf* styles each node. */
function graphDrawing({ nodes, edges, roots, classOf, captionOf, title, id }) {
  const columns = layers(nodes, edges, roots);
  const box = { width: 170, height: 46, gapX: 130, gapY: 34 };
  const tallest = Math.max(1, ...columns.map((column) => column.length));
  const place = new Map();
  columns.forEach((column, c) => column.forEach((node, r) => {
    const offset = ((tallest - column.length) * (box.height + box.gapY)) / 2;
    place.set(node, { x: 20 + c * (box.width + box.gapX), y: 30 + offset + r * (box.height + box.gapY) });
  }));
  const backwards = edges.filter((edge) => {
    const from = place.get(edge.from);
    const to = place.get(edge.to);
    return from && to && edge.from !== edge.to && to.x <= from.x;
  });
  const width = columns.length * (box.width + box.gapX) - box.gapX + 40;
  const boxesBottom = tallest * (box.height + box.gapY) - box.gapY + 30;
  const height = boxesBottom + 20 + backwards.length * 22;
  const svg = s("svg", {
    class: "diagram", viewBox: `0 0 ${Math.max(width, 200)} ${height}`, role: "img",
    "aria-labelledby": `${id}-title`, width: Math.max(width, 200),
  }, s("title", { id: `${id}-title` }, title), arrowMarker(`${id}-arrow`));
  edges.forEach((edge) => {
    const from = place.get(edge.from);
    const to = place.get(edge.to);
    if (!from || !to) return;
    let d;
    let labelAt;
    if (edge.from === edge.to) {
      d = `M ${from.x + 40} ${from.y} C ${from.x + 40} ${from.y - 30}, ${from.x + 130} ${from.y - 30}, ${from.x + 130} ${from.y}`;
      labelAt = { x: from.x + 85, y: from.y - 26 };
    } else if (to.x > from.x) {
      const x1 = from.x + box.width;
      const y1 = from.y + box.height / 2;
      const x2 = to.x;
      const y2 = to.y + box.height / 2;
      d = `M ${x1} ${y1} C ${x1 + 40} ${y1}, ${x2 - 40} ${y2}, ${x2} ${y2}`;
      labelAt = { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 6 };
    } else {
      // backwards (or within a column): below the boxes, as an arc
      const x1 = from.x + box.width / 2;
      const x2 = to.x + box.width / 2;
      const y1 = from.y + box.height;
      const y2 = to.y + box.height;
      // each backward edge runs at a depth of its own, so that none hides another
      const dip = boxesBottom + 18 + backwards.indexOf(edge) * 22;
      d = `M ${x1 + 12} ${y1} L ${x1 + 12} ${dip} L ${x2 - 12} ${dip} L ${x2 - 12} ${y2}`;
      labelAt = { x: (x1 + x2) / 2, y: dip - 4 };
    }
    svg.append(s("g", { class: "edge" },
      s("path", { d, "marker-end": `url(#${id}-arrow)`, class: "edge-line" }),
      edge.label ? s("text", { x: labelAt.x, y: labelAt.y, "text-anchor": "middle", class: "edge-label" },
        edge.label.length > 20 ? `${edge.label.slice(0, 19)}…` : edge.label,
        s("title", {}, `${edge.from} → ${edge.to}: ${edge.label}`)) : null));
  });
  for (const node of nodes) {
    const at = place.get(node);
    const caption = captionOf ? captionOf(node) : "";
    svg.append(s("g", { class: `node ${classOf(node)}`, "data-node": node },
      s("title", {}, caption ? `${node}: ${caption}` : node),
      s("rect", { x: at.x, y: at.y, width: box.width, height: box.height, rx: 8 }),
      s("text", { x: at.x + box.width / 2, y: at.y + (caption ? 19 : 28), "text-anchor": "middle", class: "node-name" },
        node.length > 22 ? `${node.slice(0, 21)}…` : node),
      caption ? s("text", { x: at.x + box.width / 2, y: at.y + 36, "text-anchor": "middle", class: "node-caption" }, caption) : null));
  }
  return svg;
}

/** A component's state diagram with its current state highlighted. */
export function stateDiagram(machine, current) {
  const states = machine.states.includes(current) ? machine.states : [current, ...machine.states];
  return graphDrawing({
    id: "states",
    nodes: states,
    edges: machine.transitions,
    roots: [machine.start ?? current, current],
    classOf: (state) => (state === current ? "current" : ""),
    captionOf: (state) => (state === current ? "current state" : ""),
    title: `State diagram: ${states.length} states, current state ${current}`,
  });
}

/** The connections a graph job's history shows: who emitted before whom received. */
export function observedConnections(history) {
  const edges = [];
  let emitter = null;
  for (const record of history ?? []) {
    if (record.kind === "emitted") emitter = record.routine_id;
    else if (record.kind === "slot_received" && emitter && emitter !== record.routine_id) {
      if (!edges.some((edge) => edge.from === emitter && edge.to === record.routine_id)) {
        edges.push({ from: emitter, to: record.routine_id, label: record.name ?? "" });
      }
    }
  }
  return edges;
}

/** A graph job's routines and the connections it used, each routine with its status. */
export function flowDiagram(job) {
  const routines = Object.keys(job.run?.metadata?.routines ?? job.routine_states ?? {});
  for (const id of Object.keys(job.routine_states ?? {})) if (!routines.includes(id)) routines.push(id);
  const statusOf = (id) => job.routine_states?.[id]?.status ?? "not run";
  return graphDrawing({
    id: "flow",
    nodes: routines,
    edges: observedConnections(job.execution_history),
    roots: [job.entry_id],
    classOf: (id) => `status-${statusOf(id).replace(/\s/g, "-")}`,
    captionOf: statusOf,
    title: `Flow of job ${job.job_id}: ${routines.length} routines`,
  });
}
