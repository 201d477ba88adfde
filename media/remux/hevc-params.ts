// HEVC parameter set parser: profile/tier/level and cropped picture size from the SPS, frame rate from the VPS timing info.
import { BitReader, unescapeRbsp } from "./bit-reader.ts";

export interface HevcProfileTierLevel {
  profileSpace: number;
  tierFlag: boolean;
  profileIdc: number;
  /** general_profile_compatibility_flag[0..31] as a 32-bit number, flag 0 in the MSB. */
  compatibilityFlags: number;
  /** The 48 bits after the compatibility flags (progressive_source_flag onwards), 6 bytes. */
  constraintBytes: number[];
  levelIdc: number;
}

export interface HevcSps {
  ptl: HevcProfileTierLevel;
  chromaFormatIdc: number;
  bitDepthLuma: number;
  bitDepthChroma: number;
  codedWidth: number;
  codedHeight: number;
  /** Size after the conformance window. */
  width: number;
  height: number;
}

function readProfileTierLevel(r: BitReader, maxSubLayersMinus1: number): HevcProfileTierLevel {
  const profileSpace = r.u(2);
  const tierFlag = r.flag();
  const profileIdc = r.u(5);
  const compatibilityFlags = r.u(32);
  const constraintBytes: number[] = [];
  for (let i = 0; i < 6; i++) constraintBytes.push(r.u(8));
  const levelIdc = r.u(8);
  const profilePresent: boolean[] = [];
  const levelPresent: boolean[] = [];
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    profilePresent.push(r.flag());
    levelPresent.push(r.flag());
  }
  if (maxSubLayersMinus1 > 0) for (let i = maxSubLayersMinus1; i < 8; i++) r.skip(2);
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    if (profilePresent[i]) r.skip(88);
    if (levelPresent[i]) r.skip(8);
  }
  return { profileSpace, tierFlag, profileIdc, compatibilityFlags, constraintBytes, levelIdc };
}

/** Parses an SPS NAL unit (type 33, with its two-byte NAL header). Reads up to the bit depths. */
export function parseHevcSps(nal: Uint8Array): HevcSps {
  const r = new BitReader(unescapeRbsp(nal));
  r.skip(16); // NAL unit header
  r.skip(4); // sps_video_parameter_set_id
  const maxSubLayersMinus1 = r.u(3);
  r.skip(1); // sps_temporal_id_nesting_flag
  const ptl = readProfileTierLevel(r, maxSubLayersMinus1);
  r.ue(); // sps_seq_parameter_set_id
  const chromaFormatIdc = r.ue();
  let separateColourPlane = false;
  if (chromaFormatIdc === 3) separateColourPlane = r.flag();
  const codedWidth = r.ue();
  const codedHeight = r.ue();
  let win = [0, 0, 0, 0];
  if (r.flag()) win = [r.ue(), r.ue(), r.ue(), r.ue()];
  const bitDepthLuma = 8 + r.ue();
  const bitDepthChroma = 8 + r.ue();
  // Conformance window offsets count chroma samples (Table 6-1: SubWidthC, SubHeightC).
  const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
  const subWidthC = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
  const subHeightC = chromaArrayType === 1 ? 2 : 1;
  return {
    ptl, chromaFormatIdc, bitDepthLuma, bitDepthChroma, codedWidth, codedHeight,
    width: codedWidth - subWidthC * (win[0]! + win[1]!),
    height: codedHeight - subHeightC * (win[2]! + win[3]!),
  };
}

/** VPS timing info (type 32): frames per second = timeScale / numUnitsInTick, when signalled. */
export function parseHevcVpsTiming(nal: Uint8Array): { numUnitsInTick: number; timeScale: number } | undefined {
  const r = new BitReader(unescapeRbsp(nal));
  r.skip(16); // NAL unit header
  r.skip(4 + 1 + 1 + 6); // vps_video_parameter_set_id, base layer flags, vps_max_layers_minus1
  const maxSubLayersMinus1 = r.u(3);
  r.skip(1 + 16); // vps_temporal_id_nesting_flag, vps_reserved_0xffff_16bits
  readProfileTierLevel(r, maxSubLayersMinus1);
  const orderingInfoForAll = r.flag();
  for (let i = orderingInfoForAll ? 0 : maxSubLayersMinus1; i <= maxSubLayersMinus1; i++) {
    r.ue(); // vps_max_dec_pic_buffering_minus1
    r.ue(); // vps_max_num_reorder_pics
    r.ue(); // vps_max_latency_increase_plus1
  }
  const maxLayerId = r.u(6);
  const numLayerSetsMinus1 = r.ue();
  for (let i = 1; i <= numLayerSetsMinus1; i++) r.skip(maxLayerId + 1);
  if (!r.flag()) return undefined;
  const numUnitsInTick = r.u(32);
  const timeScale = r.u(32);
  return numUnitsInTick > 0 && timeScale > 0 ? { numUnitsInTick, timeScale } : undefined;
}

/** Profile name as ffprobe/libavcodec reports it. */
export function hevcProfileName(profileIdc: number, compatibilityFlags: number): string {
  // libavcodec falls back to the compatibility flags when general_profile_idc is 0.
  let idc = profileIdc;
  if (idc === 0) for (let j = 1; j < 32 && idc === 0; j++) if ((compatibilityFlags >>> (31 - j)) & 1) idc = j;
  switch (idc) {
    case 1: return "Main";
    case 2: return "Main 10";
    case 3: return "Main Still Picture";
    case 4: return "Rext";
    case 9: return "SCC";
    default: return `Profile ${idc}`;
  }
}

/** RFC 6381 / ISO 14496-15 codec string, e.g. hvc1.1.6.L93.B0. */
export function hevcCodecString(ptl: HevcProfileTierLevel): string {
  const space = ["", "A", "B", "C"][ptl.profileSpace] ?? "";
  let reversed = 0;
  for (let i = 0; i < 32; i++) if ((ptl.compatibilityFlags >>> i) & 1) reversed = reversed * 2 + 1;
  else reversed = reversed * 2;
  const bytes = [...ptl.constraintBytes];
  while (bytes.length > 0 && bytes[bytes.length - 1] === 0) bytes.pop();
  const parts = [
    "hvc1",
    `${space}${ptl.profileIdc}`,
    reversed.toString(16).toUpperCase(),
    `${ptl.tierFlag ? "H" : "L"}${ptl.levelIdc}`,
    ...bytes.map((b) => b.toString(16).toUpperCase()),
  ];
  return parts.join(".");
}
