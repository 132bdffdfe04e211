// The JSON API, called with the session cookie; a state-changing call carries the
// session's CSRF token (from the page's <meta>), without which the server refuses it.

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content ?? "";

export const session = {
  csrfToken: meta("csrf-token"),
  role: meta("floe-role"),
  caller: meta("floe-caller"),
};

const RANKS = { read: 1, run: 2, admin: 3 };

/** Whether the signed-in role may do what *role* may. */
export function may(role) {
  return (RANKS[session.role] ?? 0) >= RANKS[role];
}

/** An answer of the API that is not a success: its problem document, when it sent one. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.title ?? `The server answered ${status}`);
    this.status = status;
    this.problem = problem ?? { title: this.message, status };
  }
}

async function request(method, path, body) {
  const headers = { Accept: "application/json" };
  const options = { method, headers, credentials: "same-origin" };
  if (method !== "GET") headers["X-CSRF-Token"] = session.csrfToken;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  if (response.status === 401) {
    window.location.assign("/sign-in");
  }
  const type = response.headers.get("Content-Type") ?? "";
  const parsed = type.includes("json") ? await response.json().catch(() => null) : null;
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

export const get = (path) => request("GET", path);
export const post = (path, body) => request("POST", path, body);

/** The raw answer of a GET (an artifact's body). */
export async function fetchRaw(path) {
  const response = await fetch(path, { credentials: "same-origin" });
  if (!response.ok) {
    const problem = await response.json().catch(() => null);
    throw new ApiError(response.status, problem);
  }
  return response;
}

/** A path with its query: path("/runs", {status: "failed", cursor: null}). */
export function path(base, query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== null && value !== undefined && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${base}?${text}` : base;
}

/** A path segment of a name or id, escaped. */
export const segment = (text) => encodeURIComponent(text);
