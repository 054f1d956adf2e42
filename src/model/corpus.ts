// The embedded pretraining corpus: authored paragraphs (data/corpus/paragraphs.txt) plus documents expanded from an
// authored template grammar (data/corpus/grammar.json) with a seeded Rng; split into train/heldout by document id.
import * as fs from "node:fs";
import * as path from "node:path";
import { InputError } from "../core/errors";
import { Rng, deriveSeed } from "../core/rng";

export type CorpusSplit = "train" | "heldout";

export interface CorpusDocument {
  id: string;
  source: "authored" | "generated";
  /** Topic (authored) or document kind (generated), e.g. "negotiation", "story". */
  topic: string;
  text: string;
}

export interface CorpusGrammar {
  version: number;
  documents: Array<{ kind: string; weight: number; root: string }>;
  rules: Record<string, string[]>;
}

export interface LoadCorpusOptions {
  /** Which documents: "train", "heldout" or "all" (default "train"). */
  split?: CorpusSplit | "all";
  /** Seed of the procedural generator (default 0). */
  seed?: number;
  /** Number of generated documents (default DEFAULT_GENERATED_DOCUMENTS). */
  generatedDocuments?: number;
  /** Folder holding paragraphs.txt and grammar.json (default: the package's data/corpus). */
  dir?: string;
  /** Include the authored paragraphs (default true). */
  authored?: boolean;
}

/** About 750 KB of generated text with the shipped grammar, plus ~30 KB of authored paragraphs. */
export const DEFAULT_GENERATED_DOCUMENTS = 1000;
/** Percentage of documents (by id hash) in the held-out split. */
export const HELDOUT_PERCENT = 8;

/** Folder of the shipped corpus: walks up from this file to the package root (works from src/ and dist/src/). */
export function defaultCorpusDir(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const cand = path.join(dir, "data", "corpus");
    if (fs.existsSync(path.join(cand, "grammar.json"))) return cand;
    dir = path.dirname(dir);
  }
  throw new InputError("cannot find data/corpus (grammar.json) above " + __dirname);
}

/** Which split a document id belongs to (stable: depends on the id only). */
export function corpusSplitOf(id: string): CorpusSplit {
  return deriveSeed("corpus-split", id) % 100 < HELDOUT_PERCENT ? "heldout" : "train";
}

/** Parses paragraphs.txt: "@ <id> <topic>" starts a document, "#" lines are comments, text lines are joined. */
export function parseParagraphs(text: string, file = "paragraphs.txt"): CorpusDocument[] {
  const docs: CorpusDocument[] = [];
  let cur: { id: string; topic: string; lines: string[] } | null = null;
  const ids = new Set<string>();
  const flush = () => {
    if (!cur) return;
    const body = cur.lines.join(" ").replace(/\s+/g, " ").trim();
    if (!body) throw new InputError(`document "${cur.id}" is empty`, { file, field: cur.id });
    docs.push({ id: cur.id, source: "authored", topic: cur.topic, text: body });
  };
  text.split("\n").forEach((raw, i) => {
    const line = raw.trimEnd();
    if (line.startsWith("#")) return;
    if (line.startsWith("@")) {
      flush();
      const m = /^@\s+(\S+)\s+(\S+)\s*$/.exec(line);
      if (!m) throw new InputError(`expected "@ <id> <topic>", got ${JSON.stringify(line)}`, { file, line: i + 1 });
      if (ids.has(m[1]!)) throw new InputError(`duplicate document id "${m[1]}"`, { file, line: i + 1 });
      ids.add(m[1]!);
      cur = { id: m[1]!, topic: m[2]!, lines: [] };
      return;
    }
    if (line.trim() === "") return;
    if (!cur) throw new InputError("text before the first \"@ <id> <topic>\" line", { file, line: i + 1 });
    (cur as { lines: string[] }).lines.push(line.trim());
  });
  flush();
  return docs;
}

const REF = /\{([a-z_]+)(#\d+)?(?:\*(\d+)-(\d+))?\}/g;

/** Checks that every rule referenced exists and every document root is a rule. */
export function validateGrammar(g: CorpusGrammar, file = "grammar.json"): void {
  if (!Array.isArray(g.documents) || g.documents.length === 0) throw new InputError("no document kinds", { file, field: "documents" });
  g.documents.forEach((d, i) => {
    if (!g.rules[d.root]) throw new InputError(`root rule "${d.root}" is not defined`, { file, field: `documents.${i}.root` });
    if (!(d.weight > 0)) throw new InputError("weight must be > 0", { file, field: `documents.${i}.weight` });
  });
  for (const [name, alts] of Object.entries(g.rules)) {
    if (!Array.isArray(alts) || alts.length === 0) throw new InputError("rule needs at least one alternative", { file, field: `rules.${name}` });
    alts.forEach((alt, i) => {
      for (const m of alt.matchAll(REF)) {
        if (!g.rules[m[1]!]) throw new InputError(`unknown rule "${m[1]}"`, { file, field: `rules.${name}.${i}` });
        if (m[3] !== undefined && Number(m[3]) > Number(m[4])) throw new InputError(`bad repeat range in ${m[0]}`, { file, field: `rules.${name}.${i}` });
      }
    });
  }
}

/** Expands one rule with document-scoped bindings ({rule#k}). Depth-limited to catch accidental recursion. */
function expand(g: CorpusGrammar, rule: string, rng: Rng, bindings: Map<string, string>, depth = 0): string {
  if (depth > 30) throw new Error(`corpus grammar recursion too deep at rule "${rule}"`);
  const alt = rng.choice(g.rules[rule]!);
  return alt.replace(REF, (_m, name: string, bind: string | undefined, lo: string | undefined, hi: string | undefined) => {
    if (lo !== undefined) {
      const n = Number(lo) + rng.int(Number(hi) - Number(lo) + 1);
      const parts: string[] = [];
      for (let i = 0; i < n; i++) {
        let v = expand(g, name, rng, bindings, depth + 1);
        for (let t = 0; t < 5 && parts.includes(v); t++) v = expand(g, name, rng, bindings, depth + 1);
        parts.push(v);
      }
      return parts.join(" ");
    }
    if (bind === undefined) return expand(g, name, rng, bindings, depth + 1);
    const key = name + bind;
    const have = bindings.get(key);
    if (have !== undefined) return have;
    // distinct from the other bindings of the same rule (a few tries; small rules may repeat)
    const taken = new Set([...bindings].filter(([k]) => k.startsWith(name + "#")).map(([, v]) => v));
    let v = expand(g, name, rng, bindings, depth + 1);
    for (let t = 0; t < 8 && taken.has(v); t++) v = expand(g, name, rng, bindings, depth + 1);
    bindings.set(key, v);
    return v;
  });
}

/** Sentence-level clean-up: a/an before vowels, capitals after sentence ends, single spaces. */
export function tidyText(text: string): string {
  let t = text.replace(/\s+/g, " ").trim();
  t = t.replace(/\b([Aa]) ([aeiouAEIOU])/g, (_m, a: string, v: string) => `${a}n ${v}`);
  // capitals at the start, after a sentence end, and inside an opening quote; not in '"Hi." said Ada'
  t = t.replace(/(^|[.!?] |[.!?] "|[.!?]" (?!said\b))([a-z])/g, (_m, pre: string, c: string) => pre + c.toUpperCase());
  return t;
}

/** Generates `count` documents; document i depends only on (seed, i), so any prefix is stable. */
export function generateDocuments(g: CorpusGrammar, count: number, seed = 0): CorpusDocument[] {
  const weights = g.documents.map((d) => d.weight);
  const out: CorpusDocument[] = [];
  for (let i = 0; i < count; i++) {
    const rng = new Rng(deriveSeed(seed, "corpus-doc", i));
    const kind = g.documents[rng.weightedIndex(weights)]!;
    // a document is 2-4 paragraphs of its kind, sharing bindings (same people, same place)
    const bindings = new Map<string, string>();
    const paras = 1 + rng.int(3);
    const parts: string[] = [];
    for (let p = 0; p < paras; p++) parts.push(tidyText(expand(g, kind.root, rng, bindings)));
    out.push({ id: `gen-${seed}-${i}`, source: "generated", topic: kind.kind, text: parts.join("\n") });
  }
  return out;
}

/** Reads and validates grammar.json. */
export function loadGrammar(file: string): CorpusGrammar {
  let g: CorpusGrammar;
  try {
    g = JSON.parse(fs.readFileSync(file, "utf8")) as CorpusGrammar;
  } catch (e) {
    throw new InputError(`cannot read corpus grammar (${(e as Error).message})`, { file });
  }
  validateGrammar(g, file);
  return g;
}

/** Loads the corpus: authored paragraphs + generated documents, filtered to one split. */
export function loadCorpus(options: LoadCorpusOptions = {}): CorpusDocument[] {
  const dir = options.dir ?? defaultCorpusDir();
  const docs: CorpusDocument[] = [];
  if (options.authored ?? true) {
    const pf = path.join(dir, "paragraphs.txt");
    docs.push(...parseParagraphs(fs.readFileSync(pf, "utf8"), pf));
  }
  const grammar = loadGrammar(path.join(dir, "grammar.json"));
  docs.push(...generateDocuments(grammar, options.generatedDocuments ?? DEFAULT_GENERATED_DOCUMENTS, options.seed ?? 0));
  const split = options.split ?? "train";
  return split === "all" ? docs : docs.filter((d) => corpusSplitOf(d.id) === split);
}

export interface CorpusStats {
  documents: number;
  authored: number;
  chars: number;
  words: number;
}

export function corpusStats(docs: readonly CorpusDocument[]): CorpusStats {
  let chars = 0, words = 0, authored = 0;
  for (const d of docs) {
    chars += d.text.length;
    words += d.text.split(/\s+/).filter(Boolean).length;
    if (d.source === "authored") authored++;
  }
  return { documents: docs.length, authored, chars, words };
}
