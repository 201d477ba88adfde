// Where a webhook may point: http(s) URLs whose host is a public address, unless the operator
// allows private ones (webhookAllowPrivate). Checked when the webhook is created and again at
// every connection (the resolved addresses, so a name re-pointed to 127.0.0.1 is refused too).
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { isIP } from "node:net";
import ipaddr from "ipaddr.js";

/** True for loopback, private, link-local, unique-local, CGNAT, multicast, unspecified ... anything not public unicast. */
export function isPrivateAddress(ip: string): boolean {
  try {
    let addr = ipaddr.parse(ip.replace(/^\[|\]$/g, "").replace(/%.*$/, ""));
    if (addr.kind() === "ipv6" && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
    return addr.range() !== "unicast";
  } catch {
    return true;
  }
}

/** The reason `text` cannot be a webhook URL, or undefined when it can. */
export function targetUrlProblem(text: string, allowPrivate: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `url: "${text}" is not a URL`;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return `url: only http and https URLs can receive webhooks (got ${url.protocol.replace(/:$/, "")})`;
  if (url.username || url.password) return "url: credentials in the URL are not accepted (they would be stored and shown)";
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (!allowPrivate && (host === "localhost" || host.endsWith(".localhost") || (isIP(host) && isPrivateAddress(host)))) {
    return `url: ${host} is a private or loopback address; set webhookAllowPrivate to deliver to it`;
  }
  return undefined;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A dns.lookup for the HTTP client's connections that refuses private addresses. */
export function publicOnlyLookup(hostname: string, options: object, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const list = addresses as LookupAddress[];
    const bad = list.find((a) => isPrivateAddress(a.address));
    if (bad) {
      const e = new Error(`${hostname} resolves to ${bad.address}, a private address (webhookAllowPrivate is off)`) as NodeJS.ErrnoException;
      e.code = "EPRIVATEADDRESS";
      return callback(e, []);
    }
    if ((options as { all?: boolean }).all) return callback(null, list);
    callback(null, list[0]!.address, list[0]!.family);
  });
}
