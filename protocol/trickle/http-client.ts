// Shared HTTP plumbing for the trickle clients.
//
// Why node:http(s) and not undici: go-livepeer's trickle server sends `100 Continue` as a
// keepalive every 10 s while a preconnected POST has no body byte yet, and undici 7 destroys the
// socket on any unsolicited 100 ("bad response"). node:http's client tolerates interim responses
// ('continue' / 'information' events), streams chunked request bodies as they are written and
// hands response bodies over as they arrive.

import http from "node:http";
import https from "node:https";
import type { IncomingHttpHeaders } from "node:http";
import { TrickleError } from "./errors.ts";

export interface TrickleClientOptions {
  /**
   * Agent to use (an https.Agent for https URLs). Default: a private keep-alive agent, destroyed
   * on close().
   */
  agent?: http.Agent;
  /**
   * Verify the server certificate on https. Default false: orchestrators use self-signed
   * certificates and go-livepeer skips verification. Ignored when `agent` is given.
   */
  rejectUnauthorized?: boolean;
  /** Extra CA certificate(s) to trust (pinning / private CA). Ignored when `agent` is given. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Extra request headers on every request. */
  headers?: Record<string, string>;
}

export interface AgentHandle {
  agent: http.Agent;
  owned: boolean;
}

export function makeAgent(url: URL, opts: TrickleClientOptions): AgentHandle {
  if (opts.agent) return { agent: opts.agent, owned: false };
  if (url.protocol === "https:") {
    const o: https.AgentOptions = { keepAlive: true, rejectUnauthorized: opts.rejectUnauthorized ?? false };
    if (opts.ca !== undefined) o.ca = opts.ca;
    return { agent: new https.Agent(o), owned: true };
  }
  return { agent: new http.Agent({ keepAlive: true }), owned: true };
}

export function parseBaseUrl(raw: string): URL {
  const url = new URL(raw);
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`trickle URL must be http(s): ${raw}`);
  }
  url.pathname = url.pathname.replace(/\/+$/, "");
  return url;
}

export function childUrl(base: URL, part: string | number): URL {
  const u = new URL(base.href);
  u.pathname = `${base.pathname}/${part}`;
  return u;
}

export function openRequest(
  url: URL,
  method: string,
  agent: http.Agent,
  headers: Record<string, string>,
): http.ClientRequest {
  const mod = url.protocol === "https:" ? https : http;
  const req = mod.request(url, { method, agent, headers });
  // Interim responses (100 Continue keepalives, 103...) are tolerated: listening is enough.
  req.on("continue", () => {});
  req.on("information", () => {});
  return req;
}

export interface SimpleResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A whole small request/response (create, delete, next). Rejects with a TrickleError('network') on transport failure. */
export function simpleRequest(
  url: URL,
  method: string,
  agent: http.Agent,
  headers: Record<string, string>,
  body?: string,
  timeoutMs = 10_000,
): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = openRequest(url, method, agent, body === undefined ? headers : { ...headers, "Content-Length": String(Buffer.byteLength(body)) });
    const timer = setTimeout(() => req.destroy(new Error(`timeout after ${timeoutMs} ms`)), timeoutMs);
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(new TrickleError("network", `${method} ${url.href}: ${err.message}`, { url: url.href, cause: err, terminal: false }));
    });
    req.on("response", (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("error", () => {});
      res.on("end", () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString("utf8") });
      });
    });
    req.end(body);
  });
}

export function headerInt(headers: IncomingHttpHeaders, name: string): number | undefined {
  const v = headers[name.toLowerCase()];
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined || !/^-?\d+$/.test(s.trim())) return undefined;
  return Number(s.trim());
}

export function headerStr(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

export { setTimeout as sleep } from "node:timers/promises";
