// The runs list: filters (status, kind, workflow), a search over the page shown (run id
// prefix or name), cursor paging, and the first page kept current by polling.

import { get, path, segment } from "../api.js";
import { announce, h, problemBox, seconds, show, statusBadge, when } from "../dom.js";

const STATUSES = ["pending", "running", "paused", "completed", "failed", "cancelled"];
const KINDS = ["workflow", "message", "graph", "component"];
const POLL_MS = 2000;

/** A link to the page showing *run*: a graph job's flow, a component, or the run. */
export function runLink(run) {
  const id = encodeURIComponent(run.run_id);
  const target = {
    graph: `#/graphs/${id}`,
    component: `#/components/${encodeURIComponent(run.name)}`,
  }[run.kind] ?? `#/runs/${id}`;
  return h("a", { href: target }, run.run_id);
}

function select(id, label, options, value) {
  return [
    h("label", { for: id }, label),
    h("select", { id, name: id },
      h("option", { value: "" }, "any"),
      options.map((option) => h("option", { value: option, selected: option === value }, option))),
  ];
}

function runsTable(runs, caption) {
  if (!runs.length) return h("p", { class: "empty" }, "No runs match.");
  return h("table", { class: "runs" },
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, ["Run", "Name", "Kind", "Status", "Created", "Duration"].map((name) => h("th", { scope: "col" }, name)))),
    h("tbody", {}, runs.map((run) => h("tr", { "data-run": run.run_id },
      h("td", {}, runLink(run)),
      h("td", {}, run.name),
      h("td", {}, run.kind),
      h("td", {}, statusBadge(run.status)),
      h("td", {}, when(run.created_at)),
      h("td", {}, seconds(run.duration))))));
}

function matches(run, search) {
  if (!search) return true;
  const text = search.toLowerCase();
  return run.run_id.toLowerCase().startsWith(text) || String(run.name ?? "").toLowerCase().includes(text);
}

export async function runsPage(main, { query, signal }) {
  document.title = "Runs · floe";
  const filters = {
    status: query.get("status") ?? "",
    kind: query.get("kind") ?? "",
    name: query.get("name") ?? "",
    q: query.get("q") ?? "",
  };
  const cursors = (query.get("trail") ?? "").split(",").filter(Boolean);
  const cursor = cursors.at(-1) ?? null;
  let workflows = [];
  try {
    workflows = (await get("/workflows")).workflows.map((item) => item.name);
  } catch {
    workflows = [];
  }
  if (signal.aborted) return;
  const results = h("div", { id: "results", "aria-live": "off" });
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter runs" },
    h("div", { class: "field" }, select("status", "Status", STATUSES, filters.status)),
    h("div", { class: "field" }, select("kind", "Kind", KINDS, filters.kind)),
    h("div", { class: "field" }, select("name", "Workflow", workflows, filters.name)),
    h("div", { class: "field" },
      h("label", { for: "q" }, "Search"),
      h("input", { id: "q", name: "q", type: "search", value: filters.q, placeholder: "run id prefix or name" })),
    h("button", { type: "submit" }, "Apply"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    window.location.hash = path("/runs", Object.fromEntries(data.entries()));
  });
  for (const field of form.querySelectorAll("select")) {
    field.addEventListener("change", () => form.requestSubmit());
  }
  show(main, h("h1", {}, "Runs"), form, results);

  let timer = null;
  signal.addEventListener("abort", () => clearTimeout(timer));
  const load = async () => {
    try {
      const page = await get(path("/runs", { status: filters.status, kind: filters.kind, name: filters.name, cursor, limit: 50 }));
      if (signal.aborted) return;
      const shown = page.runs.filter((run) => matches(run, filters.q));
      // a search for a whole run id finds it wherever it is, not only on this page
      const exact = filters.q && !shown.some((run) => run.run_id === filters.q)
        ? await get(`/runs/${segment(filters.q)}`).catch(() => null)
        : null;
      if (signal.aborted) return;
      if (exact) shown.unshift(exact);
      const trail = (more) => path("/runs", { ...filters, trail: more.join(",") });
      const pager = h("nav", { class: "pager", "aria-label": "Pages of runs" },
        cursors.length ? h("a", { href: `#${trail(cursors.slice(0, -1))}` }, "← Newer") : null,
        page.next_cursor ? h("a", { href: `#${trail([...cursors, page.next_cursor])}`, rel: "next" }, "Older →") : null);
      const live = cursor ? "" : " · updated live";
      show(results,
        h("p", { class: "meta" }, `${shown.length} runs on this page${live}`),
        runsTable(shown, "Runs, newest first"),
        pager);
    } catch (error) {
      show(results, problemBox(error, "The runs could not be read"));
    }
    if (!signal.aborted && !cursor) timer = setTimeout(load, POLL_MS);
  };
  await load();
  if (!signal.aborted) announce("Runs loaded");
}
