// Shared undici dispatchers for HTTP(S) calls to orchestrators (segments, AI,
// payments, rendition downloads): keep-alive connection reuse, certificate
// verification off by default (self-signed orchestrators), optional SHA-256 pin.
import type tls from "node:tls";
import { Agent, buildConnector, type Dispatcher } from "undici";
import { normalizeFingerprint, type ClientTlsPolicy } from "./tls.ts";

const agents = new Map<string, Agent>();

/** A pooled undici Agent for this TLS policy (the default policy shares one Agent). */
export function orchestratorDispatcher(policy?: ClientTlsPolicy): Dispatcher {
  const pin = policy?.pinSha256 ? normalizeFingerprint(policy.pinSha256) : "";
  const key = `${pin}|${policy?.ca ?? ""}`;
  let a = agents.get(key);
  if (a) return a;
  const base = buildConnector({
    rejectUnauthorized: Boolean(policy?.ca),
    ca: policy?.ca,
    checkServerIdentity: () => undefined,
    timeout: 5000,
  });
  const connect: buildConnector.connector = pin
    ? (opts, cb) =>
        base(opts, (err, socket) => {
          if (err || !socket) return cb(err ?? new Error("no socket"), null);
          const peer = (socket as tls.TLSSocket).getPeerCertificate?.();
          if (opts.protocol === "https:" && peer?.fingerprint256 !== pin) {
            socket.destroy();
            return cb(new Error(`certificate fingerprint ${peer?.fingerprint256} does not match the pinned ${pin}`), null);
          }
          return cb(null, socket);
        })
    : base;
  a = new Agent({ connect, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 120_000, connections: 64 });
  agents.set(key, a);
  return a;
}

/** Close every pooled dispatcher (shutdown, tests). */
export async function closeOrchestratorDispatchers(): Promise<void> {
  const all = [...agents.values()];
  agents.clear();
  await Promise.all(all.map((a) => a.close().catch(() => {})));
}
