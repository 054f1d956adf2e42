// LLM synthesiser: persona pairs, then dilemmas (optionally with the structured form) from any OpenAI-compatible
// endpoint, validated by zod, near-duplicates rejected, appended to JSONL as they arrive. Every item has a deterministic
// job id from its index, so a run killed at any moment and restarted only does what is missing (no loss, no duplicates).
import * as path from "node:path";
import { z } from "zod";
import { JsonlWriter, readJsonl, repairJsonlTail } from "../core/jsonl";
import { deriveSeed } from "../core/rng";
import { LlmError, type ChatMessage, type LlmClient } from "../llm/client";
import { NearDuplicateIndex } from "./dedup";
import {
  CATEGORIES, CATEGORY_LABELS, PersonaPairSchema, ScenarioSchema, StructuredSchema,
  type Category, type PersonaPair, type Scenario, type Split, type Structured,
} from "./schema";

/** What the model must return for a persona pair (ids are assigned by us). */
const LlmPersonaSchema = z.object({
  name: z.string().min(2),
  role: z.string().min(3),
  coreValues: z.array(z.string().min(2)).min(1).max(5),
  goals: z.array(z.string().min(2)).min(1).max(5),
  redLines: z.array(z.string().min(2)).min(1).max(4),
});
export const LlmPairAnswerSchema = z.object({ tension: z.string().min(5), a: LlmPersonaSchema, b: LlmPersonaSchema });
export type LlmPairAnswer = z.infer<typeof LlmPairAnswerSchema>;

export const LlmDilemmaAnswerSchema = z.object({ dilemma: z.string().min(60).max(2000) });
export const LlmStructuredDilemmaAnswerSchema = z.object({ dilemma: z.string().min(60).max(2000), structured: StructuredSchema });

export interface LlmSynthOptions {
  client: LlmClient;
  /** Output folder: pairs.jsonl, scenarios.jsonl, rejected.jsonl. */
  outDir: string;
  /** Dilemmas to produce. */
  n: number;
  /** Persona pairs to produce first (default 25, the paper's count). */
  pairs?: number;
  split?: Split;
  seed?: number;
  /** Also ask for the structured form (issues, options, utilities), validated for consistency. */
  structured?: boolean;
  /** Jaccard (3-shingles) at or above which a dilemma or tension is rejected as a near-duplicate (default 0.8). */
  dedupThreshold?: number;
  /** Requests per item before it is given up for this run (default 3); each re-ask uses a new seed. */
  maxAttemptsPerItem?: number;
  temperature?: number;
  maxTokens?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface LlmSynthReport {
  pairsWritten: number;
  pairsSkipped: number;
  scenariosWritten: number;
  /** Already present from an earlier run (resumed). */
  scenariosSkipped: number;
  rejected: { invalid: number; duplicate: number; inconsistent: number; failed: number };
  /** Items given up for this run (rerun to retry). */
  missing: string[];
  files: { pairs: string; scenarios: string; rejected: string };
}

/** Problems with a structured form beyond the schema: kinds must match utilities. Empty = consistent. */
export function structuredConsistencyProblems(s: Structured): string[] {
  const out: string[] = [];
  for (const issue of s.issues) {
    const maxA = Math.max(...issue.options.map((o) => o.utility.a));
    const maxB = Math.max(...issue.options.map((o) => o.utility.b));
    const bestA = new Set(issue.options.filter((o) => o.utility.a === maxA).map((o) => o.id));
    const bestForBoth = issue.options.some((o) => bestA.has(o.id) && o.utility.b === maxB);
    if (issue.kind === "compatible" && !bestForBoth) out.push(`issue "${issue.id}" is "compatible" but no option is best for both sides`);
    if (issue.kind === "opposed" && bestForBoth) out.push(`issue "${issue.id}" is "opposed" but one option is best for both sides`);
  }
  return out;
}

const SYSTEM = "You write material for research on negotiation and collective decision-making. Answer with one JSON object only, no prose.";

export function pairPrompt(index: number, existingTensions: readonly string[]): ChatMessage[] {
  const avoid = existingTensions.length ? `\nAvoid these tensions, already covered: ${existingTensions.slice(-30).join("; ")}.` : "";
  return [
    { role: "system", content: SYSTEM },
    {
      role: "user",
      content:
        `Invent persona pair #${index + 1}: two people whose sincere values pull in opposite directions (a common value tension, ` +
        `for example cost minimisation vs quality maximisation). Give the tension as "X vs Y" and, for each person, a name, a role, ` +
        `core values, goals and red lines (what they will not give up). Both must be reasonable people.${avoid}\n` +
        `JSON fields: tension, a {name, role, coreValues[], goals[], redLines[]}, b {same}.`,
    },
  ];
}

export function dilemmaPrompt(category: Category, pair: PersonaPair, structured: boolean): ChatMessage[] {
  const structuredAsk = structured
    ? `\nAlso give "structured": 2-5 issues the two must settle, each {id (lowercase slug), label, kind ("opposed" | "compatible" | ` +
      `"integrative"), options: 2-4 {id (slug), label, utility {a, b} integers 0-10, creative?: true}}. "a" is ${pair.a.name}, "b" is ` +
      `${pair.b.name}. Opposed: what one gains the other loses. Compatible: one option is best for both. Integrative: the sides care ` +
      `about it unequally, so trading across issues helps both. Where it fits, add a creative option that gives both more than the obvious compromise.`
    : "";
  return [
    { role: "system", content: SYSTEM },
    {
      role: "user",
      content:
        `Write a ${CATEGORY_LABELS[category]} (3-6 sentences, concrete setting, people and stakes, no resolution) in which ` +
        `${pair.a.name} (${pair.a.role}; values: ${pair.a.coreValues.join(", ")}) and ${pair.b.name} (${pair.b.role}; values: ` +
        `${pair.b.coreValues.join(", ")}) must reach a joint decision. Their tension: ${pair.tension}.${structuredAsk}\nJSON fields: dilemma${structured ? ", structured" : ""}.`,
    },
  ];
}

const slugify = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40) || "x";

/** Runs (or resumes) a synthesis job. */
export async function synthesizeWithLlm(options: LlmSynthOptions): Promise<LlmSynthReport> {
  const seed = options.seed ?? 0;
  const split = options.split ?? "train";
  const nPairs = options.pairs ?? 25;
  const maxAttempts = options.maxAttemptsPerItem ?? 3;
  const threshold = options.dedupThreshold ?? 0.8;
  const files = {
    pairs: path.join(options.outDir, "pairs.jsonl"),
    scenarios: path.join(options.outDir, "scenarios.jsonl"),
    rejected: path.join(options.outDir, "rejected.jsonl"),
  };
  for (const f of Object.values(files)) repairJsonlTail(f);
  const report: LlmSynthReport = {
    pairsWritten: 0, pairsSkipped: 0, scenariosWritten: 0, scenariosSkipped: 0,
    rejected: { invalid: 0, duplicate: 0, inconsistent: 0, failed: 0 }, missing: [], files,
  };
  const rejectedOut = new JsonlWriter(files.rejected);
  const reject = (job: string, attempt: number, reason: keyof LlmSynthReport["rejected"], detail: string, text?: string): void => {
    report.rejected[reason]++;
    rejectedOut.write({ job, attempt, reason, detail, ...(text !== undefined ? { text: text.slice(0, 4000) } : {}) });
  };
  const model = options.client.model;

  try {
    // Phase 1: persona pairs.
    const pairs = new Map<number, PersonaPair>();
    for (const p of readJsonl(files.pairs, PersonaPairSchema)) {
      const m = /^llm-pair-(\d+)$/.exec(p.id);
      if (m) pairs.set(Number(m[1]), p);
    }
    report.pairsSkipped = pairs.size;
    const tensionIndex = new NearDuplicateIndex(threshold);
    for (const p of pairs.values()) tensionIndex.add(p.id, p.tension);
    const pairOut = new JsonlWriter(files.pairs);
    try {
      await Promise.all(
        Array.from({ length: nPairs }, (_, i) => i).filter((i) => !pairs.has(i)).map(async (i) => {
          const job = `llm-pair-${i}`;
          for (let attempt = 0; attempt < maxAttempts; attempt++) {
            const tensions = [...pairs.values()].map((p) => p.tension);
            let r;
            try {
              r = await options.client.chat({
                messages: pairPrompt(i, tensions), temperature: options.temperature ?? 0.9, seed: deriveSeed(seed, job, attempt),
                responseFormat: { name: "persona_pair", schema: LlmPairAnswerSchema }, ...(options.maxTokens ? { maxTokens: options.maxTokens } : {}),
              });
            } catch (e) {
              if (!(e instanceof LlmError)) throw e;
              reject(job, attempt, "failed", e.message);
              continue;
            }
            if (!r.parsed) {
              reject(job, attempt, "invalid", r.invalid?.message ?? "invalid", r.text);
              continue;
            }
            const near = tensionIndex.findNear(r.parsed.tension);
            if (near) {
              reject(job, attempt, "duplicate", `tension near-duplicate of ${near.id} (${near.similarity.toFixed(2)})`, r.text);
              continue;
            }
            const pair: PersonaPair = PersonaPairSchema.parse({
              id: job,
              tension: r.parsed.tension,
              a: { id: `${job}-a-${slugify(r.parsed.a.name)}`, ...r.parsed.a },
              b: { id: `${job}-b-${slugify(r.parsed.b.name)}`, ...r.parsed.b },
            });
            tensionIndex.add(job, pair.tension);
            pairs.set(i, pair);
            pairOut.write(pair);
            report.pairsWritten++;
            return;
          }
          report.missing.push(job);
        }),
      );
    } finally {
      pairOut.close();
    }
    const pairList = Array.from({ length: nPairs }, (_, i) => pairs.get(i)).filter((p): p is PersonaPair => p !== undefined);
    if (pairList.length === 0) {
      report.missing.sort();
      return report;
    }

    // Phase 2: dilemmas. Job i: category i mod 3, pair i mod #pairs (indices of the pairs that exist).
    const done = new Set<string>();
    const dilemmaIndex = new NearDuplicateIndex(threshold);
    for (const s of readJsonl(files.scenarios, ScenarioSchema)) {
      done.add(s.id);
      dilemmaIndex.add(s.id, s.dilemma);
    }
    const scenOut = new JsonlWriter(files.scenarios);
    let progress = 0;
    try {
      const todo = Array.from({ length: options.n }, (_, i) => i).filter((i) => !done.has(`llm-${split}-${String(i + 1).padStart(5, "0")}`));
      report.scenariosSkipped = options.n - todo.length;
      progress = report.scenariosSkipped;
      await Promise.all(
        todo.map(async (i) => {
          const id = `llm-${split}-${String(i + 1).padStart(5, "0")}`;
          const category = CATEGORIES[i % CATEGORIES.length]!;
          const pair = pairList[i % pairList.length]!;
          const schema = options.structured ? LlmStructuredDilemmaAnswerSchema : LlmDilemmaAnswerSchema;
          for (let attempt = 0; attempt < maxAttempts; attempt++) {
            let r;
            try {
              r = await options.client.chat({
                messages: dilemmaPrompt(category, pair, options.structured ?? false), temperature: options.temperature ?? 0.9,
                seed: deriveSeed(seed, id, attempt), responseFormat: { name: "dilemma", schema: schema as z.ZodType<{ dilemma: string; structured?: Structured }> },
                ...(options.maxTokens ? { maxTokens: options.maxTokens } : {}),
              });
            } catch (e) {
              if (!(e instanceof LlmError)) throw e;
              reject(id, attempt, "failed", e.message);
              continue;
            }
            if (!r.parsed) {
              reject(id, attempt, "invalid", r.invalid?.message ?? "invalid", r.text);
              continue;
            }
            if (r.parsed.structured) {
              const problems = structuredConsistencyProblems(r.parsed.structured);
              if (problems.length) {
                reject(id, attempt, "inconsistent", problems.join("; "), r.text);
                continue;
              }
            }
            const near = dilemmaIndex.findNear(r.parsed.dilemma);
            if (near) {
              reject(id, attempt, "duplicate", `near-duplicate of ${near.id} (${near.similarity.toFixed(2)})`, r.text);
              continue;
            }
            const scenario: Scenario = ScenarioSchema.parse({
              id, category, dilemma: r.parsed.dilemma.trim(), pair, split,
              provenance: { generator: "llm", seed, model: r.model || model, template: `llm-${category}` },
              ...(r.parsed.structured ? { structured: r.parsed.structured } : {}),
            });
            dilemmaIndex.add(id, scenario.dilemma);
            scenOut.write(scenario);
            report.scenariosWritten++;
            options.onProgress?.(++progress, options.n);
            return;
          }
          report.missing.push(id);
        }),
      );
    } finally {
      scenOut.close();
    }
  } finally {
    rejectedOut.close();
  }
  report.missing.sort();
  return report;
}
