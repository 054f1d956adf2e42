// IFEval-style instruction following: prompts with programmatically verifiable constraints (word/sentence limits,
// keywords, case, punctuation), after Zhou et al. 2023 "Instruction-Following Evaluation for LLMs"; the set is ours.
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { InputError, fieldPath } from "../core/errors";

export const ConstraintSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("max_words"), value: z.number().int().positive() }),
  z.object({ type: z.literal("min_words"), value: z.number().int().positive() }),
  z.object({ type: z.literal("max_sentences"), value: z.number().int().positive() }),
  z.object({ type: z.literal("include_keywords"), value: z.array(z.string().min(1)).min(1), caseSensitive: z.boolean().optional() }),
  z.object({ type: z.literal("exclude_words"), value: z.array(z.string().min(1)).min(1) }),
  z.object({ type: z.literal("starts_with"), value: z.string().min(1) }),
  z.object({ type: z.literal("ends_with"), value: z.string().min(1) }),
  z.object({ type: z.literal("lowercase") }),
  z.object({ type: z.literal("no_commas") }),
  z.object({ type: z.literal("contains_number") }),
]);
export type Constraint = z.infer<typeof ConstraintSchema>;

export const InstructionItemSchema = z.object({ id: z.string().min(1), prompt: z.string().min(1), constraints: z.array(ConstraintSchema).min(1) });
export type InstructionItem = z.infer<typeof InstructionItemSchema>;
export const InstructionSetSchema = z.object({ id: z.string(), version: z.number().int(), description: z.string().optional(), items: z.array(InstructionItemSchema).min(1) });
export type InstructionSet = z.infer<typeof InstructionSetSchema>;

export const McItemSchema = z
  .object({ id: z.string().min(1), question: z.string().min(1), options: z.array(z.string().min(1)).min(2).max(6), answer: z.number().int().nonnegative() })
  .refine((x) => x.answer < x.options.length, { message: "answer must index an option", path: ["answer"] });
export type McItem = z.infer<typeof McItemSchema>;
export const McSetSchema = z.object({ id: z.string(), version: z.number().int(), description: z.string().optional(), items: z.array(McItemSchema).min(1) });
export type McSet = z.infer<typeof McSetSchema>;

/** data/eval/ of the package (works from src/ under tsx and from dist/). */
export function defaultEvalDataDir(): string {
  for (const up of ["../..", "../../.."]) {
    const d = path.resolve(__dirname, up, "data", "eval");
    if (fs.existsSync(d)) return d;
  }
  return path.resolve("data", "eval");
}

function loadJson<T>(file: string, schema: z.ZodType<T>): T {
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new InputError(`cannot read JSON (${(e as Error).message})`, { file });
  }
  const r = schema.safeParse(json);
  if (!r.success) throw new InputError(r.error.issues[0]!.message, { file, field: fieldPath(r.error.issues[0]!.path) });
  return r.data;
}

export function loadInstructionSet(file = path.join(defaultEvalDataDir(), "instructions.json")): InstructionSet {
  return loadJson(file, InstructionSetSchema);
}

export function loadMcSet(file = path.join(defaultEvalDataDir(), "multiple-choice.json")): McSet {
  return loadJson(file, McSetSchema);
}

/** Words: maximal runs of letters, digits, apostrophes or hyphens. */
export function countWords(text: string): number {
  return (text.match(/[\p{L}\p{N}'-]+/gu) ?? []).length;
}

/** Sentences: non-empty pieces after splitting at . ! ? followed by space or end. */
export function countSentences(text: string): number {
  return text
    .split(/[.!?]+(?:\s+|$)/)
    .map((s) => s.trim())
    .filter((s) => /[\p{L}\p{N}]/u.test(s)).length;
}

function hasWord(text: string, word: string, caseSensitive: boolean): boolean {
  const esc = word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(^|[^\\p{L}\\p{N}])${esc}($|[^\\p{L}\\p{N}])`, caseSensitive ? "u" : "iu").test(text);
}

/** True when the response satisfies the constraint (pure; whitespace at the ends is ignored; an empty answer follows nothing). */
export function checkConstraint(response: string, c: Constraint): boolean {
  const t = response.trim();
  if (t.length === 0) return false;
  switch (c.type) {
    case "max_words":
      return countWords(t) <= c.value;
    case "min_words":
      return countWords(t) >= c.value;
    case "max_sentences":
      return countSentences(t) <= c.value && countSentences(t) >= 1;
    case "include_keywords":
      return c.value.every((w) => hasWord(t, w, c.caseSensitive ?? false));
    case "exclude_words":
      return !c.value.some((w) => hasWord(t, w, false));
    case "starts_with":
      return t.toLowerCase().startsWith(c.value.toLowerCase());
    case "ends_with":
      return t.toLowerCase().endsWith(c.value.toLowerCase());
    case "lowercase":
      return t.length > 0 && t === t.toLowerCase();
    case "no_commas":
      return t.length > 0 && !t.includes(",");
    case "contains_number":
      return /\p{N}/u.test(t) || /\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty)\b/i.test(t);
  }
}

export interface InstructionScore {
  id: string;
  /** Every constraint holds (IFEval's prompt-level strict accuracy). */
  allPass: boolean;
  /** Per-constraint results, in order (IFEval's instruction-level accuracy). */
  passed: boolean[];
}

export function scoreInstruction(item: InstructionItem, response: string): InstructionScore {
  const passed = item.constraints.map((c) => checkConstraint(response, c));
  return { id: item.id, allPass: passed.every(Boolean), passed };
}

/** Prompt-level and instruction-level accuracy over scored items. */
export function instructionAccuracy(scores: readonly InstructionScore[]): { promptLevel: number; instructionLevel: number } {
  const all = scores.flatMap((s) => s.passed);
  return {
    promptLevel: scores.length ? scores.filter((s) => s.allPass).length / scores.length : NaN,
    instructionLevel: all.length ? all.filter(Boolean).length / all.length : NaN,
  };
}

/** The letter a chat model chose ("A".."F" at the start, or "answer: B"); null when none. */
export function parseChoiceLetter(text: string, options: number): number | null {
  const letters = "ABCDEF".slice(0, options);
  const m = text.trim().match(new RegExp(`^\\(?([${letters}])\\b|answer\\W{0,3}\\(?([${letters}])\\b`, "i"));
  const l = m ? (m[1] ?? m[2])! : null;
  return l ? letters.indexOf(l.toUpperCase()) : null;
}

/** The multiple-choice prompt shown to chat models. */
export function mcPrompt(item: McItem): string {
  const opts = item.options.map((o, i) => `${"ABCDEF"[i]}. ${o}`).join("\n");
  return `${item.question}\n${opts}\nAnswer with the letter of the correct option only.`;
}
