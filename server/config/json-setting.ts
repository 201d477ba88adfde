// Settings that hold JSON may be given inline or as a path to a JSON file.
import { readFileSync } from "node:fs";
import { ConfigError } from "./load.ts";

export function readJsonSetting<T>(field: string, value: string): T {
  const text = value.trim().startsWith("{") || value.trim().startsWith("[") ? value : readFile(field, value);
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new ConfigError(`${field}: not valid JSON (${(err as Error).message})`);
  }
}

function readFile(field: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(`${field}: cannot read ${path}: ${(err as Error).message}`);
  }
}
