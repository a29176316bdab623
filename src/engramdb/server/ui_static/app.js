// The inspector's page: key, scope, search and browse. One memory and the pipeline: memory.js;
// facts and the profile: facts.js.
import { $, act, api, el, getKey, restoreScope, saveScope, scope, scopeLabel, setKey, status, when, who }
  from "./api.js";
import { openMemory, refreshPipeline } from "./memory.js";
import "./facts.js";

const browse = { loaded: false, page: 0, total: null, nextOffset: null, query: null };
let lastSearch = null;

// ---- key and scope ---------------------------------------------------------------------------

function useKey(event) {
  event.preventDefault();
  setKey($("api-key").value.trim());
  status("ok", getKey() ? "Key kept for this tab (sessionStorage)." : "No key: requests go without one.");
  refreshPipeline({ quiet: true });
}

function forgetKey() {
  setKey("");
  $("api-key").value = "";
  status("ok", "Key forgotten.");
}

async function listScopes(event) {
  event.preventDefault();
  saveScope();
  const bySession = $("scopes-by-session").checked;
  await act("List scopes", async () => {
    const data = await api("GET", "/v1/scopes", { query: { ...scope(), by_session: bySession } });
    const list = $("scope-list");
    list.replaceChildren(...data.scopes.map((s) => scopeItem(s, bySession)));
    if (!data.scopes.length) list.append(el("li", { class: "empty", text: "No scope holds memories." }));
    return `${data.scopes.length} scope(s).`;
  });
}

function scopeItem(s, bySession) {
  const pick = () => {
    $("scope-user").value = s.user_id || "";
    $("scope-agent").value = s.agent_id || "";
    $("scope-session").value = bySession ? s.session_id || "" : "";
    saveScope();
    for (const item of $("scope-list").children) item.classList.toggle("picked", item.firstChild === button);
    status("ok", `Scope: ${scopeLabel({ ...s, session_id: bySession ? s.session_id : null })}.`);
    refreshPipeline({ quiet: true });
  };
  const button = el("button", { type: "button", class: "scope", "data-testid": "scope-item", onclick: pick },
    el("strong", { text: scopeLabel({ ...s, session_id: bySession ? s.session_id : null }) }),
    el("span", { class: "meta", text: `${plural(s.memories, "memory", "memories")} · ` +
      `${plural(s.sessions, "session", "sessions")} · ` +
      `${when(s.first).slice(0, 10)} → ${when(s.last).slice(0, 10)}` }));
  return el("li", {}, button);
}

function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

// ---- search ------------------------------------------------------------------------------------

function number(id) {
  const value = $(id).value.trim();
  return value === "" ? undefined : Number(value);
}

async function search(event) {
  if (event) event.preventDefault();
  saveScope();
  const body = { query: $("search-query").value, k: number("search-k"), budget_tokens: number("search-budget"),
    ...scope() };
  await act("Search", async () => {
    const result = await api("POST", "/v1/search", { body });
    lastSearch = body;
    showSearch(result);
    return `Search: ${result.hits.length} hit(s), ${result.packed_ids.length} packed, ` +
      `${result.context_tokens} tokens.`;
  });
}

function showSearch(result) {
  const packed = new Set(result.packed_ids);
  const meta = [`${result.context_tokens} tokens`, result.budget_tokens ? `of a ${result.budget_tokens} budget` : "",
    `· ${result.packed_ids.length} of ${result.hits.length} hits packed`];
  if (result.unembedded) meta.push(`· ${result.unembedded} not embedded yet (keyword lists only)`);
  $("search-meta").replaceChildren(el("span", { id: "context-tokens", "data-testid": "context-tokens",
    text: String(result.context_tokens) }), ` ${meta.join(" ").replace(/^\d+ /, "")}`);
  for (const warning of result.warnings || []) $("search-meta").append(el("span", { class: "warn", text: warning }));
  $("search-context").textContent = result.context || "(nothing packed)";
  const hits = result.hits.map((hit, i) => hitItem(hit, i + 1, packed.has(hit.id)));
  $("search-hits").replaceChildren(...hits);
  if (!hits.length) $("search-hits").append(el("li", { class: "empty", text: "No hits." }));
  $("search-result").hidden = false;
}

function hitItem(hit, rank, isPacked) {
  return el("li", { class: isPacked ? "hit packed" : "hit", "data-testid": "hit", dataset: { id: hit.id } },
    el("div", { class: "hit-head" },
      el("span", { class: "rank", text: `#${rank}` }),
      el("span", { class: "score", "data-testid": "hit-score", title: "score in [0, 1], higher is better",
        text: hit.score.toFixed(3) }),
      el("span", { class: isPacked ? "badge in" : "badge out", "data-testid": "hit-packed",
        text: isPacked ? "packed" : "not packed" }),
      el("span", { class: "sources", "data-testid": "hit-sources", title: "the candidate lists that found it" },
        (hit.sources || []).map((s) => el("span", { class: "chip", text: s }))),
      el("span", { class: "meta", text: `${hit.kind} · ${when(hit.event_time)} · ${hit.tokens} tok` })),
    el("div", { class: "hit-body" },
      el("div", { class: "content" }, who(hit) ? el("b", { text: `${who(hit)}: ` }) : null, hit.content),
      el("button", { type: "button", class: "small", "data-testid": "hit-open", onclick: () => openMemory(hit) },
        "Open")));
}

// ---- browse ------------------------------------------------------------------------------------

function browseQuery() {
  const kinds = $("browse-kinds").value.split(/[\s,]+/).filter(Boolean);
  return { ...scope(), kinds, include_superseded: $("browse-superseded").checked ? "true" : undefined };
}

async function rowExists(query, offset) {
  const data = await api("GET", "/v1/memories", { query: { ...query, limit: 1, offset } });
  return data.memories.length > 0;
}

// How many memories the listing holds (the list is oldest first; "newest first" pages from the end):
// doubling, then halving, with one-row pages.
async function countRows(query, limit) {
  const first = await api("GET", "/v1/memories", { query: { ...query, limit, offset: 0 } });
  if (first.next_offset === null) return first.memories.length;
  let low = first.memories.length - 1;
  let high = low * 2 + 1;
  while (await rowExists(query, high)) [low, high] = [high, high * 2];
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (await rowExists(query, middle)) low = middle;
    else high = middle;
  }
  return high;
}

async function loadBrowse(event) {
  if (event) event.preventDefault();
  saveScope();
  browse.query = browseQuery();
  browse.page = 0;
  browse.total = null;
  await showPage();
}

function showPage() {
  return act("Load memories", renderPage);
}

// One page of the listing (newest first: counted from the end); returns the status message.
async function renderPage() {
  const limit = Math.max(1, number("browse-limit") || 20);
  const newest = $("browse-order").value === "newest";
  let offset = browse.page * limit;
  let count = limit;
  if (newest) {
    if (browse.total === null) browse.total = await countRows(browse.query, limit);
    const end = Math.max(0, browse.total - browse.page * limit);
    offset = Math.max(0, end - limit);
    count = end - offset;
  }
  const data = count > 0
    ? await api("GET", "/v1/memories", { query: { ...browse.query, limit: count, offset } })
    : { memories: [], next_offset: null };
  const rows = newest ? data.memories.slice().reverse() : data.memories;
  $("browse-list").replaceChildren(...rows.map(memoryRow));
  if (!rows.length) {
    $("browse-list").append(el("tr", {}, el("td", { colspan: 5, class: "empty", text: "Nothing here." })));
  }
  $("browse-prev").disabled = browse.page === 0;
  $("browse-next").disabled = newest ? offset === 0 : data.next_offset === null;
  const span = rows.length ? `${offset + 1}–${offset + rows.length}` : "none";
  $("browse-page").textContent = newest ? `${span} of ${browse.total}, newest first` : `${span}, oldest first`;
  $("browse-result").hidden = false;
  browse.loaded = true;
  return `Loaded ${rows.length} memories.`;
}

function memoryRow(record) {
  const open = () => openMemory(record);
  const gone = record.superseded_at ? " superseded" : "";
  return el("tr", { class: `row${gone}`, "data-testid": "memory-row", dataset: { id: record.id }, onclick: open },
    el("td", { class: "nowrap", text: when(record.event_time) }),
    el("td", { text: record.kind }),
    el("td", { text: who(record) }),
    el("td", { class: "content" },
      el("button", { type: "button", class: "link", "data-testid": "row-open", text: record.content,
        title: "open this memory" })),
    el("td", { text: String(record.version) }));
}

function turnPage(step) {
  browse.page = Math.max(0, browse.page + step);
  showPage();
}

// ---- wiring ------------------------------------------------------------------------------------

document.addEventListener("engram:changed", () => {
  if (lastSearch) api("POST", "/v1/search", { body: lastSearch }).then(showSearch, () => {});
  if (browse.loaded) {
    browse.total = null;
    renderPage().catch(() => {});
  }
});

function start() {
  $("api-key").value = getKey();
  restoreScope();
  $("key-form").addEventListener("submit", useKey);
  $("clear-key").addEventListener("click", forgetKey);
  $("scope-form").addEventListener("submit", listScopes);
  $("search-form").addEventListener("submit", search);
  $("browse-form").addEventListener("submit", loadBrowse);
  $("browse-prev").addEventListener("click", () => turnPage(-1));
  $("browse-next").addEventListener("click", () => turnPage(1));
  document.body.dataset.ready = "true";
  refreshPipeline();
}

start();
