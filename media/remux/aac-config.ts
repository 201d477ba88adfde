// AAC AudioSpecificConfig (the FLV/RTMP AAC sequence header) and the 7-byte ADTS header built from it for MPEG-TS.
import { BitReader } from "./bit-reader.ts";

export const AAC_SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

export interface AacConfig {
  /** Object type as signalled (2 LC, 5 HE-AAC/SBR, 29 HE-AACv2/PS, ...): the "mp4a.40.N" of a codec string. */
  objectType: number;
  /** Object type of the core stream (the one ADTS carries: SBR/PS ride inside an LC stream). */
  coreObjectType: number;
  /** Sample rate index of the core stream (0..12), or 15 with coreSampleRate explicit. */
  coreSampleRateIndex: number;
  coreSampleRate: number;
  /** Output sample rate (the SBR rate for HE-AAC). */
  sampleRate: number;
  channelConfig: number;
  /** Output channels (2 for parametric stereo). 0 when the layout is in a program config element. */
  channels: number;
}

const CHANNELS_BY_CONFIG = [0, 1, 2, 3, 4, 5, 6, 8, 0, 0, 0, 7, 8, 24, 8, 0];

function objectType(r: BitReader): number {
  const t = r.u(5);
  return t === 31 ? 32 + r.u(6) : t;
}

function sampleRate(r: BitReader): [index: number, rate: number] {
  const index = r.u(4);
  if (index === 15) return [15, r.u(24)];
  const rate = AAC_SAMPLE_RATES[index];
  if (rate === undefined) throw new RangeError(`reserved AAC sample rate index ${index}`);
  return [index, rate];
}

/** Parses an AudioSpecificConfig (ISO 14496-3 1.6.2.1). */
export function parseAacConfig(data: Uint8Array): AacConfig {
  if (data.length < 2) throw new RangeError(`AAC sequence header too short (${data.length} bytes)`);
  const r = new BitReader(data);
  const signalled = objectType(r);
  let [coreSampleRateIndex, coreSampleRate] = sampleRate(r);
  const channelConfig = r.u(4);
  let coreObjectType = signalled;
  let outRate = coreSampleRate;
  if (signalled === 5 || signalled === 29) {
    // Explicit hierarchical SBR signalling: the extension (output) rate, then the core object type.
    outRate = sampleRate(r)[1];
    coreObjectType = objectType(r);
  }
  let channels = CHANNELS_BY_CONFIG[channelConfig] ?? 0;
  if (signalled === 29 && channels === 1) channels = 2;
  return {
    objectType: signalled, coreObjectType, coreSampleRateIndex, coreSampleRate,
    sampleRate: outRate, channelConfig, channels,
  };
}

/** Builds ADTS headers for one AudioSpecificConfig. */
export class AdtsHeader {
  private readonly fixed: Buffer;

  constructor(cfg: AacConfig) {
    // ADTS has two bits of profile: object types 1..4 only (Main, LC, SSR, LTP).
    if (cfg.coreObjectType < 1 || cfg.coreObjectType > 4) {
      throw new RangeError(`AAC object type ${cfg.coreObjectType} cannot be carried in ADTS`);
    }
    let index = cfg.coreSampleRateIndex;
    if (index === 15) index = nearestRateIndex(cfg.coreSampleRate);
    const profile = cfg.coreObjectType - 1;
    const ch = cfg.channelConfig;
    this.fixed = Buffer.from([
      0xff,
      0xf1, // syncword, MPEG-4, layer 0, protection_absent
      (profile << 6) | (index << 2) | ((ch >> 2) & 1),
      (ch & 3) << 6,
    ]);
  }

  /** Largest raw frame an ADTS header can describe (13-bit frame length, header included). */
  static readonly MAX_PAYLOAD = 0x1fff - 7;

  /** Writes the header of a frame with `payloadLength` raw bytes at out[off..off+7). */
  write(out: Buffer, off: number, payloadLength: number): void {
    const len = payloadLength + 7;
    out[off] = this.fixed[0]!;
    out[off + 1] = this.fixed[1]!;
    out[off + 2] = this.fixed[2]!;
    out[off + 3] = this.fixed[3]! | ((len >> 11) & 0x03);
    out[off + 4] = (len >> 3) & 0xff;
    out[off + 5] = ((len & 0x07) << 5) | 0x1f; // buffer fullness 0x7ff (VBR)
    out[off + 6] = 0xfc; // ... and one raw data block
  }
}

function nearestRateIndex(rate: number): number {
  let best = 0;
  for (let i = 1; i < AAC_SAMPLE_RATES.length; i++) {
    if (Math.abs(AAC_SAMPLE_RATES[i]! - rate) < Math.abs(AAC_SAMPLE_RATES[best]! - rate)) best = i;
  }
  return best;
}
