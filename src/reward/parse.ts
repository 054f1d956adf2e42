// Pure parsers for judge answers: JSON object first, then the "[[n]]" / "[[A]]" bracket convention of
// FastChat's llm_judge as a fallback. Anything out of range or unreadable is { valid: false, raw } — never a score.

/** How a valid answer was read. */
export type ParseVia = "json" | "brackets" | "bare";

export interface InvalidAnswer {
  valid: false;
  raw: string;
  /** Why the answer could not be used. */
  error: string;
}

export type ScoreAnswer = { valid: true; score: number; reason?: string; via: ParseVia; raw: string } | InvalidAnswer;
/** "A" = the first shown wins, "B" = the second shown wins. */
export type Verdict = "A" | "B" | "tie";
export type VerdictAnswer = { valid: true; verdict: Verdict; reason?: string; via: ParseVia; raw: string } | InvalidAnswer;
export type YesNoAnswer = { valid: true; agreed: boolean; reason?: string; via: ParseVia; raw: string } | InvalidAnswer;

/**
 * Finds a JSON object in a model answer: the whole text, a ```json fenced block, or the first balanced {...}
 * span that parses. Returns undefined when there is none.
 */
export function extractJsonObject(text: string): Record<string, unknown> | undefined {
  const tryParse = (s: string): Record<string, unknown> | undefined => {
    try {
      const v: unknown = JSON.parse(s);
      return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  };
  const whole = tryParse(text.trim());
  if (whole) return whole;
  for (const m of text.matchAll(/```(?:json)?\s*([\s\S]*?)```/gi)) {
    const v = tryParse(m[1]!.trim());
    if (v) return v;
  }
  for (let start = text.indexOf("{"); start >= 0; start = text.indexOf("{", start + 1)) {
    const end = balancedEnd(text, start);
    if (end < 0) continue;
    const v = tryParse(text.slice(start, end + 1));
    if (v) return v;
  }
  return undefined;
}

/** Index of the "}" closing the "{" at start (string-aware), or -1. */
function balancedEnd(text: string, start: number): number {
  let depth = 0;
  let inStr = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inStr) {
      if (c === "\\") i++;
      else if (c === '"') inStr = false;
    } else if (c === '"') inStr = true;
    else if (c === "{") depth++;
    else if (c === "}" && --depth === 0) return i;
  }
  return -1;
}

function reasonOf(obj: Record<string, unknown>): string | undefined {
  const r = obj["reason"] ?? obj["explanation"] ?? obj["rationale"];
  return typeof r === "string" ? r : undefined;
}

function invalid(raw: string, error: string): InvalidAnswer {
  return { valid: false, raw, error };
}

/** Reads an integer from a JSON value: a number or a string of digits. Non-integers -> undefined. */
function integerOf(v: unknown): number | undefined {
  if (typeof v === "number") return Number.isInteger(v) ? v : undefined;
  if (typeof v === "string" && /^\s*-?\d+\s*$/.test(v)) return Number.parseInt(v, 10);
  return undefined;
}

/** Last match of a global regex, or undefined. */
function lastMatch(text: string, re: RegExp): RegExpMatchArray | undefined {
  let last: RegExpMatchArray | undefined;
  for (const m of text.matchAll(re)) last = m;
  return last;
}

/**
 * Parses a pointwise score answer. JSON {"score": n} first (n an integer, or a string of digits); a JSON object
 * whose score is present but unusable is invalid (no second guessing). Otherwise the LAST "[[n]]" in the text
 * (the rubric asks for it at the end). Scores outside [min, max] or non-integers are invalid.
 */
export function parseScoreAnswer(raw: string, range: { min: number; max: number } = { min: 0, max: 5 }): ScoreAnswer {
  const inRange = (n: number): boolean => n >= range.min && n <= range.max;
  const obj = extractJsonObject(raw);
  if (obj && "score" in obj) {
    const n = integerOf(obj["score"]);
    if (n === undefined) return invalid(raw, `score ${JSON.stringify(obj["score"])} is not an integer`);
    if (!inRange(n)) return invalid(raw, `score ${n} is outside ${range.min}..${range.max}`);
    const reason = reasonOf(obj);
    return reason === undefined ? { valid: true, score: n, via: "json", raw } : { valid: true, score: n, reason, via: "json", raw };
  }
  const m = lastMatch(raw, /\[\[\s*(-?\d+(?:\.\d+)?)\s*\]\]/g);
  if (m) {
    const n = Number(m[1]);
    if (!Number.isInteger(n)) return invalid(raw, `score [[${m[1]}]] is not an integer`);
    if (!inRange(n)) return invalid(raw, `score ${n} is outside ${range.min}..${range.max}`);
    return { valid: true, score: n, via: "brackets", raw };
  }
  return invalid(raw, "no score found (expected JSON {\"score\": n} or [[n]])");
}

function verdictOf(v: unknown): Verdict | undefined {
  if (typeof v !== "string") return undefined;
  const s = v.trim().toLowerCase();
  if (s === "a" || s === "1") return "A";
  if (s === "b" || s === "2") return "B";
  if (s === "tie" || s === "c" || s === "draw" || s === "equal") return "tie";
  return undefined;
}

/**
 * Parses a pairwise verdict: JSON {"verdict": "A"|"B"|"tie"} (also "C"), else the last [[A]] / [[B]] / [[C]] /
 * [[tie]] in the text. Anything else is invalid.
 */
export function parseVerdictAnswer(raw: string): VerdictAnswer {
  const obj = extractJsonObject(raw);
  if (obj && ("verdict" in obj || "winner" in obj)) {
    const v = verdictOf(obj["verdict"] ?? obj["winner"]);
    if (!v) return invalid(raw, `verdict ${JSON.stringify(obj["verdict"] ?? obj["winner"])} is not A, B or tie`);
    const reason = reasonOf(obj);
    return reason === undefined ? { valid: true, verdict: v, via: "json", raw } : { valid: true, verdict: v, reason, via: "json", raw };
  }
  const m = lastMatch(raw, /\[\[\s*(A|B|C|tie)\s*\]\]/gi);
  if (m) return { valid: true, verdict: verdictOf(m[1])!, via: "brackets", raw };
  return invalid(raw, "no verdict found (expected JSON {\"verdict\": ...} or [[A]]/[[B]]/[[C]])");
}

function yesNoOf(v: unknown): boolean | undefined {
  if (typeof v === "boolean") return v;
  if (typeof v !== "string") return undefined;
  const s = v.trim().toLowerCase();
  if (s === "yes" || s === "true") return true;
  if (s === "no" || s === "false") return false;
  return undefined;
}

/**
 * Parses a yes/no agreement answer: JSON {"agreed": true|false|"yes"|"no"}, else the last [[YES]] / [[NO]],
 * else a bare "yes" / "no" answer (the whole text, ignoring case and trailing punctuation).
 */
export function parseYesNoAnswer(raw: string): YesNoAnswer {
  const obj = extractJsonObject(raw);
  if (obj && ("agreed" in obj || "agreement" in obj || "answer" in obj)) {
    const value = obj["agreed"] ?? obj["agreement"] ?? obj["answer"];
    const v = yesNoOf(value);
    if (v === undefined) return invalid(raw, `agreement ${JSON.stringify(value)} is not yes/no`);
    const reason = reasonOf(obj);
    return reason === undefined ? { valid: true, agreed: v, via: "json", raw } : { valid: true, agreed: v, reason, via: "json", raw };
  }
  const m = lastMatch(raw, /\[\[\s*(yes|no)\s*\]\]/gi);
  if (m) return { valid: true, agreed: m[1]!.toLowerCase() === "yes", via: "brackets", raw };
  const bare = raw.trim().replace(/[.!]+$/, "").toLowerCase();
  if (bare === "yes" || bare === "no") return { valid: true, agreed: bare === "yes", via: "bare", raw };
  return invalid(raw, "no yes/no answer found (expected JSON {\"agreed\": ...} or [[YES]]/[[NO]])");
}
