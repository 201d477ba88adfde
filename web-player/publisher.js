// Camera + microphone -> WHIP (RFC 9725): POST the complete offer to
// /v1/streams/{id}/whip with the stream key, apply the answer, DELETE the session to stop.
(function () {
  const params = new URLSearchParams(location.search);
  const $ = (id) => document.getElementById(id);
  const status = $("status");
  const statsEl = $("stats");
  let pc = null;
  let media = null;
  let resource = null;
  let statsTimer = null;
  let last = null;

  $("stream").value = params.get("stream") || "";
  $("key").value = params.get("key") || "";
  if (params.get("codec")) $("codec").value = params.get("codec").toUpperCase();

  function setStatus(text) {
    status.textContent = text;
  }

  function gathered(peer, timeoutMs) {
    if (peer.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      peer.addEventListener("icegatheringstatechange", () => {
        if (peer.iceGatheringState === "complete") { clearTimeout(t); resolve(); }
      });
    });
  }

  function preferCodec(transceiver, name) {
    if (!RTCRtpSender.getCapabilities || !transceiver.setCodecPreferences) return;
    const codecs = RTCRtpSender.getCapabilities("video").codecs;
    const wanted = codecs.filter((c) => c.mimeType.toLowerCase() === "video/" + name.toLowerCase() &&
      (name !== "H264" || /packetization-mode=1/.test(c.sdpFmtpLine || "")));
    if (!wanted.length) return;
    const rest = codecs.filter((c) => !wanted.includes(c));
    transceiver.setCodecPreferences(wanted.concat(rest));
  }

  async function pollStats() {
    if (!pc) return;
    const report = await pc.getStats();
    let out = null;
    report.forEach((s) => { if (s.type === "outbound-rtp" && s.kind === "video") out = s; });
    if (!out) return;
    const now = out.timestamp;
    if (last) {
      const kbps = Math.round(((out.bytesSent - last.bytesSent) * 8) / (now - last.timestamp));
      statsEl.textContent = "Outgoing video: " + kbps + " kbit/s" +
        (out.frameWidth ? " · " + out.frameWidth + "x" + out.frameHeight : "") +
        (out.framesPerSecond ? " · " + Math.round(out.framesPerSecond) + " fps" : "") +
        " · frames sent " + (out.framesSent || 0);
      statsEl.dataset.kbps = String(kbps);
      statsEl.dataset.framesSent = String(out.framesSent || 0);
    }
    last = { bytesSent: out.bytesSent, timestamp: now };
  }

  async function start(e) {
    e.preventDefault();
    const id = $("stream").value.trim();
    const key = $("key").value.trim();
    const codec = $("codec").value;
    $("start").disabled = true;
    try {
      setStatus("Opening camera and microphone…");
      media = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720, frameRate: 30 }, audio: true });
      $("preview").srcObject = media;
      pc = new RTCPeerConnection({ iceServers: [] });
      window.wharfPublisher = { pc: pc };
      pc.addEventListener("connectionstatechange", () => {
        setStatus("Connection: " + pc.connectionState + (resource ? "" : ""));
        if (pc.connectionState === "failed") stop();
      });
      for (const track of media.getTracks()) {
        const t = pc.addTransceiver(track, { direction: "sendonly", streams: [media] });
        if (track.kind === "video") {
          preferCodec(t, codec);
          const p = t.sender.getParameters();
          p.encodings = p.encodings && p.encodings.length ? p.encodings : [{}];
          p.encodings[0].maxBitrate = 2500000;
          t.sender.setParameters(p).catch(() => {});
        }
      }
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc, 2000);
      setStatus("Sending offer…");
      const res = await fetch("/v1/streams/" + encodeURIComponent(id) + "/whip", {
        method: "POST",
        headers: { "content-type": "application/sdp", authorization: "Bearer " + key },
        body: pc.localDescription.sdp,
      });
      const text = await res.text();
      if (res.status !== 201) {
        let msg = text;
        try { msg = JSON.parse(text).message; } catch (err) { /* not JSON */ }
        throw new Error(res.status + ": " + msg);
      }
      resource = new URL(res.headers.get("location"), location.href).toString();
      await pc.setRemoteDescription({ type: "answer", sdp: text });
      setStatus("Connection: " + pc.connectionState);
      $("stop").disabled = false;
      $("links").innerHTML = 'Watch: <a href="/viewer.html?stream=' + encodeURIComponent(id) + '">WebRTC</a> · ' +
        '<a href="/viewer.html?mode=hls&stream=' + encodeURIComponent(id) + '">HLS</a>';
      statsTimer = setInterval(() => pollStats().catch(() => {}), 1000);
      history.replaceState(null, "", "?stream=" + encodeURIComponent(id));
    } catch (err) {
      setStatus("Could not publish: " + err.message);
      await stop();
    }
  }

  async function stop() {
    clearInterval(statsTimer);
    statsTimer = null;
    last = null;
    const r = resource;
    resource = null;
    if (r) await fetch(r, { method: "DELETE" }).catch(() => {});
    if (pc) { pc.close(); pc = null; }
    if (media) { media.getTracks().forEach((t) => t.stop()); media = null; }
    $("start").disabled = false;
    $("stop").disabled = true;
    if (r) setStatus("Stopped.");
  }

  $("form").addEventListener("submit", start);
  $("stop").addEventListener("click", () => { stop(); });
  window.addEventListener("pagehide", () => { if (resource) fetch(resource, { method: "DELETE", keepalive: true }); });
  if (params.get("autostart") === "1" && $("stream").value && $("key").value) $("start").click();
})();
