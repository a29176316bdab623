// The /v1 API from the browser: the key (sessionStorage), requests, the error envelope, the
// status line, and a DOM helper that only ever sets text (never HTML from data).

const KEY = "engram.key";
const SCOPE = "engram.scope";

export const $ = (id) => document.getElementById(id);

export function getKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function setKey(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

// GET/POST/... one /v1 route; resolves to the JSON body, rejects with ApiError from the envelope.
export async function api(method, path, { query, body } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) url.searchParams.append(name, String(item));
  }
  const headers = { Accept: "application/json" };
  const key = getKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (exc) {
    throw new ApiError(0, "network_error", `the server did not answer (${exc.message || exc})`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(response.status, error.type || "http_error",
      error.message || text.slice(0, 200) || response.statusText);
  }
  return data;
}

// The status line: what is running, what worked, or the error (type and message from the envelope).
export function status(state, message) {
  const line = $("status-line");
  line.dataset.state = state;
  line.textContent = message;
}

// Run one user action: "busy" while it runs, then its success message or its error.
export async function act(label, work) {
  status("busy", `${label}…`);
  try {
    const message = await work();
    status("ok", message || `${label}: done.`);
    return true;
  } catch (exc) {
    if (exc instanceof ApiError) {
      const code = exc.status ? `${exc.status} ${exc.type}` : exc.type;
      status("error", `${label} failed: ${code}: ${exc.message}`);
    } else {
      status("error", `${label} failed: ${exc && exc.message ? exc.message : exc}`);
      console.error(exc);
    }
    return false;
  }
}

// The scope typed in the scope bar: only the fields that are filled in.
export function scope() {
  const out = {};
  for (const [name, id] of [["user_id", "scope-user"], ["agent_id", "scope-agent"], ["session_id", "scope-session"]]) {
    const value = $(id).value.trim();
    if (value) out[name] = value;
  }
  return out;
}

export function saveScope() {
  sessionStorage.setItem(SCOPE, JSON.stringify(scope()));
}

export function restoreScope() {
  let saved = {};
  try {
    saved = JSON.parse(sessionStorage.getItem(SCOPE) || "{}") || {};
  } catch {
    saved = {};
  }
  $("scope-user").value = saved.user_id || "";
  $("scope-agent").value = saved.agent_id || "";
  $("scope-session").value = saved.session_id || "";
}

// el("li", {class: "x", dataset: {id}}, "text", child): children are nodes or plain text.
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// "2024-06-21T08:33:00.001+00:00" -> "2024-06-21 08:33:00 UTC"
export function when(iso) {
  if (!iso) return "—";
  return String(iso).replace("T", " ").replace(/\.\d+/, "").replace(/\+00:00$/, " UTC");
}

export function who(record) {
  return record.speaker || record.role || "";
}

export function scopeLabel(record) {
  const parts = [];
  if (record.user_id) parts.push(`user ${record.user_id}`);
  if (record.agent_id) parts.push(`agent ${record.agent_id}`);
  if (record.session_id) parts.push(`session ${record.session_id}`);
  return parts.join(" · ") || "—";
}

// The scope a request about one memory names: its own user and agent (what a key is checked on).
export function ownerOf(record) {
  const out = {};
  if (record.user_id) out.user_id = record.user_id;
  if (record.agent_id) out.agent_id = record.agent_id;
  return out;
}
