// Bit-level reader for H.264/HEVC parameter sets: emulation-prevention removal, fixed-width and exp-Golomb fields.

/** Removes emulation-prevention bytes (00 00 03 -> 00 00) from a NAL unit, returning the RBSP. */
export function unescapeRbsp(nal: Uint8Array): Buffer {
  // Most parameter sets have no 00 00 03 sequence: return a view without copying.
  let first = -1;
  for (let i = 2; i < nal.length; i++) {
    if (nal[i] === 3 && nal[i - 1] === 0 && nal[i - 2] === 0) {
      first = i;
      break;
    }
  }
  const src = Buffer.from(nal.buffer, nal.byteOffset, nal.byteLength);
  if (first < 0) return src;
  const out = Buffer.allocUnsafe(nal.length);
  src.copy(out, 0, 0, first);
  let o = first;
  let zeros = 0;
  for (let i = first + 1; i < nal.length; i++) {
    const b = nal[i]!;
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out[o++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, o);
}

export class BitstreamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BitstreamError";
  }
}

/** Reads bits MSB first from an RBSP; throws BitstreamError when reading past the end. */
export class BitReader {
  private pos = 0;

  constructor(private readonly data: Uint8Array) {}

  get bitsLeft(): number {
    return this.data.length * 8 - this.pos;
  }

  get bitPosition(): number {
    return this.pos;
  }

  /** One bit. */
  bit(): number {
    if (this.pos >= this.data.length * 8) throw new BitstreamError("read past the end of the parameter set");
    const b = (this.data[this.pos >> 3]! >> (7 - (this.pos & 7))) & 1;
    this.pos++;
    return b;
  }

  flag(): boolean {
    return this.bit() === 1;
  }

  /** n bits (n <= 32) as an unsigned number. */
  u(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }

  skip(n: number): void {
    if (this.pos + n > this.data.length * 8) throw new BitstreamError("read past the end of the parameter set");
    this.pos += n;
  }

  /** Unsigned exp-Golomb ue(v). */
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      zeros++;
      if (zeros > 31) throw new BitstreamError("exp-Golomb code longer than 32 bits");
    }
    return 2 ** zeros - 1 + this.u(zeros);
  }

  /** Signed exp-Golomb se(v). */
  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : 0 - k / 2;
  }
}
