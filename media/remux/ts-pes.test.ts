import { test } from "node:test";
import assert from "node:assert/strict";
import { TsPacketReader, TsProgramMap, readPesPts, type TsPacket } from "../../core/mpegts/packets.ts";
import { pesPacketCount, writePes, type PesUnit } from "./ts-pes.ts";
import { crc32Mpeg2, patPacket, pmtPacket } from "./ts-tables.ts";
import { inspectTs, pesUnits } from "./testing/ts-inspect.ts";

function unit(length: number, opts: Partial<PesUnit> = {}): PesUnit {
  const data = Buffer.alloc(length);
  for (let i = 0; i < length; i++) data[i] = (i * 31 + 7) & 0xff;
  // Split into uneven pieces (including an empty one) to exercise the piece walk.
  const pieces = [data.subarray(0, length >> 2), Buffer.alloc(0), data.subarray(length >> 2, length >> 1), data.subarray(length >> 1)];
  return { pid: 0x100, streamId: 0xe0, pts: 900000, dts: 900000, bounded: false, randomAccess: false, pieces, length, ...opts };
}

function write(u: PesUnit, cc = 0): { ts: Buffer; cc: number } {
  const n = pesPacketCount(u);
  const ts = Buffer.alloc(n * 188, 0xaa);
  const next = writePes(ts, 0, cc, u);
  return { ts, cc: next };
}

test("PES packetization for every size around packet boundaries: stuffing, PCR, RAI, counters, payload intact", () => {
  const sizes = [0, 1, 2, 150, 155, 160, 161, 162, 163, 164, 165, 166, 169, 170, 171, 172, 175, 176, 177, 183, 184, 185, 340, 347, 348, 349, 350, 351, 352, 353, 360, 1000, 65535, 70000];
  for (const size of sizes) {
    for (const variant of [
      {},
      { randomAccess: true },
      { randomAccess: true, pcr: 2 ** 33 - 1 },
      { dts: 899000, pcr: 12345 },
      { streamId: 0xc0, bounded: true, randomAccess: true },
    ] as Array<Partial<PesUnit>>) {
      const u = unit(size, variant);
      const { ts, cc } = write(u, 14);
      const label = `size ${size} ${JSON.stringify(variant)}`;
      assert.ok(!ts.includes(Buffer.alloc(188, 0xaa)), `${label}: every byte written`);
      const packets = inspectTs(ts);
      assert.equal(packets.length, pesPacketCount(u));
      assert.equal(cc, (14 + packets.length) & 15, `${label}: next cc`);
      packets.forEach((p, i) => {
        assert.equal(p.cc, (14 + i) & 15, `${label}: cc`);
        assert.equal(p.pusi, i === 0);
        assert.equal(p.rai, i === 0 && !!variant.randomAccess, `${label}: rai`);
        assert.equal(p.pcr, i === 0 ? variant.pcr : undefined, `${label}: pcr`);
      });
      const [pes] = pesUnits(packets, 0x100);
      assert.ok(pes);
      const hdr = 9 + pes.bytes[8]!;
      assert.equal(hdr, variant.dts !== undefined ? 19 : 14);
      assert.equal(pes.bytes.length, hdr + size, `${label}: no stuffing inside the PES`);
      assert.deepEqual(pes.bytes.subarray(hdr), Buffer.concat(u.pieces), `${label}: payload`);
      assert.equal(readPesPts(pes.bytes.length >= 14 ? pes.bytes : Buffer.concat([pes.bytes, Buffer.alloc(14)])), u.pts);
      assert.equal(packets[0]!.dts, u.dts);
      const declared = pes.bytes.readUInt16BE(4);
      assert.equal(declared, u.bounded && hdr - 6 + size <= 0xffff ? hdr - 6 + size : 0, `${label}: PES_packet_length`);
    }
  }
});

test("33-bit timestamps and PCR encode exactly at the top of the range", () => {
  for (const t of [0, 1, 2 ** 30 - 1, 2 ** 30, 2 ** 32 + 5, 2 ** 33 - 1]) {
    const { ts } = write(unit(10, { pts: t, dts: (t + 1) % 2 ** 33, pcr: t }));
    const [p] = inspectTs(ts);
    assert.equal(p!.pts, t);
    assert.equal(p!.dts, (t + 1) % 2 ** 33);
    assert.equal(p!.pcr, t);
  }
});

test("core's TS reader and program map follow our PAT/PMT and packets", () => {
  const pat = patPacket(0x1000);
  const pmt = pmtPacket(0x1000, 0x100, [{ streamType: 0x24, pid: 0x100 }, { streamType: 0x0f, pid: 0x101 }], 3);
  const video = write(unit(500, { randomAccess: true, pcr: 1 })).ts;
  const map = new TsProgramMap();
  const seen: TsPacket[] = [];
  new TsPacketReader().push(Buffer.concat([pat, pmt, video]), (p) => {
    if (!map.observe(p)) seen.push(p);
  });
  assert.deepEqual([map.pmtPid, map.videoPid, map.videoIsHevc, map.audioPid], [0x1000, 0x100, true, 0x101]);
  assert.equal(seen.length, 3);
  assert.ok(seen[0]!.rai && seen[0]!.pusi);
});

test("section CRC: CRC-32/MPEG-2 check value and self-check of our tables", () => {
  assert.equal(crc32Mpeg2(Buffer.from("123456789")), 0x0376e6e7);
  // A PAT section for program 1 at PMT PID 0x1001 carries CRC 2E 70 19 05 in many muxers' constant headers.
  assert.equal(crc32Mpeg2(Buffer.from("00b00d0001c100000001f001", "hex")), 0x2e701905);
  for (const p of [patPacket(0x1000), pmtPacket(0x1000, 0x101, [{ streamType: 0x0f, pid: 0x101 }], 31)]) {
    const len = ((p[6]! & 0x0f) << 8) | p[7]!;
    assert.equal(crc32Mpeg2(p, 5, 5 + 3 + len), 0, "CRC over section + CRC is 0");
    assert.ok(p.subarray(5 + 3 + len).every((b) => b === 0xff), "0xFF fill");
  }
});
