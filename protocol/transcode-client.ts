// Gateway side of `POST {transcoder}/segment` (livepeer-wire.md section 3):
// send one MPEG-TS segment with the Livepeer-Segment/-Payment headers, wait for
// the early 200, decode the TranscodeResult body, download the renditions in
// profile order. Every failure is a TranscodeError with a `kind` the caller can
// act on (busy: try another orchestrator without penalty; others: fault).
import type { Dispatcher } from "undici";
import { request } from "undici";
import { BodyTooLargeError, readBounded } from "./bounded-body.ts";
import { orchestratorDispatcher } from "./http-agent.ts";
import { DecodeError, decodeMessage, type AuthToken, type Capabilities, type OrchestratorInfo, type TranscodeResult, type VideoProfile } from "./messages.ts";
import { PAYMENT_HEADER, segmentRequestHeaders } from "./segment-header.ts";
import type { ClientTlsPolicy } from "./tls.ts";

export type TranscodeErrorKind =
  /** No capacity (OrchestratorBusy / 503): try elsewhere, do not penalise. */
  | "busy"
  /** OrchestratorCapped: the orchestrator refuses more sessions. */
  | "capped"
  /** 403: auth token / credentials rejected (refresh OrchestratorInfo). */
  | "auth"
  /** 402 / 400 insufficient balance: payment problem. */
  | "payment"
  /** Other 4xx. */
  | "rejected"
  /** 200 with a body that is not a sane TranscodeResult (garbage, wrong seq, wrong count). */
  | "bad-result"
  /** TranscodeResult.error other than busy/capped, or a 5xx. */
  | "transcode-failed"
  /** A rendition URL could not be downloaded. */
  | "download"
  /** Connection refused/reset, TLS failure. */
  | "network"
  /** Upload not accepted in time, or the whole call too slow. */
  | "timeout"
  /** The caller's signal aborted the call. */
  | "aborted";

export class TranscodeError extends Error {
  constructor(
    readonly kind: TranscodeErrorKind,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "TranscodeError";
  }
  /** Whether the orchestrator should count this against its reliability. */
  get isFault(): boolean {
    return this.kind !== "busy" && this.kind !== "aborted";
  }
}

export interface TranscodeSegmentRequest {
  /** Service URL (OrchestratorInfo.transcoder). */
  transcoder: string;
  authToken: AuthToken;
  manifestId: string;
  seq: number;
  /** MPEG-TS bytes of the segment. */
  data: Uint8Array;
  durationMs: number;
  profiles: readonly VideoProfile[];
  capabilities?: Capabilities;
  signal?: AbortSignal;
  tls?: ClientTlsPolicy;
  /** Override go-livepeer's timeouts (ms). */
  uploadTimeoutMs?: number;
  totalTimeoutMs?: number;
  downloadTimeoutMs?: number;
  /** Download rendition bytes (default true). */
  download?: boolean;
  /** Max bytes per rendition (default 64 MiB). */
  maxRenditionBytes?: number;
  /** `Livepeer-Payment` header value (default: the empty off-chain payment). */
  payment?: string;
}

export interface TranscodedRendition {
  profile: VideoProfile;
  url: string;
  pixels: number;
  /** Rendition bytes (MPEG-TS), when downloaded. */
  data?: Buffer;
}

export interface TranscodeSegmentResult {
  seq: number;
  renditions: TranscodedRendition[];
  /** Refreshed OrchestratorInfo if the orchestrator sent one. */
  info?: OrchestratorInfo;
  timings: {
    /** Request start -> 200 headers (upload accepted). */
    acceptedMs: number;
    /** Request start -> TranscodeResult read. */
    transcodedMs: number;
    /** Request start -> renditions downloaded. */
    totalMs: number;
  };
}

/** go-livepeer: upload accepted within max(2 s, 0.5 x duration). */
export function uploadTimeoutMs(durationMs: number): number {
  return Math.max(2000, 0.5 * durationMs);
}
/** go-livepeer: the whole call within max(8 s, 4 x duration). */
export function totalTimeoutMs(durationMs: number): number {
  return Math.max(8000, 4 * durationMs);
}

const MAX_RESULT_BYTES = 1024 * 1024;

async function readLimited(body: Dispatcher.ResponseData["body"], limit: number, what: string): Promise<Buffer> {
  try {
    return await readBounded(body, limit, what);
  } catch (err) {
    if (err instanceof BodyTooLargeError) throw new TranscodeError("bad-result", `${what} larger than ${limit} bytes`);
    throw err;
  }
}

function classifyThrown(err: unknown, ctl: { reason?: "upload" | "total" | "download" }, what: string): TranscodeError {
  if (err instanceof TranscodeError) return err;
  if (ctl.reason === "upload") return new TranscodeError("timeout", `${what}: upload not accepted in time`);
  if (ctl.reason === "total") return new TranscodeError("timeout", `${what}: no result in time`);
  if (ctl.reason === "download") return new TranscodeError("timeout", `${what}: download too slow`);
  const e = err as Error & { code?: string; cause?: { code?: string; message?: string } };
  if (e?.name === "AbortError") return new TranscodeError("aborted", `${what}: aborted`);
  const code = e?.code ?? e?.cause?.code ?? "";
  return new TranscodeError("network", `${what}: ${code ? `${code} ` : ""}${e?.cause?.message ?? e?.message ?? String(err)}`);
}

function statusError(status: number, text: string): TranscodeError {
  const snippet = text.slice(0, 200).trim();
  if (/OrchestratorCapped/i.test(text)) return new TranscodeError("capped", `OrchestratorCapped (${status})`, status);
  if (status === 503 || /OrchestratorBusy|insufficient capacity/i.test(text)) return new TranscodeError("busy", `busy (${status}) ${snippet}`, status);
  if (status === 403 || status === 401) return new TranscodeError("auth", `credentials rejected (${status}) ${snippet}`, status);
  if (status === 402) return new TranscodeError("payment", `payment rejected (${status}) ${snippet}`, status);
  if (status === 400 && /balance/i.test(text)) return new TranscodeError("payment", `insufficient balance (${status}) ${snippet}`, status);
  if (status >= 500) return new TranscodeError("transcode-failed", `orchestrator error (${status}) ${snippet}`, status);
  return new TranscodeError("rejected", `segment rejected (${status}) ${snippet}`, status);
}

/** Validate a decoded TranscodeResult against the request; throws TranscodeError. */
export function checkTranscodeResult(result: TranscodeResult, seq: number, profileCount: number): NonNullable<TranscodeResult["data"]> {
  if (result.seq !== seq) throw new TranscodeError("bad-result", `TranscodeResult for seq ${result.seq}, expected ${seq}`);
  if (result.error !== undefined && result.result !== "data") {
    if (/OrchestratorBusy/i.test(result.error)) throw new TranscodeError("busy", "OrchestratorBusy");
    if (/OrchestratorCapped/i.test(result.error)) throw new TranscodeError("capped", "OrchestratorCapped");
    throw new TranscodeError("transcode-failed", `transcode failed: ${result.error.slice(0, 300)}`);
  }
  const data = result.data;
  if (!data) throw new TranscodeError("bad-result", "TranscodeResult has neither error nor data");
  const segs = data.segments ?? [];
  if (segs.length !== profileCount) {
    throw new TranscodeError("bad-result", `TranscodeResult has ${segs.length} renditions, expected ${profileCount}`);
  }
  for (const s of segs) if (!s.url) throw new TranscodeError("bad-result", "rendition without URL");
  return data;
}

/** Transcode one segment on one orchestrator. Throws TranscodeError. */
export async function transcodeSegment(req: TranscodeSegmentRequest): Promise<TranscodeSegmentResult> {
  const t0 = performance.now();
  const dispatcher = orchestratorDispatcher(req.tls);
  const base = req.transcoder.endsWith("/") ? req.transcoder : `${req.transcoder}/`;
  let segmentUrl: URL;
  try {
    segmentUrl = new URL("segment", base);
  } catch {
    throw new TranscodeError("rejected", `invalid transcoder URL "${req.transcoder}"`);
  }
  const what = `${segmentUrl.origin} seq ${req.seq}`;
  const ac = new AbortController();
  const ctl: { reason?: "upload" | "total" | "download" } = {};
  const onAbort = () => ac.abort();
  if (req.signal?.aborted) throw new TranscodeError("aborted", `${what}: aborted`);
  req.signal?.addEventListener("abort", onAbort, { once: true });
  const uploadTimer = setTimeout(() => {
    ctl.reason = "upload";
    ac.abort();
  }, req.uploadTimeoutMs ?? uploadTimeoutMs(req.durationMs));
  const totalTimer = setTimeout(() => {
    ctl.reason ??= "total";
    ac.abort();
  }, req.totalTimeoutMs ?? totalTimeoutMs(req.durationMs));

  let result: TranscodeResult;
  let acceptedMs = 0;
  let transcodedMs = 0;
  try {
    const headers = segmentRequestHeaders({
      manifestId: req.manifestId,
      seq: req.seq,
      data: req.data,
      durationMs: req.durationMs,
      authToken: req.authToken,
      profiles: req.profiles,
      capabilities: req.capabilities,
    });
    if (req.payment) headers[PAYMENT_HEADER] = req.payment;
    const res = await request(segmentUrl, {
      method: "POST",
      headers,
      body: Buffer.from(req.data.buffer, req.data.byteOffset, req.data.byteLength),
      dispatcher,
      signal: ac.signal,
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    clearTimeout(uploadTimer);
    acceptedMs = performance.now() - t0;
    if (res.statusCode !== 200) {
      const text = (await readLimited(res.body, 64 * 1024, "error body").catch(() => Buffer.alloc(0))).toString("utf8");
      throw statusError(res.statusCode, text);
    }
    const body = await readLimited(res.body, MAX_RESULT_BYTES, "TranscodeResult");
    transcodedMs = performance.now() - t0;
    try {
      result = decodeMessage("TranscodeResult", body);
    } catch (err) {
      if (err instanceof DecodeError) throw new TranscodeError("bad-result", `${what}: ${err.message}`);
      throw err;
    }
  } catch (err) {
    throw classifyThrown(err, ctl, what);
  } finally {
    clearTimeout(uploadTimer);
    clearTimeout(totalTimer);
    req.signal?.removeEventListener("abort", onAbort);
  }

  const data = checkTranscodeResult(result, req.seq, req.profiles.length);
  const renditions: TranscodedRendition[] = [];
  for (const [i, s] of (data.segments ?? []).entries()) {
    let url: string;
    try {
      url = new URL(s.url!, base).toString();
    } catch {
      throw new TranscodeError("bad-result", `${what}: invalid rendition URL "${s.url}"`);
    }
    renditions.push({ profile: req.profiles[i]!, url, pixels: s.pixels ?? 0 });
  }
  if (req.download !== false) {
    const timeout = req.downloadTimeoutMs ?? totalTimeoutMs(req.durationMs);
    const datas = await Promise.all(
      renditions.map((r) => downloadRendition(r.url, { timeoutMs: timeout, signal: req.signal, tls: req.tls, maxBytes: req.maxRenditionBytes })),
    );
    datas.forEach((d, i) => (renditions[i]!.data = d));
  }
  return {
    seq: req.seq,
    renditions,
    info: result.info,
    timings: { acceptedMs, transcodedMs, totalMs: performance.now() - t0 },
  };
}

/** GET one rendition URL (on the orchestrator). Throws TranscodeError("download" | "timeout" | "aborted"). */
export async function downloadRendition(
  url: string,
  opts: { timeoutMs?: number; signal?: AbortSignal; tls?: ClientTlsPolicy; maxBytes?: number } = {},
): Promise<Buffer> {
  const ac = new AbortController();
  const ctl: { reason?: "upload" | "total" | "download" } = {};
  const onAbort = () => ac.abort();
  if (opts.signal?.aborted) throw new TranscodeError("aborted", `download ${url}: aborted`);
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  const timer = setTimeout(() => {
    ctl.reason = "download";
    ac.abort();
  }, opts.timeoutMs ?? 8000);
  try {
    const res = await request(url, { method: "GET", dispatcher: orchestratorDispatcher(opts.tls), signal: ac.signal });
    if (res.statusCode !== 200) {
      await res.body.dump().catch(() => {});
      throw new TranscodeError("download", `download ${url}: status ${res.statusCode}`, res.statusCode);
    }
    const buf = await readLimited(res.body, opts.maxBytes ?? 64 * 1024 * 1024, "rendition");
    if (buf.length === 0) throw new TranscodeError("download", `download ${url}: empty rendition`);
    return buf;
  } catch (err) {
    const e = classifyThrown(err, ctl, `download ${url}`);
    throw e.kind === "network" || e.kind === "bad-result" ? new TranscodeError("download", e.message, e.status) : e;
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener("abort", onAbort);
  }
}
