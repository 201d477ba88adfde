// Plays /v1/streams/{id}/hls/index.m3u8 with hls.js (native HLS where hls.js is unsupported).
(function () {
  const params = new URLSearchParams(location.search);
  const video = document.getElementById("video");
  const status = document.getElementById("status");
  const input = document.getElementById("stream");
  let hls = null;
  let timer = null;

  function setStatus(text) {
    status.textContent = text;
  }

  /** Waits for the multivariant playlist; resolves true when its first rendition is low-latency (has parts). */
  async function waitForPlaylist(url) {
    for (;;) {
      try {
        const res = await fetch(url, { cache: "no-store" });
        if (res.status === 404) {
          const body = await res.json().catch(() => ({}));
          if (body.code === "no-such-stream") {
            setStatus(`There is no stream ${url.split("/streams/")[1]?.split("/")[0] ?? ""} on this gateway: check the link.`);
            return undefined;
          }
        }
        if (res.ok) {
          const first = (await res.text()).split("\n").find((l) => l && !l.startsWith("#"));
          const media = first ? await fetch(new URL(first, new URL(url, location.href)), { cache: "no-store" }) : null;
          return media && media.ok ? (await media.text()).includes("#EXT-X-PART-INF") : false;
        }
      } catch (e) { /* retry */ }
      setStatus("Waiting for the stream to go live…");
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  async function play(id) {
    if (hls) { hls.destroy(); hls = null; }
    const url = "/v1/streams/" + encodeURIComponent(id) + "/hls/index.m3u8";
    const lowLatency = await waitForPlaylist(url);
    if (lowLatency === undefined) return; // no such stream: said so, stop
    if (window.Hls && Hls.isSupported()) {
      // Low-latency HLS (RTMP passthrough): hls.js loads the parts and blocks on playlist reloads,
      // PART-HOLD-BACK (1 s) from the live edge. A live sync count given in the config would
      // override PART-HOLD-BACK (hls.js 1.7 targetLatency), so it is only set for regular
      // playlists (transcoded renditions): two segments from the edge.
      // maxLiveSyncPlaybackRate: a player that fell behind (a slow start, a stall) plays up to 1.5x
      // until it is back at that distance, instead of staying late for good.
      hls = new Hls(lowLatency ? { lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5 } : { liveSyncDurationCount: 2, lowLatencyMode: true });
      hls.on(Hls.Events.MANIFEST_PARSED, (_e, data) => {
        setStatus("Playing " + id + " — " + data.levels.map((l) => l.height + "p").join(", "));
        video.play().catch(() => {});
      });
      hls.on(Hls.Events.ERROR, (_e, data) => {
        if (!data.fatal) return;
        setStatus("Playback error: " + data.details + " — retrying");
        if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
        else { clearTimeout(timer); timer = setTimeout(() => play(id), 2000); }
      });
      hls.loadSource(url);
      hls.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = url;
      video.play().catch(() => {});
    } else {
      setStatus("This browser cannot play HLS.");
    }
  }

  document.getElementById("pick").addEventListener("submit", (e) => {
    e.preventDefault();
    const id = input.value.trim();
    history.replaceState(null, "", "?stream=" + encodeURIComponent(id));
    play(id);
  });
  const initial = params.get("stream");
  if (initial) { input.value = initial; play(initial); }
})();
