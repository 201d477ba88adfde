// Validating a batch AI request's fields against the contract (spec.ts): types, ranges, required
// fields, and the rules across fields; issues in the FastAPI shape the Livepeer SDK expects.
import type { FieldSpec, FieldValue, LlmMessage, PipelineSpec } from "./spec.ts";


/** One FastAPI-style validation error (the SDK's 422 `detail[]` item). */
export interface ValidationIssue {
  loc: (string | number)[];
  msg: string;
  type: string;
}

export type ValidationResult =
  | { ok: true; values: Record<string, FieldValue | undefined> }
  | { ok: false; issues: ValidationIssue[] };

const INT_RE = /^[+-]?\d+$/;
const NUM_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function issue(field: string, msg: string, type: string): ValidationIssue {
  return { loc: ["body", field], msg: `${field}: ${msg}`, type };
}

/**
 * Check and normalise a request's fields. `form` mode coerces strings (multipart);
 * `json` mode requires real JSON types. Unknown fields are ignored (like the
 * ai-runner's pydantic models) and not forwarded. File fields are checked for
 * presence only (`files` lists the file parts received).
 */
export function validateFields(
  spec: PipelineSpec,
  raw: Record<string, unknown>,
  mode: "json" | "form",
  files: ReadonlySet<string> = new Set(),
): ValidationResult {
  const values: Record<string, FieldValue | undefined> = {};
  const issues: ValidationIssue[] = [];
  for (const f of spec.fields) {
    if (f.type === "file") {
      if (!files.has(f.name)) {
        issues.push(
          Object.hasOwn(raw, f.name)
            ? issue(f.name, "Expected UploadFile, received a plain form field", "value_error")
            : issue(f.name, "Field required", "missing"),
        );
      }
      continue;
    }
    const present = Object.hasOwn(raw, f.name) && raw[f.name] !== undefined && !(mode === "json" && raw[f.name] === null && !f.required);
    if (!present) {
      if (f.required) issues.push(issue(f.name, "Field required", "missing"));
      else if (f.default !== undefined) values[f.name] = f.default;
      continue;
    }
    const r = coerce(f, raw[f.name], mode);
    if ("issue" in r) issues.push(r.issue);
    else values[f.name] = r.value;
  }
  return issues.length ? { ok: false, issues } : { ok: true, values };
}

function coerce(f: FieldSpec, v: unknown, mode: "json" | "form"): { value: FieldValue } | { issue: ValidationIssue } {
  const bad = (msg: string, type: string) => ({ issue: issue(f.name, msg, type) });
  switch (f.type) {
    case "string": {
      if (typeof v !== "string") return bad("Input should be a valid string", "string_type");
      if (f.maxLength !== undefined && v.length > f.maxLength) return bad(`String should have at most ${f.maxLength} characters`, "string_too_long");
      if (f.enum && !f.enum.includes(v)) return bad(`Input should be ${f.enum.map((e) => `'${e}'`).join(", ")}`, "enum");
      return { value: v };
    }
    case "integer":
    case "number": {
      let n: number;
      if (typeof v === "number") n = v;
      else if (mode === "form" && typeof v === "string" && (f.type === "integer" ? INT_RE : NUM_RE).test(v.trim())) n = Number(v.trim());
      else
        return bad(
          f.type === "integer" ? "Input should be a valid integer" : "Input should be a valid number",
          f.type === "integer" ? "int_parsing" : "float_parsing",
        );
      if (!Number.isFinite(n)) return bad("Input should be a finite number", "finite_number");
      if (f.type === "integer" && !Number.isInteger(n)) return bad("Input should be a valid integer, got a number with a fractional part", "int_from_float");
      if (f.min !== undefined && n < f.min) return bad(`Input should be greater than or equal to ${f.min}`, "greater_than_equal");
      if (f.max !== undefined && n > f.max) return bad(`Input should be less than or equal to ${f.max}`, "less_than_equal");
      return { value: n };
    }
    case "boolean": {
      if (typeof v === "boolean") return { value: v };
      if (mode === "form" && typeof v === "string") {
        const s = v.trim().toLowerCase();
        if (["true", "1", "yes", "on"].includes(s)) return { value: true };
        if (["false", "0", "no", "off"].includes(s)) return { value: false };
      }
      return bad("Input should be a valid boolean", "bool_parsing");
    }
    case "json": {
      if (mode === "json") return { value: v as FieldValue };
      if (typeof v !== "string") return bad("Input should be a JSON encoded string", "json_type");
      if (v.trim() === "") return { value: null };
      try {
        return { value: JSON.parse(v) as FieldValue };
      } catch (err) {
        return bad(`Invalid JSON: ${(err as Error).message}`, "json_invalid");
      }
    }
    case "messages": {
      if (!Array.isArray(v)) return bad("Input should be a valid list", "list_type");
      if (v.length === 0) return bad("List should have at least 1 item", "too_short");
      const out: LlmMessage[] = [];
      for (let i = 0; i < v.length; i++) {
        const m = v[i] as Record<string, unknown> | null;
        if (!m || typeof m !== "object" || Array.isArray(m)) return { issue: { loc: ["body", f.name, i], msg: `${f.name}[${i}]: Input should be an object`, type: "model_type" } };
        for (const k of ["role", "content"] as const) {
          if (typeof m[k] !== "string") {
            return { issue: { loc: ["body", f.name, i, k], msg: `${f.name}[${i}].${k}: ${Object.hasOwn(m, k) ? "Input should be a valid string" : "Field required"}`, type: Object.hasOwn(m, k) ? "string_type" : "missing" } };
          }
        }
        out.push({ role: m.role as string, content: m.content as string });
      }
      return { value: out };
    }
    default:
      return bad("unsupported field", "value_error");
  }
}

/**
 * Checks beyond the schema that the ai-runner answers with a 400
 * `{"detail": {"msg"}}`; returns the message or undefined.
 */
export function semanticError(spec: PipelineSpec, v: Record<string, FieldValue | undefined>): string | undefined {
  switch (spec.pipeline) {
    case "text-to-image":
      if (String(v.prompt ?? "").split("|").every((p) => p.trim() === "")) return "Prompt must be provided.";
      break;
    case "image-to-video":
      if ((v.height as number) % 8 !== 0 || (v.width as number) % 8 !== 0) {
        return `height and width must be multiples of 8, got height=${v.height} width=${v.width}`;
      }
      break;
    case "text-to-speech":
      if (String(v.text ?? "").trim() === "") return "Text input must be provided.";
      break;
    case "segment-anything-2":
      return sam2Error(v);
  }
  return undefined;
}

function isNumArray(a: unknown, len?: number): a is number[] {
  return Array.isArray(a) && (len === undefined || a.length === len) && a.every((x) => typeof x === "number" && Number.isFinite(x));
}

function sam2Error(v: Record<string, FieldValue | undefined>): string | undefined {
  const pc = v.point_coords;
  if (pc != null && !(Array.isArray(pc) && pc.every((p) => isNumArray(p, 2)))) return "point_coords must be a JSON list of [x, y] pairs, e.g. [[120, 80]]";
  const pl = v.point_labels;
  if (pl != null && !(isNumArray(pl) && pl.every((x) => Number.isInteger(x)))) return "point_labels must be a JSON list of integers (1 = foreground, 0 = background)";
  if (pc != null && pl != null && (pc as unknown[]).length !== (pl as unknown[]).length) return "point_labels must have one label per point in point_coords";
  if (pl != null && pc == null) return "point_labels requires point_coords";
  const box = v.box;
  if (box != null && !isNumArray(box, 4)) return "box must be a JSON list [x1, y1, x2, y2]";
  const mi = v.mask_input;
  if (mi != null && !Array.isArray(mi)) return "mask_input must be a JSON array (1x256x256 low-resolution mask logits)";
  return undefined;
}
