import { test } from "node:test";
import assert from "node:assert/strict";
import { BitReader, BitstreamError, unescapeRbsp } from "./bit-reader.ts";

test("unescapeRbsp drops the 03 of each 00 00 03 and nothing else", () => {
  const hex = (h: string): string => unescapeRbsp(Buffer.from(h, "hex")).toString("hex");
  assert.equal(hex("6764001e"), "6764001e");
  assert.equal(hex("000003000003"), "00000000");
  assert.equal(hex("00000301"), "000001");
  assert.equal(hex("0000030003"), "00000003", "an 03 after a single zero stays");
  assert.equal(hex("00000303"), "000003", "only the first 03 of 00 00 03 03 is emulation prevention");
  assert.equal(hex("aa000003"), "aa0000", "trailing 00 00 03");
  const plain = Buffer.from("6764001eacd9", "hex");
  assert.equal(unescapeRbsp(plain).buffer, plain.buffer, "no copy without emulation prevention");
});

test("exp-Golomb ue/se and fixed-width reads", () => {
  // Bits: 1 | 010 | 011 | 00100 | 00101 | 0001000 | 1 ...
  // ue: 0, 1, 2, 3, 4, 7; then u(1) = 1.
  const bits = "1" + "010" + "011" + "00100" + "00101" + "0001000" + "1";
  const padded = bits.padEnd(Math.ceil(bits.length / 8) * 8, "0");
  const bytes = Buffer.from(padded.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  const r = new BitReader(bytes);
  assert.deepEqual([r.ue(), r.ue(), r.ue(), r.ue(), r.ue(), r.ue(), r.u(1)], [0, 1, 2, 3, 4, 7, 1]);
  // se mapping: 1 -> 0, 010 -> 1, 011 -> -1, 00100 -> 2, 00101 -> -2.
  const s = new BitReader(bytes);
  assert.deepEqual([s.se(), s.se(), s.se(), s.se(), s.se()], [0, 1, -1, 2, -2]);
  const w = new BitReader(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x80]));
  assert.equal(w.u(32), 0xffffffff);
  assert.equal(w.bit(), 1);
  assert.equal(w.bitsLeft, 7);
});

test("reading past the end or an over-long exp-Golomb code throws BitstreamError", () => {
  const r = new BitReader(Buffer.from([0x00]));
  assert.throws(() => r.ue(), BitstreamError);
  assert.throws(() => new BitReader(Buffer.alloc(8)).ue(), BitstreamError);
  assert.throws(() => new BitReader(Buffer.alloc(1)).skip(9), BitstreamError);
});
