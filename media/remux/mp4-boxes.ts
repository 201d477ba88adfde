// ISO-BMFF boxes for CMAF: the init segment (ftyp + moov with avc1/hvc1/mp4a sample entries) and a fragment (moof + mdat).

export function box(type: string, ...parts: Buffer[]): Buffer {
  let size = 8;
  for (const p of parts) size += p.length;
  const head = Buffer.allocUnsafe(8);
  head.writeUInt32BE(size, 0);
  head.write(type, 4, "latin1");
  return Buffer.concat([head, ...parts], size);
}

export function fullBox(type: string, version: number, flags: number, ...parts: Buffer[]): Buffer {
  const vf = Buffer.allocUnsafe(4);
  vf.writeUInt32BE(((version << 24) | (flags & 0xffffff)) >>> 0, 0);
  return box(type, vf, ...parts);
}

function u32s(...values: number[]): Buffer {
  const b = Buffer.allocUnsafe(values.length * 4);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, i * 4));
  return b;
}

const MATRIX = u32s(0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000);

export type InitTrack =
  | { kind: "video"; id: number; timescale: number; codec: "h264" | "hevc"; width: number; height: number; /** avcC/hvcC record. */ config: Buffer }
  | { kind: "audio"; id: number; timescale: number; codec: "aac" | "mp3"; sampleRate: number; channels: number; /** AudioSpecificConfig (AAC). */ config?: Buffer };

function descriptor(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  if (body.length > 0x0fffffff) throw new RangeError("descriptor too large");
  // Four-byte size form, as most muxers write it.
  const len = Buffer.from([0x80 | ((body.length >> 21) & 0x7f), 0x80 | ((body.length >> 14) & 0x7f), 0x80 | ((body.length >> 7) & 0x7f), body.length & 0x7f]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

function esds(track: Extract<InitTrack, { kind: "audio" }>): Buffer {
  const decoderConfig = Buffer.alloc(13);
  decoderConfig[0] = track.codec === "aac" ? 0x40 : 0x6b; // objectTypeIndication: MPEG-4 audio / MPEG-1 audio
  decoderConfig[1] = (0x05 << 2) | 1; // streamType audio, upStream 0, reserved 1
  const dsi = track.codec === "aac" && track.config ? [descriptor(0x05, track.config)] : [];
  const es = descriptor(
    0x03,
    Buffer.from([(track.id >> 8) & 0xff, track.id & 0xff, 0]), // ES_ID, flags
    descriptor(0x04, decoderConfig, ...dsi),
    descriptor(0x06, Buffer.from([0x02])), // SLConfigDescriptor: predefined MP4
  );
  return fullBox("esds", 0, 0, es);
}

function sampleEntry(track: InitTrack): Buffer {
  if (track.kind === "video") {
    const fields = Buffer.alloc(78);
    fields.writeUInt16BE(1, 6); // data_reference_index
    fields.writeUInt16BE(track.width, 24);
    fields.writeUInt16BE(track.height, 26);
    fields.writeUInt32BE(0x00480000, 28); // 72 dpi
    fields.writeUInt32BE(0x00480000, 32);
    fields.writeUInt16BE(1, 40); // frame_count
    fields.writeUInt16BE(0x18, 74); // depth
    fields.writeInt16BE(-1, 76);
    return track.codec === "h264" ? box("avc1", fields, box("avcC", track.config)) : box("hvc1", fields, box("hvcC", track.config));
  }
  const fields = Buffer.alloc(28);
  fields.writeUInt16BE(1, 6); // data_reference_index
  fields.writeUInt16BE(track.channels, 16);
  fields.writeUInt16BE(16, 18); // samplesize
  fields.writeUInt32BE(track.sampleRate <= 0xffff ? track.sampleRate * 0x10000 : 0, 24);
  return box("mp4a", fields, esds(track)); // MP3 too, with objectTypeIndication 0x6B
}

function trak(track: InitTrack): Buffer {
  const video = track.kind === "video";
  const tkhd = Buffer.alloc(80);
  tkhd.writeUInt32BE(track.id, 8);
  tkhd.writeUInt16BE(video ? 0 : 0x0100, 32); // volume
  MATRIX.copy(tkhd, 36);
  if (video) {
    tkhd.writeUInt32BE(track.width * 0x10000, 72);
    tkhd.writeUInt32BE(track.height * 0x10000, 76);
  }
  const mdhd = Buffer.alloc(20);
  mdhd.writeUInt32BE(track.timescale, 8);
  mdhd.writeUInt16BE(0x55c4, 16); // language "und"
  const hdlr = Buffer.concat([u32s(0), Buffer.from(video ? "vide" : "soun"), u32s(0, 0, 0), Buffer.from(video ? "VideoHandler\0" : "SoundHandler\0")]);
  const mediaHeader = video ? fullBox("vmhd", 0, 1, Buffer.alloc(8)) : fullBox("smhd", 0, 0, Buffer.alloc(4));
  const dinf = box("dinf", fullBox("dref", 0, 0, u32s(1), fullBox("url ", 0, 1)));
  const stbl = box(
    "stbl",
    fullBox("stsd", 0, 0, u32s(1), sampleEntry(track)),
    fullBox("stts", 0, 0, u32s(0)),
    fullBox("stsc", 0, 0, u32s(0)),
    fullBox("stsz", 0, 0, u32s(0, 0)),
    fullBox("stco", 0, 0, u32s(0)),
  );
  return box(
    "trak",
    fullBox("tkhd", 0, 3, tkhd), // enabled, in movie
    box("mdia", fullBox("mdhd", 0, 0, mdhd), fullBox("hdlr", 0, 0, hdlr), box("minf", mediaHeader, dinf, stbl)),
  );
}

/** ftyp + moov for the given tracks (no samples: they all come in fragments). */
export function initSegment(tracks: InitTrack[]): Buffer {
  const ftyp = box("ftyp", Buffer.from("iso6"), u32s(0), Buffer.from("iso6cmfcmp41isom"));
  const mvhd = Buffer.alloc(96);
  mvhd.writeUInt32BE(1000, 8); // timescale
  mvhd.writeUInt32BE(0x00010000, 16); // rate
  mvhd.writeUInt16BE(0x0100, 20); // volume
  MATRIX.copy(mvhd, 32);
  mvhd.writeUInt32BE(Math.max(0, ...tracks.map((t) => t.id)) + 1, 92); // next_track_ID
  const trex = tracks.map((t) => fullBox("trex", 0, 0, u32s(t.id, 1, 0, 0, 0)));
  return Buffer.concat([ftyp, box("moov", fullBox("mvhd", 0, 0, mvhd), ...tracks.map(trak), box("mvex", ...trex))]);
}

export interface FragmentSample {
  /** Sample bytes (length-prefixed NAL units, or one raw audio frame). */
  data: Buffer;
  duration: number;
  /** PTS - DTS in the track's timescale (may be negative). */
  compositionOffset: number;
  key: boolean;
}

export interface FragmentTrack {
  id: number;
  /** DTS of the first sample in the track's timescale. */
  baseDecodeTime: number;
  samples: FragmentSample[];
}

const SAMPLE_SYNC = 0x02000000; // sample_depends_on = 2 (independent)
const SAMPLE_NON_SYNC = 0x01010000; // sample_depends_on = 1, sample_is_non_sync_sample

function traf(t: FragmentTrack, dataOffset: number): Buffer {
  const n = t.samples.length;
  const entries = Buffer.allocUnsafe(8 + n * 16);
  entries.writeUInt32BE(n, 0);
  entries.writeInt32BE(dataOffset, 4);
  let o = 8;
  for (const s of t.samples) {
    entries.writeUInt32BE(s.duration, o);
    entries.writeUInt32BE(s.data.length, o + 4);
    entries.writeUInt32BE(s.key ? SAMPLE_SYNC : SAMPLE_NON_SYNC, o + 8);
    entries.writeInt32BE(s.compositionOffset, o + 12);
    o += 16;
  }
  const tfdt = u32s(Math.floor(t.baseDecodeTime / 2 ** 32), t.baseDecodeTime % 2 ** 32);
  return box(
    "traf",
    fullBox("tfhd", 0, 0x020000, u32s(t.id)), // default-base-is-moof
    fullBox("tfdt", 1, 0, tfdt),
    // data offset, duration, size, flags, composition offset (version 1: signed)
    fullBox("trun", 1, 0x000001 | 0x000100 | 0x000200 | 0x000400 | 0x000800, entries),
  );
}

/** moof + mdat for one fragment; each track's samples are contiguous in the mdat, in track order. */
export function fragment(sequence: number, tracks: FragmentTrack[]): Buffer {
  const present = tracks.filter((t) => t.samples.length > 0);
  const build = (offsets: number[]): Buffer => box("moof", fullBox("mfhd", 0, 0, u32s(sequence)), ...present.map((t, i) => traf(t, offsets[i]!)));
  const moofSize = build(present.map(() => 0)).length;
  const offsets: number[] = [];
  let at = moofSize + 8;
  for (const t of present) {
    offsets.push(at);
    for (const s of t.samples) at += s.data.length;
  }
  const data = present.flatMap((t) => t.samples.map((s) => s.data));
  return Buffer.concat([build(offsets), box("mdat", ...data)]);
}
