// A run's page: what it is, its timeline, input and output, error (what, why, fix),
// artifacts and journal; followed live over server-sent events while it runs; resume
// and cancel for a role that may.

import { fetchRaw, get, may, path, post, segment } from "../api.js";
import { announce, h, jsonBlock, problemBox, seconds, show, statusBadge, when } from "../dom.js";
import { stepsOf, timeline } from "../draw.js";
import { renderMarkdown } from "../markdown.js";
import { runLink } from "./runs.js";

const FINISHED = ["completed", "failed", "cancelled"];
const IMAGE_SIGNATURES = [
  ["image/png", [0x89, 0x50, 0x4e, 0x47]],
  ["image/jpeg", [0xff, 0xd8, 0xff]],
  ["image/gif", [0x47, 0x49, 0x46, 0x38]],
  ["image/webp", [0x52, 0x49, 0x46, 0x46]],
];

/** An error's what, why and fix, as floe writes them (first line, "Why:", "Fix:"). */
export function explainError(error) {
  const lines = String(error.message ?? "").split("\n");
  const pick = (prefix) => lines.find((line) => line.startsWith(prefix))?.slice(prefix.length).trim();
  return {
    what: lines[0] || error.type,
    why: pick("Why:"),
    fix: pick("Fix:"),
  };
}

function errorSection(run) {
  if (!run.error) return null;
  const { what, why, fix } = explainError(run.error);
  return h("section", { "aria-labelledby": "error-heading" },
    h("h2", { id: "error-heading" }, "Error"),
    h("div", { class: "error-box", role: "status" },
      h("p", { class: "what" }, what),
      h("p", { class: "error-type" }, run.error.type),
      why ? h("p", { class: "why" }, h("span", { class: "label" }, "Why: "), why) : null,
      fix ? h("p", { class: "fix" }, h("span", { class: "label" }, "Fix: "), fix) : null,
      run.error.traceback ? h("details", {}, h("summary", {}, "Traceback"), h("pre", {}, run.error.traceback)) : null));
}

function facts(run, children) {
  const row = (name, value) => [h("dt", {}, name), h("dd", {}, value)];
  return h("dl", { class: "facts" },
    row("Status", statusBadge(run.status)),
    row("Name", run.name),
    row("Kind", run.kind),
    row("Created", when(run.created_at)),
    row("Updated", when(run.updated_at)),
    row("Duration", seconds(run.duration)),
    row("Queue", run.queue),
    run.runnable_at ? row("Waits until", when(run.runnable_at)) : null,
    run.lease_owner ? row("Held by", run.lease_owner) : null,
    run.parent_id ? row("Parent", runLink({ run_id: run.parent_id, kind: "workflow" })) : null,
    children.length ? row("Children", h("ul", { class: "inline-list" }, children.map((child) => h("li", {}, runLink(child), " ", statusBadge(child.status))))) : null);
}

function stepsTable(run) {
  const steps = stepsOf(run);
  if (!steps.length) return h("p", { class: "empty" }, "No steps yet.");
  return h("table", { class: "steps" },
    h("caption", { class: "visually-hidden" }, "Steps of the timeline"),
    h("thead", {}, h("tr", {}, ["Step", "Kind", "Status", "Took", "Notes"].map((name) => h("th", { scope: "col" }, name)))),
    h("tbody", {}, steps.map((item) => h("tr", {},
      h("td", {}, item.label),
      h("td", {}, item.kind),
      h("td", {}, statusBadge(item.status)),
      h("td", {}, item.end !== null && item.start !== null ? seconds((item.end - item.start) / 1000) : "—"),
      h("td", {},
        item.child ? h("a", { href: `#/runs/${encodeURIComponent(item.child)}` }, `child run ${item.child}`) : null,
        item.marks.map((mark) => h("span", { class: `note note-${mark.kind}` }, mark.label)),
        item.waits.map((wait) => h("span", { class: "note note-wait" }, wait.label)))))));
}

function sniffImage(bytes) {
  return IMAGE_SIGNATURES.find(([, signature]) => signature.every((byte, index) => bytes[index] === byte))?.[0];
}

async function artifactBody(run, artifact) {
  const response = await fetchRaw(`/runs/${segment(run.run_id)}/artifacts/${segment(artifact.key)}`);
  if (artifact.artifact_type === "json") return jsonBlock(await response.json(), `Artifact ${artifact.key}`);
  if (artifact.artifact_type === "markdown") return renderMarkdown(await response.text());
  if (artifact.artifact_type === "text") return h("pre", { tabindex: "0" }, await response.text());
  const bytes = new Uint8Array(await response.arrayBuffer());
  const image = sniffImage(bytes);
  const url = URL.createObjectURL(new Blob([bytes], { type: image ?? "application/octet-stream" }));
  if (image) return h("img", { src: url, alt: artifact.description || `Artifact ${artifact.key}`, class: "artifact-image" });
  return h("a", { href: url, download: artifact.key }, `Download ${artifact.key} (${bytes.length} bytes)`);
}

function artifactsSection(run) {
  const created = (run.events ?? []).filter((event) => event.kind === "artifact.created").map((event) => event.data);
  const latest = new Map(created.map((artifact) => [artifact.key, artifact]));
  if (!latest.size) return null;
  const list = h("div", { class: "artifacts" });
  for (const artifact of latest.values()) {
    const body = h("div", { class: "artifact-body" }, "Loading…");
    list.append(h("article", { class: "artifact card" },
      h("h3", {}, artifact.key, " ", h("span", { class: "badge" }, artifact.artifact_type)),
      artifact.description ? h("p", { class: "help" }, artifact.description) : null,
      body));
    artifactBody(run, artifact)
      .then((node) => show(body, node))
      .catch((error) => show(body, problemBox(error, "This artifact could not be read")));
  }
  return h("section", { "aria-labelledby": "artifacts-heading" }, h("h2", { id: "artifacts-heading" }, "Artifacts"), list);
}

function journal(run) {
  return h("details", { class: "journal" },
    h("summary", {}, `Journal (${(run.events ?? []).length} events)`),
    h("table", {},
      h("thead", {}, h("tr", {}, ["Seq", "Kind", "Step", "At"].map((name) => h("th", { scope: "col" }, name)))),
      h("tbody", {}, (run.events ?? []).map((event) => h("tr", {},
        h("td", {}, event.seq), h("td", {}, event.kind), h("td", {}, event.step ?? "—"), h("td", {}, when(event.at)))))));
}

function actions(run, onChange) {
  if (!may("run") || run.kind !== "workflow" && run.kind !== "message") return null;
  const feedback = h("div", { class: "feedback", "aria-live": "polite" });
  const controls = [];
  if (run.status === "paused") {
    const value = h("textarea", { id: "resume-value", name: "value", rows: 3, spellcheck: "false", "aria-describedby": "resume-help" }, "null");
    const form = h("form", { class: "resume card", "aria-labelledby": "resume-heading" },
      h("h3", { id: "resume-heading" }, "Resume"),
      h("label", { for: "resume-value" }, "Value for the pause (JSON)"),
      value,
      h("p", { id: "resume-help", class: "help" }, "What the paused step returns, e.g. {\"approved\": true}."),
      h("button", { type: "submit" }, "Resume run"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      let parsed;
      try {
        parsed = JSON.parse(value.value);
      } catch (error) {
        show(feedback, problemBox({ problem: { title: "The value is not valid JSON", detail: String(error.message), fix: "Write a JSON value: a string needs its double quotes." } }));
        return;
      }
      try {
        await post(`/runs/${segment(run.run_id)}/resume`, parsed);
        announce("Run resumed");
        onChange();
      } catch (error) {
        show(feedback, problemBox(error, "The run was not resumed"));
      }
    });
    controls.push(form);
  }
  if (!FINISHED.includes(run.status)) {
    const cancel = h("button", { type: "button", class: "danger" }, "Cancel run");
    cancel.addEventListener("click", async () => {
      cancel.disabled = true;
      try {
        await post(`/runs/${segment(run.run_id)}/cancel`);
        announce("Run cancelled");
        onChange();
      } catch (error) {
        cancel.disabled = false;
        show(feedback, problemBox(error, "The run was not cancelled"));
      }
    });
    controls.push(h("div", { class: "cancel" }, cancel));
  }
  if (!controls.length) return null;
  return h("section", { class: "actions", "aria-labelledby": "actions-heading" },
    h("h2", { id: "actions-heading" }, "Actions"), controls, feedback);
}

export async function runPage(main, { argument: runId, signal }) {
  document.title = `Run ${runId} · floe`;
  let stream = null;
  let pending = null;
  signal.addEventListener("abort", () => {
    clearTimeout(pending);
    if (stream) stream.close();
    stream = null;
  });

  const render = (run, children) => {
    const live = !FINISHED.includes(run.status) && run.status !== "paused";
    show(main,
      h("p", { class: "crumbs" }, h("a", { href: "#/runs" }, "Runs"), " / ", run.run_id),
      h("h1", {}, `Run ${run.run_id}`),
      h("p", { class: "meta", id: "live-state" }, live ? "Following live…" : `This run is ${run.status}.`),
      facts(run, children),
      actions(run, refresh),
      errorSection(run),
      h("section", { "aria-labelledby": "timeline-heading" },
        h("h2", { id: "timeline-heading" }, "Timeline"),
        h("div", { class: "scroll" }, timeline(run)),
        h("div", { class: "legend", "aria-hidden": "true" },
          h("span", { class: "key key-task" }, "task"), h("span", { class: "key key-sleep" }, "sleep"),
          h("span", { class: "key key-pause" }, "pause"), h("span", { class: "key key-retry" }, "failed attempt"),
          h("span", { class: "key key-wait" }, "wait before a retry")),
        stepsTable(run)),
      h("section", { "aria-labelledby": "io-heading", class: "io" },
        h("h2", { id: "io-heading" }, "Input and output"),
        h("div", { class: "columns" },
          h("div", {}, h("h3", {}, "Input"), jsonBlock(run.input, "Input")),
          h("div", {}, h("h3", {}, run.status === "paused" ? "Output (what it paused with)" : "Output"), jsonBlock(run.output, "Output")))),
      artifactsSection(run),
      journal(run));
    return live;
  };

  const follow = () => {
    if (stream || signal.aborted) return;
    stream = new EventSource(`/runs/${segment(runId)}/events`, { withCredentials: true });
    const again = () => {
      clearTimeout(pending);
      pending = setTimeout(refresh, 80);
    };
    stream.onmessage = again;
    stream.addEventListener("end", () => {
      stream.close();
      stream = null;
      again();
    });
    for (const kind of ["run.started", "run.completed", "run.failed", "run.paused", "run.resumed", "run.cancelled",
      "task.started", "task.completed", "task.failed", "task.retrying", "timer.scheduled", "timer.fired", "artifact.created"]) {
      stream.addEventListener(kind, again);
    }
    stream.onerror = () => {
      if (stream && stream.readyState === EventSource.CLOSED) {
        stream = null;
        again();
      }
    };
  };

  async function refresh() {
    if (signal.aborted) return;
    try {
      const [run, children] = await Promise.all([
        get(`/runs/${segment(runId)}?detailed=true`),
        get(path("/runs", { parent_id: runId, limit: 100 })).then((page) => page.runs),
      ]);
      if (signal.aborted) return;
      const live = render(run, children);
      if (live) follow();
    } catch (error) {
      if (signal.aborted) return;
      show(main, h("h1", {}, `Run ${runId}`), problemBox(error, "The run could not be read"));
    }
  }

  await refresh();
}
