// Dataset tools: validated JSONL load/save of scenarios and open questions (errors name file, line and field),
// split disjointness checks and summary statistics for `parley data stats`.
import * as fs from "node:fs";
import { parseJsonRecord, readJsonl, splitJsonlLines, writeJsonl } from "../core/jsonl";
import { InputError } from "../core/errors";
import { OpenQuestionSchema, ScenarioSchema, type OpenQuestion, type Scenario } from "./schema";

export function loadScenarios(file: string): Scenario[] {
  return readJsonl(file, ScenarioSchema);
}

export function loadOpenQuestions(file: string): OpenQuestion[] {
  return readJsonl(file, OpenQuestionSchema);
}

/** Loads either kind: a record with "question" is an OpenQuestion, otherwise a Scenario. Errors name file, line, field. */
export function loadDatasetFile(file: string): Array<Scenario | OpenQuestion> {
  if (!fs.existsSync(file)) throw new InputError("file not found", { file });
  return splitJsonlLines(fs.readFileSync(file, "utf8")).map(([lineNo, line]) => {
    const value = parseJsonRecord<unknown>(line, undefined, file, lineNo);
    const schema = typeof value === "object" && value !== null && "question" in value ? OpenQuestionSchema : ScenarioSchema;
    return parseJsonRecord<Scenario | OpenQuestion>(line, schema as never, file, lineNo);
  });
}

export function saveScenarios(file: string, scenarios: readonly Scenario[]): void {
  writeJsonl(file, scenarios.map((s) => ScenarioSchema.parse(s)));
}

export interface SplitOverlap {
  ids: string[];
  dilemmas: string[];
  pairs: string[];
  personas: string[];
  templates: string[];
}

/** What a held-out set shares with a training set (all empty = disjoint). Offline templates count via provenance. */
export function splitOverlap(train: readonly Scenario[], heldOut: readonly Scenario[]): SplitOverlap {
  const inter = (a: Iterable<string>, b: Iterable<string>): string[] => {
    const sa = new Set(a);
    return [...new Set([...b].filter((x) => sa.has(x)))].sort();
  };
  const norm = (t: string): string => t.toLowerCase().replace(/\s+/g, " ").trim();
  return {
    ids: inter(train.map((s) => s.id), heldOut.map((s) => s.id)),
    dilemmas: inter(train.map((s) => norm(s.dilemma)), heldOut.map((s) => norm(s.dilemma))),
    pairs: inter(train.map((s) => s.pair.id), heldOut.map((s) => s.pair.id)),
    personas: inter(train.flatMap((s) => [s.pair.a.id, s.pair.b.id]), heldOut.flatMap((s) => [s.pair.a.id, s.pair.b.id])),
    templates: inter(
      train.flatMap((s) => (s.provenance.template ? [s.provenance.template] : [])),
      heldOut.flatMap((s) => (s.provenance.template ? [s.provenance.template] : [])),
    ),
  };
}

export interface DatasetStats {
  total: number;
  byCategory: Record<string, number>;
  bySplit: Record<string, number>;
  byTension: Record<string, number>;
  byTemplate: Record<string, number>;
  /** Issue counts by kind over structured scenarios. */
  issueKinds: Record<string, number>;
  /** Scenarios by number of structured issues ("none" when unstructured). */
  issueCounts: Record<string, number>;
  creativeOptions: number;
  meanDilemmaWords: number;
}

const bump = (m: Record<string, number>, k: string): void => {
  m[k] = (m[k] ?? 0) + 1;
};

export function datasetStats(records: ReadonlyArray<Scenario | OpenQuestion>): DatasetStats {
  const s: DatasetStats = {
    total: records.length, byCategory: {}, bySplit: {}, byTension: {}, byTemplate: {}, issueKinds: {}, issueCounts: {}, creativeOptions: 0, meanDilemmaWords: 0,
  };
  let words = 0;
  for (const r of records) {
    bump(s.byCategory, r.category);
    bump(s.bySplit, r.split);
    if (r.provenance.template) bump(s.byTemplate, r.provenance.template);
    const text = "dilemma" in r ? r.dilemma : r.question;
    words += text.split(/\s+/).filter(Boolean).length;
    if (!("dilemma" in r)) continue;
    bump(s.byTension, r.pair.tension);
    if (!r.structured) {
      bump(s.issueCounts, "none");
      continue;
    }
    bump(s.issueCounts, String(r.structured.issues.length));
    for (const issue of r.structured.issues) {
      bump(s.issueKinds, issue.kind);
      s.creativeOptions += issue.options.filter((o) => o.creative).length;
    }
  }
  s.meanDilemmaWords = records.length ? words / records.length : 0;
  return s;
}

/** Rows of [key, count, percent] sorted by count desc, for tables. */
export function countRows(counts: Record<string, number>): Array<{ key: string; count: number; percent: number }> {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return Object.entries(counts)
    .sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0]))
    .map(([key, count]) => ({ key, count, percent: total ? (100 * count) / total : 0 }));
}

/** Plain-text report with one table per breakdown. */
export function formatDatasetStats(stats: DatasetStats, title = "dataset"): string {
  const table = (name: string, counts: Record<string, number>): string => {
    const rows = countRows(counts);
    if (!rows.length) return "";
    const w = Math.max(name.length, ...rows.map((r) => r.key.length));
    const lines = [`${name.padEnd(w)}  ${"count".padStart(6)}  ${"%".padStart(6)}`, `${"-".repeat(w)}  ------  ------`];
    for (const r of rows) lines.push(`${r.key.padEnd(w)}  ${String(r.count).padStart(6)}  ${r.percent.toFixed(1).padStart(6)}`);
    return lines.join("\n") + "\n";
  };
  return [
    `${title}: ${stats.total} records, mean ${stats.meanDilemmaWords.toFixed(1)} words, ${stats.creativeOptions} creative options\n`,
    table("split", stats.bySplit),
    table("category", stats.byCategory),
    table("tension", stats.byTension),
    table("issue kind", stats.issueKinds),
    table("issues per scenario", stats.issueCounts),
    table("template", stats.byTemplate),
  ].filter(Boolean).join("\n");
}
