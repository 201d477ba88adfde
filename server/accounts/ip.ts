// IP allowlists: CIDR parsing and matching for IPv4 and IPv6 (ipaddr.js).
import ipaddr from "ipaddr.js";

export type ParsedCidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Parses "10.0.0.0/8", "2001:db8::/32" or a bare address (= /32 or /128). Throws with a message on bad input. */
export function parseCidr(text: string): ParsedCidr {
  const s = text.trim();
  try {
    if (s.includes("/")) {
      const [addr, bits] = ipaddr.parseCIDR(s);
      return [normalize(addr), addr.kind() === "ipv6" && normalize(addr).kind() === "ipv4" ? Math.max(0, bits - 96) : bits];
    }
    const addr = normalize(ipaddr.parse(s));
    return [addr, addr.kind() === "ipv4" ? 32 : 128];
  } catch {
    throw new Error(`"${text}" is not an IPv4/IPv6 address or CIDR range`);
  }
}

/** Canonical text form of a CIDR (validates). */
export function canonicalCidr(text: string): string {
  const [addr, bits] = parseCidr(text);
  return `${addr.toString()}/${bits}`;
}

function normalize(addr: ipaddr.IPv4 | ipaddr.IPv6): ipaddr.IPv4 | ipaddr.IPv6 {
  if (addr.kind() === "ipv6" && (addr as ipaddr.IPv6).isIPv4MappedAddress()) return (addr as ipaddr.IPv6).toIPv4Address();
  return addr;
}

/** True when ip is inside one of the ranges. Unparseable ips never match. IPv4-mapped IPv6 addresses match IPv4 ranges. */
export function ipAllowed(ip: string | undefined, ranges: readonly ParsedCidr[]): boolean {
  if (!ip) return false;
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    addr = normalize(ipaddr.parse(ip.replace(/^\[|\]$/g, "").replace(/%.*$/, "")));
  } catch {
    return false;
  }
  for (const [range, bits] of ranges) {
    if (range.kind() !== addr.kind()) continue;
    if (addr.kind() === "ipv4" ? (addr as ipaddr.IPv4).match(range as ipaddr.IPv4, bits) : (addr as ipaddr.IPv6).match(range as ipaddr.IPv6, bits)) return true;
  }
  return false;
}
