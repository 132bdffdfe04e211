// Building the page from data without ever parsing data as markup: every text goes
// through a text node, every attribute through setAttribute.

const SVG = "http://www.w3.org/2000/svg";

function fill(node, attributes, children) {
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An HTML element: h("a", {href: "#/runs"}, "Runs"). */
export function h(tag, attributes, ...children) {
  return fill(document.createElement(tag), attributes, children);
}

/** An SVG element. */
export function s(tag, attributes, ...children) {
  return fill(document.createElementNS(SVG, tag), attributes, children);
}

/** Replace what *node* holds with *children*. */
export function show(node, ...children) {
  node.replaceChildren();
  return fill(node, {}, children);
}

/** A run's status as a badge. */
export function statusBadge(status) {
  return h("span", { class: `badge status-${status}` }, status);
}

/** A date-time as the reader's local time, in a <time> element. */
export function when(text) {
  if (!text) return "—";
  const date = new Date(text);
  return h("time", { datetime: text, title: text }, date.toLocaleString());
}

/** A number of seconds, short. */
export function seconds(value) {
  if (value === null || value === undefined) return "—";
  if (value < 1) return `${Math.round(value * 1000)} ms`;
  if (value < 120) return `${value.toFixed(1)} s`;
  return `${Math.round(value / 60)} min`;
}

/** Any JSON value, pretty-printed in a <pre>. */
export function jsonBlock(value, label) {
  return h("pre", { class: "json", tabindex: "0", "aria-label": label },
    JSON.stringify(value, null, 2) ?? "null");
}

/** Say *text* to screen readers (the page's live region). */
export function announce(text) {
  const region = document.getElementById("announce");
  if (region) region.textContent = text;
}

/** An error as a box with floe's what, why and fix (a problem document's title,
 * detail and fix). */
export function problemBox(error, heading) {
  const problem = error?.problem ?? { title: String(error?.message ?? error) };
  return h("div", { class: "error-box", role: "alert" },
    heading ? h("p", { class: "error-heading" }, heading) : null,
    h("p", { class: "what" }, problem.title ?? "Something failed"),
    problem.detail ? h("p", { class: "why" }, h("span", { class: "label" }, "Why: "), problem.detail) : null,
    problem.fix ? h("p", { class: "fix" }, h("span", { class: "label" }, "Fix: "), problem.fix) : null,
    problem.status ? h("p", { class: "status-code" }, `HTTP ${problem.status}`) : null);
}
