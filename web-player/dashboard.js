// The operator dashboard: one live stream of one-second frames (/v1/dashboard/live) and one of
// events (/v1/events), both read with fetch so the admin key (kept in sessionStorage) stays in
// a header. Frames update a series store; at most one render per second touches only the
// visible section: uPlot setData for its charts, changed cells for its tables.
import { openEventStream } from "/dashboard/sse.js";
import { SeriesStore } from "/dashboard/series.js";
import { TimeChart, drawSparkline, fmt } from "/dashboard/charts.js";
import { KeyedTable, esc } from "/dashboard/tables.js";

const KEY_STORAGE = "wharf.adminKey";
const EVENT_TYPES = [
  "stream.started", "stream.idle", "stream.deleted", "stream.orchestrator_swap", "stream.error", "stream.refused",
  "orchestrator.suspended", "orchestrator.recovered", "key.revoked", "key.spend_cap_reached",
];
const MAX_EVENTS = 1000;
const MAX_FEED_ROWS = 500;
const SPARK_POINTS = 300;

const $ = (id) => document.getElementById(id);
const store = new SeriesStore(3600);
const state = {
  key: sessionStorage.getItem(KEY_STORAGE) || "",
  currency: "USD",
  tab: "overview",
  streams: new Map(),
  orchs: new Map(),
  selected: null,
  detail: null,
  events: [],
  filter: new Set(EVENT_TYPES),
  stops: [],
  live: "not connected",
  eventsStatus: "not connected",
  lastFrameAt: 0,
  money: null,
  moneyFetchedAt: 0,
};
const charts = {};
// For tests and the curious: the store and the charts (uPlot instances are chart.plot).
window.wharfDashboard = { store, charts, state };

// ------------------------------------------------------------------ formats

const money = (v) => fmt.money(state.currency)(v);
const since = (ms) => {
  if (!ms) return "";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s >= 3600 ? Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min" : s >= 60 ? Math.floor(s / 60) + " min " + (s % 60) + " s" : s + " s";
};
const shortAddr = (a) => String(a || "").replace(/^https?:\/\//, "");
const time = (iso) => new Date(iso).toLocaleTimeString();

// ------------------------------------------------------------------ auth and connections

$("key").value = state.key;
$("auth").addEventListener("submit", (e) => {
  e.preventDefault();
  state.key = $("key").value.trim();
  sessionStorage.setItem(KEY_STORAGE, state.key);
  connect();
});

async function api(path) {
  const res = await fetch(path, { headers: { authorization: "Bearer " + state.key }, cache: "no-store" });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(path + ": " + res.status + " " + (body.message || ""));
  return body;
}

function showStatus() {
  const age = state.lastFrameAt ? " · updated " + new Date(state.lastFrameAt).toLocaleTimeString() : "";
  $("status").textContent = "data: " + state.live + " · events: " + state.eventsStatus + age;
}

function connect() {
  for (const stop of state.stops.splice(0)) stop();
  if (!state.key) return;
  state.stops.push(
    openEventStream("/v1/dashboard/live?window=3600", state.key, {
      resumable: false,
      onStatus: (text, ok, code) => {
        state.live = code ? "admin key refused (" + text + ")" : text;
        if (code) for (const stop of state.stops.splice(0)) stop();
        showStatus();
      },
      onEvent: (e) => onFrame(JSON.parse(e.data)),
    }),
    openEventStream("/v1/events", state.key, {
      onStatus: (text) => {
        state.eventsStatus = text;
        showStatus();
      },
      onEvent: (e) => onEvent(JSON.parse(e.data)),
    }),
  );
}

// ------------------------------------------------------------------ data in

function onFrame(f) {
  if (f.hello) {
    state.currency = f.currency;
    store.load(f.window);
    store.keys = f.k;
    state.streams.clear();
    state.orchs.clear();
    streamTable.remove(streamTable.all().map((r) => r.id));
    orchTable.remove(orchTable.all().map((r) => r.address));
    applyRows(f.streams, [], f.orchestrators, []);
  } else {
    store.push(f.t, f.k, f.v);
    applyRows(f.streams?.upsert, f.streams?.remove, f.orchestrators?.upsert, f.orchestrators?.remove);
  }
  state.lastFrameAt = Date.now();
  scheduleRender();
}

function applyRows(streamsUp = [], streamsGone = [], orchsUp = [], orchsGone = []) {
  for (const r of streamsUp) state.streams.set(r.id, r);
  for (const id of streamsGone) state.streams.delete(id);
  for (const r of orchsUp) state.orchs.set(r.address, r);
  for (const a of orchsGone) state.orchs.delete(a);
  streamTable.upsert(streamsUp);
  streamTable.remove(streamsGone);
  orchTable.upsert(orchsUp);
  orchTable.remove(orchsGone);
}

const pendingEvents = [];
function onEvent(ev) {
  state.events.push(ev);
  if (state.events.length > MAX_EVENTS) state.events.splice(0, state.events.length - MAX_EVENTS);
  pendingEvents.push(ev);
  scheduleRender();
}

// ------------------------------------------------------------------ rendering

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

function render() {
  showStatus();
  renderFeed();
  if (document.hidden) return;
  if (state.tab === "overview") renderOverview();
  else if (state.tab === "streams") renderStreams();
  else if (state.tab === "orchestrators") renderOrchestrators();
  else if (state.tab === "money") renderMoney();
}

function chart(id, opts) {
  return (charts[id] ??= new TimeChart($(id), store, opts));
}

// --- tiles with sparklines
function sumOf(prefix) {
  const keys = store.keysWith(prefix);
  return (n) => {
    const out = new Array(Math.min(n, store.times.length)).fill(null);
    for (const k of keys) {
      const t = store.tail(k, out.length);
      for (let i = 0; i < t.length; i++) if (t[i] != null) out[i] = (out[i] ?? 0) + t[i];
    }
    return out;
  };
}
function maxOf(prefix) {
  const keys = store.keysWith(prefix);
  return (n) => {
    const out = new Array(Math.min(n, store.times.length)).fill(null);
    for (const k of keys) {
      const t = store.tail(k, out.length);
      for (let i = 0; i < t.length; i++) if (t[i] != null && (out[i] == null || t[i] > out[i])) out[i] = t[i];
    }
    return out;
  };
}
const one = (key) => (n) => store.tail(key, n);

const TILES = {
  tiles: [
    { id: "live", label: "Live streams", values: () => one("streams.live"), f: fmt.count },
    { id: "viewers", label: "Viewers", values: () => sumOf("viewers."), f: fmt.count },
    { id: "ingest", label: "Ingest", values: () => one("ingest.bps"), f: fmt.bits },
    { id: "ai", label: "Batch AI requests", values: () => sumOf("ai.rps."), f: fmt.rate },
    { id: "p95", label: "AI p95 (slowest pipeline)", values: () => maxOf("ai.p95."), f: fmt.ms },
    { id: "errors", label: "AI error rate", values: () => one("ai.error_ratio"), f: fmt.ratio, color: "#f85149" },
    { id: "charge", label: "Charged today", values: () => one("money.charge"), f: money, color: "#3fb950" },
    { id: "margin", label: "Margin today", values: () => one("money.margin"), f: money, color: "#3fb950" },
  ],
  "money-tiles": [
    { id: "m-charge", label: "Charged today", values: () => one("money.charge"), f: money, color: "#3fb950" },
    { id: "m-cost", label: "Orchestrator cost today", values: () => one("money.cost"), f: money, color: "#f0883e" },
    { id: "m-margin", label: "Margin today", values: () => one("money.margin"), f: money, color: "#3fb950" },
  ],
};
const tileEls = {};
function renderTiles(containerId) {
  const container = $(containerId);
  for (const t of TILES[containerId]) {
    let el = tileEls[t.id];
    if (!el) {
      const div = document.createElement("div");
      div.className = "tile";
      div.innerHTML = '<div class="label">' + esc(t.label) + '</div><div class="value">–</div><canvas></canvas>';
      container.appendChild(div);
      el = tileEls[t.id] = { value: div.querySelector(".value"), canvas: div.querySelector("canvas"), text: "" };
    }
    const values = t.values()(SPARK_POINTS);
    let last = null;
    for (let i = values.length - 1; i >= 0; i--) if (values[i] != null) { last = values[i]; break; }
    const text = t.f(last);
    if (text !== el.text) el.value.textContent = el.text = text;
    drawSparkline(el.canvas, values, t.color);
  }
}

function renderOverview() {
  renderTiles("tiles");
  chart("c-streams", { series: [{ key: "streams.live", label: "live streams" }] }).update();
  chart("c-viewers", { series: [{ key: "viewers.hls", label: "HLS" }, { key: "viewers.webrtc", label: "WebRTC" }] }).update();
  chart("c-ingest", { series: [{ key: "ingest.bps", label: "ingest" }], fmt: fmt.bits }).update();
  chart("c-ai-rps", {
    series: [
      { key: "ai.rps.2xx", label: "2xx", color: "#3fb950" },
      { key: "ai.rps.4xx", label: "4xx", color: "#e3b341" },
      { key: "ai.rps.5xx", label: "5xx", color: "#f85149" },
    ],
    fmt: fmt.rate,
  }).update();
  chart("c-ai-p50", { prefix: "ai.p50.", fmt: fmt.ms }).update();
  chart("c-ai-p95", { prefix: "ai.p95.", fmt: fmt.ms }).update();
  chart("c-errors", { series: [{ key: "ai.error_ratio", label: "5xx share", color: "#f85149" }], fmt: fmt.ratio }).update();
  chart("c-money", {
    series: [
      { key: "money.charge", label: "charged", color: "#3fb950" },
      { key: "money.cost", label: "orchestrator cost", color: "#f0883e" },
      { key: "money.margin", label: "margin", color: "#6cb6ff" },
    ],
    fmt: money,
  }).update();
}

// --- streams
const latestText = (key, f) => f(store.latest(key));
const streamTable = new KeyedTable(
  $("t-streams"),
  [
    { value: (r) => r.name },
    { value: (r) => r.pipeline },
    { value: (r) => r.state || "live", cls: (r) => (r.state === "swapping" || r.state === "starting" ? "warn" : "ok") },
    { value: (r) => r.protocol + (r.video ? " " + r.video : "") },
    { value: (r) => latestText("stream.bps." + r.id, fmt.bits), cls: () => "num" },
    { value: (r) => latestText("stream.fps." + r.id, fmt.count), cls: () => "num" },
    { value: (r) => r.viewers.hls + " / " + r.viewers.webrtc, cls: () => "num" },
    { value: (r) => shortAddr(r.orchestrator) },
    { value: (r) => shortAddr(r.standby) },
    { value: (r) => String(r.swaps), cls: (r) => (r.swaps ? "warn num" : "num") },
    { value: (r) => since(r.startedAt), cls: () => "num" },
  ],
  { id: (r) => r.id, onClick: (r) => selectStream(r.id), empty: "no live streams" },
);

function renderStreams() {
  streamTable.refresh();
  const id = state.selected;
  if (!id) return;
  chart("c-d-bps", { series: [{ key: "stream.bps." + id, label: "bitrate" }], fmt: fmt.bits }).update();
  chart("c-d-fps", { series: [{ key: "stream.fps." + id, label: "fps" }] }).update();
  renderTimeline();
}

let detailTimer = null;
let hls = null;
async function selectStream(id) {
  for (const tr of $("t-streams").querySelectorAll("tr.selected")) tr.classList.remove("selected");
  $("t-streams").querySelector('tr[data-id="' + CSS.escape(id) + '"]')?.classList.add("selected");
  if (state.selected !== id) {
    for (const c of ["c-d-bps", "c-d-fps"]) {
      charts[c]?.destroy();
      delete charts[c];
    }
  }
  state.selected = id;
  $("detail").hidden = false;
  clearInterval(detailTimer);
  await loadDetail(true);
  detailTimer = setInterval(() => {
    if (state.tab === "streams" && !document.hidden) loadDetail(false);
  }, 5000);
  play(id);
  renderStreams();
}

async function loadDetail(withHistory) {
  const id = state.selected;
  let d;
  try {
    d = await api("/v1/dashboard/streams/" + encodeURIComponent(id) + "?window=" + (withHistory ? 3600 : 1));
  } catch (e) {
    $("d-title").textContent = e.message;
    return;
  }
  if (id !== state.selected) return;
  state.detail = d;
  if (withHistory) for (const [k, v] of Object.entries(d.series.series)) store.merge(k, d.series.start, v);
  const p = d.processor || {};
  $("d-title").textContent = d.name + " (" + d.pipeline + ") — " + d.state;
  const facts = [
    ["Stream id", d.id],
    ["Ingest", d.ingest ? d.ingest.protocol + " from " + d.ingest.remoteAddress : "—"],
    ["Video", d.ingest?.video ? d.ingest.video.codec + " " + d.ingest.video.width + "x" + d.ingest.video.height + " " + (d.ingest.video.fps || "?") + " fps" : "—"],
    ["Audio", d.ingest?.audio ? d.ingest.audio.codec + " " + d.ingest.audio.sampleRate + " Hz" : "—"],
    ["Uptime", d.ingest ? Math.round(d.ingest.uptimeSeconds) + " s" : "—"],
    ["Segments in", d.ingest ? d.ingest.segmentsIn : "—"],
    ["Orchestrator", shortAddr(p.orchestrator?.address || p.lastOrchestrator) || "—"],
    ["Standby", p.standby ? (shortAddr(p.standby.address) || p.standby.state) : "—"],
    ["Output latency p50/p95", p.latency?.endToEndMs?.p50 != null ? fmt.ms(p.latency.endToEndMs.p50) + " / " + fmt.ms(p.latency.endToEndMs.p95) : "—"],
    ["Viewers (HLS / WebRTC)", d.sample ? d.sample.viewers.hls + " / " + d.sample.viewers.webrtc : "—"],
    ["Last end", d.lastEnded ? d.lastEnded.reason + (d.lastEnded.detail ? ": " + d.lastEnded.detail : "") : "—"],
    ["Last refusal", d.lastRefusal ? d.lastRefusal.status + " " + d.lastRefusal.reason : "—"],
  ];
  $("d-facts").innerHTML = facts.map(([k, v]) => "<div><span class='muted'>" + esc(k) + ":</span> " + esc(v) + "</div>").join("");
  $("d-segments").innerHTML = d.segments.length
    ? d.segments.map((s) => "<div>" + esc(s.rendition) + ": " + esc(s.durations.map((x) => x.toFixed(2)).join(" ")) + " s" + (s.gaps ? " <span class='bad'>(" + s.gaps + " gaps)</span>" : "") + "</div>").join("") +
      "<div>Segments are cut at keyframes: their durations are the keyframe interval rounded up to the target.</div>"
    : "no HLS segments yet";
  const streamEvents = d.events.concat(state.events.filter((e) => e.data.streamId === id && !d.events.some((x) => x.id === e.id)));
  $("d-events").innerHTML = streamEvents.slice(-100).reverse().map(feedRowHtml).join("") || "<div class='muted'>no events kept for this stream</div>";
  const swaps = p.swaps || [];
  $("d-swaps").textContent = swaps.length
    ? swaps.map((s) => time(s.at) + " " + shortAddr(s.from) + " → " + shortAddr(s.to) + " (" + s.reason + (s.durationMs != null ? ", " + s.durationMs + " ms" : "") + ")").join(" · ")
    : "no swaps";
  renderTimeline();
}

/** Swaps as marks on the last hour. */
function renderTimeline() {
  const el = $("d-timeline");
  const d = state.detail;
  if (!d) return;
  const swaps = (d.processor?.swaps || []).map((s) => Date.parse(s.at))
    .concat(state.events.filter((e) => e.type === "stream.orchestrator_swap" && e.data.streamId === d.id).map((e) => Date.parse(e.at)));
  const now = Date.now();
  const marks = [...new Set(swaps.map((t) => Math.round(t / 1000)))].filter((t) => now / 1000 - t < 3600);
  const html = marks.map((t) => "<i style='left:" + (100 - ((now / 1000 - t) / 3600) * 100).toFixed(2) + "%' title='" + esc(new Date(t * 1000).toLocaleTimeString()) + "'></i>").join("");
  if (el.innerHTML !== html) el.innerHTML = html;
}

function play(id) {
  const video = $("d-video");
  const url = "/v1/streams/" + encodeURIComponent(id) + "/hls/index.m3u8";
  if (hls) {
    hls.destroy();
    hls = null;
  }
  if (window.Hls && Hls.isSupported()) {
    hls = new Hls({ liveSyncDurationCount: 2 });
    hls.loadSource(url);
    hls.attachMedia(video);
  } else {
    video.src = url;
  }
}

// --- orchestrators
function orchState(o) {
  if (o.suspendedUntil) {
    const left = Math.max(0, Math.ceil((Date.parse(o.suspendedUntil) - Date.now()) / 1000));
    return "suspended (" + left + " s left)";
  }
  if (!o.reachable) return "unreachable";
  return "ok";
}
function pricesHtml(o) {
  // One line per capability and model; the model's last path part (sdxl-turbo), the whole id on hover.
  const out = o.capabilitiesPrices.map((p) => {
    const model = p.modelId && p.modelId !== "default" ? p.modelId : "";
    const unit = p.pixelsPerUnit > 1 ? p.pixelsPerUnit + " units" : "unit";
    return "<span title='" + esc(model) + "'>" + esc(p.label + (model ? " (" + model.split("/").pop() + ")" : "")) + "</span>: " + esc(p.pricePerUnit + " wei/" + unit);
  });
  if (o.price) out.unshift(esc("transcoding: " + o.price.pricePerUnit + " wei/" + (o.price.pixelsPerUnit > 1 ? o.price.pixelsPerUnit + " pixels" : "pixel")));
  return out.join("<br>") || "<span class='muted'>—</span>";
}
function capsHtml(o) {
  // AI pipelines as chips (their models and warmth on hover); the transcoding flags as one muted line.
  const ai = o.capabilities.filter((c) => c.label !== c.name);
  const other = o.capabilities.filter((c) => c.label === c.name).map((c) => c.name);
  return "<div class='caps'>" + ai.map((c) => {
    const models = Object.entries(c.models || {}).map(([m, x]) => m + (x.warm ? " (warm)" : " (cold)"));
    return "<span class='ai' title='" + esc(models.join(", ")) + "'>" + esc(c.label) + "</span>";
  }).join("") + "</div>" + (other.length ? "<div class='muted small'>" + esc(other.join(", ")) + "</div>" : "");
}
const orchTable = new KeyedTable(
  $("t-orchs"),
  [
    { value: (o) => shortAddr(o.address) },
    { value: (o) => o.region || "—" },
    { value: orchState, cls: (o) => (o.suspendedUntil ? "bad" : !o.reachable ? "warn" : "ok") },
    { value: (o) => (o.recent ? fmt.ms(o.recent.p50) + " / " + fmt.ms(o.recent.p95) : o.latencyMs != null ? "~" + fmt.ms(o.latencyMs) : "—"), cls: () => "num" },
    { value: (o) => (o.successes + o.failures ? Math.round((100 * o.successes) / (o.successes + o.failures)) + " %" : "—") + " (reliability " + o.reliability.toFixed(2) + ")", cls: () => "num" },
    { value: (o) => o.successes + " / " + o.failures + " / " + o.busy, cls: () => "num" },
    { value: pricesHtml, html: true, cls: () => "prices" },
    { value: capsHtml, html: true },
    { value: (o) => o.streams.map((s) => esc((state.streams.get(s.id)?.name || s.id) + (s.role === "standby" ? " (standby)" : ""))).join("<br>") || "—", html: true },
  ],
  { id: (o) => o.address, empty: "no orchestrators" },
);

function renderOrchestrators() {
  orchTable.refresh(); // countdowns
  chart("c-o-p95", { prefix: "orch.p95.", fmt: fmt.ms, label: (k) => shortAddr(k.slice(9)) }).update();
  chart("c-o-fail", { prefix: "orch.failures.", fmt: fmt.rate, label: (k) => shortAddr(k.slice(14)) }).update();
}

// --- money
const capTable = new KeyedTable(
  $("t-caps"),
  [
    { value: (k) => k.name + " (" + k.keyId + ")" },
    { value: (k) => k.cap },
    { value: (k) => money(k.spent), cls: () => "num" },
    { value: (k) => money(k.capAmount), cls: () => "num" },
    { value: (k) => Math.round(k.share * 100) + " %", cls: (k) => (k.share >= 1 ? "bad num" : "warn num") },
  ],
  { id: (k) => k.keyId + ":" + k.cap, empty: "no key is near a cap" },
);
const dayStore = new SeriesStore(400);
const dayCharts = {};

async function loadMoney() {
  state.moneyFetchedAt = Date.now();
  let m;
  try {
    m = await api("/v1/dashboard/money?days=30");
  } catch (e) {
    $("status").textContent = e.message;
    return;
  }
  state.money = m;
  capTable.remove(capTable.all().map((k) => k.keyId + ":" + k.cap).filter((id) => !m.nearCaps.some((k) => k.keyId + ":" + k.cap === id)));
  capTable.upsert(m.nearCaps);
  dayStore.times = m.days.map((d) => Date.parse(d + "T00:00:00Z") / 1000);
  dayStore.values = new Map();
  dayStore.values.set("charge", m.total.map((d) => d.charge));
  dayStore.values.set("cost", m.total.map((d) => d.cost));
  dayStore.values.set("margin", m.total.map((d) => d.margin));
  for (const [p, days] of Object.entries(m.byPipeline)) dayStore.values.set("pipeline." + p, days.map((d) => d.charge));
  for (const [k, days] of Object.entries(m.byKey)) dayStore.values.set("key." + k, days.map((d) => d.charge));
  const dayChart = (id, opts) => (dayCharts[id] ??= new TimeChart($(id), dayStore, { ...opts, fmt: money }));
  dayChart("c-m-days", { series: [{ key: "charge", label: "charged", color: "#3fb950" }, { key: "cost", label: "orchestrator cost", color: "#f0883e" }, { key: "margin", label: "margin", color: "#6cb6ff" }] }).update();
  dayChart("c-m-days-pipeline", { prefix: "pipeline." }).update();
  dayChart("c-m-days-key", { prefix: "key." }).update();
}

function renderMoney() {
  renderTiles("money-tiles");
  chart("c-m-today", {
    series: [
      { key: "money.charge", label: "charged", color: "#3fb950" },
      { key: "money.cost", label: "orchestrator cost", color: "#f0883e" },
      { key: "money.margin", label: "margin", color: "#6cb6ff" },
    ],
    fmt: money,
  }).update();
  chart("c-m-pipeline", { prefix: "money.charge.pipeline.", fmt: money }).update();
  chart("c-m-margin", { prefix: "money.margin.pipeline.", fmt: money }).update();
  chart("c-m-key", { prefix: "money.charge.key.", fmt: money }).update();
  if (Date.now() - state.moneyFetchedAt > 60_000) loadMoney();
}

// --- events
function summary(e) {
  const d = e.data;
  const stream = (id) => (state.streams.get(id)?.name || d.name || id);
  switch (e.type) {
    case "stream.started": return stream(d.streamId) + " went live over " + d.protocol + " (" + d.pipeline + ")";
    case "stream.idle": return stream(d.streamId) + " ended: " + d.reason + (d.detail ? " — " + d.detail : "");
    case "stream.error": return stream(d.streamId) + " failed: " + (d.detail || d.reason);
    case "stream.deleted": return d.streamId + " deleted";
    case "stream.refused": return stream(d.streamId) + ": publisher refused (" + d.status + " " + d.reason + ")";
    case "stream.orchestrator_swap": return stream(d.streamId) + ": " + shortAddr(d.from) + " → " + shortAddr(d.to) + " (" + d.reason + (d.detail ? ": " + d.detail : "") + ")";
    case "orchestrator.suspended": return shortAddr(d.address) + " suspended for " + Math.round(d.suspendedMs / 1000) + " s (" + d.kind + ")" + (d.requestId ? " in request " + d.requestId : "");
    case "orchestrator.recovered": return shortAddr(d.address) + " is selectable again";
    case "key.revoked": return "key " + d.keyId + " revoked";
    case "key.spend_cap_reached": return "key " + d.keyId + " reached its " + d.cap + " cap (" + money(d.capMicros / 1e6) + ")";
    default: return JSON.stringify(d);
  }
}
function feedRowHtml(e) {
  return "<div data-type='" + esc(e.type) + "'><span class='t'>" + esc(time(e.at)) + "</span><span class='type-" + esc(e.type) + "'>" + esc(e.type) + "</span><span>" + esc(summary(e)) + "</span></div>";
}

const filters = $("filters");
filters.innerHTML = EVENT_TYPES.map((t) => "<label><input type='checkbox' value='" + esc(t) + "' checked> " + esc(t) + "</label>").join("");
filters.addEventListener("change", () => {
  state.filter = new Set([...filters.querySelectorAll("input:checked")].map((i) => i.value));
  const feed = $("feed");
  feed.innerHTML = state.events.filter((e) => state.filter.has(e.type)).slice(-MAX_FEED_ROWS).reverse().map(feedRowHtml).join("");
});

function renderFeed() {
  if (pendingEvents.length === 0) return;
  const batch = pendingEvents.splice(0).filter((e) => state.filter.has(e.type));
  const feed = $("feed");
  if (batch.length) {
    feed.insertAdjacentHTML("afterbegin", batch.reverse().map(feedRowHtml).join(""));
    while (feed.childElementCount > MAX_FEED_ROWS) feed.lastElementChild.remove();
  }
}

// ------------------------------------------------------------------ tabs

function showTab(tab) {
  state.tab = tab;
  for (const b of $("tabs").querySelectorAll("button")) b.classList.toggle("active", b.dataset.tab === tab);
  for (const s of document.querySelectorAll("main > section")) s.hidden = s.id !== tab;
  if (location.hash !== "#" + tab) history.replaceState(null, "", "#" + tab);
  render();
  for (const c of Object.values(charts)) c.resize();
  if (tab === "money") loadMoney();
}
$("tabs").addEventListener("click", (e) => {
  const b = e.target.closest("button[data-tab]");
  if (b) showTab(b.dataset.tab);
});
let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => Object.values(charts).concat(Object.values(dayCharts)).forEach((c) => c.resize()), 150);
});
document.addEventListener("visibilitychange", () => !document.hidden && render());

const initial = location.hash.slice(1);
showTab(["overview", "streams", "orchestrators", "money", "events"].includes(initial) ? initial : "overview");
showStatus();
connect();
