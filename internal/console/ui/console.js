// The Tonearm operator console: a page over the console's JSON API, kept
// live by its server-sent events (/api/events).
//
// Everything a device sends (its name, its pending message) and every
// answer text is shown with textContent only, never as markup.
"use strict";

// The spec's dynamic round limit (pairing.md "Rounds"): the client aborts
// after 20 rounds.
const ROUND_LIMIT = 20;
// pairing.md "client/pair-pending": the device's message is at most 200
// characters.
const MESSAGE_MAX = 200;
const METHODS = {
  dynamic_pairing_code: { label: "Code the device shows", digits: 6 },
  static_pairing_code: { label: "The device's fixed code", digits: 8 },
  pairing_psk: { label: "Token from the device", digits: 0 },
};
const METHOD_ORDER = ["dynamic_pairing_code", "static_pairing_code", "pairing_psk"];
const LEAVE = ":leave"; // never a group ID (hex, or "main")

let token = sessionStorage.getItem("tonearm-console-token") || "";
let state = { status: null, clients: [], groups: [] };
let stats = {};
let events = null; // the EventSource
let retry = 0; // reconnect attempts since the last good event
let refusalsGone = false; // the server has no /api/refusals
let refusalsBusy = false, refusalsAgain = false;
let pending = false; // a render was held back under a control in use
let pointerTarget = null;
const drafts = new Map(); // group id -> source being typed

function $(id) { return document.getElementById(id); }

function el(tag, props, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k === "class") e.className = v;
    else if (k === "data") Object.assign(e.dataset, v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, "");
    else e.setAttribute(k, v);
  }
  for (const kid of kids) if (kid) e.append(kid);
  return e;
}

function short(id) { return (id || "").slice(0, 8); }
function nameOf(c) { return c.name || "(no name)"; }

function clock(d) {
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
}

// when is a time a person reads: "21:19" today, "7 Dec 21:19" before.
function when(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return "";
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return clock(d);
  return d.toLocaleDateString([], { day: "numeric", month: "short" }) + " " + clock(d);
}

function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const m = Math.floor(s / 60);
  return m + ":" + String(s % 60).padStart(2, "0");
}

// --- status line --------------------------------------------------------

// say shows an outcome in the status line: the open dialog's, or the
// page's.
function say(text, ok) {
  const d = document.querySelector("dialog[open]");
  const s = d ? d.querySelector(".dialog-status") : $("status-line");
  s.hidden = !text;
  s.className = (d ? "dialog-status" : "status-line") + " " + (ok ? "ok" : "err");
  s.textContent = text ? clock(new Date()) + "  " + text : "";
}

// --- API ----------------------------------------------------------------

function askToken() {
  $("login").hidden = false;
  $("main").hidden = true;
  if (events) { events.close(); events = null; }
  setLive("off", "token needed");
  $("now-playing").textContent = "Not connected";
}

async function api(method, path, body) {
  const headers = {};
  if (token) headers["Authorization"] = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = {};
  try { data = await resp.json(); } catch (e) { /* not JSON */ }
  if (resp.status === 401) askToken();
  if (!resp.ok) {
    const err = new Error(data.error || resp.status + " " + resp.statusText);
    err.status = resp.status;
    throw err;
  }
  return data;
}

// act runs an operator action and shows its real outcome: the answer's
// message, or its error. fallback words the answer when it has no message.
async function act(method, path, body, fallback) {
  try {
    const data = await api(method, path, body);
    say(data.message || (fallback ? fallback(data) : "done"), true);
    return data;
  } catch (e) {
    say(e.message, false);
    return null;
  }
}

function clientPath(id, what) { return "/api/clients/" + encodeURIComponent(id) + "/" + what; }

// --- live state -----------------------------------------------------------

function setLive(kind, text) {
  $("live").dataset.state = kind;
  $("live-text").textContent = text;
  // A state shown is the state: once the stream is gone, say that what
  // the page shows may be out of date.
  $("stale").hidden = kind !== "off" || !state.status;
}

function onState(data) {
  retry = 0;
  setLive("on", "live");
  try { state = JSON.parse(data); } catch (e) { return; }
  state.clients = state.clients || [];
  state.groups = state.groups || [];
  $("login").hidden = true;
  $("main").hidden = false;
  render();
  followUp();
  if (Array.isArray(state.refusals)) renderRefusals(state.refusals);
  else loadRefusals();
}

// followed is the token pairing started from the page's token field,
// whose outcome the status line reports once it is known.
let followed = null;

function followUp() {
  if (!followed) return;
  const f = followed;
  const report = (c) => {
    const p = c && c.pairing;
    if (!p || p.attempt !== f.attempt || !p.done || followed !== f) return;
    followed = null;
    say(p.text, !!p.ok);
  };
  const c = clientById(f.id);
  if (c) report(c);
  else api("GET", "/api/clients/" + encodeURIComponent(f.id)).then(report, () => {});
}

function onStats(data) {
  try { stats = JSON.parse(data).clients || {}; } catch (e) { return; }
  renderStats();
}

// lost: the event stream ended. Ask the server why (a wrong token shows
// the token prompt), then subscribe again after a growing pause.
function lost(why) {
  events = null;
  setLive("off", "disconnected");
  const again = () => { retry++; setTimeout(connect, Math.min(30, 2 ** retry) * 1000); };
  api("GET", "/api/status").then(again, (e) => {
    if (e.status !== 401) {
      say("lost the server: " + (why || e.message), false);
      again();
    }
  });
}

// connect subscribes to the server's events. On loopback without a token
// that is an EventSource. EventSource cannot send the Authorization header,
// and a token in the URL would land in logs and history, so with a token
// the page reads the same stream through fetch.
function connect() {
  if (events) events.close();
  if (token) { connectWithToken(); return; }
  const es = new EventSource("/api/events");
  events = es;
  es.addEventListener("open", () => { setLive("on", "live"); });
  es.addEventListener("state", (ev) => onState(ev.data));
  es.addEventListener("stats", (ev) => onStats(ev.data));
  es.addEventListener("error", () => {
    if (es !== events) return;
    if (es.readyState === EventSource.CLOSED) lost("");
    else setLive("off", "reconnecting");
  });
}

function connectWithToken() {
  const ctl = new AbortController();
  const me = { close: () => ctl.abort() };
  events = me;
  (async () => {
    let why = "";
    try {
      const resp = await fetch("/api/events", { headers: { Authorization: "Bearer " + token, Accept: "text/event-stream" }, signal: ctl.signal });
      if (!resp.ok || !resp.body) throw new Error(resp.status + " " + resp.statusText);
      setLive("on", "live");
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n?/g, "\n");
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let name = "message";
          const data = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) name = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
          }
          if (name === "state") onState(data.join("\n"));
          else if (name === "stats") onStats(data.join("\n"));
        }
      }
    } catch (e) {
      if (ctl.signal.aborted) return;
      why = e.message;
    }
    if (events === me) lost(why);
  })();
}

async function boot() {
  try {
    const st = await api("GET", "/api/status");
    state.status = st;
    renderHeader();
    $("login").hidden = true;
    $("main").hidden = false;
    connect();
  } catch (e) {
    // The first 401 only asks for the token; a wrong one says so.
    if (e.status !== 401 || token) say(e.message, false);
  }
}

// --- rendering --------------------------------------------------------------

// held: a node that must not be rebuilt now, because the operator is
// typing in, choosing from or dragging a control inside it.
function held(node) {
  const a = document.activeElement;
  if (a && node.contains(a) && (a.tagName === "SELECT" || a.tagName === "TEXTAREA" ||
      (a.tagName === "INPUT" && a.type !== "button"))) return true;
  return pointerTarget !== null && node.contains(pointerTarget);
}

// reconcile makes ul hold one li per item, rebuilding only the items whose
// signature changed and keeping focus on the control that had it.
function reconcile(ul, items, keyOf, sigOf, build) {
  const old = new Map();
  for (const li of Array.from(ul.children)) old.set(li.dataset.key, li);
  const active = document.activeElement;
  let refocus = null;
  const out = [];
  for (const it of items) {
    const k = keyOf(it), s = sigOf(it);
    const li = old.get(k);
    old.delete(k);
    if (li && li.dataset.sig === s) { out.push(li); continue; }
    if (li && held(li)) { pending = true; out.push(li); continue; }
    const n = build(it);
    n.dataset.key = k;
    n.dataset.sig = s;
    if (li && active && li.contains(active) && active.dataset.fk) refocus = [n, active.dataset.fk];
    if (li) li.replaceWith(n);
    out.push(n);
  }
  for (const li of old.values()) {
    if (held(li)) { pending = true; out.push(li); } else li.remove();
  }
  out.forEach((li, i) => { if (ul.children[i] !== li) ul.insertBefore(li, ul.children[i] || null); });
  if (refocus) {
    const f = refocus[0].querySelector('[data-fk="' + refocus[1] + '"]');
    if (f) f.focus();
  }
}

function flush() {
  if (!pending) return;
  pending = false;
  render();
}

function render() {
  renderHeader();
  // A client whose record the server holds but whose key no longer
  // matches it (needs_repairing) is a known device, not a newcomer.
  const newcomers = state.clients.filter((c) => c.status === "unapproved" && !c.needs_repairing);
  // Known devices by name, the ones online first.
  const known = state.clients.filter((c) => c.status !== "unapproved" || c.needs_repairing)
    .sort((a, b) => (b.connected - a.connected) || nameOf(a).localeCompare(nameOf(b)) || a.id.localeCompare(b.id));
  $("newcomers-section").hidden = newcomers.length === 0;
  $("newcomers-count").textContent = newcomers.length ? "(" + newcomers.length + ")" : "";
  reconcile($("newcomers"), newcomers, (c) => c.id, (c) => JSON.stringify(c), newcomerCard);
  $("no-devices").hidden = known.length > 0;
  $("devices-count").textContent = known.length ? "(" + known.length + ")" : "";
  const gsig = JSON.stringify(shownGroups().map((g) => [g.id, g.name, g.solo, g.playing, g.track || g.source || ""]));
  reconcile($("devices"), known, (c) => c.id, (c) => JSON.stringify(c) + gsig, deviceCard);
  reconcile($("groups"), shownGroups(), (g) => g.id,
    (g) => JSON.stringify(Object.assign({}, g, { position_ms: undefined })), groupCard);
  renderPositions();
  renderStats();
  updatePairDialog();
}

function renderHeader() {
  const st = state.status;
  if (!st) return;
  $("server-name").textContent = st.name;
  document.title = "Tonearm — " + st.name;
  const playing = (state.groups || []).filter((g) => g.playing);
  let np = "Nothing playing";
  if (playing.length === 1) {
    const g = playing[0];
    np = "Playing " + (g.track || g.source || "") + " in " + g.name;
  } else if (playing.length > 1) {
    np = "Playing in " + playing.map((g) => g.name).join(", ");
  } else if (st.playing) {
    np = "Playing " + (st.source || "");
  }
  $("now-playing").textContent = np;
}

function badge(text, cls) { return el("span", { class: "badge " + cls, text }); }

// pairingLine is a person's words for a client's pairing state.
function pairingLine(c) {
  const p = c.pairing;
  if (!p) return "";
  if (p.text) return p.text;
  const who = nameOf(c);
  switch (p.phase) {
    case "starting": return "asking " + who + " to start pairing";
    case "held back": return "waiting for " + who + ": it holds the attempt back";
    case "waiting for code":
      if (p.method === "static_pairing_code") return "waiting for the code of " + who;
      if (p.wrong_codes) return "wrong code, round " + p.round + " of " + ROUND_LIMIT + ": enter the code " + who + " shows now";
      return "waiting for the code " + who + " shows" + (p.round > 1 ? " (round " + p.round + " of " + ROUND_LIMIT + ")" : "");
    case "verifying": return "checking the code";
  }
  if (p.last) return p.last === "paired" ? "paired with " + who : "last pairing attempt: " + p.last;
  return "";
}

function pairingRunning(c) { return !!(c.pairing && c.pairing.phase && c.pairing.phase !== "none"); }

function button(label, onclick, props) {
  return el("button", Object.assign({ type: "button", text: label, onclick, data: { action: label.toLowerCase().replace(/…$/, "") } }, props || {}));
}

function idLine(c) {
  return el("span", { class: "id" }, "ID ", el("code", { title: c.id, text: short(c.id) }));
}

function newcomerCard(c) {
  const li = el("li", { class: "card newcomer", data: { client: c.id } });
  li.append(el("div", { class: "card-head" },
    el("span", { class: "warn-icon", "aria-hidden": "true", text: "?" }),
    el("h3", { class: "name", text: nameOf(c) }),
    badge("not paired", "untrusted")));
  const meta = el("p", { class: "meta" }, idLine(c), el("span", { text: c.connected ? "asking to connect" : "offline" }));
  if (c.roles && c.roles.length) meta.append(el("span", { text: "as " + c.roles.join(", ") }));
  li.append(meta);
  if (c.note) li.append(el("p", { class: "note", text: c.note }));
  const pl = pairingLine(c);
  if (pl) li.append(el("p", { class: "pairing", text: pl }));
  const acts = el("div", { class: "actions" });
  if (c.connected) {
    acts.append(button("Pair…", () => openPair(c.id), { class: "primary", "aria-label": "Pair " + nameOf(c) + " (" + short(c.id) + ")", data: { action: "pair", fk: "pair" } }));
    acts.append(button("Allow without pairing", () => act("POST", clientPath(c.id, "approve"), { source: false },
      () => "approved " + nameOf(c) + " (" + short(c.id) + ")"), { "aria-label": "Allow " + nameOf(c) + " without pairing", data: { action: "approve", fk: "approve" } }));
  }
  if (pairingRunning(c)) acts.append(button("Cancel pairing", () => cancelPairing(c.id), { data: { action: "cancel", fk: "cancel" } }));
  li.append(acts);
  return li;
}

function groupOf(id) { return state.groups.find((g) => g.id === id); }

// shownGroups leaves out the groups of newcomers alone: a device that is
// not paired or approved does not name a group the operator sees.
function shownGroups() {
  const strangers = new Set(state.clients.filter((c) => c.status === "unapproved" && !c.needs_repairing).map((c) => c.id));
  return state.groups.filter((g) => g.members.length === 0 || g.members.some((m) => !strangers.has(m.id)));
}

function groupMenu(c) {
  const sel = el("select", { id: "group-" + c.id, "aria-label": "Group of " + nameOf(c), data: { client: c.id, fk: "group" } });
  const mine = groupOf(c.group);
  for (const g of shownGroups()) {
    const o = el("option", { value: g.id, text: g.name + (g.playing ? " (playing)" : "") });
    o.selected = g.id === c.group;
    sel.append(o);
  }
  if (!mine || !mine.solo) sel.append(el("option", { value: LEAVE, text: "On its own" }));
  sel.addEventListener("change", () => {
    const who = nameOf(c);
    if (sel.value === LEAVE) {
      act("POST", clientPath(c.id, "leave"), undefined, (d) => who + " is on its own in " + (d.group_name || "its own group"));
    } else {
      act("POST", clientPath(c.id, "join"), { group: sel.value }, (d) => "moved " + who + " to " + (d.group_name || sel.value));
    }
  });
  return el("label", { class: "field inline", for: "group-" + c.id }, el("span", { text: "Group" }), sel);
}

function deviceCard(c) {
  const li = el("li", { class: "card device" + (c.connected ? " online" : " offline"), data: { client: c.id } });
  const head = el("div", { class: "card-head" },
    el("span", { class: "dot", "aria-hidden": "true" }),
    el("h3", { class: "name", text: nameOf(c) }));
  if (c.status !== "unapproved") head.append(badge(c.status, c.status === "paired" ? "trusted" : "approved"));
  if (c.needs_repairing) head.append(badge("needs re-pairing", "alert"));
  li.append(head);
  const meta = el("p", { class: "meta" },
    el("span", { class: "presence", text: c.connected ? "online" : "offline" + (c.last_seen ? ", last seen " + when(c.last_seen) : "") }),
    idLine(c));
  if (c.status === "approved") meta.append(el("span", { text: "allowed without pairing" }));
  li.append(meta);
  if (c.note) li.append(el("p", { class: "note", text: c.note }));
  if (c.needs_repairing) li.append(el("p", { class: "note alert-text", text: "It lost the pairing this server keeps for it, so it gets no role: pair it again." }));
  const g = groupOf(c.group);
  if (c.connected) {
    let plays = "Idle";
    if (g && g.playing) plays = "Playing " + (g.track || g.source || "") ;
    if (c.needs_repairing || (!(c.activities || []).length && !c.available)) plays = "No activity";
    li.append(el("p", { class: "plays", text: plays }));
  }
  const pl = pairingLine(c);
  if (pl && pairingRunning(c)) li.append(el("p", { class: "pairing", text: pl }));
  li.append(el("dl", { class: "stats", hidden: true }));
  const acts = el("div", { class: "actions" });
  if (c.connected && c.group && !c.needs_repairing) acts.append(groupMenu(c));
  else if (c.group_name) acts.append(el("span", { class: "meta", text: "Group " + c.group_name }));
  if (c.connected && (c.needs_repairing || c.status === "approved")) {
    acts.append(button(c.status === "approved" ? "Pair…" : "Re-pair…", () => openPair(c.id), { data: { action: "pair", fk: "pair" } }));
  }
  if (pairingRunning(c)) acts.append(button("Cancel pairing", () => cancelPairing(c.id), { data: { action: "cancel", fk: "cancel" } }));
  if (c.status === "approved") {
    acts.append(button("Revoke", () => act("POST", clientPath(c.id, "revoke"), undefined,
      () => "revoked " + nameOf(c) + " (" + short(c.id) + ")"), { class: "danger", data: { action: "revoke", fk: "revoke" } }));
  }
  if (c.status === "paired") {
    acts.append(button("Unpair", () => {
      if (confirm("Unpair " + nameOf(c) + " (" + short(c.id) + ")? Both sides forget the pairing.")) {
        act("POST", clientPath(c.id, "unpair"), undefined, () => "unpaired " + nameOf(c) + " (" + short(c.id) + ")");
      }
    }, { class: "danger", "aria-label": "Unpair " + nameOf(c), data: { action: "unpair", fk: "unpair" } }));
  }
  li.append(acts);
  return li;
}

function fmtUs(us) {
  const a = Math.abs(us);
  if (a >= 1000) return (us / 1000).toFixed(1) + " ms";
  return Math.round(us) + " µs";
}

function renderStats() {
  for (const li of $("devices").children) {
    const dl = li.querySelector("dl.stats");
    if (!dl) continue;
    const s = stats[li.dataset.client];
    if (!s) { dl.hidden = true; dl.textContent = ""; continue; }
    const rows = [
      ["Codec", (s.codec || "").toUpperCase()],
      ["Clock offset", fmtUs(s.offset_us || 0) + " ± " + fmtUs(s.offset_error_us || 0)],
      ["Round trip", fmtUs(s.rtt_us || 0)],
      ["Buffered", ((s.buffered_ms || 0) / 1000).toFixed(1) + " s"],
      ["Late / dropped", (s.late_chunks || 0) + " / " + (s.dropped_chunks || 0)],
    ];
    dl.textContent = "";
    for (const [k, v] of rows) dl.append(el("div", {}, el("dt", { text: k }), el("dd", { text: v })));
    dl.hidden = false;
  }
}

function groupCard(g) {
  const li = el("li", { class: "card group" + (g.playing ? " playing" : ""), data: { group: g.id } });
  li.append(el("div", { class: "card-head" },
    el("h3", { class: "name", text: g.name }),
    badge(g.playing ? "playing" : "stopped", g.playing ? "on" : "idle"),
    button("Rename", () => openRename(g), { class: "small", "aria-label": "Rename group " + g.name, data: { action: "rename", fk: "rename" } })));
  const np = el("div", { class: "now" });
  if (g.playing) {
    np.append(el("p", { class: "track", text: g.track || g.source || "(unknown)" }));
    if (g.track && g.source && g.source !== g.track) np.append(el("p", { class: "meta", text: "from " + g.source }));
    if (g.duration_ms > 0) {
      np.append(el("progress", { class: "pos-bar", max: String(g.duration_ms), value: String(g.position_ms || 0), "aria-label": "Position in " + (g.track || "the track") }));
    }
    np.append(el("p", { class: "meta position" }));
  } else {
    np.append(el("p", { class: "meta", text: "Nothing playing" }));
  }
  li.append(np);
  const names = g.members.map((m) => (m.name || short(m.id)) + (m.note ? " (" + m.note + ")" : m.connected ? "" : " (offline)"));
  li.append(el("p", { class: "members", text: names.length ? "Players: " + names.join(", ") : "No players" }));

  // Volume and mute.
  const vol = el("div", { class: "volume" });
  const vid = "vol-" + g.id;
  const out = el("output", { for: vid, text: String(g.volume) });
  const slider = el("input", { id: vid, type: "range", min: "0", max: "100", step: "1", value: String(g.volume),
    "aria-label": "Volume of " + g.name, data: { fk: "volume" } });
  slider.addEventListener("input", () => { out.textContent = slider.value; });
  slider.addEventListener("change", () => act("POST", "/api/volume", { group: g.id, volume: Number(slider.value) },
    (d) => g.name + " volume " + d.volume));
  vol.append(el("label", { for: vid, text: "Volume" }), slider, out,
    button(g.muted ? "Unmute" : "Mute", () => act("POST", "/api/volume", { group: g.id, muted: !g.muted },
      (d) => g.name + (d.muted ? " muted" : " unmuted")), { "aria-pressed": g.muted ? "true" : "false", "aria-label": (g.muted ? "Unmute " : "Mute ") + g.name, data: { action: g.muted ? "unmute" : "mute", fk: "mute" }, class: "small" }));
  li.append(vol);

  // Play and stop.
  const sid = "src-" + g.id;
  const src = el("input", { id: sid, autocomplete: "off", spellcheck: "false", placeholder: "tone, or a file or folder on the server", data: { fk: "source" } });
  src.value = drafts.get(g.id) || "";
  src.addEventListener("input", () => drafts.set(g.id, src.value));
  const form = el("form", { class: "play row" },
    el("label", { class: "field grow", for: sid }, el("span", { text: "Source for " + g.name }), src),
    el("button", { type: "submit", text: "Play", class: "primary", data: { action: "play", fk: "play" } }));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const source = src.value.trim();
    if (!source) { say("give a source to play: tone, or a file or folder on the server", false); src.focus(); return; }
    act("POST", "/api/play", { source, group: g.id }, (d) => "playing " + d.playing + " in " + g.name).then((d) => {
      if (d) drafts.delete(g.id);
    });
  });
  li.append(form);
  const acts = el("div", { class: "actions" });
  if (g.playing) {
    acts.append(button("Next track", () => act("POST", "/api/next", { group: g.id }, () => "skipped to the next track in " + g.name), { data: { action: "next", fk: "next" } }));
    acts.append(button("Stop", () => act("POST", "/api/stop", { group: g.id }, () => "stopped " + g.name), { data: { action: "stop", fk: "stop" } }));
  }
  if (acts.children.length) li.append(acts);
  return li;
}

function renderPositions() {
  for (const li of $("groups").children) {
    const g = groupOf(li.dataset.group);
    if (!g) continue;
    const p = li.querySelector(".position");
    if (p) p.textContent = g.position_ms !== undefined ? duration(g.position_ms) + (g.duration_ms ? " / " + duration(g.duration_ms) : "") : "";
    const bar = li.querySelector(".pos-bar");
    if (bar) bar.value = g.position_ms || 0;
  }
}

// --- refusals -------------------------------------------------------------------

async function loadRefusals() {
  if (refusalsGone) return;
  if (refusalsBusy) { refusalsAgain = true; return; }
  refusalsBusy = true;
  try {
    const data = await api("GET", "/api/refusals");
    renderRefusals(data.refusals || []);
  } catch (e) {
    // A server without the endpoint has no refusals to show: the section
    // stays hidden.
    if (e.status === 404) { refusalsGone = true; $("refusals-section").hidden = true; }
  } finally {
    refusalsBusy = false;
    if (refusalsAgain) { refusalsAgain = false; loadRefusals(); }
  }
}

function renderRefusals(list) {
  $("refusals-section").hidden = false;
  $("no-refusals").hidden = list.length > 0;
  const ul = $("refusals");
  ul.textContent = "";
  for (const r of list.slice(0, 20)) {
    const who = r.name || (r.client ? short(r.client) : "unknown client");
    ul.append(el("li", {},
      el("span", { class: "when", text: when(r.time) }),
      el("span", { class: "who" }, el("strong", { text: who }), r.client ? el("code", { title: r.client, text: " " + short(r.client) }) : null,
        el("span", { class: "meta", text: " " + (r.address || "") })),
      el("span", { class: "why", text: (r.reason || "") + (r.count > 1 ? " (" + r.count + " times)" : "") })));
  }
}

// --- pairing dialog -------------------------------------------------------------

// The pairing dialog's attempt. started: this dialog started an attempt
// (or opened on a running one); seen: the attempt was seen running;
// token: a token was given; before: how the previous attempt had ended,
// so a stale end is never shown as this attempt's result.
const dlg = { id: null, method: null, started: false, seen: false, token: false, before: "", wrong: 0, done: false };

function clientById(id) { return state.clients.find((c) => c.id === id); }

function openPair(id) {
  const c = clientById(id);
  if (!c) return;
  dlg.id = id;
  dlg.done = false;
  $("pair-form").classList.remove("finished");
  dlg.started = dlg.seen = pairingRunning(c);
  dlg.token = false;
  dlg.before = c.pairing ? c.pairing.last || "" : "";
  dlg.wrong = c.pairing ? c.pairing.wrong_codes || 0 : 0;
  dlg.name = nameOf(c);
  $("pair-name").textContent = nameOf(c);
  $("pair-id").textContent = short(c.id);
  $("pair-id").title = c.id;
  const offered = METHOD_ORDER.filter((m) => (c.pair_methods || []).includes(m));
  if (!offered.includes("pairing_psk")) offered.push("pairing_psk"); // every client has its token (pairing.md "Methods")
  const running = c.pairing && c.pairing.method && offered.includes(c.pairing.method) ? c.pairing.method : null;
  const set = $("pair-methods");
  set.querySelectorAll("label").forEach((l) => l.remove());
  for (const m of offered) {
    const r = el("input", { type: "radio", name: "pair-method", value: m, id: "pm-" + m });
    r.addEventListener("change", () => chooseMethod(m));
    set.append(el("label", { class: "choice", for: "pm-" + m }, r, el("span", { text: METHODS[m].label })));
  }
  const dlgEl = $("pair-dialog");
  dlgEl.querySelector(".dialog-status").hidden = true;
  if (!dlgEl.open) dlgEl.showModal();
  chooseMethod(running || offered[0]);
  $("pair-progress").textContent = "";
  updatePairDialog();
  const first = set.querySelector("input:checked");
  if (first) first.focus();
}

function chooseMethod(m) {
  dlg.method = m;
  const r = $("pm-" + m);
  if (r) r.checked = true;
  const digits = METHODS[m].digits;
  $("pair-code-panel").hidden = digits === 0;
  $("pair-token-panel").hidden = digits !== 0;
  if (digits) {
    $("code-legend").textContent = digits + "-digit code";
    $("pair-code-help").textContent = m === "dynamic_pairing_code"
      ? "Start pairing: " + dlg.name + " then shows a 6-digit code. Type it here."
      : "Type the 8-digit code that belongs to " + dlg.name + " (on its label or its status).";
    makeSlots(digits);
  }
  updatePairDialog();
}

function slots() { return Array.from($("code-slots").querySelectorAll("input")); }

function makeSlots(n) {
  const box = $("code-slots");
  if (slots().length === n) return;
  box.textContent = "";
  for (let i = 0; i < n; i++) {
    const s = el("input", { type: "text", inputmode: "numeric", autocomplete: i === 0 ? "one-time-code" : "off",
      maxlength: String(n), class: "slot", "aria-label": "Digit " + (i + 1) + " of " + n, data: { i: String(i) } });
    s.addEventListener("input", () => fillFrom(i, s.value));
    s.addEventListener("paste", (ev) => {
      ev.preventDefault();
      fillFrom(i, (ev.clipboardData || window.clipboardData).getData("text"));
    });
    s.addEventListener("keydown", (ev) => slotKey(ev, i));
    s.addEventListener("focus", () => s.select());
    box.append(s);
    if (i === n / 2 - 1) box.append(el("span", { class: "sep", "aria-hidden": "true", text: "–" }));
  }
}

// fillFrom puts the digits of text into the slots from slot i on (typing
// one digit, or pasting a whole code with its hyphen), then moves on.
function fillFrom(i, text) {
  const ss = slots();
  const digits = (text || "").replace(/\D/g, "");
  if (!digits) { ss[i].value = ""; return; }
  let j = i;
  for (const d of digits) {
    if (j >= ss.length) break;
    ss[j].value = d;
    j++;
  }
  ss[Math.min(j, ss.length - 1)].focus();
  updateGo();
}

function slotKey(ev, i) {
  const ss = slots();
  if (ev.key === "Backspace" && !ss[i].value && i > 0) {
    ev.preventDefault();
    ss[i - 1].value = "";
    ss[i - 1].focus();
  } else if (ev.key === "ArrowLeft" && i > 0) {
    ev.preventDefault();
    ss[i - 1].focus();
  } else if (ev.key === "ArrowRight" && i < ss.length - 1) {
    ev.preventDefault();
    ss[i + 1].focus();
  } else if (ev.key === "Enter") {
    ev.preventDefault();
    pairGo();
  }
}

function codeValue() { return slots().map((s) => s.value).join(""); }

function clearSlots() {
  const ss = slots();
  ss.forEach((s) => { s.value = ""; });
  if (ss.length) ss[0].focus();
}

function dialogClient() {
  return clientById(dlg.id) || dlg.last || null;
}

function updateGo() {
  const c = dialogClient();
  const go = $("pair-go");
  const p = c && c.pairing;
  const waiting = p && p.phase === "waiting for code";
  const running = c && pairingRunning(c);
  go.hidden = dlg.done && c && c.status === "paired";
  let label = "Start pairing";
  if (dlg.method === "dynamic_pairing_code") label = waiting ? "Enter code" : "Start pairing";
  else if (dlg.method === "static_pairing_code") label = waiting ? "Enter code" : "Pair";
  else label = "Pair";
  go.textContent = label;
  go.disabled = !!(running && !waiting) || (dlg.method === "pairing_psk" && running);
  const needCode = dlg.method === "static_pairing_code" || (dlg.method === "dynamic_pairing_code" && waiting);
  if (dlg.method === "dynamic_pairing_code") {
    $("pair-code-help").textContent = waiting ? "Type the 6-digit code " + dlg.name + " shows now."
      : "Start pairing: " + dlg.name + " then shows a 6-digit code. Type it here.";
  }
  slots().forEach((s) => { s.disabled = !needCode; });
  $("pair-cancel").textContent = running ? "Cancel pairing" : "Close";
  // Paired: what is left is the result and Close.
  const finished = !!(dlg.done && c && c.status === "paired");
  const form = $("pair-form");
  if (finished !== form.classList.contains("finished")) {
    form.classList.toggle("finished", finished);
    if (finished) $("pair-cancel").focus();
  }
}

function updatePairDialog() {
  if (!$("pair-dialog").open || !dlg.id) return;
  const live = clientById(dlg.id);
  if (live) dlg.last = live;
  const c = dialogClient();
  if (!c) return;
  const p = c.pairing || {};
  if (pairingRunning(c) && (dlg.started || dlg.token)) { dlg.seen = true; dlg.done = false; }
  $("pair-badge").textContent = c.status === "paired" ? "paired" : "not paired";
  $("pair-badge").className = "badge " + (c.status === "paired" ? "trusted" : "untrusted");
  // The device's own words, plain text, at most 200 characters.
  const msg = (p.message || "").slice(0, MESSAGE_MAX);
  $("pair-says").hidden = !msg;
  $("pair-says-who").textContent = nameOf(c) + " says:";
  $("pair-says-text").textContent = msg;
  let line = "";
  let cls = "progress";
  if (pairingRunning(c)) {
    line = pairingLine(c);
    // The device's own words stand in their box above, attributed to it:
    // the progress line does not repeat them.
    if (p.phase === "held back" && msg) line = nameOf(c) + " holds the attempt back";
    if ((p.wrong_codes || 0) > dlg.wrong) {
      dlg.wrong = p.wrong_codes;
      cls += " bad";
      $("pair-dialog").querySelector(".dialog-status").hidden = true; // the code's answer is this line now
      clearSlots();
    } else if (p.wrong_codes) cls += " bad";
  } else if ((dlg.started || dlg.token) && !live && !dlg.done && !dlg.asking) {
    // The connection ended: ask the server how the attempt ended.
    dlg.asking = true;
    api("GET", "/api/clients/" + encodeURIComponent(dlg.id)).then((x) => {
      dlg.asking = false;
      dlg.last = x;
      updatePairDialog();
    }, () => {
      dlg.asking = false;
      $("pair-progress").textContent = nameOf(c) + " disconnected";
    });
    return;
  } else if (dlg.started || dlg.token) {
    const ended = c.status === "paired" || dlg.seen || (p.last || "") !== dlg.before || (p.done && p.ok === false);
    if (ended) {
      if (!dlg.done) $("pair-dialog").querySelector(".dialog-status").hidden = true;
      dlg.done = true;
      if (c.status === "paired" || (p.last === "paired" && p.last !== dlg.before)) {
        line = p.text || "Paired with " + nameOf(c) + ". It is listed under Your devices.";
        cls += " good";
      } else {
        line = p.text || "Pairing ended: " + (p.last || "no result") + ".";
        cls += " bad";
      }
    } else if (dlg.token) {
      line = "waiting for " + nameOf(c) + " to take the token";
    }
  }
  if (line) {
    $("pair-progress").className = cls;
    $("pair-progress").textContent = line;
  }
  updateGo();
}

async function pairGo() {
  const c = dialogClient();
  if (!c) return;
  const p = c.pairing || {};
  const id = c.id;
  if (dlg.method === "pairing_psk") {
    const tok = $("pair-token").value.trim();
    if (!tok) { say("paste the device's pairing token (tonearm player token on the device)", false); $("pair-token").focus(); return; }
    dlg.before = p.last || "";
    const d = await act("POST", clientPath(id, "pair"), { token: tok }, () => "pairing with " + nameOf(c) + " by its token");
    if (d) { dlg.token = true; dlg.started = false; dlg.seen = false; dlg.done = false; }
    updatePairDialog();
    return;
  }
  const waiting = p.phase === "waiting for code";
  const digits = METHODS[dlg.method].digits;
  const code = codeValue();
  if (waiting || dlg.method === "static_pairing_code") {
    if (code.length !== digits) {
      say("type all " + digits + " digits of the code", false);
      const empty = slots().find((s) => !s.value);
      if (empty) empty.focus();
      return;
    }
  }
  if (waiting) {
    await act("POST", clientPath(id, "code"), { code }, () => "code entered; checking it");
    return;
  }
  const body = { method: dlg.method };
  if (dlg.method === "dynamic_pairing_code") body.format = "digits";
  else body.code = code;
  dlg.before = p.last || "";
  const d = await act("POST", clientPath(id, "pair"), body, () => "pairing with " + nameOf(c) + " started");
  if (d) {
    dlg.started = true;
    dlg.seen = false;
    dlg.token = false;
    dlg.done = false;
    // An attempt that ended at once has its outcome in the answer's
    // state. The page's state comes only from the events: the answer may
    // be older than the last state event, so it never overwrites it.
    if (d.state && d.state.phase === "none") dlg.seen = true;
  }
  updatePairDialog();
  if (dlg.method === "dynamic_pairing_code") {
    const s = slots()[0];
    if (s && !s.disabled) s.focus();
  }
}

async function cancelPairing(id) {
  const c = clientById(id) || (dlg.id === id ? dialogClient() : null);
  await act("POST", clientPath(id, "cancel"), undefined, () => "cancelled pairing with " + (c ? nameOf(c) : short(id)));
}

async function closePair() {
  const c = dialogClient();
  dlg.id = null;
  dlg.last = null;
  $("pair-token").value = "";
  $("pair-dialog").close();
  if (c && pairingRunning(c)) await cancelPairing(c.id);
}

// --- groups -----------------------------------------------------------------------

let renaming = null;

function openRename(g) {
  renaming = g.id;
  $("rename-title").textContent = "Rename " + g.name;
  $("rename-input").value = g.name;
  $("rename-dialog").querySelector(".dialog-status").hidden = true;
  $("rename-dialog").showModal();
  $("rename-input").select();
}

// --- wiring -----------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  document.addEventListener("pointerdown", (ev) => { pointerTarget = ev.target; }, true);
  document.addEventListener("pointerup", () => { setTimeout(() => { pointerTarget = null; flush(); }, 0); }, true);
  document.addEventListener("focusout", () => { setTimeout(flush, 0); });

  $("token-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const t = $("token-input").value.trim();
    if (!t) { say("paste the device's pairing token (tonearm player token on the device)", false); return; }
    const d = await act("POST", "/api/pair", { token: t }, (x) => "pairing with " + short(x.pairing) + " by its token");
    if (d) {
      $("token-input").value = ""; // kept when refused, so it can be fixed
      // The answer says the attempt started; its outcome comes with the
      // state events, in the server's words (the same ctl prints).
      followed = { id: d.pairing, attempt: d.attempt };
      followUp();
    }
  });
  $("group-create").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = $("group-create-name").value.trim();
    if (!name) { say("give the new group a name", false); $("group-create-name").focus(); return; }
    const d = await act("POST", "/api/groups", { name }, (g) => "created group " + (g.name || name));
    if (d) $("group-create-name").value = "";
  });
  $("rename-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = $("rename-input").value.trim();
    if (!name) { say("give the group a name", false); return; }
    const d = await act("POST", "/api/groups/" + encodeURIComponent(renaming) + "/rename", { name }, (g) => "renamed the group to " + (g.name || name));
    if (d) $("rename-dialog").close();
  });
  $("rename-cancel").addEventListener("click", () => $("rename-dialog").close());

  // The dialog's form is never submitted: Enter on a method would close
  // it without cancelling the attempt.
  $("pair-form").addEventListener("submit", (ev) => ev.preventDefault());
  $("pair-go").addEventListener("click", pairGo);
  $("refusals-refresh").addEventListener("click", async () => {
    try {
      const data = await api("GET", "/api/refusals");
      const list = data.refusals || [];
      renderRefusals(list);
      say(list.length === 1 ? "1 refused connection" : list.length + " refused connections", true);
    } catch (e) {
      say(e.message, false);
    }
  });
  $("pair-cancel").addEventListener("click", closePair);
  $("pair-dialog").addEventListener("cancel", (ev) => { ev.preventDefault(); closePair(); }); // Esc
  $("pair-token").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") { ev.preventDefault(); pairGo(); }
  });

  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    token = $("login-token").value.trim();
    sessionStorage.setItem("tonearm-console-token", token);
    say("", true);
    boot();
  });
  boot();
});
