// Facts & profile of the scope: each slot's current value and its history (valid_from → valid_to),
// the facts with their validity (superseded ones struck through), optionally at a past valid_at.
import { $, act, api, el, saveScope, scope, when } from "./api.js";
import { openMemory } from "./memory.js";

let loaded = false;

function day(iso) {
  return iso ? when(iso).slice(0, 10) : "now";
}

function span(from, to) {
  return el("span", { class: "nowrap", title: `${when(from)} → ${to ? when(to) : "still holds"}`,
    text: `${day(from)} → ${day(to)}` });
}

function query() {
  const out = { ...scope() };
  const subject = $("facts-subject").value.trim();
  const validAt = $("facts-valid-at").value.trim();
  if (subject) out.subject = subject;
  if (validAt) out.valid_at = validAt;
  return out;
}

async function loadFacts(event) {
  if (event) event.preventDefault();
  saveScope();
  await act("Load facts", render);
}

async function render() {
  const q = query();
  const [profile, listed] = await Promise.all([
    api("GET", "/v1/profile", { query: { user_id: q.user_id, agent_id: q.agent_id, subject: q.subject,
      valid_at: q.valid_at } }),
    api("GET", "/v1/facts", { query: { ...q, include_superseded: $("facts-superseded").checked ? "true" : undefined,
      limit: 500 } }),
  ]);
  showProfile(profile);
  showFacts(listed.facts, profile);
  $("facts-result").hidden = false;
  loaded = true;
  const at = profile.valid_at ? ` at ${day(profile.valid_at)}` : "";
  return `Profile${at}: ${profile.slots.length} slot(s); ${listed.facts.length} fact(s).`;
}

function showProfile(profile) {
  $("profile-text").textContent = profile.text || "No profile yet: no fact names a slot.";
  const owner = { user_id: profile.user_id, agent_id: profile.agent_id };
  const rows = profile.slots.map((slot) => {
    const current = new Set(slot.current.map((v) => v.fact_id));
    return el("tr", { "data-testid": "profile-slot", dataset: { attribute: slot.attribute } },
      el("td", { class: "nowrap", text: slot.attribute }),
      el("td", { class: "current", "data-testid": "slot-current" },
        slot.current.length ? slot.current.map((v) => el("div", { text: v.value, title: v.statement }))
          : el("span", { class: "empty", text: "none now" })),
      el("td", {}, el("ol", { class: "values", "data-testid": "slot-history" }, slot.history.map((v) =>
        el("li", { class: current.has(v.fact_id) ? "value" : "value old", dataset: { id: v.fact_id } },
          el("button", { type: "button", class: "link", title: `open: ${v.statement}`,
            onclick: () => openMemory({ id: v.fact_id, ...owner }) }, v.value),
          " ", span(v.valid_from, v.valid_to))))));
  });
  $("profile-slots").replaceChildren(...rows);
  if (!rows.length) {
    $("profile-slots").append(el("tr", {}, el("td", { colspan: 3, class: "empty", text: "No slots." })));
  }
}

// Struck through: a fact that no longer held at the time looked at (now, or valid_at).
function endedAt(fact, validAt) {
  const at = validAt ? Date.parse(validAt) : Date.now();
  if (fact.valid_to) return Date.parse(fact.valid_to) <= at;
  return Boolean(fact.superseded_by) && !validAt;
}

function showFacts(facts, profile) {
  const rows = facts.map((fact) => {
    const gone = endedAt(fact, profile.valid_at) ? " superseded" : "";
    return el("tr", { class: `row${gone}`, "data-testid": "fact-row", dataset: { id: fact.id },
      onclick: () => openMemory(fact) },
      el("td", {}, span(fact.event_time, fact.valid_to)),
      el("td", { text: fact.attribute ? `${fact.subject || ""} / ${fact.attribute}` : "—" }),
      el("td", { class: "content" }, el("button", { type: "button", class: "link", "data-testid": "fact-open",
        text: fact.content, title: "open this fact" })),
      el("td", { class: "meta", text: fact.superseded_by || "" }));
  });
  $("facts-list").replaceChildren(...rows);
  if (!rows.length) {
    $("facts-list").append(el("tr", {}, el("td", { colspan: 4, class: "empty", text: "No facts." })));
  }
}

document.addEventListener("engram:changed", () => {
  if (loaded) render().catch(() => {});
});
$("facts-form").addEventListener("submit", loadFacts);
$("facts-superseded").addEventListener("change", () => { if (loaded) loadFacts(); });
