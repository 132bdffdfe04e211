// Components (state on its diagram, rules, history), graph jobs (the flow with each
// routine's status), schedules and workers.

import { get, path, segment } from "../api.js";
import { h, jsonBlock, problemBox, seconds, show, statusBadge, when } from "../dom.js";
import { flowDiagram, observedConnections, parseStateDiagram, stateDiagram } from "../draw.js";
import { runLink } from "./runs.js";

const POLL_MS = 3000;

/** Draw *draw* now and again every few seconds, until *signal* says the page is left. */
async function polling(signal, draw) {
  let timer = null;
  signal.addEventListener("abort", () => clearTimeout(timer));
  const tick = async () => {
    if (signal.aborted) return;
    await draw();
    if (!signal.aborted) timer = setTimeout(tick, POLL_MS);
  };
  await tick();
}

function table(caption, columns, rows) {
  return h("table", {},
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, columns.map((name) => h("th", { scope: "col" }, name)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell) => h("td", {}, cell))))));
}

export async function componentsPage(main, { signal }) {
  document.title = "Components · floe";
  const body = h("div", {});
  show(main, h("h1", {}, "Components"), body);
  return polling(signal, async () => {
    try {
      const { components } = await get("/components");
      show(body, components.length
        ? table("Components", ["Name", "State", "Rules", "Updated"], components.map((item) => [
          h("a", { href: `#/components/${encodeURIComponent(item.name)}` }, item.name),
          h("span", { class: "badge" }, item.state), String(item.rules.length), when(item.updated_at)]))
        : h("p", { class: "empty" }, "The store has no components."));
    } catch (error) {
      show(body, problemBox(error, "The components could not be read"));
    }
  });
}

export async function componentPage(main, { argument: name, signal }) {
  document.title = `Component ${name} · floe`;
  const body = h("div", {});
  show(main, h("p", { class: "crumbs" }, h("a", { href: "#/components" }, "Components"), " / ", name),
    h("h1", {}, `Component ${name}`), body);
  return polling(signal, async () => {
    try {
      const component = await get(`/components/${segment(name)}?history=50`);
      const machine = parseStateDiagram(component.diagram);
      show(body,
        h("p", { class: "meta" }, "Current state: ", h("strong", { class: "current-state" }, component.state)),
        h("section", { "aria-labelledby": "diagram-heading" },
          h("h2", { id: "diagram-heading" }, "State diagram"),
          component.diagram
            ? h("div", { class: "scroll" }, stateDiagram(machine, component.state))
            : h("p", { class: "empty" }, "Its states are not known to this server (it lacks the component's state pack)."),
          machine.transitions.length
            ? table("Transitions", ["From", "Message", "To"], machine.transitions.map((item) => [item.from, item.label, item.to]))
            : null),
        h("section", { "aria-labelledby": "rules-heading" }, h("h2", { id: "rules-heading" }, "Rules"),
          component.rules.length ? jsonBlock(component.rules, "Rules") : h("p", { class: "empty" }, "No rules.")),
        h("section", { "aria-labelledby": "history-heading" }, h("h2", { id: "history-heading" }, "History"),
          table("History", ["Seq", "Kind", "At", "Data"], component.history.slice().reverse().map((event) => [
            String(event.seq), event.kind, when(event.at), h("code", {}, JSON.stringify(event.data))]))));
    } catch (error) {
      show(body, problemBox(error, "The component could not be read"));
    }
  });
}

export async function graphsPage(main, { signal }) {
  document.title = "Graph jobs · floe";
  const body = h("div", {});
  show(main, h("h1", {}, "Graph jobs"), body);
  return polling(signal, async () => {
    try {
      const { runs } = await get(path("/runs", { kind: "graph", limit: 100 }));
      show(body, runs.length
        ? table("Graph jobs", ["Job", "Flow", "Status", "Created", "Duration"], runs.map((run) => [
          runLink(run), run.name, statusBadge(run.status), when(run.created_at), seconds(run.duration)]))
        : h("p", { class: "empty" }, "The store has no graph jobs."));
    } catch (error) {
      show(body, problemBox(error, "The graph jobs could not be read"));
    }
  });
}

export async function graphPage(main, { argument: jobId, signal }) {
  document.title = `Graph job ${jobId} · floe`;
  const body = h("div", {});
  show(main, h("p", { class: "crumbs" }, h("a", { href: "#/graphs" }, "Graph jobs"), " / ", jobId),
    h("h1", {}, `Graph job ${jobId}`), body);
  return polling(signal, async () => {
    try {
      const job = await get(`/graphs/${segment(jobId)}`);
      const routines = Object.values(job.routine_states ?? {});
      show(body,
        h("p", { class: "meta" }, "Flow ", h("strong", {}, job.flow_id), " · ", statusBadge(job.status),
          " · entry ", h("code", {}, job.entry_id)),
        job.error ? h("div", { class: "error-box", role: "status" }, h("p", { class: "what" }, job.error)) : null,
        h("section", { "aria-labelledby": "flow-heading" },
          h("h2", { id: "flow-heading" }, "Flow"),
          h("div", { class: "scroll" }, flowDiagram(job)),
          h("p", { class: "help" }, `Connections drawn as this job used them (${observedConnections(job.execution_history).length}).`)),
        h("section", { "aria-labelledby": "routines-heading" },
          h("h2", { id: "routines-heading" }, "Routines"),
          table("Routines", ["Routine", "Status", "Executions", "Failed", "Retries", "Time"], routines.map((item) => [
            item.routine_id, statusBadge(item.status), String(item.executions), String(item.failed),
            String(item.retry_count), seconds(item.total_time)]))),
        h("section", { "aria-labelledby": "job-history-heading" },
          h("h2", { id: "job-history-heading" }, "History"),
          table("Execution history", ["Routine", "What", "Name", "Delivery", "At"], (job.execution_history ?? []).map((record) => [
            record.routine_id, record.kind, record.name ?? "—", String(record.delivery), when(record.at)]))));
    } catch (error) {
      show(body, problemBox(error, "The graph job could not be read"));
    }
  });
}

export async function schedulesPage(main, { signal }) {
  document.title = "Schedules · floe";
  const body = h("div", {});
  show(main, h("h1", {}, "Schedules"), body);
  return polling(signal, async () => {
    try {
      const { schedules } = await get("/schedules");
      show(body, schedules.length
        ? table("Schedules", ["Name", "Workflow", "When", "Catch up", "Paused", "Created"], schedules.map((item) => [
          item.name, item.workflow, item.cron ? `cron ${item.cron}` : `every ${item.every} s`,
          item.catch_up, item.paused ? "yes" : "no", when(item.created_at)]))
        : h("p", { class: "empty" }, "No schedules."));
    } catch (error) {
      show(body, problemBox(error, "The schedules could not be read"));
    }
  });
}

function executing(worker) {
  const runs = worker.executing ?? [];
  const held = `${runs.length} of ${worker.concurrency ?? "?"}`;
  if (!runs.length) return held;
  return [held, h("ul", { class: "inline-list" }, runs.map((runId) => h("li", {},
    h("a", { href: `#/runs/${encodeURIComponent(String(runId))}` }, String(runId)))))];
}

function workerState(worker) {
  if (worker.draining) return h("span", { class: "badge status-paused" }, "draining");
  if (worker.live === false) return h("span", { class: "badge status-failed" }, "stale");
  return h("span", { class: "badge status-completed" }, "live");
}

export async function workersPage(main, { signal }) {
  document.title = "Workers · floe";
  const body = h("div", {});
  show(main, h("h1", {}, "Workers"), body);
  return polling(signal, async () => {
    try {
      const { workers } = await get("/workers");
      show(body, workers.length
        ? table("Workers", ["Worker", "Host and process", "Queues", "Executing", "Executed", "Heartbeat", "State"],
          workers.map((item) => [
            h("code", {}, String(item.worker_id ?? "")),
            `${item.host ?? "?"} · pid ${item.pid ?? "?"}`,
            item.queues?.length ? item.queues.join(", ") : "all",
            executing(item),
            String(item.executed ?? 0),
            when(item.heartbeat_at),
            workerState(item)]))
        : h("p", { class: "empty" }, "No live workers."));
    } catch (error) {
      show(body, problemBox(error, "The workers could not be read"));
    }
  });
}
