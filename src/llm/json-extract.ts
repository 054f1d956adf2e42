// Recovers a JSON value from a model answer that may wrap it in prose or a ```json fence.
// Algorithm: try the whole text, then fenced blocks, then each balanced {...}/[...] span found by a string-aware scan.

/** The first JSON object/array embedded in text, parsed; undefined when none parses. */
export function extractJson(text: string): unknown {
  const trimmed = text.trim();
  const whole = tryParse(trimmed);
  if (whole.ok) return whole.value;
  const fence = /```(?:json|JSON)?\s*\n?([\s\S]*?)```/g;
  for (let m = fence.exec(text); m; m = fence.exec(text)) {
    const r = tryParse((m[1] ?? "").trim());
    if (r.ok) return r.value;
  }
  for (let start = 0; start < text.length; start++) {
    const c = text[start];
    if (c !== "{" && c !== "[") continue;
    const end = matchingClose(text, start);
    if (end < 0) continue;
    const r = tryParse(text.slice(start, end + 1));
    if (r.ok) return r.value;
  }
  return undefined;
}

function tryParse(s: string): { ok: true; value: unknown } | { ok: false } {
  if (s === "" || (s[0] !== "{" && s[0] !== "[")) return { ok: false };
  try {
    return { ok: true, value: JSON.parse(s) };
  } catch {
    return { ok: false };
  }
}

/** Index of the bracket closing the one at `start`, skipping brackets inside strings; -1 if unbalanced. */
function matchingClose(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}
