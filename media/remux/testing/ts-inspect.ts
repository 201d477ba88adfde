// Test helper: splits MPEG-TS bytes into packets with their header fields, adaptation field (PCR, RAI) and PES timestamps.
import { readPesPts } from "../../../core/mpegts/packets.ts";

export interface InspectedPacket {
  index: number;
  pid: number;
  pusi: boolean;
  cc: number;
  hasPayload: boolean;
  rai: boolean;
  pcr?: number;
  /** Adaptation field length byte (undefined when there is none). */
  afLength?: number;
  payload: Buffer;
  /** PTS/DTS of a PES starting in this packet. */
  pts?: number;
  dts?: number;
}

export function inspectTs(ts: Buffer): InspectedPacket[] {
  if (ts.length % 188 !== 0) throw new Error(`TS length ${ts.length} is not a multiple of 188`);
  const out: InspectedPacket[] = [];
  for (let off = 0, index = 0; off < ts.length; off += 188, index++) {
    const p = ts.subarray(off, off + 188);
    if (p[0] !== 0x47) throw new Error(`packet ${index} has no sync byte`);
    const afc = (p[3]! >> 4) & 3;
    const pkt: InspectedPacket = {
      index,
      pid: ((p[1]! & 0x1f) << 8) | p[2]!,
      pusi: (p[1]! & 0x40) !== 0,
      cc: p[3]! & 0x0f,
      hasPayload: (afc & 1) === 1,
      rai: false,
      payload: Buffer.alloc(0),
    };
    let start = 4;
    if (afc & 2) {
      const len = p[4]!;
      pkt.afLength = len;
      if (len > 183) throw new Error(`packet ${index}: adaptation field length ${len}`);
      if (len > 0) {
        const flags = p[5]!;
        pkt.rai = (flags & 0x40) !== 0;
        if (flags & 0x10) {
          pkt.pcr = p[6]! * 2 ** 25 + p[7]! * 2 ** 17 + p[8]! * 2 ** 9 + p[9]! * 2 + (p[10]! >> 7);
        }
      }
      start = 5 + len;
    }
    if (pkt.hasPayload) pkt.payload = p.subarray(start);
    if (pkt.pusi && pkt.pid !== 0 && pkt.payload[0] === 0 && pkt.payload[1] === 0 && pkt.payload[2] === 1) {
      pkt.pts = readPesPts(pkt.payload);
      if ((pkt.payload[7]! & 0x40) !== 0) {
        const q = pkt.payload;
        pkt.dts = ((q[14]! >> 1) & 7) * 2 ** 30 + (((q[15]! << 8) | q[16]!) >> 1) * 2 ** 15 + (((q[17]! << 8) | q[18]!) >> 1);
      } else {
        pkt.dts = pkt.pts;
      }
    }
    out.push(pkt);
  }
  return out;
}

/** Reassembles each PES of a PID: its packets' payloads concatenated, with the first packet. */
export function pesUnits(packets: InspectedPacket[], pid: number): Array<{ first: InspectedPacket; bytes: Buffer }> {
  const units: Array<{ first: InspectedPacket; parts: Buffer[] }> = [];
  for (const p of packets) {
    if (p.pid !== pid || !p.hasPayload) continue;
    if (p.pusi) units.push({ first: p, parts: [p.payload] });
    else units[units.length - 1]?.parts.push(p.payload);
  }
  return units.map((u) => ({ first: u.first, bytes: Buffer.concat(u.parts) }));
}
