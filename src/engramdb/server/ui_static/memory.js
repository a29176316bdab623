// One memory (fields, edit, delete with a confirm step, history) and the pipeline's status.
import { $, act, api, el, ownerOf, scope, scopeLabel, when } from "./api.js";

let current = null; // the memory open in the panel (its record as the API returned it)

const FIELDS = [
  ["id", (r) => r.id], ["scope", scopeLabel], ["kind", (r) => r.kind], ["role", (r) => r.role || "—"],
  ["speaker", (r) => r.speaker || "—"], ["version", (r) => String(r.version)],
  ["event time", (r) => when(r.event_time)], ["created", (r) => when(r.created_at)],
  ["updated", (r) => when(r.updated_at)],
  ["superseded", (r) => (r.superseded_at ? `${when(r.superseded_at)} by ${r.superseded_by}` : "—")],
  ["provenance", (r) => (r.provenance && r.provenance.length ? r.provenance.join(", ") : "—")],
  ["metadata", (r) => (r.metadata && Object.keys(r.metadata).length ? JSON.stringify(r.metadata) : "—")],
];

function memoryPath(id) {
  return `/v1/memories/${encodeURIComponent(id)}`;
}

function changed(action, id) {
  document.dispatchEvent(new CustomEvent("engram:changed", { detail: { action, id } }));
}

// Open a memory (a hit or a listed record): fetch its current version and its history.
export async function openMemory(record) {
  const owner = ownerOf(record);
  await act("Open memory", async () => {
    const [fresh, history] = await Promise.all([
      api("GET", memoryPath(record.id), { query: owner }),
      api("GET", `${memoryPath(record.id)}/history`, { query: owner }),
    ]);
    show(fresh, history.events);
    return `Opened memory ${fresh.id} (version ${fresh.version}).`;
  });
}

function show(record, events) {
  current = record;
  const panel = $("memory-panel");
  panel.hidden = false;
  panel.classList.remove("deleted");
  $("memory-gone").hidden = true;
  $("memory-id").textContent = record.id;
  $("memory-fields").replaceChildren(...FIELDS.flatMap(([name, value]) => [
    el("dt", { text: name }), el("dd", { "data-field": name, text: value(record) })]));
  $("memory-content").value = record.content;
  for (const id of ["memory-content", "memory-save", "memory-delete"]) $(id).disabled = false;
  $("delete-confirm").hidden = true;
  showHistory(events);
  panel.scrollIntoView({ block: "nearest" });
}

function showHistory(events) {
  const items = events.map((event) => {
    const before = event.before || {};
    const after = event.after || {};
    const versions = event.before && event.after ? `v${before.version} → v${after.version}`
      : event.after ? `v${after.version}` : "";
    const item = el("li", { class: `event ${event.action}`, "data-testid": "history-event",
      dataset: { action: event.action } },
      el("div", { class: "event-head" },
        el("span", { class: "badge", text: event.action }),
        el("span", { class: "meta", text: `${when(event.at)} ${versions}` })));
    if (event.before && event.after && before.content !== after.content) {
      item.append(el("div", { class: "before", "data-testid": "history-before" }, el("b", { text: "before " }),
        before.content));
      item.append(el("div", { class: "after", "data-testid": "history-after" }, el("b", { text: "after " }),
        after.content));
    } else if (event.after) {
      item.append(el("div", { class: "after", "data-testid": "history-after" }, after.content));
    }
    const fields = otherChanges(before, after);
    if (event.before && event.after && fields.length) {
      item.append(el("div", { class: "meta", text: `also changed: ${fields.join(", ")}` }));
    }
    return item;
  });
  $("memory-history").replaceChildren(...items);
  if (!items.length) $("memory-history").append(el("li", { class: "empty", text: "No history." }));
}

function otherChanges(before, after) {
  const skip = new Set(["content", "content_hash", "updated_at", "version"]);
  return Object.keys({ ...before, ...after })
    .filter((name) => !skip.has(name) && JSON.stringify(before[name]) !== JSON.stringify(after[name]));
}

async function reload() {
  const owner = ownerOf(current);
  const [fresh, history] = await Promise.all([
    api("GET", memoryPath(current.id), { query: owner }),
    api("GET", `${memoryPath(current.id)}/history`, { query: owner }),
  ]);
  show(fresh, history.events);
  return fresh;
}

async function save(event) {
  event.preventDefault();
  if (!current) return;
  const content = $("memory-content").value;
  await act("Save", async () => {
    await api("PATCH", memoryPath(current.id), { body: { ...ownerOf(current), content } });
    const fresh = await reload();
    changed("update", fresh.id);
    return `Saved version ${fresh.version} of ${fresh.id} (the old one stays in its history).`;
  });
}

function askDelete() {
  if (!current) return;
  $("delete-confirm").hidden = false;
  $("delete-confirm-yes").focus();
}

async function confirmDelete() {
  if (!current) return;
  const record = current;
  $("delete-confirm").hidden = true;
  await act("Delete", async () => {
    await api("DELETE", memoryPath(record.id), { query: ownerOf(record) });
    const history = await api("GET", `${memoryPath(record.id)}/history`, { query: ownerOf(record) })
      .catch(() => ({ events: [] }));
    showHistory(history.events);
    $("memory-panel").classList.add("deleted");
    $("memory-gone").hidden = false;
    for (const id of ["memory-content", "memory-save", "memory-delete"]) $(id).disabled = true;
    for (const node of document.querySelectorAll("[data-id]")) {
      if (node.dataset.id === record.id) node.remove();
    }
    changed("delete", record.id);
    return `Deleted memory ${record.id}.`;
  });
}

function close() {
  current = null;
  $("memory-panel").hidden = true;
}

// ---- pipeline ----------------------------------------------------------------------------------

function age(seconds) {
  if (seconds === null || seconds === undefined) return "none";
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

// The queue of the scope typed in (a key restricted to some users needs one named). Quiet: no
// status line, errors ignored (after a new key or scope; the Refresh button reports).
export function refreshPipeline({ quiet = false } = {}) {
  return quiet ? renderPipeline().catch(() => {}) : act("Pipeline status", renderPipeline);
}

async function renderPipeline() {
  const data = await api("GET", "/v1/status", { query: scope() });
  $("pipeline-summary").replaceChildren(
    el("span", { "data-testid": "pipeline-pending", text: `${data.pending} pending` }), " · ",
    el("span", { "data-testid": "pipeline-failed", class: data.failed ? "warn" : "", text: `${data.failed} failed` }),
    " · ", el("span", { "data-testid": "pipeline-oldest", text: `oldest pending: ${age(data.oldest_pending_age_s)}` }),
    " · ", `worker ${data.worker_running ? "running" : "not running"} in the server`,
    ` · checked ${new Date().toLocaleTimeString()}`);
  $("pipeline-stages").replaceChildren(...data.stages.map((s) => el("tr", { "data-testid": "pipeline-stage",
    dataset: { stage: s.stage } },
    el("td", { text: s.stage }), el("td", { text: String(s.pending) }), el("td", { text: String(s.running) }),
    el("td", { class: s.failed ? "warn" : "", text: String(s.failed) }),
    el("td", { text: s.oldest_pending ? when(s.oldest_pending) : "—" }),
    el("td", { text: `${s.done_last_minute} / ${s.done_last_hour}` }),
    el("td", { text: s.jobs_per_second === null ? "—" : String(s.jobs_per_second) }),
    el("td", { class: "error", text: s.last_error || "" }))));
  if (!data.stages.length) {
    $("pipeline-stages").append(el("tr", {}, el("td", { colspan: 8, class: "empty", text: "No stages." })));
  }
  return `Pipeline: ${data.pending} pending, ${data.failed} failed.`;
}

$("memory-form").addEventListener("submit", save);
$("memory-delete").addEventListener("click", askDelete);
$("delete-confirm-yes").addEventListener("click", confirmDelete);
$("delete-confirm-no").addEventListener("click", () => { $("delete-confirm").hidden = true; });
$("memory-close").addEventListener("click", close);
$("pipeline-refresh").addEventListener("click", () => refreshPipeline());
