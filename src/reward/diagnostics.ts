// Reward diagnostics: seeded random structured forms (for studying the oracle before any data exists), oracle
// score distributions of random vs max-Nash agreements, and a simulated noisy judge for the offline demo.
import { Rng } from "../core/rng";
import type { Issue, IssueKind, Package, Structured } from "../data/schema";
import type { FakeReply, FakeRequest } from "../llm/fake-server";
import { enumeratePackages, maxNashPackage, oracleCaScore } from "./oracle";

function clampUtility(x: number): number {
  return Math.max(0, Math.min(10, Math.round(x)));
}

/**
 * A random structured form: 2-5 issues of 2-4 options; each issue opposed, compatible or integrative (per-side
 * weights differ, so trading across issues pays), and with probability `creativeRate` (default 0.3) an extra
 * creative option worth 7-10 to both sides on a non-compatible issue. Utilities carry N(0, 1) noise, clamped.
 */
export function randomStructuredForm(rng: Rng, options: { creativeRate?: number } = {}): Structured {
  const creativeRate = options.creativeRate ?? 0.3;
  const nIssues = 2 + rng.int(4);
  const issues: Issue[] = [];
  for (let i = 0; i < nIssues; i++) {
    const kind: IssueKind = rng.choice(["opposed", "compatible", "integrative"] as const);
    const nOpt = 2 + rng.int(3);
    const wa = 0.5 + rng.next();
    const wb = 0.5 + rng.next();
    const options: Issue["options"] = [];
    for (let j = 0; j < nOpt; j++) {
      const t = j / (nOpt - 1);
      let a = 10 * t * wa;
      let b: number;
      if (kind === "opposed") b = 10 * (1 - t) * wb;
      else if (kind === "compatible") b = 10 * t * wb;
      else b = 10 * (1 - t) * wb * (0.3 + 0.7 * rng.next());
      a += rng.normal();
      b += rng.normal();
      options.push({ id: `o${j}`, label: `option ${j}`, utility: { a: clampUtility(a), b: clampUtility(b) } });
    }
    if (kind !== "compatible" && nOpt < 4 && rng.next() < creativeRate) {
      options.push({ id: "creative", label: "creative option", utility: { a: 7 + rng.int(4), b: 7 + rng.int(4) }, creative: true });
    }
    issues.push({ id: `i${i}`, label: `issue ${i}`, kind, options });
  }
  return { issues };
}

/** A package as one readable line, e.g. "Price: mid; Timeline: phased". */
export function describePackage(s: Structured, pkg: Package): string {
  return s.issues.map((i) => `${i.label}: ${i.options.find((o) => o.id === pkg[i.id])?.label ?? "?"}`).join("; ");
}

export interface ScoreDistribution {
  /** counts[k] = agreements scoring k (0..5). */
  counts: number[];
  mean: number;
  sd: number;
}

function distribution(scores: number[]): ScoreDistribution {
  const counts = [0, 0, 0, 0, 0, 0];
  for (const s of scores) counts[s]!++;
  const mean = scores.reduce((a, b) => a + b, 0) / scores.length;
  const sd = Math.sqrt(scores.reduce((a, b) => a + (b - mean) ** 2, 0) / scores.length);
  return { counts, mean, sd };
}

/**
 * Oracle score distributions over scenarios: a uniformly random package per scenario (a random agreement) versus
 * the max-Nash-product package (the best integrative agreement). Seeded by `rng`.
 */
export function oracleScoreDistributions(structured: ReadonlyArray<Structured>, rng: Rng): { random: ScoreDistribution; maxNash: ScoreDistribution } {
  const random: number[] = [];
  const nash: number[] = [];
  structured.forEach((s, k) => {
    random.push(oracleCaScore(s, rng.fork("random", k).choice(enumeratePackages(s))).score);
    nash.push(oracleCaScore(s, maxNashPackage(s)).score);
  });
  return { random: distribution(random), maxNash: distribution(nash) };
}

/**
 * A simulated judge answer around a true score, for the offline demo (not a model of any real judge): with the
 * given probabilities the answer is exact JSON, off by one, off by two, the exact score in prose as [[n]], or garbage.
 */
export function simulatedJudgeReply(trueScore: number, rng: Rng, p = { exact: 0.5, offByOne: 0.25, offByTwo: 0.1, prose: 0.1 }): FakeReply {
  const u = rng.next();
  const clamp = (n: number) => Math.max(0, Math.min(5, n));
  const sign = rng.next() < 0.5 ? -1 : 1;
  if (u < p.exact) return { json: { reason: "simulated: matches the ground truth", score: trueScore } };
  if (u < p.exact + p.offByOne) return { json: { reason: "simulated: off by one", score: clamp(trueScore + sign) } };
  if (u < p.exact + p.offByOne + p.offByTwo) return { json: { reason: "simulated: off by two", score: clamp(trueScore + 2 * sign) } };
  if (u < p.exact + p.offByOne + p.offByTwo + p.prose) return { text: `A reasonable plan overall. Final score: [[${trueScore}]]` };
  return { text: "I would need more information to rate this." };
}

/**
 * A fake-server handler that answers by a tag "ref <id>" found in the request's user message, using
 * replies[id] (default: garbage). Lets a demo script which solution gets which answer.
 */
export function taggedReplyHandler(replies: Readonly<Record<string, FakeReply>>): (req: FakeRequest) => FakeReply {
  return (req) => {
    const user = req.messages.filter((m) => m.role === "user").map((m) => m.content).join("\n");
    const id = /\bref ([A-Za-z0-9_-]+)/.exec(user)?.[1];
    return (id !== undefined ? replies[id] : undefined) ?? { text: "no scripted answer" };
  };
}

/**
 * A fake-server handler simulating a pairwise judge for the offline demo: it reads the two "ref <id>" tags in
 * presentation order, prefers the solution with the higher true score (tie when equal), and with probability
 * `positionBias` answers "A" whatever it sees. Deterministic per (seed, shown-first id, shown-second id).
 */
export function simulatedPairwiseHandler(truth: Readonly<Record<string, number>>, seed: number, positionBias = 0.2): (req: FakeRequest) => FakeReply {
  return (req) => {
    const user = req.messages.filter((m) => m.role === "user").map((m) => m.content).join("\n");
    const ids = [...user.matchAll(/\bref ([A-Za-z0-9_-]+)/g)].map((m) => m[1]!);
    const [x, y] = [ids[0], ids[1]];
    if (x === undefined || y === undefined || truth[x] === undefined || truth[y] === undefined) return { text: "no scripted answer" };
    if (new Rng(seed).fork(x, y).next() < positionBias) return { json: { reason: "simulated: the first one reads better", verdict: "A" } };
    const v = truth[x]! > truth[y]! ? "A" : truth[x]! < truth[y]! ? "B" : "tie";
    return { json: { reason: "simulated: follows the ground truth", verdict: v } };
  };
}
