import { test } from "node:test";
import assert from "node:assert/strict";
import { Amf0Error, AMF0_MAX_DEPTH, decodeAmf0, decodeAmf0Value, encodeAmf0 } from "./amf0.ts";

const plain = (v: unknown) => JSON.parse(JSON.stringify(v));

test("round trip of the values commands use", () => {
  const values = [
    "connect",
    1,
    { app: "live", tcUrl: "rtmp://127.0.0.1:1935/live", fpad: false, capabilities: 15, audioCodecs: 4071, nested: { a: [1, "two", null] } },
    null,
    undefined,
    true,
    -0.5,
    "",
    "ünïcødé",
  ];
  const decoded = decodeAmf0(encodeAmf0(...values));
  assert.equal(decoded.length, values.length);
  assert.deepEqual(plain(decoded.slice(0, 4)), plain(values.slice(0, 4)));
  assert.equal(decoded[4], undefined);
  assert.deepEqual(decoded.slice(5), values.slice(5));
});

test("exact bytes: number, string, object end marker", () => {
  assert.deepEqual(encodeAmf0(1), Buffer.from("003ff0000000000000", "hex"));
  assert.deepEqual(encodeAmf0("ab"), Buffer.from("0200026162", "hex"));
  assert.deepEqual(encodeAmf0({ a: true }), Buffer.from("0300016101010000" + "09", "hex"));
});

test("long strings switch to the long-string marker and back", () => {
  const s = "x".repeat(70000);
  const b = encodeAmf0(s);
  assert.equal(b[0], 0x0c);
  assert.equal(decodeAmf0(b)[0], s);
});

test("ECMA array (onMetaData), strict array, date, typed object decode", () => {
  // @setDataFrame, onMetaData, ECMA array {duration: 0, encoder: "Lavf"}
  const ecma = Buffer.concat([
    encodeAmf0("@setDataFrame", "onMetaData"),
    Buffer.from([0x08, 0, 0, 0, 2]),
    Buffer.from([0, 8]), Buffer.from("duration"), encodeAmf0(0),
    Buffer.from([0, 7]), Buffer.from("encoder"), encodeAmf0("Lavf"),
    Buffer.from([0, 0, 9]),
  ]);
  const [a, b, meta] = decodeAmf0(ecma);
  assert.equal(a, "@setDataFrame");
  assert.equal(b, "onMetaData");
  assert.deepEqual(plain(meta), { duration: 0, encoder: "Lavf" });

  const date = new Date(1700000000000);
  const d = decodeAmf0(encodeAmf0(date))[0];
  assert.ok(d instanceof Date);
  assert.equal(d.getTime(), date.getTime());

  const typed = Buffer.concat([Buffer.from([0x10, 0, 3]), Buffer.from("Foo"), Buffer.from([0, 1]), Buffer.from("x"), encodeAmf0(5), Buffer.from([0, 0, 9])]);
  assert.deepEqual(plain(decodeAmf0(typed)[0]), { x: 5 });

  const { value, end } = decodeAmf0Value(encodeAmf0("a", 2), 0);
  assert.equal(value, "a");
  assert.equal(end, 4);
});

test("a __proto__ key is data, not a prototype", () => {
  const bytes = Buffer.concat([Buffer.from([0x03, 0, 9]), Buffer.from("__proto__"), encodeAmf0({ polluted: true }), Buffer.from([0, 0, 9])]);
  const obj = decodeAmf0(bytes)[0] as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(obj), null);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.deepEqual(plain(obj["__proto__"]), { polluted: true });
});

test("malformed input throws Amf0Error, never anything else", () => {
  const bad: Buffer[] = [
    Buffer.from([0x00, 1, 2]), // truncated number
    Buffer.from([0x02, 0, 10, 0x61]), // string longer than the buffer
    Buffer.from([0x11, 0x00]), // AMF3 switch: not supported
    Buffer.from([0x07, 0, 1]), // reference: not supported
    Buffer.from([0x03, 0, 1, 0x61]), // object cut after a key
    Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x05]), // strict array claiming 4 billion elements
    Buffer.from([0x0c, 0x7f, 0xff, 0xff, 0xff]), // long string claiming 2 GB
  ];
  // Strict arrays nested deeper than the limit.
  const deep: Buffer[] = [];
  for (let i = 0; i < AMF0_MAX_DEPTH + 2; i++) deep.push(Buffer.from([0x0a, 0, 0, 0, 1]));
  deep.push(Buffer.from([0x05]));
  bad.push(Buffer.concat(deep));
  for (const b of bad) assert.throws(() => decodeAmf0(b), Amf0Error, b.toString("hex"));
  // Random bytes: only Amf0Error (or success), no TypeError/RangeError.
  for (let i = 0; i < 2000; i++) {
    const len = 1 + Math.floor(Math.random() * 64);
    const b = Buffer.alloc(len);
    for (let j = 0; j < len; j++) b[j] = Math.floor(Math.random() * 256);
    try {
      decodeAmf0(b);
    } catch (err) {
      assert.ok(err instanceof Amf0Error, `${(err as Error).name}: ${(err as Error).message} for ${b.toString("hex")}`);
    }
  }
});
