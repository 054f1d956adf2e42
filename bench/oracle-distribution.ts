// Oracle CA score distribution (issue 5): uniformly random packages vs agreements reached by scripted self-play
// (integrative, hard-line, random strategies) on the offline training scenarios, scored by src/reward/oracle.ts.
// Usage: npx tsx bench/oracle-distribution.ts [--n 1000] [--seed 0] [--scripted-n N] [--group 1] [--mode eval] [--strategies integrative,hardline,random,conceding]
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { Rng } from "../src/core/rng";
import { generateOfflineDataset } from "../src/data/offline";
import type { Package, Scenario, Structured } from "../src/data/schema";
import { oracleCaScore, oracleScoreHistogram } from "../src/reward/oracle";
import { RuleAgreementJudge } from "../src/selfplay/agreement";
import { summarizeEpisodes } from "../src/selfplay/episode";
import { runEpisodes } from "../src/selfplay/protocol";
import { ScriptedNegotiatorModel, type Strategy } from "../src/selfplay/scripted";

interface Condition {
  name: string;
  /** Scores 0..5, one per dialogue (or per scenario for the random package). */
  scores: number[];
  /** Scripted conditions only. */
  agreementRate?: number;
  meanRoundsToAgreement?: number | null;
  meanTurns?: number;
  wellFormedRate?: number | null;
  /** Mean score over agreed dialogues only. */
  meanAgreedScore?: number | null;
  dialogues: number;
  scenarios: number;
  wallMs: number;
}

function stats(scores: readonly number[]): { mean: number; sd: number; counts: number[] } {
  const n = scores.length;
  const mean = n ? scores.reduce((a, b) => a + b, 0) / n : NaN;
  const sd = n > 1 ? Math.sqrt(scores.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  const counts = [0, 0, 0, 0, 0, 0];
  for (const s of scores) counts[s]!++;
  return { mean, sd, counts };
}

/** One option per issue, each uniformly at random. */
function randomPackage(s: Structured, rng: Rng): Package {
  const pkg: Package = {};
  for (const issue of s.issues) pkg[issue.id] = rng.choice(issue.options).id;
  return pkg;
}

async function scripted(strategy: Strategy, scenarios: readonly Scenario[], seed: number, groupSize: number, mode: "eval" | "train"): Promise<Condition> {
  const t0 = performance.now();
  const model = new ScriptedNegotiatorModel({ strategy, scenarios });
  const eps = await runEpisodes(scenarios, { agent1: model, agent2: model, agreementJudge: new RuleAgreementJudge(), seed, groupSize, mode });
  const byId = new Map(scenarios.map((s) => [s.id, s]));
  const scores = eps.map((e) => oracleCaScore(byId.get(e.scenarioId)!.structured!, e.agreed ? e.agreedPackage : null).score);
  const agreedScores = scores.filter((_, i) => eps[i]!.agreed);
  const st = summarizeEpisodes(eps);
  return {
    name: `scripted ${strategy} vs ${strategy}`,
    scores,
    agreementRate: st.agreementRate,
    meanRoundsToAgreement: st.meanRoundsToAgreement,
    meanTurns: st.meanTurns,
    wellFormedRate: st.wellFormedRate,
    meanAgreedScore: agreedScores.length ? agreedScores.reduce((a, b) => a + b, 0) / agreedScores.length : null,
    dialogues: eps.length,
    scenarios: scenarios.length,
    wallMs: performance.now() - t0,
  };
}

const fmt = (x: number | null | undefined, d = 2): string => (x === null || x === undefined || Number.isNaN(x) ? "—" : x.toFixed(d));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      n: { type: "string", default: "1000" },
      seed: { type: "string", default: "0" },
      "scripted-n": { type: "string" },
      group: { type: "string", default: "1" },
      mode: { type: "string", default: "eval" },
      strategies: { type: "string", default: "integrative,hardline,random,conceding" },
      out: { type: "string", default: "bench/results/oracle-distribution.json" },
    },
  });
  const n = Number(values.n), seed = Number(values.seed), groupSize = Number(values.group);
  const scriptedN = values["scripted-n"] === undefined ? n : Math.min(n, Number(values["scripted-n"]));
  const mode = values.mode === "train" ? "train" : "eval";
  const strategies = values.strategies!.split(",").map((s) => s.trim()).filter(Boolean) as Strategy[];

  const tAll = performance.now();
  let t0 = performance.now();
  const scenarios = generateOfflineDataset({ seed, counts: { train: n, evalConflict: 0, evalOpen: 0 } }).train;
  const genMs = performance.now() - t0;
  for (const s of scenarios) if (!s.structured) throw new Error(`scenario ${s.id} has no structured form`);

  const conditions: Condition[] = [];
  // (a) one uniformly random package per scenario.
  t0 = performance.now();
  const rng = new Rng(seed).fork("oracle-distribution", "random-package");
  const randScores = scenarios.map((s) => oracleCaScore(s.structured!, randomPackage(s.structured!, rng.fork(s.id))).score);
  conditions.push({ name: "uniform random package", scores: randScores, dialogues: n, scenarios: n, wallMs: performance.now() - t0 });

  // Exact expectation over all packages (each scenario weighted equally) — the population the random row samples.
  t0 = performance.now();
  const exact = [0, 0, 0, 0, 0, 0];
  let exactMean = 0, exactSq = 0;
  for (const s of scenarios) {
    const h = oracleScoreHistogram(s.structured!);
    const tot = h.reduce((a, b) => a + b, 0);
    for (let k = 0; k <= 5; k++) {
      exact[k]! += h[k]! / tot;
      exactMean += (k * h[k]!) / tot / n;
      exactSq += (k * k * h[k]!) / tot / n;
    }
  }
  const exactMs = performance.now() - t0;

  // (b)-(d) scripted self-play.
  const sp = scenarios.slice(0, scriptedN);
  for (const strat of strategies) {
    const c = await scripted(strat, sp, seed, groupSize, mode);
    conditions.push(c);
    process.stderr.write(`${c.name}: ${c.dialogues} dialogues in ${(c.wallMs / 1000).toFixed(1)} s\n`);
  }
  const totalMs = performance.now() - tAll;

  const rows = conditions.map((c) => ({ ...c, ...stats(c.scores) }));
  const lines: string[] = [];
  lines.push(`Oracle CA (${"oracle-ca"} v1) on offline train scenarios: n=${n} (scripted on ${scriptedN}, group ${groupSize}, mode ${mode}), seed ${seed}`);
  lines.push("");
  lines.push("| condition | dialogues | mean | sd | 0 | 1 | 2 | 3 | 4 | 5 | agree rate | no-agreement share | mean rounds | mean score if agreed | wall s |");
  lines.push("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const r of rows) {
    const scriptedRow = r.agreementRate !== undefined;
    lines.push(
      `| ${r.name} | ${r.dialogues} | ${fmt(r.mean)} | ${fmt(r.sd)} | ${r.counts.join(" | ")} | ${scriptedRow ? fmt(r.agreementRate, 3) : "—"} | ${scriptedRow ? fmt(1 - r.agreementRate!, 3) : "—"} | ${scriptedRow ? fmt(r.meanRoundsToAgreement) : "—"} | ${scriptedRow ? fmt(r.meanAgreedScore) : "—"} | ${fmt(r.wallMs / 1000, 1)} |`,
    );
  }
  const exactSd = Math.sqrt(Math.max(0, exactSq - exactMean ** 2));
  lines.push(`| all packages (exact, per-scenario uniform) | — | ${fmt(exactMean)} | ${fmt(exactSd)} | ${exact.map((x) => (x / n).toFixed(3)).join(" | ")} | — | — | — | — | ${fmt(exactMs / 1000, 1)} |`);
  lines.push("");
  lines.push(`(last row: score shares, not counts.) Scenario generation ${(genMs / 1000).toFixed(1)} s; total wall ${(totalMs / 1000).toFixed(1)} s.`);
  process.stdout.write(lines.join("\n") + "\n");

  const json = {
    bench: "oracle-distribution",
    date: new Date().toISOString(),
    n, scriptedN, seed, groupSize, mode,
    oracle: { id: "oracle-ca", version: 1 },
    generationMs: genMs,
    totalMs,
    exactAllPackages: { mean: exactMean, sd: exactSd, shares: exact.map((x) => x / n), wallMs: exactMs },
    conditions: rows.map(({ scores: _s, ...r }) => r),
  };
  fs.mkdirSync(path.dirname(values.out!), { recursive: true });
  fs.writeFileSync(values.out!, JSON.stringify(json, null, 2) + "\n");
  process.stderr.write(`wrote ${values.out}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
