// Prompts of the self-play protocol: each agent's system prompt (persona + dilemma + its own private utilities),
// the per-turn user message (the last-k-turn window as a transcript) and Agent 1's joint-solution prompt (paper §3.2).
import type { Persona, Scenario, Structured } from "../data/schema";
import type { ChatMessage } from "../llm/client";
import { NO_DEAL_KEYWORD, SOLUTION_KEYWORD, optionLetter, packageTemplate } from "./language";

export type Side = "a" | "b";
export type PromptStyle = "full" | "compact";

export function otherSide(side: Side): Side {
  return side === "a" ? "b" : "a";
}

/** A turn as the speaker sees it: its own ("You") or the other side's ("Them"). */
export interface TranscriptLine {
  self: boolean;
  text: string;
}

export const SELF_LABEL = "You";
export const OTHER_LABEL = "Them";

/**
 * The numbered issue list, one line per issue in scenario order: "1. Budget: a) Basic 8, b) Premium 2" (full style:
 * labels) or "1. budget: a) basic 8, b) premium 2" (compact style: the short ids). The move syntax uses only the
 * numbers and letters; the names are for reading. `side` adds that side's private utility after each option.
 */
export function renderIssueList(structured: Structured, style: PromptStyle, side?: Side): string {
  return structured.issues
    .map((i, k) => {
      const opts = i.options.map((o, j) => `${optionLetter(j)}) ${style === "full" ? o.label : o.id}${side ? ` ${o.utility[side]}` : ""}`);
      return `${k + 1}. ${style === "full" ? i.label : i.id}: ${opts.join(", ")}`;
    })
    .join("\n");
}

/** The issue list with this side's private utilities (see renderIssueList). */
export function renderOwnUtilities(structured: Structured, side: Side, style: PromptStyle = "full"): string {
  return renderIssueList(structured, style, side);
}

function personaLines(p: Persona, style: PromptStyle): string[] {
  if (style === "compact") return [`You are ${p.name}, ${p.role}, and you value ${p.coreValues[0]}.`];
  return [
    `You are ${p.name}, ${p.role}.`,
    `You value: ${p.coreValues.join(", ")}.`,
    `Your goals: ${p.goals.join("; ")}.`,
    `Your red lines: ${p.redLines.join("; ")}.`,
  ];
}

/**
 * The move syntax with this scenario's package shape spelled out ("1=a/b/c 2=a/b": one letter per issue number), so
 * the reply can be written by copying the shape instead of counting issues and options. The compact style (for the
 * small local policy) names the package here and spells the shape out in the cue right before the reply instead
 * (buildTurnUserMessage): measured, a 1M-parameter policy copies a shape it sees a few tokens back far more reliably
 * than one at the top of the system prompt (opening turns had 15-29% cut or overlong packages).
 */
export function renderTurnRules(structured: Structured, style: PromptStyle): string {
  const t = packageTemplate(structured);
  if (style === "compact") return "Reply with one line: PROPOSE package | reason, ACCEPT package, or REJECT | reason.";
  return [
    "Reply with one line; name every issue by its number and your choice by its letter:",
    `PROPOSE ${t} | short reason`,
    `ACCEPT ${t} (accept their last proposal exactly)`,
    "REJECT | short reason",
  ].join("\n");
}

/** The system prompt of the agent playing `side`: persona, the other side, the dilemma and its own utilities. */
export function buildSystemPrompt(scenario: Scenario, side: Side, style: PromptStyle = "full"): string {
  const me = scenario.pair[side];
  const them = scenario.pair[otherSide(side)];
  const lines = [...personaLines(me, style), `The other side is ${them.name}, ${them.role}.`, `Dilemma: ${scenario.dilemma}`];
  if (scenario.structured) {
    lines.push("Issues and your private scores (0-10, higher is better for you):");
    lines.push(renderOwnUtilities(scenario.structured, side, style));
    lines.push(renderTurnRules(scenario.structured, style));
  } else {
    lines.push("Negotiate toward a joint resolution. Reply with one short turn; say clearly when you agree.");
  }
  return lines.join("\n");
}

/**
 * The per-turn user message: turn counter, the visible transcript and the cue. `shape` (compact style): the package
 * template shown in the cue, "Your move (1=a/b/c 2=a/b):".
 */
export function buildTurnUserMessage(visible: TranscriptLine[], turnNumber: number, maxTurns: number, hiddenEarlier: boolean, shape?: string): string {
  const lines = [`Turn ${turnNumber} of ${maxTurns}.${visible.length === 0 ? " You open." : ""}`];
  if (hiddenEarlier) lines.push("(earlier turns not shown)");
  for (const t of visible) lines.push(`${t.self ? SELF_LABEL : OTHER_LABEL}: ${t.text}`);
  lines.push(shape ? `Your move (${shape}):` : "Your move:");
  return lines.join("\n");
}

/** Turns visible with a window of the last k turns ("all" = every turn). */
export function windowTurns<T>(turns: readonly T[], contextTurns: number | "all"): T[] {
  if (contextTurns === "all") return turns.slice();
  return contextTurns <= 0 ? [] : turns.slice(Math.max(0, turns.length - contextTurns));
}

/** The full prompt of the next turn by `side`, given every earlier turn (with the side that spoke it). */
export function buildTurnMessages(
  scenario: Scenario,
  side: Side,
  history: ReadonlyArray<{ side: Side; text: string }>,
  options: { contextTurns: number | "all"; maxTurns: number; style?: PromptStyle },
): ChatMessage[] {
  const visible = windowTurns(history, options.contextTurns);
  const lines = visible.map((t) => ({ self: t.side === side, text: t.text }));
  const style = options.style ?? "full";
  const shape = style === "compact" && scenario.structured ? packageTemplate(scenario.structured) : undefined;
  return [
    { role: "system", content: buildSystemPrompt(scenario, side, style) },
    { role: "user", content: buildTurnUserMessage(lines, history.length + 1, options.maxTurns, visible.length < history.length, shape) },
  ];
}

/** Agent 1's joint-solution prompt: the dilemma, both personas, the options, the dialogue (window) and the format. */
export function buildSummaryMessages(
  scenario: Scenario,
  side: Side,
  history: ReadonlyArray<{ side: Side; text: string }>,
  options: { contextTurns: number | "all"; agreed: boolean; style?: PromptStyle },
): ChatMessage[] {
  const me = scenario.pair[side];
  const them = scenario.pair[otherSide(side)];
  const style = options.style ?? "full";
  const lines = [`You are ${me.name}, ${me.role}. You negotiated with ${them.name}, ${them.role}.`, `Dilemma: ${scenario.dilemma}`];
  const wants = (p: Persona) => (style === "full" ? p.goals.join("; ") : p.goals[0]);
  lines.push(`${me.name} wants: ${wants(me)}.`, `${them.name} wants: ${wants(them)}.`);
  if (scenario.structured) {
    lines.push("Issues and options:");
    lines.push(renderIssueList(scenario.structured, style));
    lines.push(`Write the joint solution in one line: ${SOLUTION_KEYWORD} ${packageTemplate(scenario.structured)} | how it serves both sides`);
    if (!options.agreed) lines.push(`If no solution can be named, write: ${NO_DEAL_KEYWORD} | why`);
  } else {
    lines.push("Write the joint solution both sides can support, in two or three sentences.");
  }
  const visible = windowTurns(history, options.contextTurns);
  const user = [options.agreed ? "You reached agreement." : "The dialogue ended without agreement.", "Dialogue:"];
  if (visible.length < history.length) user.push("(earlier turns not shown)");
  for (const t of visible) user.push(`${t.side === side ? SELF_LABEL : OTHER_LABEL}: ${t.text}`);
  user.push("Joint solution:");
  return [
    { role: "system", content: lines.join("\n") },
    { role: "user", content: user.join("\n") },
  ];
}

/** What a prompt-driven agent can read back from a turn or summary prompt (scripted negotiators use this). */
export interface PromptView {
  /**
   * Own utilities per issue/option in prompt order (empty for the free-text world or the summary prompt). Ids are
   * the positional names ("1", "2", ... and "a", "b", ...); `name` is the label or id the prompt shows.
   */
  issues: Array<{ id: string; name: string; options: Array<{ id: string; name: string; utility: number }> }>;
  /** Option letters per issue number (from either prompt). */
  optionIds: Record<string, string[]>;
  turnNumber: number;
  maxTurns: number;
  transcript: TranscriptLine[];
  /** True for the joint-solution prompt. */
  summary: boolean;
  agreed: boolean;
}

/** "1. Budget: a) Basic 8, b) Premium 2" -> number, name and options (name, utility when present). */
function readIssueLine(line: string, k: number, withUtility: boolean): { name: string; options: Array<{ id: string; name: string; utility: number }> } | null {
  const m = /^(\d+)\. (.+?): (a\) .*)$/.exec(line);
  if (!m || Number(m[1]) !== k) return null;
  const chunks = m[3]!.split(/(?:^|, )(?=[a-z]\) )/).filter((c) => c !== "");
  const options = chunks.map((c, j) => {
    if (!c.startsWith(`${optionLetter(j)}) `)) throw new Error(`readPromptView: option ${j + 1} of issue ${k} is "${c}"`);
    const body = c.slice(3);
    if (!withUtility) return { id: optionLetter(j), name: body, utility: 0 };
    const mm = /^(.*) (\d+)$/.exec(body);
    if (!mm) throw new Error(`readPromptView: bad utility "${c}"`);
    return { id: optionLetter(j), name: mm[1]!, utility: Number(mm[2]) };
  });
  return { name: m[2]!, options };
}

/** Reads a prompt built by this module back into structured form. Throws when it is not such a prompt. */
export function readPromptView(messages: readonly ChatMessage[]): PromptView {
  const system = messages.find((m) => m.role === "system")?.content ?? "";
  const user = [...messages].reverse().find((m) => m.role === "user")?.content ?? "";
  const issues: PromptView["issues"] = [];
  const optionIds: Record<string, string[]> = {};
  const sysLines = system.split("\n");
  const utilStart = sysLines.findIndex((l) => l.startsWith("Issues and your private scores"));
  const optStart = sysLines.findIndex((l) => l.startsWith("Issues and options:"));
  const start = utilStart >= 0 ? utilStart : optStart;
  if (start >= 0) {
    for (const line of sysLines.slice(start + 1)) {
      const k = Object.keys(optionIds).length + 1;
      const parsed = readIssueLine(line, k, utilStart >= 0);
      if (!parsed) break;
      if (utilStart >= 0) issues.push({ id: String(k), name: parsed.name, options: parsed.options });
      optionIds[String(k)] = parsed.options.map((o) => o.id);
    }
  }
  const userLines = user.split("\n");
  const summary = userLines.includes("Joint solution:");
  const head = /^Turn (\d+) of (\d+)\./.exec(userLines[0] ?? "");
  if (!summary && !head) throw new Error("readPromptView: not a self-play turn prompt");
  const transcript: TranscriptLine[] = [];
  for (const line of userLines) {
    if (line.startsWith(`${SELF_LABEL}: `)) transcript.push({ self: true, text: line.slice(SELF_LABEL.length + 2) });
    else if (line.startsWith(`${OTHER_LABEL}: `)) transcript.push({ self: false, text: line.slice(OTHER_LABEL.length + 2) });
  }
  return {
    issues,
    optionIds,
    turnNumber: head ? Number(head[1]) : 0,
    maxTurns: head ? Number(head[2]) : 0,
    transcript,
    summary,
    agreed: summary && userLines[0] === "You reached agreement.",
  };
}

/**
 * A Structured-like view with the positional names as ids (issue "1", option "a"), so parseMove/renderMove on it
 * read and write exactly the same text as on the real scenario.
 */
export function structuredFromView(view: PromptView): Structured {
  return {
    issues: Object.entries(view.optionIds).map(([id, opts]) => ({
      id,
      label: id,
      kind: "opposed" as const,
      options: opts.map((o) => ({ id: o, label: o, utility: { a: 0, b: 0 } })),
    })),
  };
}
