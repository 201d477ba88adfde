// Log-safe references to stream keys: a short hash instead of the secret itself.
import { createHash } from "node:crypto";

/** "key#1a2b3c4d": identifies the same key across log lines without revealing it. */
export function keyRef(streamKey: string): string {
  if (!streamKey) return "key#(empty)";
  return `key#${createHash("sha256").update(streamKey).digest("hex").slice(0, 8)}`;
}
