// Dashboard for the mqtt-kafka-bridge admin API. Plain JS, no build step:
// hash routing between pages, polling of /api/v1, charts drawn on <canvas>.
"use strict";

const API = "api/v1/";
const pages = ["overview", "clients", "subscriptions", "retained", "routes", "explain", "cluster"];
const state = { page: "overview", clientsPage: 1, subsPage: 1, retainedPage: 1, prevRoutes: null, timer: null };

function $(id) { return document.getElementById(id); }

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return e;
}

function setStatus(msg, bad) {
  const s = $("status");
  s.textContent = msg;
  s.className = bad ? "status error" : "status";
}

async function api(path, opts) {
  const resp = await fetch(API + path, Object.assign({ headers: { "Content-Type": "application/json" } }, opts || {}));
  let body = null;
  try { body = await resp.json(); } catch (e) { body = null; }
  if (!resp.ok) throw new Error((body && body.error) || (resp.status + " " + resp.statusText));
  setStatus("updated " + new Date().toLocaleTimeString(), false);
  return body;
}

function fmtNum(n, digits) {
  if (n == null) return "-";
  if (digits != null) return Number(n).toFixed(digits);
  return Number(n).toLocaleString();
}

function fmtTime(t) {
  if (!t || t.startsWith("0001-")) return "-";
  return new Date(t).toLocaleString();
}

function fmtDuration(s) {
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return (d ? d + "d " : "") + (h ? h + "h " : "") + m + "m " + Math.floor(s % 60) + "s";
}

// ------------------------------------------------------------ overview

function card(label, value, cls) {
  return el("div", { class: "card" }, el("div", { class: "label" }, label), el("div", { class: "value " + (cls || "") }, value));
}

async function loadOverview() {
  const o = await api("overview");
  const cards = $("cards");
  cards.replaceChildren(
    card("Version / uptime", (o.version || "dev") + " · " + fmtDuration(o.uptime_seconds)),
    card("Connections", fmtNum(o.connections.current)),
    card("Sessions / subscriptions", fmtNum(o.connections.sessions) + " / " + fmtNum(o.connections.subscriptions)),
    card("Messages in/s", fmtNum(o.rates.messages_in_per_s, 1)),
    card("Messages out/s", fmtNum(o.rates.messages_out_per_s, 1)),
    card("To Kafka/s", fmtNum(o.rates.produced_per_s, 1)),
    // Kafka's liveness (the probe, every second); the spool card is the
    // uplink's route, which with the spool on still accepts while Kafka is away.
    // Backpressure: the window is full while Kafka answers (overload, no spill).
    card("Kafka", (o.kafka.reachable ? "reachable" : o.kafka.state + " · " + o.kafka.reason) + (o.kafka.backpressure ? " · backpressure" : ""),
      !o.kafka.reachable ? "bad" : o.kafka.backpressure ? "" : "good"),
    card("Spool", o.spool.state + (o.spool.state !== "direct" && o.spool.spill_reason ? " (" + o.spool.spill_reason + ")" : "") +
      (o.spool.enabled ? " · " + fmtNum(o.spool.records) + " rec" : ""),
      o.spool.state === "spilling" || o.spool.state === "blocked" ? "bad" : ""),
    card("Downlink lag", o.downlink.enabled ? fmtNum(o.downlink.lag) : "no downlink"),
    card("Unmatched publishes", fmtNum(o.messages.unmatched)),
  );
  $("parts-table").tBodies[0].replaceChildren(...(o.parts || []).map(p => el("tr", {},
    el("td", {}, p.part),
    el("td", { class: p.up ? "good" : "bad" }, p.up ? "up" : "down"),
    el("td", {}, p.state), el("td", {}, p.reason), el("td", {}, p.detail || ""))));
  const h = await api("history");
  const s = h.samples || [];
  drawChart($("chart-conns"), s, [{ key: "connections", color: "#2563eb" }], 0);
  drawChart($("chart-msgs"), s, [
    { key: "messages_in_per_s", color: "#2563eb" },
    { key: "messages_out_per_s", color: "#16a34a" },
    { key: "produced_per_s", color: "#d97706" },
  ], 1);
  drawChart($("chart-lat"), s, [{ key: "produce_latency_ms", color: "#9333ea" }], 1);
}

// drawChart draws one line per series over the last 15 minutes.
function drawChart(canvas, samples, series, digits) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 600, h = canvas.clientHeight || 180;
  canvas.width = w * dpr;
  canvas.height = h * dpr;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const left = 48, right = 8, top = 8, bottom = 20;
  const now = samples.length ? new Date(samples[samples.length - 1].t).getTime() : Date.now();
  const span = 15 * 60 * 1000, t0 = now - span;
  let max = 0;
  for (const p of samples) for (const s of series) max = Math.max(max, p[s.key] || 0);
  max = niceMax(max);
  if (digits === 0) max = Math.max(max, 4); // integer series: whole-number ticks
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#667085";
  ctx.strokeStyle = "#e5e7eb";
  ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = top + (h - top - bottom) * i / 4;
    ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(w - right, y); ctx.stroke();
    ctx.fillText(fmtNum(max * (4 - i) / 4, digits), 4, y + 4);
  }
  for (let m = 15; m >= 0; m -= 5) {
    const x = left + (w - left - right) * (span - m * 60000) / span;
    ctx.fillText(m ? "-" + m + "m" : "now", x - 12, h - 5);
  }
  if (!samples.length) {
    ctx.fillText("collecting samples…", left + 10, top + 20);
    return;
  }
  const x = t => left + (w - left - right) * (t - t0) / span;
  const y = v => top + (h - top - bottom) * (1 - (v || 0) / max);
  ctx.lineWidth = 1.5;
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.beginPath();
    let first = true;
    for (const p of samples) {
      const t = new Date(p.t).getTime();
      if (t < t0) continue;
      if (first) { ctx.moveTo(x(t), y(p[s.key])); first = false; } else ctx.lineTo(x(t), y(p[s.key]));
    }
    ctx.stroke();
    const last = samples[samples.length - 1];
    ctx.fillStyle = s.color;
    ctx.fillRect(x(new Date(last.t).getTime()) - 2, y(last[s.key]) - 2, 4, 4);
  }
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

// ------------------------------------------------------------ lists

function pager(id, page, total, size, go) {
  const pages = Math.max(1, Math.ceil(total / size));
  $(id).replaceChildren(
    el("button", { class: "link", onclick: () => page > 1 && go(page - 1) }, "‹ prev"),
    el("span", {}, "page " + page + " of " + pages + " · " + total + " total"),
    el("button", { class: "link", onclick: () => page < pages && go(page + 1) }, "next ›"),
  );
}

async function loadClients() {
  const match = encodeURIComponent($("clients-match").value);
  const r = await api("clients?match=" + match + "&page=" + state.clientsPage);
  const rows = r.items.map(c => el("tr", { class: c.online ? "" : "offline", "data-client": c.client_id },
    el("td", { class: "mono client-id" }, el("button", { class: "link", onclick: () => showClient(c.client_id) }, c.client_id)),
    el("td", {}, c.username),
    el("td", {}, c.protocol_version === 5 ? "5.0" : c.protocol_version === 4 ? "3.1.1" : "3.1"),
    el("td", { class: "mono" }, c.online ? c.remote_addr : "offline"),
    el("td", {}, c.online ? fmtTime(c.connected_since) : "left " + fmtTime(c.disconnected_at)),
    el("td", { class: "num" }, c.subscriptions),
    el("td", { class: "num" }, c.inflight),
    el("td", { class: "num" }, c.queued),
    el("td", {}, c.online ? el("button", { class: "kick", onclick: () => kick(c.client_id) }, "Disconnect") : ""),
  ));
  $("clients-table").tBodies[0].replaceChildren(...rows);
  pager("clients-pager", r.page, r.total, r.page_size, p => { state.clientsPage = p; loadClients(); });
}

async function showClient(id) {
  const c = await api("clients/" + encodeURIComponent(id));
  const d = $("client-detail");
  d.hidden = false;
  d.replaceChildren(el("h3", {}, c.client_id),
    el("pre", {}, JSON.stringify(c, null, 2)));
}

async function kick(id) {
  if (!confirm("Disconnect client " + id + "? (MQTT 5 clients get reason 0x98, administrative action)")) return;
  try {
    await api("clients/" + encodeURIComponent(id), { method: "DELETE" });
  } catch (e) {
    setStatus("disconnect failed: " + e.message, true);
  }
  loadClients();
}

async function loadSubs() {
  const match = encodeURIComponent($("subs-match").value);
  const r = await api("subscriptions?match=" + match + "&page=" + state.subsPage);
  $("subs-table").tBodies[0].replaceChildren(...r.items.map(s => el("tr", {},
    el("td", { class: "mono" }, s.client_id), el("td", { class: "mono" }, s.filter), el("td", {}, s.qos),
    el("td", {}, s.share_group || ""), el("td", {}, s.no_local ? "yes" : ""), el("td", {}, s.retain_as_published ? "yes" : ""))));
  pager("subs-pager", r.page, r.total, r.page_size, p => { state.subsPage = p; loadSubs(); });
}

async function loadRetained() {
  const match = encodeURIComponent($("retained-match").value);
  const r = await api("retained?match=" + match + "&page=" + state.retainedPage);
  $("retained-table").tBodies[0].replaceChildren(...r.items.map(m => el("tr", {},
    el("td", { class: "mono" }, m.topic), el("td", {}, m.qos), el("td", { class: "num" }, fmtNum(m.payload_size)),
    el("td", { class: "mono" }, (m.binary ? "base64: " : "") + m.preview), el("td", {}, fmtTime(m.stored_at)))));
  pager("retained-pager", r.page, r.total, r.page_size, p => { state.retainedPage = p; loadRetained(); });
}

async function loadRoutes() {
  const r = await api("routes");
  const now = Date.now();
  const prev = state.prevRoutes;
  const rows = r.routes.map(x => {
    let rate = "-";
    const key = x.direction + "/" + x.name;
    if (prev && prev.counts[key] != null) {
      rate = fmtNum((x.produced - prev.counts[key]) / ((now - prev.t) / 1000), 1);
    }
    return el("tr", {},
      el("td", { class: "mono" }, x.name), el("td", {}, x.direction), el("td", { class: "mono" }, x.mqtt_topic),
      el("td", { class: "mono" }, (x.kafka_topics || []).join(", ")),
      el("td", { class: "num" }, fmtNum(x.matched)), el("td", { class: "num" }, fmtNum(x.produced)),
      el("td", { class: "num" }, fmtNum(x.failed)), el("td", { class: "num" }, fmtNum(x.dead_lettered)),
      el("td", { class: "num" }, rate));
  });
  const counts = {};
  for (const x of r.routes) counts[x.direction + "/" + x.name] = x.produced;
  state.prevRoutes = { t: now, counts };
  $("routes-table").tBodies[0].replaceChildren(...rows);
  $("routes-summary").textContent = "Unmatched uplink publishes: " + fmtNum(r.uplink_unmatched) +
    " · dead-letter topic: " + (r.dead_letter_topic || "(none)");
}

async function runExplain(ev) {
  ev.preventDefault();
  const body = {};
  if ($("ex-downlink").value) {
    body.downlink = $("ex-downlink").value;
    body.key = $("ex-key").value;
    body.headers = {};
    for (const kv of $("ex-headers").value.split(",")) {
      const i = kv.indexOf("=");
      if (i > 0) body.headers[kv.slice(0, i).trim()] = kv.slice(i + 1).trim();
    }
  } else {
    body.topic = $("ex-topic").value;
    body.client_id = $("ex-client").value;
    body.username = $("ex-user").value;
    body.qos = Number($("ex-qos").value);
    body.payload = $("ex-payload").value;
    body.partitions = Number($("ex-parts").value) || 3;
  }
  try {
    const r = await api("explain", { method: "POST", body: JSON.stringify(body) });
    $("explain-out").textContent = JSON.stringify(r, null, 2);
  } catch (e) {
    $("explain-out").textContent = "error: " + e.message;
  }
}

// ------------------------------------------------------------ cluster

// loadCluster lists the replicas as this replica sees them (GET cluster);
// with cluster mode off the endpoint answers 404 and the page says so.
async function loadCluster() {
  const resp = await fetch(API + "cluster", { headers: { "Content-Type": "application/json" } });
  let c = null;
  try { c = await resp.json(); } catch (e) { c = null; }
  if (resp.status === 404) {
    $("cluster-summary").textContent = (c && c.error) || "cluster mode is off";
    $("cluster-table").tBodies[0].replaceChildren();
    $("cluster-tables").tBodies[0].replaceChildren();
    $("cluster-claims").textContent = "";
    setStatus("updated " + new Date().toLocaleTimeString(), false);
    return;
  }
  if (!resp.ok) throw new Error((c && c.error) || (resp.status + " " + resp.statusText));
  setStatus("updated " + new Date().toLocaleTimeString(), false);
  $("cluster-summary").textContent = "This replica: " + c.replica + " (" + c.state + (c.ready ? "" : ": " + (c.not_ready_reason || "not ready")) +
    ") · live replicas: " + c.live_replicas + " of " + c.replicas.length + " · stale after " + fmtNum(c.replica_timeout_seconds) + " s without a heartbeat";
  const stateClass = r => r.state === "alive" ? "good" : r.state === "stale" || r.state === "unknown" ? "bad" : "";
  $("cluster-table").tBodies[0].replaceChildren(...c.replicas.map(r => el("tr", { class: r.live ? "" : "offline", "data-replica": r.id },
    el("td", { class: "mono" }, r.id + (r.self ? " (this one)" : "")),
    el("td", { class: stateClass(r) }, r.state),
    el("td", { class: "num" }, r.heartbeat_age_seconds == null ? "-" : fmtNum(r.heartbeat_age_seconds, 1) + " s"),
    el("td", { class: "num" }, fmtNum(r.sessions.online)),
    el("td", { class: "num" }, fmtNum(r.sessions.offline)),
    el("td", { class: "num" }, r.inbox_lag == null ? "-" : fmtNum(r.inbox_lag)),
    el("td", { class: "mono" }, r.admin_address || "-"),
    el("td", { class: "mono" }, (r.mqtt_addresses || []).join(" ") || "-"),
    el("td", {}, fmtTime(r.started_at)))));
  $("cluster-tables").tBodies[0].replaceChildren(...c.tables.map(t => el("tr", {},
    el("td", {}, t.name), el("td", { class: "num" }, fmtNum(t.lag)), el("td", { class: "num" }, fmtNum(t.records_applied)),
    el("td", { class: t.caught_up ? "good" : "bad" }, t.caught_up ? "yes" : "no"))));
  const k = c.claims;
  $("cluster-claims").textContent = "Session claims here: " + fmtNum(k.won) + " won, " + fmtNum(k.lost) + " lost, " + fmtNum(k.refused) +
    " refused, " + fmtNum(k.failed) + " failed; " + fmtNum(k.superseded) + " sessions taken over elsewhere; " + fmtNum(c.repairs) + " repairs.";
}

// ------------------------------------------------------------ routing

const loaders = { overview: loadOverview, clients: loadClients, subscriptions: loadSubs, retained: loadRetained, routes: loadRoutes, cluster: loadCluster };
const every = { overview: 5000, clients: 5000, subscriptions: 10000, retained: 10000, routes: 2000, cluster: 2000 };

async function refresh() {
  const f = loaders[state.page];
  if (!f) return;
  try { await f(); } catch (e) { setStatus(e.message, true); }
}

function show() {
  const name = location.hash.slice(1);
  state.page = pages.includes(name) ? name : "overview";
  for (const p of pages) {
    $("page-" + p).hidden = p !== state.page;
    $("nav-" + p).className = p === state.page ? "active" : "";
  }
  clearInterval(state.timer);
  refresh();
  if (every[state.page]) state.timer = setInterval(refresh, every[state.page]);
}

function onSearch(form, pageKey, f) {
  $(form).addEventListener("submit", ev => { ev.preventDefault(); state[pageKey] = 1; f().catch(e => setStatus(e.message, true)); });
}

window.addEventListener("hashchange", show);
window.addEventListener("DOMContentLoaded", () => {
  onSearch("clients-search", "clientsPage", loadClients);
  onSearch("subs-search", "subsPage", loadSubs);
  onSearch("retained-search", "retainedPage", loadRetained);
  $("explain-form").addEventListener("submit", runExplain);
  show();
});
