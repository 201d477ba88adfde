// NAL unit framing: the length-prefixed NAL units of FLV/MP4 samples, and start-code (Annex B) scanning for encoders that send it instead.

/** Calls `onNal` with each NAL unit of a length-prefixed sample; returns false when a length overruns the sample. */
export function forEachLengthPrefixedNal(sample: Buffer, lengthSize: number, onNal: (nal: Buffer) => void): boolean {
  let off = 0;
  while (off + lengthSize <= sample.length) {
    let len: number;
    if (lengthSize === 4) len = sample.readUInt32BE(off);
    else if (lengthSize === 2) len = sample.readUInt16BE(off);
    else len = sample[off]!;
    off += lengthSize;
    if (len > sample.length - off) return false;
    if (len > 0) onNal(sample.subarray(off, off + len));
    off += len;
  }
  return off === sample.length;
}

/** True when a "length-prefixed" sample actually starts with an Annex B start code (00 00 00 01). */
export function looksLikeAnnexB(sample: Buffer, lengthSize: number): boolean {
  return lengthSize === 4 && sample.length > 4 && sample[0] === 0 && sample[1] === 0 && sample[2] === 0 && sample[3] === 1;
}

/** Calls `onNal` with each NAL unit of an Annex B byte stream (start codes of 3 or 4 bytes). */
export function forEachAnnexBNal(data: Buffer, onNal: (nal: Buffer) => void): void {
  let start = -1;
  let i = 0;
  const n = data.length;
  while (i + 2 < n) {
    if (data[i + 2]! > 1) {
      i += 3;
    } else if (data[i] === 0 && data[i + 1] === 0 && data[i + 2] === 1) {
      if (start >= 0) {
        let end = i;
        while (end > start && data[end - 1] === 0) end--; // trailing zero of a 4-byte start code
        if (end > start) onNal(data.subarray(start, end));
      }
      i += 3;
      start = i;
    } else {
      i++;
    }
  }
  if (start >= 0 && start < n) onNal(data.subarray(start));
}
