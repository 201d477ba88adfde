// Live dashboard: polls Wharf's API every 2 s with the admin key kept in this browser.
(function () {
  const keyInput = document.getElementById("key");
  const status = document.getElementById("status");
  keyInput.value = localStorage.getItem("wharf.adminKey") || "";
  document.getElementById("auth").addEventListener("submit", (e) => {
    e.preventDefault();
    localStorage.setItem("wharf.adminKey", keyInput.value.trim());
    refresh();
  });

  function esc(v) {
    return String(v == null ? "" : v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }
  async function api(path) {
    const res = await fetch(path, { headers: { authorization: "Bearer " + (localStorage.getItem("wharf.adminKey") || "") } });
    if (!res.ok) throw new Error(path + ": " + res.status + " " + ((await res.json().catch(() => ({}))).message || ""));
    return res.json();
  }
  function rows(id, html) {
    document.querySelector("#" + id + " tbody").innerHTML = html || '<tr><td colspan="7" class="idle">none</td></tr>';
  }

  async function refresh() {
    try {
      const { streams } = await api("/v1/streams");
      rows("streams", streams.map((s) => {
        const i = s.ingest;
        const v = i && i.video ? i.video.width + "x" + i.video.height + " " + i.video.codec + " " + (i.video.fps || "") + "fps" : "";
        return "<tr><td>" + esc(s.name) + "</td><td>" + esc(s.pipeline) + '</td><td class="' + s.state + '">' + s.state +
          "</td><td>" + esc(i ? i.protocol + " " + v : s.lastEnded ? "ended: " + s.lastEnded.reason : "") +
          "</td><td>" + (i ? Math.round(i.bitrate / 1000) + " kbit/s" : "") + "</td><td>" + (i ? Math.round(i.uptimeSeconds) + " s" : "") +
          '</td><td><a href="/player.html?stream=' + encodeURIComponent(s.id) + '">play</a></td></tr>';
      }).join(""));
      status.textContent = "updated " + new Date().toLocaleTimeString();
    } catch (e) {
      status.textContent = e.message;
    }
    try {
      const o = await api("/v1/orchestrators");
      const list = o.orchestrators || o;
      rows("orchs", (Array.isArray(list) ? list : []).map((x) =>
        "<tr><td>" + esc(x.address || x.url) + "</td><td>" + esc(x.region || "") + '</td><td class="' + (x.suspended ? "bad" : "live") + '">' +
        esc(x.suspended ? "suspended" : x.state || "ok") + "</td><td>" + esc(x.latencyMs != null ? Math.round(x.latencyMs) + " ms" : "") +
        "</td><td>" + esc(x.successRate != null ? Math.round(x.successRate * 100) + "%" : "") + "</td><td>" + esc((x.capabilities || []).join ? (x.capabilities || []).join(", ") : "") + "</td></tr>").join(""));
    } catch (e) { rows("orchs", ""); }
    try {
      const from = new Date(); from.setUTCHours(0, 0, 0, 0);
      const u = await api("/v1/usage?groupBy=pipeline&from=" + from.toISOString());
      const groups = u.groups || u.usage || [];
      rows("usage", groups.map((g) => "<tr><td>" + esc(g.group || g.pipeline) + "</td><td>" + esc(g.records) + "</td><td>" + esc(g.units) +
        "</td><td>" + esc(g.charge != null ? g.charge : g.chargeMicros != null ? (g.chargeMicros / 1e6).toFixed(4) : "") + "</td></tr>").join(""));
    } catch (e) { rows("usage", ""); }
  }
  refresh();
  setInterval(refresh, 2000);
})();
