// Secret redaction for anything written to logs, run dirs or notebook outputs.
// Keys whose name looks like a credential are replaced; values that look like bearer/API keys are masked too.

// "token" alone is a credential only as a whole key or in access/auth/api/hf/refresh/bearer tokens: maxTokens and
// stopTokenIds are settings, and redacting them would break resuming from config.json.
const SECRET_KEY =
  /(api[-_]?key|apikey|secret|password|passwd|authorization|bearer|credential|^(access|auth|api|hf|refresh|bearer|session|id)?[-_]?token$)/i;
const SECRET_VALUE = /\b(sk-[A-Za-z0-9_-]{8,}|Bearer\s+[A-Za-z0-9._~+/-]{8,}=*)/g;
export const REDACTED = "***redacted***";

/** Deep copy with credential-like fields replaced by REDACTED (key names like apiKey, token, authorization). */
export function redactSecrets<T>(value: T): T {
  return redact(value, "") as T;
}

function redact(value: unknown, key: string): unknown {
  if (key && SECRET_KEY.test(key) && value !== null && value !== undefined && value !== "") return REDACTED;
  if (typeof value === "string") return redactText(value);
  if (Array.isArray(value)) return value.map((v) => redact(v, ""));
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = redact(v, k);
    return out;
  }
  return value;
}

/** Masks key-like substrings (sk-..., Bearer ...) inside free text, e.g. error messages. */
export function redactText(text: string): string {
  return text.replace(SECRET_VALUE, REDACTED);
}
