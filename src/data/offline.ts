// Offline, seeded generator of the paper-sized sets from the authored banks: 1,100 training scenarios, 100 held-out
// conflict tasks (evaluation persona pairs and templates only) and 100 open-ended CA questions. Item i of a split
// depends only on (seed, split, i), so output is byte-identical for a seed whatever the counts of other splits.
import * as path from "node:path";
import { Rng } from "../core/rng";
import { writeJsonl } from "../core/jsonl";
import { loadBanks, type Banks, type BankPersonaPair, type DilemmaTemplate, type OpenQuestionTemplate } from "./banks";
import { NearDuplicateIndex } from "./dedup";
import { drawStructured, type DrawStructuredOptions } from "./utilities";
import { CATEGORIES, type OpenQuestion, type PersonaPair, type Scenario, type Split } from "./schema";

export interface OfflineCounts {
  train: number;
  evalConflict: number;
  evalOpen: number;
}
/** Offline texts from one template stay below this 3-shingle Jaccard similarity to each other (when possible). */
export const NEAR_DUPLICATE_THRESHOLD = 0.75;

/** The paper's sizes. */
export const PAPER_COUNTS: OfflineCounts = { train: 1100, evalConflict: 100, evalOpen: 100 };

export interface OfflineSynthOptions {
  seed: number;
  counts?: Partial<OfflineCounts>;
  banks?: Banks;
  structured?: DrawStructuredOptions;
}

export interface OfflineDataset {
  train: Scenario[];
  evalConflict: Scenario[];
  evalOpen: OpenQuestion[];
}

/**
 * Fills {slot}s with values drawn from rng. `avoid`: retry (up to 50 draws) while the text is taken — a set of texts
 * (exact) or a predicate (e.g. a near-duplicate check).
 */
export function fillTemplate(rng: Rng, text: string, slots: Record<string, string[]>, avoid?: ReadonlySet<string> | ((text: string) => boolean)): string {
  let out = "";
  for (let tries = 0; tries < 50; tries++) {
    const chosen: Record<string, string> = {};
    for (const name of Object.keys(slots).sort()) chosen[name] = rng.choice(slots[name]!);
    out = text.replace(/\{([a-zA-Z][a-zA-Z0-9_]*)\}/g, (_, s: string) => chosen[s] ?? `{${s}}`);
    if (!avoid || !(typeof avoid === "function" ? avoid(out) : avoid.has(out))) return out;
  }
  return out;
}

const stripSplit = (p: BankPersonaPair): PersonaPair => ({ id: p.id, tension: p.tension, a: p.a, b: p.b });

function byCategory<T extends { category: string }>(items: readonly T[]): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const c of CATEGORIES) m.set(c, items.filter((t) => t.category === c));
  return m;
}

function scenarioSplit(
  split: Split,
  count: number,
  seed: number,
  templates: readonly DilemmaTemplate[],
  pairs: readonly BankPersonaPair[],
  structuredOpts: DrawStructuredOptions | undefined,
): Scenario[] {
  const root = new Rng(seed).fork("offline", split);
  const cats = byCategory(templates);
  const pairOrder = root.fork("pairs").shuffle(pairs);
  // Near-duplicates can only come from the same template, so each template keeps its own index.
  const seen = new Map<string, NearDuplicateIndex>();
  const out: Scenario[] = [];
  for (let i = 0; i < count; i++) {
    const category = CATEGORIES[i % CATEGORIES.length]!;
    const pool = cats.get(category)!;
    if (pool.length === 0) throw new RangeError(`no ${split} dilemma templates for category "${category}"`);
    const template = pool[Math.floor(i / CATEGORIES.length) % pool.length]!;
    const pair = pairOrder[i % pairOrder.length]!;
    const rng = root.fork("item", i);
    if (!seen.has(template.id)) seen.set(template.id, new NearDuplicateIndex(NEAR_DUPLICATE_THRESHOLD));
    const index = seen.get(template.id)!;
    const dilemma = fillTemplate(rng.fork("text"), template.text, template.slots, (t) => index.findNear(t) !== null);
    index.add(String(i), dilemma);
    out.push({
      id: `${split}-${String(i + 1).padStart(5, "0")}`,
      category,
      dilemma,
      pair: stripSplit(pair),
      split,
      provenance: { generator: "offline", seed, template: template.id },
      structured: drawStructured(rng.fork("structured"), template.issues, structuredOpts),
    });
  }
  return out;
}

function openSplit(count: number, seed: number, templates: readonly OpenQuestionTemplate[]): OpenQuestion[] {
  const root = new Rng(seed).fork("offline", "eval_open");
  const cats = byCategory(templates);
  const seen = new Set<string>();
  const out: OpenQuestion[] = [];
  for (let i = 0; i < count; i++) {
    const category = CATEGORIES[i % CATEGORIES.length]!;
    const pool = cats.get(category)!;
    const template = pool[Math.floor(i / CATEGORIES.length) % pool.length]!;
    const question = fillTemplate(root.fork("item", i), template.text, template.slots, seen);
    seen.add(question);
    out.push({
      id: `eval_open-${String(i + 1).padStart(5, "0")}`,
      category,
      question,
      split: "eval_open",
      provenance: { generator: "offline", seed, template: template.id },
    });
  }
  return out;
}

/** Generates all three sets. Training uses train-split pairs and templates only; eval_conflict the eval ones only. */
export function generateOfflineDataset(options: OfflineSynthOptions): OfflineDataset {
  const banks = options.banks ?? loadBanks();
  const counts = { ...PAPER_COUNTS, ...options.counts };
  const tpl = banks.dilemmas.templates;
  const pairs = banks.personas.pairs;
  return {
    train: scenarioSplit("train", counts.train, options.seed, tpl.filter((t) => t.split === "train"), pairs.filter((p) => p.split === "train"), options.structured),
    evalConflict: scenarioSplit("eval_conflict", counts.evalConflict, options.seed, tpl.filter((t) => t.split === "eval"), pairs.filter((p) => p.split === "eval"), options.structured),
    evalOpen: openSplit(counts.evalOpen, options.seed, banks.openQuestions.templates),
  };
}

/** File names written by writeOfflineDataset. */
export const DATASET_FILES = { train: "train.jsonl", evalConflict: "eval_conflict.jsonl", evalOpen: "eval_open.jsonl" } as const;

/** Writes the three JSONL files atomically into dir; returns their paths. */
export function writeOfflineDataset(dir: string, data: OfflineDataset): { train: string; evalConflict: string; evalOpen: string } {
  const files = {
    train: path.join(dir, DATASET_FILES.train),
    evalConflict: path.join(dir, DATASET_FILES.evalConflict),
    evalOpen: path.join(dir, DATASET_FILES.evalOpen),
  };
  writeJsonl(files.train, data.train);
  writeJsonl(files.evalConflict, data.evalConflict);
  writeJsonl(files.evalOpen, data.evalOpen);
  return files;
}
