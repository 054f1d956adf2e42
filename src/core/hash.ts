// Stable hashing of JSON-like values: keys sorted, so equal objects hash equal whatever their key order.
// Used for cache keys (LLM calls, judge results) and rubric/config fingerprints.
import { createHash } from "node:crypto";

/** JSON.stringify with object keys sorted recursively; undefined object fields are dropped as in JSON. */
export function stableStringify(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object" && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value as Record<string, unknown>).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** Hex sha256 of a string or bytes. */
export function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Hex sha256 of the stable JSON form of a value. */
export function hashJson(value: unknown): string {
  return sha256(stableStringify(value));
}
