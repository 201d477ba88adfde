// How deeply a parsed JSON value nests, checked before anything recursive touches it.
//
// JSON.parse takes a body nested thousands of levels deep, but the recursive code that
// runs later does not: JSON.stringify in the stream store threw "Maximum call stack size
// exceeded" (a 500) for a `params` object ~4,100 levels deep when called from a request
// handler. Bodies are refused at the door instead, with the field named.

/** Nesting accepted in user-supplied JSON objects (stream params, AI form fields); real params nest a few levels. */
export const MAX_JSON_DEPTH = 32;

/**
 * True when `value` has objects or arrays nested more than `maxDepth` levels (`{}` and `[]`
 * are depth 1, a scalar depth 0). The walk stops at `maxDepth + 1`, so any input is safe
 * to check, and a scalar costs nothing.
 */
export function nestedDeeperThan(value: unknown, maxDepth: number = MAX_JSON_DEPTH): boolean {
  if (value === null || typeof value !== "object") return false;
  if (maxDepth <= 0) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (nestedDeeperThan(value[i], maxDepth - 1)) return true;
    return false;
  }
  for (const k in value) {
    if (Object.hasOwn(value, k) && nestedDeeperThan((value as Record<string, unknown>)[k], maxDepth - 1)) return true;
  }
  return false;
}
