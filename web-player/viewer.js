// Plays a stream over WHEP (WebRTC) or HLS. WHEP: POST a recvonly offer to
// /v1/streams/{id}/whep, apply the answer, DELETE the session when leaving.
(function () {
  const params = new URLSearchParams(location.search);
  const $ = (id) => document.getElementById(id);
  const video = $("video");
  const status = $("status");
  const statsEl = $("stats");
  let pc = null;
  let resource = null;
  let hls = null;
  let timer = null;
  let statsTimer = null;
  let generation = 0;

  function setStatus(text) { status.textContent = text; }

  function gathered(peer, timeoutMs) {
    if (peer.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      peer.addEventListener("icegatheringstatechange", () => {
        if (peer.iceGatheringState === "complete") { clearTimeout(t); resolve(); }
      });
    });
  }

  async function teardown() {
    generation++;
    clearTimeout(timer);
    clearInterval(statsTimer);
    const r = resource;
    resource = null;
    if (r) fetch(r, { method: "DELETE", keepalive: true }).catch(() => {});
    if (pc) { pc.close(); pc = null; }
    if (hls) { hls.destroy(); hls = null; }
    video.removeAttribute("src");
    video.srcObject = null;
    statsEl.textContent = "";
  }

  async function pollStats() {
    if (!pc) return;
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        statsEl.textContent = "Frames decoded " + (s.framesDecoded || 0) +
          (s.frameWidth ? " · " + s.frameWidth + "x" + s.frameHeight : "") +
          (s.framesPerSecond ? " · " + Math.round(s.framesPerSecond) + " fps" : "") +
          " · packets lost " + (s.packetsLost || 0);
        statsEl.dataset.framesDecoded = String(s.framesDecoded || 0);
      }
    });
  }

  function retry(id, mode, ms, why) {
    const g = generation;
    setStatus(why + " — retrying…");
    timer = setTimeout(() => { if (g === generation) play(id, mode); }, ms);
  }

  async function playWhep(id) {
    const g = generation;
    pc = new RTCPeerConnection({ iceServers: [] });
    const peer = pc;
    window.wharfViewer = { pc: peer };
    peer.addTransceiver("video", { direction: "recvonly" });
    peer.addTransceiver("audio", { direction: "recvonly" });
    const stream = new MediaStream();
    video.srcObject = stream;
    peer.addEventListener("track", (e) => {
      stream.addTrack(e.track);
      video.play().catch(() => {});
    });
    peer.addEventListener("connectionstatechange", () => {
      if (g !== generation) return;
      setStatus("WebRTC: " + peer.connectionState + " — " + id);
      if (peer.connectionState === "failed") { teardown().then(() => retry(id, "whep", 2000, "Connection failed")); }
    });
    await peer.setLocalDescription(await peer.createOffer());
    await gathered(peer, 2000);
    if (g !== generation) return;
    setStatus("Connecting over WebRTC…");
    const res = await fetch("/v1/streams/" + encodeURIComponent(id) + "/whep", {
      method: "POST",
      headers: { "content-type": "application/sdp" },
      body: peer.localDescription.sdp,
    });
    const text = await res.text();
    if (g !== generation) return;
    if (res.status !== 201) {
      let msg = text;
      try { msg = JSON.parse(text).message; } catch (err) { /* not JSON */ }
      await teardown();
      return retry(id, "whep", res.status === 429 ? 10000 : 3000, "WHEP " + res.status + ": " + msg);
    }
    resource = new URL(res.headers.get("location"), location.href).toString();
    await peer.setRemoteDescription({ type: "answer", sdp: text });
    statsTimer = setInterval(() => pollStats().catch(() => {}), 1000);
  }

  async function playHls(id) {
    const g = generation;
    const url = "/v1/streams/" + encodeURIComponent(id) + "/hls/index.m3u8";
    for (;;) {
      const res = await fetch(url, { cache: "no-store" }).catch(() => null);
      if (g !== generation) return;
      if (res && res.ok) break;
      setStatus("Waiting for the stream to go live…");
      await new Promise((r) => setTimeout(r, 1000));
    }
    if (window.Hls && Hls.isSupported()) {
      hls = new Hls({ liveSyncDurationCount: 2 });
      hls.on(Hls.Events.MANIFEST_PARSED, () => { setStatus("HLS: playing " + id); video.play().catch(() => {}); });
      hls.on(Hls.Events.ERROR, (_e, data) => {
        if (!data.fatal) return;
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
        else { teardown().then(() => retry(id, "hls", 2000, "HLS error " + data.details)); }
      });
      hls.loadSource(url);
      hls.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = url;
      video.play().catch(() => {});
      setStatus("HLS: playing " + id);
    } else {
      setStatus("This browser cannot play HLS.");
    }
  }

  async function play(id, mode) {
    await teardown();
    try {
      if (mode === "hls") await playHls(id);
      else await playWhep(id);
    } catch (err) {
      await teardown();
      retry(id, mode, 3000, "Error: " + err.message);
    }
  }

  $("pick").addEventListener("submit", (e) => {
    e.preventDefault();
    const id = $("stream").value.trim();
    const mode = $("mode").value;
    history.replaceState(null, "", "?stream=" + encodeURIComponent(id) + (mode === "hls" ? "&mode=hls" : ""));
    play(id, mode);
  });
  window.addEventListener("pagehide", () => { if (resource) fetch(resource, { method: "DELETE", keepalive: true }); });
  const initial = params.get("stream");
  if (params.get("mode") === "hls") $("mode").value = "hls";
  if (initial) { $("stream").value = initial; play(initial, $("mode").value); }
})();
