// Loads the configuration: defaults < config file < WHARF_* environment < command-line flags.
// An invalid value stops start-up with a message naming the field.
import { readFileSync } from "node:fs";
import { Value } from "typebox/value";
import { ConfigSchema, type Config } from "./schema.ts";

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

const fields = Object.keys(ConfigSchema.properties) as Array<keyof Config>;

/** httpPort -> WHARF_HTTP_PORT */
export function envName(field: string): string {
  // liveAIHeartbeatURL -> WHARF_LIVE_AI_HEARTBEAT_URL (acronyms are one word)
  return "WHARF_" + field.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/([A-Z])([A-Z][a-z])/g, "$1_$2").toUpperCase();
}

/** http-port / httpPort / http_port -> httpPort */
function fieldFromFlag(flag: string): keyof Config | undefined {
  const norm = flag.replace(/[-_]/g, "").toLowerCase();
  return fields.find((f) => f.toLowerCase() === norm);
}

function coerce(field: keyof Config, raw: string, source: string): unknown {
  const schema = ConfigSchema.properties[field] as { type?: string; anyOf?: unknown };
  if (schema.type === "integer" || schema.type === "number") {
    const n = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(n)) throw new ConfigError(`${field} (${source}): "${raw}" is not a number`);
    return n;
  }
  if (schema.type === "boolean") {
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new ConfigError(`${field} (${source}): "${raw}" is not a boolean`);
  }
  return raw;
}

export interface LoadOptions {
  argv?: string[];
  env?: NodeJS.ProcessEnv;
  /** Values that override everything (tests). */
  overrides?: Partial<Config>;
}

export function parseFlags(argv: string[]): { values: Record<string, string>; configPath?: string; help: boolean } {
  const values: Record<string, string> = {};
  let configPath: string | undefined;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--help" || arg === "-h") {
      help = true;
      continue;
    }
    if (!arg.startsWith("-")) throw new ConfigError(`unexpected argument "${arg}"`);
    const body = arg.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq >= 0 ? body.slice(0, eq) : body;
    let value: string;
    if (eq >= 0) value = body.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith("--")) value = argv[++i]!;
    else value = "true";
    if (name === "config") configPath = value;
    else values[name] = value;
  }
  return { values, configPath, help };
}

export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const flags = parseFlags(opts.argv ?? []);
  const merged: Record<string, unknown> = {};

  const configPath = flags.configPath ?? env.WHARF_CONFIG;
  if (configPath) {
    let fileValues: unknown;
    try {
      fileValues = JSON.parse(readFileSync(configPath, "utf8"));
    } catch (err) {
      throw new ConfigError(`config file ${configPath}: ${(err as Error).message}`);
    }
    if (typeof fileValues !== "object" || fileValues === null || Array.isArray(fileValues)) {
      throw new ConfigError(`config file ${configPath}: must be a JSON object`);
    }
    Object.assign(merged, fileValues);
  }
  for (const field of fields) {
    const raw = env[envName(field)];
    if (raw !== undefined) merged[field] = coerce(field, raw, envName(field));
  }
  for (const [flag, raw] of Object.entries(flags.values)) {
    const field = fieldFromFlag(flag);
    if (!field) {
      const near = nearestFlag(flag, fields);
      throw new ConfigError(`unknown flag --${flag}${near ? ` (did you mean --${near}?)` : ""}; npm start -- --help lists them`);
    }
    merged[field] = coerce(field, raw, `--${flag}`);
  }
  Object.assign(merged, opts.overrides ?? {});

  const withDefaults = Value.Default(ConfigSchema, merged) as Record<string, unknown>;
  const errors = [...Value.Errors(ConfigSchema, withDefaults)];
  if (errors.length > 0) {
    const messages = errors
      .filter((e) => e.keyword !== "boolean")
      .map((e) => {
        if (e.keyword === "additionalProperties") {
          const extra = (e.params as { additionalProperties?: string[] }).additionalProperties ?? [];
          return `unknown setting ${extra.join(", ")}`;
        }
        const field = e.instancePath.replace(/^\//, "") || "(root)";
        return `${field}: ${e.message} (got ${JSON.stringify(withDefaults[field])})`;
      });
    throw new ConfigError(`invalid configuration: ${messages.join("; ")}`);
  }
  return withDefaults as Config;
}

/** A help text generated from the schema. */
export function configHelp(): string {
  const lines = ["Settings (flag / environment variable, default):"];
  for (const field of fields) {
    const s = ConfigSchema.properties[field] as { default?: unknown; description?: string };
    lines.push(`  --${field}  ${envName(field)}  (default ${JSON.stringify(s.default)})${s.description ? "  " + s.description : ""}`);
  }
  lines.push("  --config <file.json>  WHARF_CONFIG  JSON file with any of the settings above");
  return lines.join("\n");
}

/** The setting whose flag spelling is closest to `flag` (edit distance at most 3), for "did you mean". */
export function nearestFlag(flag: string, fields: readonly string[]): string | undefined {
  const want = flag.toLowerCase().replace(/[-_]/g, "");
  let best: { field: string; d: number } | undefined;
  for (const f of fields) {
    const d = editDistance(want, f.toLowerCase());
    if (d <= 3 && (!best || d < best.d)) best = { field: f, d };
  }
  return best && best.field.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

