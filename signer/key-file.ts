// The signer's secp256k1 key on disk: `<data dir>/signer-key`, 64 hex digits, mode 0600, created on
// first start. This key is what pays: it is never logged and never leaves this file and the process.
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generateSecretKey } from "../protocol/payments/personal-sign.ts";

export const KEY_FILE_NAME = "signer-key";
const KEY_FILE_MODE = 0o600;
const DATA_DIR_MODE = 0o700;

export interface LoadedKey {
  secretKey: Uint8Array;
  path: string;
  created: boolean;
  /** Set when the file was readable by others and its mode was tightened to 0600. */
  tightenedMode?: number;
}

export async function loadOrCreateSignerKey(dataDir: string): Promise<LoadedKey> {
  const path = join(dataDir, KEY_FILE_NAME);
  await mkdir(dataDir, { recursive: true, mode: DATA_DIR_MODE });
  let text: string | undefined;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  if (text === undefined) {
    const secretKey = generateSecretKey();
    // "wx": never overwrite a key another process wrote meanwhile.
    await writeFile(path, `${Buffer.from(secretKey).toString("hex")}\n`, { mode: KEY_FILE_MODE, flag: "wx" });
    return { secretKey, path, created: true };
  }
  const hex = text.trim().replace(/^0x/, "");
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new Error(`${path}: not a secp256k1 secret key (expected 64 hex digits)`);
  const mode = (await stat(path)).mode & 0o777;
  let tightenedMode: number | undefined;
  if (mode & 0o077) {
    await chmod(path, KEY_FILE_MODE);
    tightenedMode = mode;
  }
  return { secretKey: Uint8Array.from(Buffer.from(hex, "hex")), path, created: false, tightenedMode };
}
