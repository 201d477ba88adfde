// MPEG audio (MP3) frame header: sample rate and channel count of the first frame.

const RATES = [44100, 48000, 32000];

export interface Mp3Header {
  sampleRate: number;
  channels: number;
  /** 1 MPEG-1, 2 MPEG-2, 2.5 MPEG-2.5. */
  version: number;
  layer: number;
}

/** Parses the 4-byte header at the start of `frame`; undefined when it is not a valid frame header. */
export function parseMp3Header(frame: Uint8Array): Mp3Header | undefined {
  if (frame.length < 4 || frame[0] !== 0xff || (frame[1]! & 0xe0) !== 0xe0) return undefined;
  const versionBits = (frame[1]! >> 3) & 0x03;
  const layerBits = (frame[1]! >> 1) & 0x03;
  const rateIndex = (frame[2]! >> 2) & 0x03;
  if (versionBits === 1 || layerBits === 0 || rateIndex === 3) return undefined;
  const version = versionBits === 3 ? 1 : versionBits === 2 ? 2 : 2.5;
  const divisor = version === 1 ? 1 : version === 2 ? 2 : 4;
  return {
    sampleRate: RATES[rateIndex]! / divisor,
    channels: (frame[3]! >> 6) === 3 ? 1 : 2,
    version,
    layer: 4 - layerBits,
  };
}
