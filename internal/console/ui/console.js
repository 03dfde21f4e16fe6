// The Tonearm operator console: a page over the console's JSON API.
// Everything a device sends (its name, its pending message) is shown with
// textContent only, never as markup.
"use strict";

let token = sessionStorage.getItem("tonearm-console-token") || "";
const codeDrafts = new Map(); // client id -> code being typed

function $(id) { return document.getElementById(id); }

function showError(msg) {
  const b = $("banner");
  b.textContent = msg;
  b.hidden = !msg;
}

async function api(method, path, body) {
  const headers = {};
  if (token) headers["Authorization"] = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = {};
  try { data = await resp.json(); } catch (e) { /* not JSON */ }
  if (resp.status === 401) {
    $("login").hidden = false;
    $("main").hidden = true;
  }
  if (!resp.ok) throw new Error(data.error || resp.statusText);
  return data;
}

async function act(method, path, body) {
  try {
    await api(method, path, body);
    showError("");
  } catch (e) {
    showError(e.message);
  }
  refresh();
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function button(parent, label, onclick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.dataset.action = label.toLowerCase();
  b.addEventListener("click", onclick);
  parent.appendChild(b);
  return b;
}

function pairingText(p) {
  if (!p) return "";
  let s = p.phase === "none" ? "" : p.phase;
  if (p.phase !== "none" && p.round) s += " (round " + p.round + ")";
  if (p.last) s += (s ? "; " : "") + "last: " + p.last;
  return s;
}

function renderClients(clients) {
  const tbody = document.querySelector("#clients tbody");
  const focused = document.activeElement && document.activeElement.dataset.client;
  tbody.textContent = "";
  $("no-clients").hidden = clients.length > 0;
  for (const c of clients) {
    const row = document.createElement("tr");
    row.dataset.client = c.id;
    cell(row, c.name || "(no name)");
    cell(row, c.id.slice(0, 10) + "…", "id").title = c.id;
    cell(row, c.status + (c.needs_repairing ? " (needs re-pairing)" : ""), "status status-" + c.status);
    cell(row, c.connected ? (c.available ? "available" : "yes") : "no");
    cell(row, (c.activities || []).join(", "));
    const pt = cell(row, pairingText(c.pairing), "pairing");
    if (c.pairing && c.pairing.message) {
      const says = document.createElement("div");
      says.className = "device-says";
      says.textContent = "The device says: " + c.pairing.message;
      pt.appendChild(says);
    }
    const actions = cell(row, "");
    const base = "/api/clients/" + encodeURIComponent(c.id);
    const phase = c.pairing ? c.pairing.phase : "none";
    if (c.status === "unapproved") button(actions, "Approve", () => act("POST", base + "/approve", { source: false }));
    if (c.status === "approved") button(actions, "Revoke", () => act("POST", base + "/revoke"));
    if (c.connected && phase === "none") button(actions, "Pair by code", () => act("POST", base + "/pair", {}));
    if (phase !== "none") button(actions, "Cancel", () => act("POST", base + "/cancel"));
    if (c.status === "paired") button(actions, "Unpair", () => {
      if (confirm("Forget " + (c.name || c.id) + " on both sides?")) act("POST", base + "/unpair");
    });
    if (phase === "waiting for code") {
      const input = document.createElement("input");
      input.placeholder = "code shown on the device";
      input.setAttribute("aria-label", "pairing code");
      input.dataset.client = c.id;
      input.value = codeDrafts.get(c.id) || "";
      input.addEventListener("input", () => codeDrafts.set(c.id, input.value));
      actions.appendChild(input);
      button(actions, "Enter code", () => {
        const code = input.value;
        codeDrafts.delete(c.id);
        act("POST", base + "/code", { code });
      });
      if (focused === c.id) input.focus();
    } else {
      codeDrafts.delete(c.id);
    }
    tbody.appendChild(row);
  }
}

async function refresh() {
  try {
    const st = await api("GET", "/api/status");
    $("server-name").textContent = st.name;
    $("now-playing").textContent = st.playing ? "Playing: " + st.source : "Nothing playing";
    const list = await api("GET", "/api/clients");
    renderClients(list.clients || []);
    $("login").hidden = true;
    $("main").hidden = false;
  } catch (e) {
    if ($("login").hidden) showError(e.message);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("play-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act("POST", "/api/play", { source: $("play-source").value || "tone" });
  });
  $("stop").addEventListener("click", () => act("POST", "/api/stop"));
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("token-input").value.trim();
    $("token-input").value = "";
    act("POST", "/api/pair", { token: t });
  });
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    token = $("login-token").value.trim();
    sessionStorage.setItem("tonearm-console-token", token);
    showError("");
    refresh();
  });
  refresh();
  setInterval(refresh, 1000);
});
