// Evaluation metrics (pure): agreement, rounds, oracle CA, utilities, pairwise win rates, mean +/- SD over repeats,
// percentile bootstrap intervals (Efron & Tibshirani 1993, ch. 13) and the paired bootstrap of a difference.
import { Rng } from "../core/rng";

/** One evaluated dialogue reduced to what the metrics need (plain numbers, JSONL-friendly). */
export interface DialogueOutcome {
  scenarioId: string;
  sampleIndex: number;
  agreed: boolean;
  /** Turns until agreement (null without agreement). */
  rounds: number | null;
  /** Oracle CA 0..5 of the final solution (summary package; no package = 0); null when the scenario has no structured form. */
  ca: number | null;
  /** Oracle CA 0..5 of the agreed deal (no agreement = 0); null without a structured form. */
  dealCa: number | null;
  /** Normalised joint value 0..1 of the agreed deal (null without agreement or structure). */
  joint: number | null;
  /** Normalised utility 0..1 of the worse-off side of the agreed deal (null without agreement or structure). */
  worse: number | null;
}

export interface ConflictMetrics {
  n: number;
  agreementRate: number;
  /** Mean rounds over agreed dialogues (NaN when none agreed). */
  meanRounds: number;
  /** Mean oracle CA of final solutions over dialogues with a score (NaN when none). */
  caMean: number;
  dealCaMean: number;
  jointMean: number;
  worseMean: number;
}

/** Mean of the finite numbers; NaN for none. */
export function mean(xs: ReadonlyArray<number | null | undefined>): number {
  let s = 0;
  let n = 0;
  for (const x of xs) {
    if (x === null || x === undefined || !Number.isFinite(x)) continue;
    s += x;
    n++;
  }
  return n ? s / n : NaN;
}

/** Sample standard deviation (n - 1 denominator) of the finite numbers; NaN for fewer than two. */
export function sampleSd(xs: ReadonlyArray<number | null | undefined>): number {
  const v = xs.filter((x): x is number => x !== null && x !== undefined && Number.isFinite(x));
  if (v.length < 2) return NaN;
  const m = mean(v);
  return Math.sqrt(v.reduce((a, x) => a + (x - m) * (x - m), 0) / (v.length - 1));
}

export function agreementRate(outcomes: readonly DialogueOutcome[]): number {
  return outcomes.length ? outcomes.filter((o) => o.agreed).length / outcomes.length : NaN;
}

/** Average rounds to agreement over the dialogues that agreed (the paper's "average rounds"). */
export function meanRoundsToAgreement(outcomes: readonly DialogueOutcome[]): number {
  return mean(outcomes.filter((o) => o.agreed).map((o) => o.rounds));
}

export function conflictMetrics(outcomes: readonly DialogueOutcome[]): ConflictMetrics {
  const agreed = outcomes.filter((o) => o.agreed);
  return {
    n: outcomes.length,
    agreementRate: agreementRate(outcomes),
    meanRounds: meanRoundsToAgreement(outcomes),
    caMean: mean(outcomes.map((o) => o.ca)),
    dealCaMean: mean(outcomes.map((o) => o.dealCa)),
    jointMean: mean(agreed.map((o) => o.joint)),
    worseMean: mean(agreed.map((o) => o.worse)),
  };
}

/** first / second = that side won in both orders; only "first" | "second" | "tie" are consistent. */
export type PairOutcome = "first" | "second" | "tie" | "inconsistent" | "invalid";

export interface WinRate {
  /** Pairs judged. */
  n: number;
  wins: number;
  losses: number;
  ties: number;
  inconsistent: number;
  invalid: number;
  /** wins + losses + ties. */
  consistent: number;
  /** consistent / n: the share of pairs that count. */
  consistentShare: number;
  /** (wins + ties / 2) / consistent: the reported win rate (ties count half; NaN when nothing is consistent). */
  winRate: number;
  /** wins / consistent (ties count as not winning). */
  strictWinRate: number;
}

/**
 * Win rate of the "first" system from pairwise outcomes judged in both orders. Inconsistent pairs (the verdict flips
 * with the order) and invalid ones are dropped, as in the paper; ties count half, and the share of consistent pairs
 * is reported next to the rate so a high rate on few pairs shows.
 */
export function winRate(outcomes: readonly PairOutcome[]): WinRate {
  const c = { first: 0, second: 0, tie: 0, inconsistent: 0, invalid: 0 };
  for (const o of outcomes) c[o]++;
  const consistent = c.first + c.second + c.tie;
  return {
    n: outcomes.length,
    wins: c.first,
    losses: c.second,
    ties: c.tie,
    inconsistent: c.inconsistent,
    invalid: c.invalid,
    consistent,
    consistentShare: outcomes.length ? consistent / outcomes.length : NaN,
    winRate: consistent ? (c.first + c.tie / 2) / consistent : NaN,
    strictWinRate: consistent ? c.first / consistent : NaN,
  };
}

/** Per-pair score of the first system for bootstrapping a win rate: 1 win, 0.5 tie, 0 loss, null dropped. */
export function pairScore(o: PairOutcome): number | null {
  return o === "first" ? 1 : o === "tie" ? 0.5 : o === "second" ? 0 : null;
}

export interface MeanSd {
  mean: number;
  sd: number;
  /** Number of finite values (repeats). */
  n: number;
}

/** Mean +/- sample SD over R repeated evaluation runs (the paper's "mean +/- SD over three runs"). */
export function meanSd(values: ReadonlyArray<number | null | undefined>): MeanSd {
  const v = values.filter((x): x is number => x !== null && x !== undefined && Number.isFinite(x));
  return { mean: mean(v), sd: sampleSd(v), n: v.length };
}

/** Quantile of sorted values with linear interpolation between order statistics (Hyndman & Fan type 7, R's default). */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

export interface Interval {
  /** The statistic on the original sample. */
  estimate: number;
  lo: number;
  hi: number;
  /** Confidence level, e.g. 0.95. */
  level: number;
  resamples: number;
}

export interface BootstrapOptions {
  seed: number;
  /** Bootstrap resamples (default 2000). */
  resamples?: number;
  /** Default 0.95. */
  level?: number;
}

/**
 * Percentile bootstrap interval of the mean: `resamples` samples of size n drawn with replacement (indices from
 * Rng(seed).int(n)), the mean of each, and the (1-level)/2 and (1+level)/2 quantiles of those means. Non-finite
 * values are dropped first; an empty sample gives NaN bounds.
 */
export function bootstrapMean(values: ReadonlyArray<number | null | undefined>, options: BootstrapOptions): Interval {
  const v = values.filter((x): x is number => x !== null && x !== undefined && Number.isFinite(x));
  return bootstrapOf(v, options);
}

function bootstrapOf(v: readonly number[], options: BootstrapOptions): Interval {
  const B = options.resamples ?? 2000;
  const level = options.level ?? 0.95;
  if (v.length === 0) return { estimate: NaN, lo: NaN, hi: NaN, level, resamples: B };
  const rng = new Rng(options.seed);
  const n = v.length;
  const stats = new Array<number>(B);
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += v[rng.int(n)]!;
    stats[b] = s / n;
  }
  stats.sort((a, b) => a - b);
  return { estimate: mean(v), lo: quantileSorted(stats, (1 - level) / 2), hi: quantileSorted(stats, (1 + level) / 2), level, resamples: B };
}

/**
 * Paired bootstrap of mean(after - before): pairs whose two values are both finite are kept, their differences
 * resampled together (so per-item difficulty cancels). Use it for "after - before" on the same scenarios and seeds.
 */
export function pairedBootstrapDiff(
  after: ReadonlyArray<number | null | undefined>,
  before: ReadonlyArray<number | null | undefined>,
  options: BootstrapOptions,
): Interval {
  if (after.length !== before.length) throw new RangeError(`pairedBootstrapDiff: ${after.length} vs ${before.length} values`);
  const d: number[] = [];
  for (let i = 0; i < after.length; i++) {
    const a = after[i];
    const b = before[i];
    if (a === null || a === undefined || b === null || b === undefined || !Number.isFinite(a) || !Number.isFinite(b)) continue;
    d.push(a - b);
  }
  return bootstrapOf(d, options);
}

/** Bootstrap interval of a pairwise win rate (ties half), over the consistent pairs only. */
export function bootstrapWinRate(outcomes: readonly PairOutcome[], options: BootstrapOptions): Interval {
  return bootstrapMean(outcomes.map(pairScore), options);
}
