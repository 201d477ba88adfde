// What the glass-to-glass benches share: a test video whose frames carry their frame number as 16
// black/white blocks along the top (bit k of N is the block x in [40k, 40k+40), y < 48), and the
// in-page reader that records the first display time of every frame number it sees.
import { existsSync } from "node:fs";
import { runFfmpeg } from "../../core/ffmpeg.ts";

/** Writes `path` (640x360 y4m, `seconds` at `fps`) unless it exists; `digits` also draws N in digits for a human. */
export async function makeFrameNumberVideo(path: string, opts: { fps?: number; seconds?: number; digits?: boolean } = {}): Promise<void> {
  if (existsSync(path)) return;
  const fps = opts.fps ?? 30;
  const blocks = "geq=lum='if(lt(Y\\,48)\\,255*mod(floor(N/pow(2\\,floor(X/40)))\\,2)\\,128)':cb=128:cr=128";
  await runFfmpeg([
    "-hide_banner", "-loglevel", "error", "-y",
    "-f", "lavfi", "-i", `color=c=gray:s=640x360:r=${fps}:d=${opts.seconds ?? 10}`,
    "-vf", opts.digits ? `${blocks},drawtext=text='%{n}':x=20:y=120:fontsize=96:fontcolor=white` : blocks,
    "-pix_fmt", "yuv420p", path,
  ], { timeoutMs: 300000 });
}

/** Script for page.evaluate: fills window.__seen with [frame number, display time in ms since epoch] for the video `selector`. */
export function frameReader(selector: string): string {
  return `(() => {
  const v = document.querySelector(${JSON.stringify(selector)});
  const c = document.createElement("canvas"); c.width = 640; c.height = 360;
  const ctx = c.getContext("2d", { willReadFrequently: true });
  window.__seen = [];
  const onFrame = (now) => {
    if (v.videoWidth) {
      ctx.drawImage(v, 0, 0, 640, 360);
      const row = ctx.getImageData(0, 24, 640, 1).data;
      let n = 0;
      for (let k = 0; k < 16; k++) if (row[(40 * k + 20) * 4] > 128) n |= 1 << k;
      window.__seen.push([n, performance.timeOrigin + now]);
    }
    v.requestVideoFrameCallback(onFrame);
  };
  v.requestVideoFrameCallback(onFrame);
})()`;
}
