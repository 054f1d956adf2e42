// The embedded negotiation language: one move line a small from-scratch model can learn and a parser can check.
// Design follows the "Deal or No Deal" idea (Lewis et al., 2017) of a fixed, parseable proposal grammar, here with a short free-text reason.
//
// Grammar (one line, ~20-60 tokens):
//   turn     := PROPOSE package " | " note
//             | ACCEPT package [" | " note]
//             | REJECT [" | " note]
//   package  := issue "=" option { " " issue "=" option }     (every issue exactly once, ids from the scenario)
//   summary  := SOLUTION package " | " prose                  (the joint solution Agent 1 writes)
//   summary  := NO-DEAL " | " prose                            (eval mode, when no package can be named)
import type { Package, Structured } from "../data/schema";

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

/** Canonical text of a package: issues in the scenario's order, `issue=option` separated by spaces. */
export function renderPackage(pkg: Package, structured: Structured): string {
  return structured.issues
    .filter((issue) => pkg[issue.id] !== undefined)
    .map((issue) => `${issue.id}=${pkg[issue.id]}`)
    .join(" ");
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

/** Parses a package body ("a=x b=y"); every issue exactly once, ids must exist in the scenario. */
export function parsePackage(body: string, structured: Structured): Package | InvalidMove {
  const pkg: Package = {};
  const parts = body.trim().split(/\s+/).filter((p) => p !== "");
  if (parts.length === 0) return invalid("empty package");
  for (const part of parts) {
    const eq = part.indexOf("=");
    if (eq <= 0 || eq === part.length - 1) return invalid(`"${part}" is not issue=option`);
    const issueId = part.slice(0, eq);
    const optionId = part.slice(eq + 1);
    const issue = structured.issues.find((i) => i.id === issueId);
    if (!issue) return invalid(`unknown issue "${issueId}"`);
    if (!issue.options.some((o) => o.id === optionId)) return invalid(`unknown option "${optionId}" for issue "${issueId}"`);
    if (pkg[issueId] !== undefined) return invalid(`issue "${issueId}" named twice`);
    pkg[issueId] = optionId;
  }
  const missing = structured.issues.filter((i) => pkg[i.id] === undefined).map((i) => i.id);
  if (missing.length) return invalid(`package misses issue${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`);
  return pkg;
}

/** Parses a turn. Unknown keyword, issue or option, or an incomplete package -> InvalidMove with the reason. */
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

/** Parses a summary; lenient about extra lines after the SOLUTION line (the prose may run on). */
export function parseSummary(text: string, structured: Structured): ParsedSummary {
  const line = pickLine(text, [SOLUTION_KEYWORD, NO_DEAL_KEYWORD], false);
  if (typeof line !== "string") return { package: null, prose: text.trim(), error: line.reason, noDeal: false };
  const bar = line.indexOf("|");
  const head = (bar >= 0 ? line.slice(0, bar) : line).trim();
  const at = text.indexOf(line);
  const afterLine = at >= 0 ? text.slice(at + line.length).trim() : "";
  const prose = [(bar >= 0 ? line.slice(bar + 1) : "").trim(), afterLine].filter((s) => s !== "").join(" ");
  if (head === NO_DEAL_KEYWORD) return { package: null, prose, noDeal: true };
  const pkg = parsePackage(head.slice(SOLUTION_KEYWORD.length), structured);
  if (isInvalid(pkg)) return { package: null, prose, error: pkg.reason, noDeal: false };
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
