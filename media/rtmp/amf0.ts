// AMF0 encode/decode of the values RTMP commands and metadata use (Adobe AMF0 spec, bounded and strict).

/** A decoded AMF0 value. Objects and ECMA arrays decode to prototype-less records. */
export type Amf0Value = number | boolean | string | null | undefined | Date | Amf0Value[] | Amf0Object;
export interface Amf0Object {
  [key: string]: Amf0Value;
}

/** Malformed AMF0 (truncated, unknown marker, too deep): the connection that sent it is closed. */
export class Amf0Error extends Error {
  override name = "Amf0Error";
}

/** Nesting deeper than this is refused (no real command or metadata comes close). */
export const AMF0_MAX_DEPTH = 16;

enum Marker {
  Number = 0x00,
  Boolean = 0x01,
  String = 0x02,
  Object = 0x03,
  Null = 0x05,
  Undefined = 0x06,
  EcmaArray = 0x08,
  ObjectEnd = 0x09,
  StrictArray = 0x0a,
  Date = 0x0b,
  LongString = 0x0c,
  Unsupported = 0x0d,
  XmlDocument = 0x0f,
  TypedObject = 0x10,
}

class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  need(n: number): void {
    if (this.remaining < n) throw new Amf0Error(`truncated AMF0 value at byte ${this.pos}`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  utf8(len: number): string {
    this.need(len);
    const s = this.buf.toString("utf8", this.pos, this.pos + len);
    this.pos += len;
    return s;
  }

  value(depth: number): Amf0Value {
    if (depth > AMF0_MAX_DEPTH) throw new Amf0Error(`AMF0 nesting deeper than ${AMF0_MAX_DEPTH}`);
    const marker = this.u8();
    switch (marker) {
      case Marker.Number:
        return this.f64();
      case Marker.Boolean:
        return this.u8() !== 0;
      case Marker.String:
        return this.utf8(this.u16());
      case Marker.LongString:
      case Marker.XmlDocument:
        return this.utf8(this.u32());
      case Marker.Object:
        return this.properties(depth);
      case Marker.TypedObject:
        this.utf8(this.u16()); // class name: not needed
        return this.properties(depth);
      case Marker.EcmaArray:
        this.u32(); // advisory count; the end marker is what terminates it
        return this.properties(depth);
      case Marker.StrictArray: {
        const count = this.u32();
        // Each element takes at least one byte: a count larger than what is left is a lie.
        if (count > this.remaining) throw new Amf0Error(`AMF0 strict array of ${count} elements in ${this.remaining} bytes`);
        const out: Amf0Value[] = [];
        for (let i = 0; i < count; i++) out.push(this.value(depth + 1));
        return out;
      }
      case Marker.Date: {
        const ms = this.f64();
        this.u16(); // time zone, unused by the spec
        return new Date(ms);
      }
      case Marker.Null:
        return null;
      case Marker.Undefined:
      case Marker.Unsupported:
        return undefined;
      default:
        throw new Amf0Error(`unsupported AMF0 marker 0x${marker.toString(16)} at byte ${this.pos - 1}`);
    }
  }

  /** Key/value pairs up to the empty key + object-end marker. */
  private properties(depth: number): Amf0Object {
    const obj: Amf0Object = Object.create(null) as Amf0Object;
    for (;;) {
      const key = this.utf8(this.u16());
      if (key === "" && this.remaining > 0 && this.buf[this.pos] === Marker.ObjectEnd) {
        this.pos++;
        return obj;
      }
      obj[key] = this.value(depth + 1);
    }
  }
}

/** Decodes every value in the buffer (a command or data message body). Throws Amf0Error. */
export function decodeAmf0(buf: Buffer): Amf0Value[] {
  const r = new Reader(buf);
  const out: Amf0Value[] = [];
  while (r.remaining > 0) out.push(r.value(0));
  return out;
}

/** Decodes one value at `offset`; returns it and the offset after it. Throws Amf0Error. */
export function decodeAmf0Value(buf: Buffer, offset = 0): { value: Amf0Value; end: number } {
  const r = new Reader(buf);
  r.pos = offset;
  const value = r.value(0);
  return { value, end: r.pos };
}

function writeValue(parts: Buffer[], v: Amf0Value, depth: number): void {
  if (depth > AMF0_MAX_DEPTH) throw new Amf0Error(`AMF0 nesting deeper than ${AMF0_MAX_DEPTH}`);
  if (v === null) {
    parts.push(Buffer.of(Marker.Null));
  } else if (v === undefined) {
    parts.push(Buffer.of(Marker.Undefined));
  } else if (typeof v === "number") {
    const b = Buffer.alloc(9);
    b[0] = Marker.Number;
    b.writeDoubleBE(v, 1);
    parts.push(b);
  } else if (typeof v === "boolean") {
    parts.push(Buffer.of(Marker.Boolean, v ? 1 : 0));
  } else if (typeof v === "string") {
    const s = Buffer.from(v, "utf8");
    if (s.length <= 0xffff) {
      const h = Buffer.alloc(3);
      h[0] = Marker.String;
      h.writeUInt16BE(s.length, 1);
      parts.push(h, s);
    } else {
      const h = Buffer.alloc(5);
      h[0] = Marker.LongString;
      h.writeUInt32BE(s.length, 1);
      parts.push(h, s);
    }
  } else if (v instanceof Date) {
    const b = Buffer.alloc(11);
    b[0] = Marker.Date;
    b.writeDoubleBE(v.getTime(), 1);
    parts.push(b);
  } else if (Array.isArray(v)) {
    const h = Buffer.alloc(5);
    h[0] = Marker.StrictArray;
    h.writeUInt32BE(v.length, 1);
    parts.push(h);
    for (const item of v) writeValue(parts, item, depth + 1);
  } else {
    parts.push(Buffer.of(Marker.Object));
    for (const [key, item] of Object.entries(v)) {
      const k = Buffer.from(key, "utf8");
      if (k.length === 0 || k.length > 0xffff) throw new Amf0Error(`AMF0 object key of ${k.length} bytes`);
      const h = Buffer.alloc(2);
      h.writeUInt16BE(k.length, 0);
      parts.push(h, k);
      writeValue(parts, item, depth + 1);
    }
    parts.push(Buffer.of(0, 0, Marker.ObjectEnd));
  }
}

/** Encodes values one after another (a command: name, transaction id, command object, arguments). */
export function encodeAmf0(...values: Amf0Value[]): Buffer {
  const parts: Buffer[] = [];
  for (const v of values) writeValue(parts, v, 0);
  return Buffer.concat(parts);
}
