// go-livepeer's live AI hooks, as drop-ins for operators moving from its gateway:
// - liveAIAuthWebhookUrl: before a live-video-to-video publisher is admitted, POST the request
//   go-livepeer sends (byoc/job_auth.go AIAuthRequest; the key in x-api-key and Authorization);
//   a non-2xx answer refuses the publisher, a 2xx may set the pipeline parameters.
// - liveAIHeartbeatURL: every liveAIHeartbeatInterval, POST {"ids": [live AI stream ids]}; the
//   streams the answer lists in terminatedStreamIds end with reason credit_exhaustion.
import { request } from "undici";
import { moduleLogger } from "../../core/log.ts";
import type { AdmissionCheck, StreamHub } from "../../media/hub/hub.ts";

const log = moduleLogger("live-hooks");

/** go-livepeer's webhook client has no timeout; ours does. */
const HOOK_TIMEOUT_MS = 5000;
/** Answers larger than this are refused (an auth answer is a few hundred bytes). */
const MAX_HOOK_ANSWER_BYTES = 256 * 1024;

async function postJson(url: string, body: unknown, headers: Record<string, string>): Promise<{ status: number; json: unknown; text: string }> {
  const res = await request(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
    headersTimeout: HOOK_TIMEOUT_MS,
    bodyTimeout: HOOK_TIMEOUT_MS,
    signal: AbortSignal.timeout(HOOK_TIMEOUT_MS),
  });
  let text = "";
  for await (const chunk of res.body) {
    text += chunk;
    if (text.length > MAX_HOOK_ANSWER_BYTES) {
      res.body.destroy();
      throw new Error(`answer larger than ${MAX_HOOK_ANSWER_BYTES} bytes`);
    }
  }
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, json, text };
}

export interface LiveAuthHookOptions {
  url: string;
  apiKey: string;
  /** Public base URL of this gateway (for whep_url, status_url, update_url). */
  publicUrl: () => string;
  /** Applies the answer's pipeline parameters to the stream before it starts. */
  setParams(streamId: string, params: Record<string, unknown>): Promise<void>;
}

/** The admission check for liveAIAuthWebhookUrl (live-video-to-video streams only). */
export function liveAuthHook(o: LiveAuthHookOptions): AdmissionCheck {
  return async (stream, req) => {
    if (stream.record.pipeline !== "live-video-to-video") return undefined;
    const base = o.publicUrl();
    const body = {
      stream: req.streamKey,
      stream_key: req.streamKey,
      type: req.protocol,
      gateway_host: new URL(base).host,
      whep_url: `${base}/v1/streams/${stream.id}/whep`,
      status_url: `${base}/live/video-to-video/${stream.id}/status`,
      update_url: `${base}/live/video-to-video/${stream.id}/update`,
    };
    let answer;
    try {
      answer = await postJson(o.url, body, { "x-api-key": o.apiKey, authorization: o.apiKey });
    } catch (err) {
      log.warn({ stream: stream.id, err: (err as Error).message }, "live AI auth webhook failed");
      return { status: 503, reason: `the live AI auth webhook could not be reached: ${(err as Error).message}` };
    }
    if (answer.status < 200 || answer.status >= 300) {
      return { status: 403, reason: `the live AI auth webhook refused the stream (status ${answer.status}): ${answer.text.slice(0, 200)}` };
    }
    const params = (answer.json as { pipeline_parameters?: unknown } | undefined)?.pipeline_parameters;
    if (params && typeof params === "object" && !Array.isArray(params)) await o.setParams(stream.id, params as Record<string, unknown>);
    return undefined;
  };
}

export interface HeartbeatOptions {
  url: string;
  headers: Record<string, string>;
  intervalMs: number;
}

/** Starts the heartbeat; returns a stop function. */
export function startLiveHeartbeat(hub: StreamHub, o: HeartbeatOptions): () => void {
  let running = false;
  const beat = async () => {
    if (running) return;
    running = true;
    try {
      const ids = hub.liveStreams().filter((s) => s.record.pipeline === "live-video-to-video").map((s) => s.id);
      const answer = await postJson(o.url, { ids }, o.headers);
      if (answer.status < 200 || answer.status >= 300) {
        log.warn({ status: answer.status }, "live AI heartbeat refused");
        return;
      }
      const terminated = (answer.json as { terminatedStreamIds?: unknown } | undefined)?.terminatedStreamIds;
      if (!Array.isArray(terminated)) return;
      for (const id of terminated) {
        if (typeof id !== "string") continue;
        const stream = hub.get(id);
        if (!stream?.live) continue;
        stream.lastEndDetail = "the live AI heartbeat service terminated the stream";
        hub.kick(id, "credit_exhaustion");
      }
    } catch (err) {
      log.warn({ err: (err as Error).message }, "live AI heartbeat failed");
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void beat(), o.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
