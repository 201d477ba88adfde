// gRPC client towards orchestrators: GetOrchestrator, EndTranscodingSession, Ping.
// TLS verification is off by default (go-livepeer does the same with its
// self-signed orchestrators); a CA or a SHA-256 pin can be required instead.
// `http://` URLs use plaintext HTTP/2 (h2c). Clients (channels) are pooled per
// address and TLS policy, so refreshes reuse one connection per orchestrator.
import net from "node:net";
import * as grpc from "@grpc/grpc-js";
import type { AuthToken, OrchestratorInfo, OrchestratorRequest, PingPong } from "./messages.ts";
import { OrchestratorService } from "./grpc-service.ts";
import { routeGrpcLogging } from "./grpc-logging.ts";
import { fetchPeerCertificate, normalizeFingerprint, pinningCheck, type ClientTlsPolicy } from "./tls.ts";

/** go-livepeer's default orchestrator port. */
export const DEFAULT_ORCHESTRATOR_PORT = 8935;
export const DEFAULT_GRPC_TIMEOUT_MS = 6000;

export interface GrpcCallOptions {
  /** Deadline for the whole call, connection included (default 6 s). */
  timeoutMs?: number;
  tls?: ClientTlsPolicy;
  signal?: AbortSignal;
}

export interface GetOrchestratorOptions extends GrpcCallOptions {
  request?: OrchestratorRequest;
}

export class OrchestratorRpcError extends Error {
  constructor(
    message: string,
    /** gRPC status code; UNAVAILABLE / DEADLINE_EXCEEDED mean unreachable. */
    readonly code: grpc.status,
    readonly address: string,
  ) {
    super(message);
    this.name = "OrchestratorRpcError";
  }
  get unreachable(): boolean {
    return this.code === grpc.status.UNAVAILABLE || this.code === grpc.status.DEADLINE_EXCEEDED;
  }
}

export interface ParsedOrchestratorUrl {
  secure: boolean;
  host: string;
  port: number;
  /** host:port, IPv6 hosts bracketed. */
  target: string;
  /** Normalized URL (scheme://host:port). */
  url: string;
}

/** Parse an orchestrator address: `https://h:p`, `http://h:p` or bare `h:p` (TLS). */
export function parseOrchestratorUrl(address: string): ParsedOrchestratorUrl {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(address) ? address : `https://${address}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new Error(`invalid orchestrator address "${address}"`);
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") throw new Error(`unsupported scheme in "${address}"`);
  const secure = u.protocol === "https:";
  const port = u.port ? Number(u.port) : DEFAULT_ORCHESTRATOR_PORT;
  const host = u.hostname.replace(/^\[|\]$/g, "");
  const target = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  return { secure, host, port, target, url: `${u.protocol}//${target}` };
}

const clients = new Map<string, Promise<grpc.Client>>();

function policyKey(p: ClientTlsPolicy | undefined): string {
  if (!p) return "";
  return `${p.pinSha256 ? normalizeFingerprint(p.pinSha256) : ""}|${p.ca ?? ""}`;
}

async function credentialsFor(parsed: ParsedOrchestratorUrl, policy: ClientTlsPolicy | undefined): Promise<grpc.ChannelCredentials> {
  if (!parsed.secure) return grpc.credentials.createInsecure();
  if (policy?.ca) {
    return grpc.credentials.createSsl(Buffer.from(policy.ca), null, null, {
      rejectUnauthorized: true,
      checkServerIdentity: pinningCheck(policy.pinSha256),
    });
  }
  if (policy?.pinSha256) {
    // Pin: fetch the presented certificate, check its fingerprint, then trust exactly it
    // (OpenSSL verifies every later handshake against it; the fingerprint is re-checked).
    const want = normalizeFingerprint(policy.pinSha256);
    const seen = await fetchPeerCertificate(parsed.host, parsed.port);
    if (seen.fingerprint256 !== want) {
      throw new OrchestratorRpcError(
        `certificate fingerprint ${seen.fingerprint256} does not match the pinned ${want}`,
        grpc.status.UNAUTHENTICATED,
        parsed.url,
      );
    }
    return grpc.credentials.createSsl(Buffer.from(seen.pem), null, null, {
      rejectUnauthorized: true,
      checkServerIdentity: pinningCheck(want),
    });
  }
  return grpc.credentials.createSsl(null, null, null, {
    rejectUnauthorized: false,
    checkServerIdentity: () => undefined,
  });
}

function clientFor(address: string, policy: ClientTlsPolicy | undefined): Promise<grpc.Client> {
  const parsed = parseOrchestratorUrl(address);
  const key = `${parsed.url}#${policyKey(policy)}`;
  let c = clients.get(key);
  if (!c) {
    routeGrpcLogging();
    c = credentialsFor(parsed, policy).then(
      (creds) =>
        new grpc.Client(parsed.target, creds, {
          // SNI must be a host name (RFC 6066): for IP targets send a neutral one
          // (our checkServerIdentity ignores host names anyway).
          ...(parsed.secure && net.isIP(parsed.host) ? { "grpc.ssl_target_name_override": "orchestrator.invalid" } : {}),
          "grpc.max_receive_message_length": 16 * 1024 * 1024,
          "grpc.keepalive_time_ms": 60_000,
          "grpc.initial_reconnect_backoff_ms": 500,
          "grpc.max_reconnect_backoff_ms": 10_000,
        }),
    );
    clients.set(key, c);
    // A failed setup (pin mismatch, unreachable during the pin fetch) is not cached.
    c.catch(() => clients.delete(key));
  }
  return c;
}

async function unary<Req, Res>(
  address: string,
  def: grpc.MethodDefinition<Req, Res>,
  req: Req,
  opts: GrpcCallOptions,
): Promise<Res> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_GRPC_TIMEOUT_MS;
  let client: grpc.Client;
  try {
    client = await clientFor(address, opts.tls);
  } catch (err) {
    if (err instanceof OrchestratorRpcError) throw err;
    throw new OrchestratorRpcError(`${address}: ${(err as Error).message}`, grpc.status.UNAVAILABLE, address);
  }
  return new Promise<Res>((resolve, reject) => {
    const call = client.makeUnaryRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      req,
      new grpc.Metadata(),
      { deadline: Date.now() + timeoutMs },
      (err, res) => {
        opts.signal?.removeEventListener("abort", onAbort);
        if (err) reject(new OrchestratorRpcError(`${address}: ${err.details || err.message}`, err.code ?? grpc.status.UNKNOWN, address));
        else if (res === undefined) reject(new OrchestratorRpcError(`${address}: empty response`, grpc.status.INTERNAL, address));
        else resolve(res);
      },
    );
    const onAbort = () => call.cancel();
    if (opts.signal?.aborted) call.cancel();
    else opts.signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** `GetOrchestrator`: the orchestrator's info (service URL, prices, capabilities, auth token). */
export function getOrchestrator(address: string, opts: GetOrchestratorOptions = {}): Promise<OrchestratorInfo> {
  return unary(address, OrchestratorService.GetOrchestrator, opts.request ?? {}, opts);
}

/** `EndTranscodingSession`: tell the orchestrator a session's auth token is done. */
export async function endTranscodingSession(address: string, authToken: AuthToken, opts: GrpcCallOptions = {}): Promise<void> {
  await unary(address, OrchestratorService.EndTranscodingSession, { authToken }, opts);
}

/** `Ping`: echo of the value. */
export function ping(address: string, value: Uint8Array, opts: GrpcCallOptions = {}): Promise<PingPong> {
  return unary(address, OrchestratorService.Ping, { value }, opts);
}

/** Close pooled channels (one address, or all). */
export async function closeGrpcClients(address?: string): Promise<void> {
  const url = address ? parseOrchestratorUrl(address).url : undefined;
  const entries = [...clients.entries()].filter(([k]) => !url || k.startsWith(`${url}#`));
  for (const [k, p] of entries) {
    clients.delete(k);
    try {
      (await p).close();
    } catch {
      /* setup failed: nothing to close */
    }
  }
}
