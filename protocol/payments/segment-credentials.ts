// Segment credentials: the SegData a gateway signs so the orchestrator knows who sent a segment
// (go-livepeer core/streamdata.go SegTranscodingMetadata.Flatten, server/segment_rpc.go genSegCreds).
// Flattened fields: manifestID | leftpad32(seq) | keccak256(segment bytes) | hex(profile ids), where a
// profile id is the first 4 bytes of keccak256(profile name) and hex() is ASCII lowercase hex. The sig
// is personal_sign(keccak256(flattened)): go's broadcaster.Sign hashes before the account signs.
import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex, concatBytes } from "@noble/hashes/utils.js";
import type { AuthToken, Capabilities, SegData } from "../messages.ts";
import { verifyPersonalSignature, type MessageSigner } from "./personal-sign.ts";
import { leftPad32, uintToBytes32 } from "./uint256.ts";

const utf8 = new TextEncoder();

/** ASCII hex of the 4-byte keccak prefix of each profile name (common.ProfilesToHex). */
export function profilesHex(profileNames: readonly string[]): string {
  return profileNames.map((n) => bytesToHex(keccak_256(utf8.encode(n)).subarray(0, 4))).join("");
}

export interface SegmentCredentialsInput {
  manifestId: string;
  seq: number;
  /** keccak256 of the segment bytes (32 bytes). */
  hash: Uint8Array;
  /** Rendition profile names, in order ([] for AI and live payments). */
  profileNames: readonly string[];
}

/** go's SegTranscodingMetadata.Flatten(). */
export function flattenSegmentCredentials(input: SegmentCredentialsInput): Uint8Array {
  if (!Number.isSafeInteger(input.seq) || input.seq < 0) throw new RangeError(`segment seq ${input.seq} must be a non-negative integer`);
  if (input.hash.length !== 32) throw new RangeError(`segment hash must be 32 bytes, got ${input.hash.length}`);
  return concatBytes(utf8.encode(input.manifestId), uintToBytes32(BigInt(input.seq)), input.hash, utf8.encode(profilesHex(input.profileNames)));
}

/** The 32-byte message personal_signed as the SegData `sig`. */
export function segmentCredentialsMessage(input: SegmentCredentialsInput): Uint8Array {
  return keccak_256(flattenSegmentCredentials(input));
}

export function signSegmentCredentials(input: SegmentCredentialsInput, signer: MessageSigner): Uint8Array {
  return signer.sign(segmentCredentialsMessage(input));
}

/** Whether a received SegData's sig is `sender`'s over its fields (profile names from the SegData's profiles). */
export function segmentCredentialsValid(seg: SegData, profileNames: readonly string[], sender: Uint8Array): boolean {
  const hash = seg.hash ?? new Uint8Array(0);
  if (!seg.sig || hash.length > 32) return false;
  const message = segmentCredentialsMessage({
    manifestId: Buffer.from(seg.manifestId ?? new Uint8Array(0)).toString("utf8"),
    seq: seg.seq ?? 0,
    hash: leftPad32(hash),
    profileNames,
  });
  return verifyPersonalSignature(sender, message, seg.sig);
}

export interface LivePaymentCredentialsInput {
  manifestId: string;
  authToken?: AuthToken;
  capabilities?: Capabilities;
  signer: MessageSigner;
}

/**
 * The SegData a remote signer returns as `segCreds` with a live payment: an empty segment (seq 0,
 * hash of no bytes, no profiles, duration 0), the orchestrator's auth token and the requested
 * capabilities, signed. `profiles` is go's legacy "invalid" marker.
 */
export function livePaymentCredentials(input: LivePaymentCredentialsInput): SegData {
  const hash = keccak_256(new Uint8Array(0));
  const seg: SegData = {
    manifestId: utf8.encode(input.manifestId),
    seq: 0,
    hash,
    profiles: utf8.encode("invalid"),
    sig: signSegmentCredentials({ manifestId: input.manifestId, seq: 0, hash, profileNames: [] }, input.signer),
  };
  if (input.capabilities) seg.capabilities = input.capabilities;
  if (input.authToken) seg.authToken = input.authToken;
  return seg;
}
