// H.264 sequence parameter set parser: profile, level, chroma format, cropped picture size and VUI frame rate.
import { BitReader, unescapeRbsp } from "./bit-reader.ts";

export interface H264Sps {
  profileIdc: number;
  /** The byte after profile_idc: constraint_set0..5 flags (MSB first) and two reserved bits. */
  constraintFlags: number;
  levelIdc: number;
  spsId: number;
  /** 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4. */
  chromaFormatIdc: number;
  bitDepthLuma: number;
  bitDepthChroma: number;
  frameMbsOnly: boolean;
  /** Size before cropping (whole macroblocks). */
  codedWidth: number;
  codedHeight: number;
  /** Displayed size, after frame cropping. */
  width: number;
  height: number;
  /** Sample aspect ratio when signalled in the VUI. */
  sar?: [number, number];
  /** From VUI timing info: frames per second = timeScale / (2 * numUnitsInTick). */
  timing?: { numUnitsInTick: number; timeScale: number; fixedFrameRate: boolean };
}

/** Profiles whose SPS carries chroma format, bit depths and scaling matrices (H.264 7.3.2.1.1). */
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/** Sample aspect ratios of aspect_ratio_idc 1..16 (Table E-1). */
const SAR_TABLE: Array<[number, number]> = [
  [0, 0], [1, 1], [12, 11], [10, 11], [16, 11], [40, 33], [24, 11], [20, 11], [32, 11],
  [80, 33], [18, 11], [15, 11], [64, 33], [160, 99], [4, 3], [3, 2], [2, 1],
];

function skipScalingList(r: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) {
      const delta = r.se();
      next = (last + delta + 256) % 256;
    }
    last = next === 0 ? last : next;
  }
}

/** Parses an SPS NAL unit (with its one-byte NAL header, emulation-prevention bytes allowed). */
export function parseH264Sps(nal: Uint8Array): H264Sps {
  const r = new BitReader(unescapeRbsp(nal));
  r.skip(8); // forbidden_zero_bit, nal_ref_idc, nal_unit_type
  const profileIdc = r.u(8);
  const constraintFlags = r.u(8);
  const levelIdc = r.u(8);
  const spsId = r.ue();
  let chromaFormatIdc = 1;
  let separateColourPlane = false;
  let bitDepthLuma = 8;
  let bitDepthChroma = 8;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = r.ue();
    if (chromaFormatIdc === 3) separateColourPlane = r.flag();
    bitDepthLuma = 8 + r.ue();
    bitDepthChroma = 8 + r.ue();
    r.skip(1); // qpprime_y_zero_transform_bypass_flag
    if (r.flag()) {
      // seq_scaling_matrix_present_flag: 6 4x4 lists, then 2 (or 6 for 4:4:4) 8x8 lists.
      const lists = chromaFormatIdc !== 3 ? 8 : 12;
      for (let i = 0; i < lists; i++) {
        if (r.flag()) skipScalingList(r, i < 6 ? 16 : 64);
      }
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) {
    r.ue(); // log2_max_pic_order_cnt_lsb_minus4
  } else if (pocType === 1) {
    r.skip(1); // delta_pic_order_always_zero_flag
    r.se(); // offset_for_non_ref_pic
    r.se(); // offset_for_top_to_bottom_field
    const cycle = r.ue();
    for (let i = 0; i < cycle; i++) r.se();
  }
  r.ue(); // max_num_ref_frames
  r.skip(1); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.ue() + 1;
  const heightMapUnits = r.ue() + 1;
  const frameMbsOnly = r.flag();
  if (!frameMbsOnly) r.skip(1); // mb_adaptive_frame_field_flag
  r.skip(1); // direct_8x8_inference_flag
  let crop = [0, 0, 0, 0];
  if (r.flag()) crop = [r.ue(), r.ue(), r.ue(), r.ue()];

  const codedWidth = widthMbs * 16;
  const codedHeight = heightMapUnits * 16 * (frameMbsOnly ? 1 : 2);
  // Crop units (7.4.2.1.1): ChromaArrayType 0 counts luma samples, otherwise chroma samples.
  const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
  const subWidthC = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
  const subHeightC = chromaArrayType === 1 ? 2 : 1;
  const cropUnitX = chromaArrayType === 0 ? 1 : subWidthC;
  const cropUnitY = (chromaArrayType === 0 ? 1 : subHeightC) * (frameMbsOnly ? 1 : 2);
  const width = codedWidth - cropUnitX * (crop[0]! + crop[1]!);
  const height = codedHeight - cropUnitY * (crop[2]! + crop[3]!);

  const sps: H264Sps = {
    profileIdc, constraintFlags, levelIdc, spsId, chromaFormatIdc, bitDepthLuma, bitDepthChroma,
    frameMbsOnly, codedWidth, codedHeight, width, height,
  };
  if (r.bitsLeft > 0 && r.flag()) readVui(r, sps);
  return sps;
}

function readVui(r: BitReader, sps: H264Sps): void {
  if (r.flag()) {
    // aspect_ratio_info_present_flag
    const idc = r.u(8);
    if (idc === 255) sps.sar = [r.u(16), r.u(16)];
    else if (idc > 0 && idc < SAR_TABLE.length) sps.sar = SAR_TABLE[idc];
  }
  if (r.flag()) r.skip(1); // overscan_info_present_flag, overscan_appropriate_flag
  if (r.flag()) {
    // video_signal_type_present_flag
    r.skip(4); // video_format, video_full_range_flag
    if (r.flag()) r.skip(24); // colour_primaries, transfer_characteristics, matrix_coefficients
  }
  if (r.flag()) {
    // chroma_loc_info_present_flag
    r.ue();
    r.ue();
  }
  if (r.flag()) {
    // timing_info_present_flag
    const numUnitsInTick = r.u(32);
    const timeScale = r.u(32);
    const fixedFrameRate = r.flag();
    if (numUnitsInTick > 0 && timeScale > 0) sps.timing = { numUnitsInTick, timeScale, fixedFrameRate };
  }
}

/** Profile name as ffprobe/libavcodec reports it, e.g. "High", "Constrained Baseline". */
export function h264ProfileName(profileIdc: number, constraintFlags: number): string {
  const set1 = (constraintFlags & 0x40) !== 0;
  const set3 = (constraintFlags & 0x10) !== 0;
  switch (profileIdc) {
    case 66: return set1 ? "Constrained Baseline" : "Baseline";
    case 77: return "Main";
    case 88: return "Extended";
    case 100: return "High";
    case 110: return set3 ? "High 10 Intra" : "High 10";
    case 122: return set3 ? "High 4:2:2 Intra" : "High 4:2:2";
    case 144: return "High 4:4:4";
    case 244: return set3 ? "High 4:4:4 Intra" : "High 4:4:4 Predictive";
    case 44: return "CAVLC 4:4:4";
    case 118: return "Multiview High";
    case 128: return "Stereo High";
    default: return `Profile ${profileIdc}`;
  }
}

/** Frames per second from VUI timing, when signalled and plausible. */
export function h264VuiFps(sps: H264Sps): number | undefined {
  if (!sps.timing) return undefined;
  const fps = sps.timing.timeScale / (2 * sps.timing.numUnitsInTick);
  return fps >= 1 && fps <= 240 ? fps : undefined;
}
