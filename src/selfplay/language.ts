// The embedded negotiation language: one move line a small from-scratch model can learn and a parser can check.
// Design follows the "Deal or No Deal" idea (Lewis et al., 2017) of a fixed, parseable proposal grammar, here with a short free-text reason.
//
// Grammar (one line, ~20-60 tokens):
//   turn     := PROPOSE package " | " note
//             | ACCEPT package [" | " note]
//             | REJECT [" | " note]
//   package  := number "=" letter { " " number "=" letter }   (every issue exactly once; rendered in issue order)
//   summary  := SOLUTION package " | " prose                  (the joint solution Agent 1 writes)
//   summary  := NO-DEAL " | " prose                            (eval mode, when no package can be named)
// Names are POSITIONAL: issue k of `structured.issues` is "k" (1-based), option j of an issue is the j-th letter
// ("a".."d"), e.g. `PROPOSE 1=b 2=a 3=c | reason`. A small policy then never has to copy scenario-specific slugs
// from its prompt. Parsed packages are still Record<issueId, optionId>: positions are mapped to ids here.
import type { Package, Structured } from "../data/schema";
import type { LineGrammar } from "../model/constraint";

export const MOVE_KINDS = ["propose", "accept", "reject"] as const;
export type MoveKind = (typeof MOVE_KINDS)[number];

export interface ProposeMove {
  kind: "propose";
  package: Package;
  note: string;
}
export interface AcceptMove {
  kind: "accept";
  package: Package;
  note: string;
}
export interface RejectMove {
  kind: "reject";
  note: string;
}
export type Move = ProposeMove | AcceptMove | RejectMove;

/** A turn that does not follow the grammar; `reason` says why (for well-formedness reports). */
export interface InvalidMove {
  kind: "invalid";
  invalid: true;
  reason: string;
}
export type ParsedMove = Move | InvalidMove;

const KEYWORDS: Record<string, MoveKind> = { PROPOSE: "propose", ACCEPT: "accept", REJECT: "reject" };
export const SOLUTION_KEYWORD = "SOLUTION";
export const NO_DEAL_KEYWORD = "NO-DEAL";

export function isValidMove(m: ParsedMove | null | undefined): m is Move {
  return m !== null && m !== undefined && m.kind !== "invalid";
}

/** The letter naming option `index` (0-based) of an issue: 0 -> "a", 1 -> "b", ... */
export function optionLetter(index: number): string {
  return String.fromCharCode(97 + index);
}

/** Canonical text of a package: issues in the scenario's order as `number=letter`, separated by spaces. */
export function renderPackage(pkg: Package, structured: Structured): string {
  const parts: string[] = [];
  structured.issues.forEach((issue, k) => {
    const j = issue.options.findIndex((o) => o.id === pkg[issue.id]);
    if (j >= 0) parts.push(`${k + 1}=${optionLetter(j)}`);
  });
  return parts.join(" ");
}

/** The package shape of a scenario for prompts: "1=a/b/c 2=a/b" (every issue, its option letters to choose from). */
export function packageTemplate(structured: Structured): string {
  return structured.issues.map((i, k) => `${k + 1}=${i.options.map((_, j) => optionLetter(j)).join("/")}`).join(" ");
}

/** Every package of a scenario in canonical text ("1=a 2=a", "1=a 2=b", ...), issue order, letters in order. */
export function allPackageTexts(structured: Structured): string[] {
  let out = [""];
  structured.issues.forEach((issue, k) => {
    const next: string[] = [];
    for (const prefix of out) issue.options.forEach((_, j) => next.push(`${prefix}${k ? " " : ""}${k + 1}=${optionLetter(j)}`));
    out = next;
  });
  return out;
}

/** Built grammars per scenario structure and variant: callers get the same object back (local policies compile once). */
const grammarMemo = new WeakMap<Structured, Map<string, LineGrammar>>();

function memoGrammar(structured: Structured, key: string, build: () => LineGrammar): LineGrammar {
  let byKey = grammarMemo.get(structured);
  if (!byKey) grammarMemo.set(structured, (byKey = new Map()));
  let g = byKey.get(key);
  if (!g) byKey.set(key, (g = build()));
  return g;
}

/**
 * The turn grammar for constrained decoding (src/model/constraint.ts): canonical packages only, a PROPOSE needs a
 * reason, ACCEPT and REJECT may end at once or carry a note. Every reply it allows parses as a valid move (strict).
 * `standingOffer`: the package the other side proposed last (what ACCEPT means in this language; the agreement
 * judge only counts an ACCEPT of exactly that package). Given a package, ACCEPT can only name it; given null (no
 * offer on the table yet), ACCEPT is not allowed; omitted, ACCEPT may name any package. Memoised per structure.
 */
export function moveGrammar(structured: Structured, standingOffer?: Package | null): LineGrammar {
  const offer = standingOffer ? renderPackage(standingOffer, structured) : standingOffer;
  return memoGrammar(structured, `move:${offer === undefined ? "*" : offer ?? "-"}`, () => {
    const headers: LineGrammar["headers"][number][] = [];
    const accept = (p: string) => headers.push({ text: `ACCEPT ${p}`, tail: "none" }, { text: `ACCEPT ${p} | `, tail: "optional" });
    for (const p of allPackageTexts(structured)) {
      headers.push({ text: `PROPOSE ${p} | `, tail: "required" });
      if (offer === undefined) accept(p);
    }
    if (offer) accept(offer);
    headers.push({ text: "REJECT", tail: "none" }, { text: "REJECT | ", tail: "optional" });
    return { headers };
  });
}

/** The joint-solution grammar: SOLUTION package | prose, or NO-DEAL | prose (prose required). Memoised per structure. */
export function summaryGrammar(structured: Structured): LineGrammar {
  return memoGrammar(structured, "summary", () => {
    const headers: LineGrammar["headers"][number][] = allPackageTexts(structured).map((p) => ({ text: `${SOLUTION_KEYWORD} ${p} | `, tail: "required" as const }));
    headers.push({ text: `${NO_DEAL_KEYWORD} | `, tail: "required" });
    return { headers };
  });
}

/** Renders a move as one line. The note is flattened to one line and stripped of "|". */
export function renderMove(move: Move, structured: Structured): string {
  const note = cleanNote(move.note);
  switch (move.kind) {
    case "propose":
      return `PROPOSE ${renderPackage(move.package, structured)} | ${note}`;
    case "accept":
      return note ? `ACCEPT ${renderPackage(move.package, structured)} | ${note}` : `ACCEPT ${renderPackage(move.package, structured)}`;
    case "reject":
      return note ? `REJECT | ${note}` : "REJECT";
  }
}

/** Makes free text safe for the note slot: one line, no "|", collapsed spaces. */
export function cleanNote(text: string): string {
  return text.replace(/[|\r\n]+/g, " ").replace(/\s+/g, " ").trim();
}

export interface ParseOptions {
  /**
   * strict (default): the whole text must be exactly one well-formed line (this is what "well-formed" means in
   * reports). lenient: the first line that starts with a keyword is parsed and other lines are ignored
   * (useful for external LLMs that add chatter).
   */
  strict?: boolean;
}

/** Parses a package body ("1=b 2=a"); every issue exactly once, positions must exist in the scenario. */
export function parsePackage(body: string, structured: Structured): Package | InvalidMove {
  const pkg: Package = {};
  const parts = body.trim().split(/\s+/).filter((p) => p !== "");
  if (parts.length === 0) return invalid("empty package");
  const n = structured.issues.length;
  for (const part of parts) {
    const m = /^(\d+)=([a-z])$/.exec(part);
    if (!m) return invalid(`"${part.slice(0, 30)}" is not number=letter`);
    const k = Number(m[1]);
    const issue = k >= 1 ? structured.issues[k - 1] : undefined;
    if (!issue) return invalid(`unknown issue ${m[1]} (issues are 1-${n})`);
    const j = m[2]!.charCodeAt(0) - 97;
    const option = issue.options[j];
    if (!option) return invalid(`unknown option ${m[2]} for issue ${k} (options are a-${optionLetter(issue.options.length - 1)})`);
    if (pkg[issue.id] !== undefined) return invalid(`issue ${k} named twice`);
    pkg[issue.id] = option.id;
  }
  const missing = structured.issues.map((i, k) => (pkg[i.id] === undefined ? String(k + 1) : null)).filter((x) => x !== null);
  if (missing.length) return invalid(`package misses issue${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`);
  return pkg;
}

/** The older slug syntax ("budget=basic timeline=pilot"); only parseSummary falls back to it (lenient). */
function parseSlugPackage(body: string, structured: Structured): Package | null {
  const pkg: Package = {};
  for (const part of body.trim().split(/\s+/).filter((p) => p !== "")) {
    const eq = part.indexOf("=");
    const issue = structured.issues.find((i) => i.id === part.slice(0, eq));
    const optionId = part.slice(eq + 1);
    if (eq <= 0 || !issue || !issue.options.some((o) => o.id === optionId) || pkg[issue.id] !== undefined) return null;
    pkg[issue.id] = optionId;
  }
  return structured.issues.every((i) => pkg[i.id] !== undefined) ? pkg : null;
}

/** Parses a turn. Unknown keyword, issue number or option letter, or an incomplete package -> InvalidMove with the reason. */
export function parseMove(text: string, structured: Structured, options: ParseOptions = {}): ParsedMove {
  const line = pickLine(text, Object.keys(KEYWORDS), options.strict ?? true);
  if (typeof line !== "string") return line;
  const bar = line.indexOf("|");
  const head = (bar >= 0 ? line.slice(0, bar) : line).trim();
  const note = bar >= 0 ? line.slice(bar + 1).trim() : "";
  if (bar >= 0 && note.includes("|")) return invalid('more than one "|"');
  const sp = head.search(/\s/);
  const word = sp < 0 ? head : head.slice(0, sp);
  const rest = sp < 0 ? "" : head.slice(sp + 1);
  const kind = KEYWORDS[word];
  if (!kind) return invalid(`unknown move "${word.slice(0, 20)}"`);
  if (kind === "reject") {
    if (rest.trim() !== "") return invalid("REJECT takes no package");
    return { kind, note };
  }
  const pkg = parsePackage(rest, structured);
  if (isInvalid(pkg)) return pkg;
  if (kind === "propose" && note === "") return invalid("PROPOSE needs a reason after |");
  return { kind, package: pkg, note };
}

/** The parsed joint solution: a package (null for NO-DEAL or when it does not parse) and its prose. */
export interface ParsedSummary {
  package: Package | null;
  prose: string;
  /** Why the package could not be read (absent when it parsed or the summary says NO-DEAL). */
  error?: string;
  noDeal: boolean;
}

export function renderSummary(pkg: Package | null, prose: string, structured: Structured): string {
  const p = cleanNote(prose);
  return pkg ? `${SOLUTION_KEYWORD} ${renderPackage(pkg, structured)} | ${p}` : `${NO_DEAL_KEYWORD} | ${p}`;
}

/**
 * Parses a summary; lenient about extra lines after the SOLUTION line (the prose may run on) and, when the
 * positional package does not parse, about a package in the older slug syntax ("budget=basic ...").
 */
export function parseSummary(text: string, structured: Structured): ParsedSummary {
  const line = pickLine(text, [SOLUTION_KEYWORD, NO_DEAL_KEYWORD], false);
  if (typeof line !== "string") return { package: null, prose: text.trim(), error: line.reason, noDeal: false };
  const bar = line.indexOf("|");
  const head = (bar >= 0 ? line.slice(0, bar) : line).trim();
  const at = text.indexOf(line);
  const afterLine = at >= 0 ? text.slice(at + line.length).trim() : "";
  const prose = [(bar >= 0 ? line.slice(bar + 1) : "").trim(), afterLine].filter((s) => s !== "").join(" ");
  if (head === NO_DEAL_KEYWORD) return { package: null, prose, noDeal: true };
  const body = head.slice(SOLUTION_KEYWORD.length);
  const pkg = parsePackage(body, structured);
  if (isInvalid(pkg)) {
    const slug = parseSlugPackage(body, structured);
    return slug ? { package: slug, prose, noDeal: false } : { package: null, prose, error: pkg.reason, noDeal: false };
  }
  return { package: pkg, prose, noDeal: false };
}

export function packagesEqual(a: Package | null | undefined, b: Package | null | undefined): boolean {
  if (!a || !b) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}

function isInvalid(x: unknown): x is InvalidMove {
  return typeof x === "object" && x !== null && (x as { kind?: unknown }).kind === "invalid";
}

function invalid(reason: string): InvalidMove {
  return { kind: "invalid", invalid: true, reason };
}

/** Chooses the line to parse: strict -> the only line; lenient -> first line starting with a keyword. */
function pickLine(text: string, keywords: string[], strict: boolean): string | InvalidMove {
  const trimmed = text.trim();
  if (trimmed === "") return invalid("empty turn");
  if (strict) {
    if (/[\r\n]/.test(trimmed)) return invalid("more than one line");
    return trimmed;
  }
  const lines = trimmed.split(/\r?\n/).map((l) => l.trim().replace(/^[*>#\s-]+/, "").replace(/\*\*/g, ""));
  const hit = lines.find((l) => keywords.some((k) => l === k || l.startsWith(k + " ") || l.startsWith(k + "|")));
  return hit ?? invalid(`no line starts with ${keywords.join("/")}`);
}
