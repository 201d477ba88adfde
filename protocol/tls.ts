// TLS helpers: the orchestrator's self-signed certificate (generated at start,
// optionally cached in a directory) and client-side certificate pinning.
import { X509Certificate } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import tls from "node:tls";
import { generate } from "selfsigned";

export interface CertPair {
  key: string;
  cert: string;
  /** SHA-256 fingerprint, colon-separated uppercase hex (Node's `fingerprint256` format). */
  fingerprint256: string;
}

export interface SelfSignedOptions {
  /** Directory to cache `orchestrator-key.pem` / `orchestrator-cert.pem` in (reused while valid). */
  dir?: string;
  /** Host names and IPs for the subjectAltName (default localhost, 127.0.0.1, ::1). */
  hosts?: string[];
  /** Validity in days (default 365). */
  days?: number;
}

/** Normalize a fingerprint ("aa:bb..." / "AABB..." / "sha256/..." hex) to Node's `AA:BB:...` format. */
export function normalizeFingerprint(fp: string): string {
  const hex = fp
    .replace(/^sha256[:/]/i, "")
    .replace(/[^0-9a-f]/gi, "")
    .toUpperCase();
  return hex.match(/.{2}/g)?.join(":") ?? "";
}

export function certFingerprint256(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

async function loadCached(dir: string): Promise<CertPair | undefined> {
  try {
    const [key, cert] = await Promise.all([
      readFile(join(dir, "orchestrator-key.pem"), "utf8"),
      readFile(join(dir, "orchestrator-cert.pem"), "utf8"),
    ]);
    const x = new X509Certificate(cert);
    // Reuse only while valid for at least another day.
    if (new Date(x.validTo).getTime() - Date.now() < 24 * 3600 * 1000) return undefined;
    return { key, cert, fingerprint256: x.fingerprint256 };
  } catch {
    return undefined;
  }
}

/** A self-signed certificate for an orchestrator (EC P-256, SHA-256). */
export async function selfSignedCertificate(opts: SelfSignedOptions = {}): Promise<CertPair> {
  if (opts.dir) {
    const cached = await loadCached(opts.dir);
    if (cached) return cached;
  }
  const hosts = opts.hosts ?? ["localhost", "127.0.0.1", "::1"];
  const notBeforeDate = new Date(Date.now() - 60_000);
  const notAfterDate = new Date(notBeforeDate.getTime() + (opts.days ?? 365) * 24 * 3600 * 1000);
  const pems = await generate([{ name: "commonName", value: "wharf-dev-orchestrator" }], {
    keyType: "ec",
    curve: "P-256",
    algorithm: "sha256",
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
      { name: "extKeyUsage", serverAuth: true },
      {
        name: "subjectAltName",
        altNames: hosts.map((h) => (/^[\d.]+$|:/.test(h) ? { type: 7 as const, ip: h } : { type: 2 as const, value: h })),
      },
    ],
  });
  const pair: CertPair = { key: pems.private, cert: pems.cert, fingerprint256: certFingerprint256(pems.cert) };
  if (opts.dir) {
    await mkdir(opts.dir, { recursive: true });
    await writeFile(join(opts.dir, "orchestrator-key.pem"), pair.key, { mode: 0o600 });
    await writeFile(join(opts.dir, "orchestrator-cert.pem"), pair.cert);
  }
  return pair;
}

/**
 * Client TLS policy towards orchestrators. Default: no verification (as go-livepeer).
 * `ca`: verify the chain against this PEM (host name not checked: orchestrators are addressed by IP).
 * `pinSha256`: accept only a certificate with this SHA-256 fingerprint.
 */
export interface ClientTlsPolicy {
  ca?: string;
  pinSha256?: string;
}

/** Fetch the certificate a TLS server presents (no verification), e.g. to pin it. */
export function fetchPeerCertificate(host: string, port: number, timeoutMs = 3000): Promise<{ pem: string; fingerprint256: string }> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host, port, servername: /^[\d.:]+$/.test(host) ? undefined : host, rejectUnauthorized: false, ALPNProtocols: ["h2", "http/1.1"] });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`TLS handshake with ${host}:${port} timed out`));
    }, timeoutMs);
    sock.once("secureConnect", () => {
      clearTimeout(timer);
      const cert = sock.getPeerCertificate(false);
      sock.end();
      if (!cert || !cert.raw) {
        reject(new Error(`${host}:${port} presented no certificate`));
        return;
      }
      const b64 = cert.raw.toString("base64").match(/.{1,64}/g)!.join("\n");
      resolve({ pem: `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`, fingerprint256: cert.fingerprint256 });
    });
    sock.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** A tls.checkServerIdentity replacement: host name ignored, fingerprint enforced if pinned. */
export function pinningCheck(pinSha256?: string): (host: string, cert: tls.PeerCertificate) => Error | undefined {
  const want = pinSha256 ? normalizeFingerprint(pinSha256) : undefined;
  return (_host, cert) => {
    if (!want) return undefined;
    if (cert.fingerprint256 !== want) {
      return new Error(`certificate fingerprint ${cert.fingerprint256} does not match the pinned ${want}`);
    }
    return undefined;
  };
}
