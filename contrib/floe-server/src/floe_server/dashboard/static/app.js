// The dashboard's router: the part of the address after '#' names the page
// (#/runs, #/runs/ID, #/components/NAME, #/graphs/ID, #/schedules, #/workers).
// Each page is a function drawing into <main>; what it keeps running (polling, an event
// stream) stops when the reader leaves it, as its abort signal tells it.

import { problemBox, show } from "./dom.js";
import { runsPage } from "./views/runs.js";
import { runPage } from "./views/run.js";
import { componentPage, componentsPage, graphPage, graphsPage, schedulesPage, workersPage } from "./views/others.js";

const ROUTES = [
  [/^\/runs$/, runsPage, "runs"],
  [/^\/runs\/(.+)$/, runPage, "runs"],
  [/^\/components$/, componentsPage, "components"],
  [/^\/components\/(.+)$/, componentPage, "components"],
  [/^\/graphs$/, graphsPage, "graphs"],
  [/^\/graphs\/(.+)$/, graphPage, "graphs"],
  [/^\/schedules$/, schedulesPage, "schedules"],
  [/^\/workers$/, workersPage, "workers"],
];

let leaving = new AbortController();

function currentRoute() {
  const [where, query] = (window.location.hash.slice(1) || "/runs").split("?");
  return { where, query: new URLSearchParams(query ?? "") };
}

async function route() {
  leaving.abort();
  leaving = new AbortController();
  const { signal } = leaving;
  const main = document.getElementById("main");
  const { where, query } = currentRoute();
  const found = ROUTES.find(([pattern]) => pattern.test(where));
  for (const link of document.querySelectorAll("nav a[data-section]")) {
    if (found && link.dataset.section === found[2]) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!found) {
    document.title = "Not found · floe";
    show(main, problemBox({ problem: { title: `No page ${where}`, fix: "Pick a section above." } }));
    return;
  }
  const [pattern, page] = found;
  const argument = decodeURIComponent(where.match(pattern)[1] ?? "");
  try {
    await page(main, { argument, query, signal });
  } catch (error) {
    if (!signal.aborted) show(main, problemBox(error, "This page could not be loaded"));
  }
}

window.addEventListener("hashchange", () => {
  route();
  document.getElementById("main").focus({ preventScroll: true });
});
route();
