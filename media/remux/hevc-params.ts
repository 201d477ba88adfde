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
  /** VUI timing info: frames per second = timeScale / numUnitsInTick (undefined when absent or unreadable). */
  timing?: { numUnitsInTick: number; timeScale: number };
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

/** Parses an SPS NAL unit (type 33, with its two-byte NAL header), through the VUI timing info. */
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
  const sps: HevcSps = {
    ptl, chromaFormatIdc, bitDepthLuma, bitDepthChroma, codedWidth, codedHeight,
    width: codedWidth - subWidthC * (win[0]! + win[1]!),
    height: codedHeight - subHeightC * (win[2]! + win[3]!),
  };
  try {
    sps.timing = readSpsTiming(r, maxSubLayersMinus1);
  } catch {
    // The size and profile stand; only the signalled frame rate is lost.
  }
  return sps;
}

function skipScalingListData(r: BitReader): void {
  for (let sizeId = 0; sizeId < 4; sizeId++) {
    for (let matrixId = 0; matrixId < 6; matrixId += sizeId === 3 ? 3 : 1) {
      if (!r.flag()) {
        r.ue(); // scaling_list_pred_matrix_id_delta
      } else {
        const coefNum = Math.min(64, 1 << (4 + (sizeId << 1)));
        if (sizeId > 1) r.se(); // scaling_list_dc_coef_minus8
        for (let i = 0; i < coefNum; i++) r.se(); // scaling_list_delta_coef
      }
    }
  }
}

/** Reads the SPS from log2_max_pic_order_cnt_lsb_minus4 to the VUI timing info (7.3.2.2.1, E.2.1). */
function readSpsTiming(r: BitReader, maxSubLayersMinus1: number): { numUnitsInTick: number; timeScale: number } | undefined {
  const log2MaxPocLsb = r.ue() + 4;
  const orderingInfoForAll = r.flag();
  for (let i = orderingInfoForAll ? 0 : maxSubLayersMinus1; i <= maxSubLayersMinus1; i++) {
    r.ue(); // sps_max_dec_pic_buffering_minus1
    r.ue(); // sps_max_num_reorder_pics
    r.ue(); // sps_max_latency_increase_plus1
  }
  r.ue(); // log2_min_luma_coding_block_size_minus3
  r.ue(); // log2_diff_max_min_luma_coding_block_size
  r.ue(); // log2_min_luma_transform_block_size_minus2
  r.ue(); // log2_diff_max_min_luma_transform_block_size
  r.ue(); // max_transform_hierarchy_depth_inter
  r.ue(); // max_transform_hierarchy_depth_intra
  if (r.flag() && r.flag()) skipScalingListData(r); // scaling_list_enabled_flag, sps_scaling_list_data_present_flag
  r.skip(2); // amp_enabled_flag, sample_adaptive_offset_enabled_flag
  if (r.flag()) {
    // pcm_enabled_flag
    r.skip(8); // pcm sample bit depths
    r.ue();
    r.ue();
    r.skip(1); // pcm_loop_filter_disabled_flag
  }
  const numStRps = r.ue();
  if (numStRps > 64) return undefined;
  const numDeltaPocs: number[] = [];
  for (let idx = 0; idx < numStRps; idx++) {
    // st_ref_pic_set(idx) (7.3.7); in the SPS a predicted set always refers to the one before it.
    if (idx > 0 && r.flag()) {
      r.skip(1); // delta_rps_sign
      r.ue(); // abs_delta_rps_minus1
      let k = 0;
      for (let j = 0; j <= numDeltaPocs[idx - 1]!; j++) {
        const used = r.flag();
        const useDelta = used || r.flag();
        if (used || useDelta) k++;
      }
      numDeltaPocs.push(k);
    } else {
      const neg = r.ue();
      const pos = r.ue();
      if (neg + pos > 32) return undefined;
      for (let i = 0; i < neg + pos; i++) {
        r.ue(); // delta_poc_s0/s1_minus1
        r.skip(1); // used_by_curr_pic_s0/s1_flag
      }
      numDeltaPocs.push(neg + pos);
    }
  }
  if (r.flag()) {
    // long_term_ref_pics_present_flag
    const n = r.ue();
    for (let i = 0; i < n; i++) r.skip(log2MaxPocLsb + 1); // lt_ref_pic_poc_lsb_sps, used_by_curr_pic_lt_sps_flag
  }
  r.skip(2); // sps_temporal_mvp_enabled_flag, strong_intra_smoothing_enabled_flag
  if (!r.flag()) return undefined; // vui_parameters_present_flag
  if (r.flag()) {
    // aspect_ratio_info_present_flag
    if (r.u(8) === 255) r.skip(32);
  }
  if (r.flag()) r.skip(1); // overscan_info_present_flag, overscan_appropriate_flag
  if (r.flag()) {
    // video_signal_type_present_flag
    r.skip(4);
    if (r.flag()) r.skip(24);
  }
  if (r.flag()) {
    // chroma_loc_info_present_flag
    r.ue();
    r.ue();
  }
  r.skip(3); // neutral_chroma_indication_flag, field_seq_flag, frame_field_info_present_flag
  if (r.flag()) {
    // default_display_window_flag
    r.ue();
    r.ue();
    r.ue();
    r.ue();
  }
  if (!r.flag()) return undefined; // vui_timing_info_present_flag
  const numUnitsInTick = r.u(32);
  const timeScale = r.u(32);
  return numUnitsInTick > 0 && timeScale > 0 ? { numUnitsInTick, timeScale } : undefined;
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
