// The Tonearm operator console: a page over the console's JSON API.
// Everything a device sends (its name, its pending message) is shown with
// textContent only, never as markup.
"use strict";

let token = sessionStorage.getItem("tonearm-console-token") || "";
const codeDrafts = new Map(); // client id -> code being typed
const shown = { groups: "", clients: "" }; // what the tables were last built from

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

const leaveValue = ":leave"; // never a group ID (hex, or "main")

// groupPicker is a client's group menu: every group, and "on its own"
// (client/leave's effect) unless it already is.
function groupPicker(c, groups) {
  const sel = document.createElement("select");
  sel.setAttribute("aria-label", "group");
  sel.dataset.client = c.id;
  const mine = groups.find((g) => g.id === c.group);
  for (const g of groups) {
    const o = document.createElement("option");
    o.value = g.id;
    o.textContent = g.name + (g.playing ? " (playing)" : "");
    o.selected = g.id === c.group;
    sel.appendChild(o);
  }
  if (!mine || !mine.solo) {
    const o = document.createElement("option");
    o.value = leaveValue;
    o.textContent = "on its own";
    sel.appendChild(o);
  }
  const base = "/api/clients/" + encodeURIComponent(c.id);
  sel.addEventListener("change", () => {
    if (sel.value === leaveValue) act("POST", base + "/leave");
    else act("POST", base + "/join", { group: sel.value });
  });
  return sel;
}

// renderGroups rebuilds the groups table; false when it did not because
// the operator is using a control in it.
function renderGroups(groups) {
  const tbody = document.querySelector("#groups tbody");
  if (document.activeElement && document.activeElement.closest && document.activeElement.closest("#groups")) return false;
  tbody.textContent = "";
  for (const g of groups) {
    const row = document.createElement("tr");
    row.dataset.group = g.id;
    cell(row, g.name);
    cell(row, g.id, "id");
    cell(row, g.playing ? "playing " + (g.source || "") : "stopped", "state");
    const vc = cell(row, "", "volume");
    const slider = document.createElement("input");
    slider.type = "range";
    slider.min = "0";
    slider.max = "100";
    slider.value = String(g.volume);
    slider.setAttribute("aria-label", "group volume");
    slider.addEventListener("change", () => act("POST", "/api/volume", { group: g.id, volume: Number(slider.value) }));
    vc.appendChild(slider);
    const shown = document.createElement("span");
    shown.textContent = " " + g.volume + (g.muted ? " (muted)" : "");
    vc.appendChild(shown);
    cell(row, g.members.map((m) => (m.name || "(no name)") + (m.connected ? "" : " (offline)")).join(", ") || "-");
    const actions = cell(row, "");
    if (g.playing) button(actions, "Stop", () => act("POST", "/api/stop", { group: g.id }));
    button(actions, g.muted ? "Unmute" : "Mute", () => act("POST", "/api/volume", { group: g.id, muted: !g.muted }));
    tbody.appendChild(row);
  }
  const pick = $("play-group");
  if (document.activeElement !== pick) {
    const was = pick.value || "main";
    pick.textContent = "";
    for (const g of groups) {
      const o = document.createElement("option");
      o.value = g.id;
      o.textContent = g.name;
      o.selected = g.id === was;
      pick.appendChild(o);
    }
  }
  return true;
}

function renderClients(clients, groups) {
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
    const gc = cell(row, c.connected ? "" : (c.group_name || ""), "group");
    if (c.connected && c.group) gc.appendChild(groupPicker(c, groups));
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
    const gl = await api("GET", "/api/groups");
    const groups = gl.groups || [];
    // Tables are rebuilt only when what they show changed, and never under
    // a control the operator is using.
    const gj = JSON.stringify(groups);
    if (gj !== shown.groups && renderGroups(groups)) shown.groups = gj;
    const cj = JSON.stringify([list.clients || [], groups.map((g) => [g.id, g.name, g.solo, g.playing])]);
    const open = document.activeElement && document.activeElement.tagName === "SELECT" &&
      document.activeElement.closest("#clients");
    if (cj !== shown.clients && !open) {
      renderClients(list.clients || [], groups);
      shown.clients = cj;
    }
    $("login").hidden = true;
    $("main").hidden = false;
  } catch (e) {
    if ($("login").hidden) showError(e.message);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("play-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act("POST", "/api/play", { source: $("play-source").value || "tone", group: $("play-group").value || undefined });
  });
  $("stop").addEventListener("click", () => act("POST", "/api/stop"));
  $("next").addEventListener("click", () => act("POST", "/api/next", { group: $("play-group").value || undefined }));
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
