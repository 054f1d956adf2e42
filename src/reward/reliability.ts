// Pure judge-reliability statistics (the paper's Table 7 and beyond): agreement rates, Pearson/Spearman r,
// quadratic-weighted Cohen's kappa (Cohen 1968), confusion matrices, and the pairwise judge's position bias.
import type { Verdict } from "./parse";

/** Two raters' scores on the same items; null = no valid score for that item. */
export interface PairedScores {
  reference: ReadonlyArray<number | null>;
  other: ReadonlyArray<number | null>;
}

/** Keeps items that both raters scored. Throws if the lists differ in length. */
export function completePairs(reference: ReadonlyArray<number | null>, other: ReadonlyArray<number | null>): { x: number[]; y: number[]; dropped: number } {
  if (reference.length !== other.length) throw new RangeError(`paired score lists differ in length (${reference.length} vs ${other.length})`);
  const x: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < reference.length; i++) {
    const r = reference[i];
    const o = other[i];
    if (r === null || r === undefined || o === null || o === undefined) continue;
    x.push(r);
    y.push(o);
  }
  return { x, y, dropped: reference.length - x.length };
}

/** Joins two id -> score tables on their common ids (sorted), for completePairs/reliabilityReport. */
export function joinScores(reference: Readonly<Record<string, number | null>>, other: Readonly<Record<string, number | null>>): { ids: string[]; reference: Array<number | null>; other: Array<number | null> } {
  const ids = Object.keys(reference).filter((k) => k in other).sort();
  return { ids, reference: ids.map((k) => reference[k] ?? null), other: ids.map((k) => other[k] ?? null) };
}

function checkLengths(x: ReadonlyArray<number>, y: ReadonlyArray<number>): void {
  if (x.length !== y.length) throw new RangeError(`lists differ in length (${x.length} vs ${y.length})`);
}

/** Share of items with identical scores (NaN when empty). */
export function exactAgreement(x: ReadonlyArray<number>, y: ReadonlyArray<number>): number {
  return withinAgreement(x, y, 0);
}

/** Share of items whose scores differ by at most `tolerance` (default 1). */
export function withinAgreement(x: ReadonlyArray<number>, y: ReadonlyArray<number>, tolerance = 1): number {
  checkLengths(x, y);
  if (x.length === 0) return NaN;
  let n = 0;
  for (let i = 0; i < x.length; i++) if (Math.abs(x[i]! - y[i]!) <= tolerance + 1e-12) n++;
  return n / x.length;
}

function mean(x: ReadonlyArray<number>): number {
  let s = 0;
  for (const v of x) s += v;
  return s / x.length;
}

/** Pearson correlation; NaN when fewer than 2 items or either side has zero variance. */
export function pearson(x: ReadonlyArray<number>, y: ReadonlyArray<number>): number {
  checkLengths(x, y);
  if (x.length < 2) return NaN;
  const mx = mean(x);
  const my = mean(y);
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < x.length; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return NaN;
  return sxy / Math.sqrt(sxx * syy);
}

/** 1-based ranks with ties given the average of the ranks they span. */
export function averageRanks(x: ReadonlyArray<number>): number[] {
  const idx = x.map((_, i) => i).sort((i, j) => x[i]! - x[j]!);
  const ranks = new Array<number>(x.length);
  for (let s = 0; s < idx.length; ) {
    let e = s;
    while (e + 1 < idx.length && x[idx[e + 1]!] === x[idx[s]!]) e++;
    const r = (s + e) / 2 + 1;
    for (let k = s; k <= e; k++) ranks[idx[k]!] = r;
    s = e + 1;
  }
  return ranks;
}

/** Spearman rank correlation: Pearson r of the average ranks (correct with ties). */
export function spearman(x: ReadonlyArray<number>, y: ReadonlyArray<number>): number {
  checkLengths(x, y);
  return pearson(averageRanks(x), averageRanks(y));
}

/** Integer score range [min, max] for matrices and kappa. */
export interface ScoreRange {
  min: number;
  max: number;
}

/** counts[r][o] = items with reference score min+r and other score min+o. Scores outside the range throw. */
export function confusionMatrix(x: ReadonlyArray<number>, y: ReadonlyArray<number>, range: ScoreRange = { min: 0, max: 5 }): number[][] {
  checkLengths(x, y);
  const k = range.max - range.min + 1;
  const m = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < x.length; i++) {
    const r = x[i]! - range.min;
    const o = y[i]! - range.min;
    if (!Number.isInteger(r) || !Number.isInteger(o) || r < 0 || o < 0 || r >= k || o >= k) {
      throw new RangeError(`score pair (${x[i]}, ${y[i]}) outside integer range ${range.min}..${range.max}`);
    }
    m[r]![o]!++;
  }
  return m;
}

/**
 * Quadratic-weighted Cohen's kappa: 1 - sum(w * O) / sum(w * E), with w_ij = (i - j)^2 / (k - 1)^2, O the observed
 * confusion counts and E the counts expected from the two marginals. NaN when undefined (no items, or
 * sum(w * E) = 0, e.g. both raters constant).
 */
export function quadraticKappa(x: ReadonlyArray<number>, y: ReadonlyArray<number>, range: ScoreRange = { min: 0, max: 5 }): number {
  if (x.length === 0) return NaN;
  const o = confusionMatrix(x, y, range);
  const k = o.length;
  const n = x.length;
  const rowSum = o.map((row) => row.reduce((a, b) => a + b, 0));
  const colSum = o[0]!.map((_, j) => o.reduce((a, row) => a + row[j]!, 0));
  let num = 0, den = 0;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const w = k > 1 ? (i - j) ** 2 / (k - 1) ** 2 : 0;
      num += w * o[i]![j]!;
      den += (w * rowSum[i]! * colSum[j]!) / n;
    }
  }
  return den === 0 ? NaN : 1 - num / den;
}

/** Mean of `other` for each distinct reference score (sorted by reference score): a calibration table. */
export function meanByReference(x: ReadonlyArray<number>, y: ReadonlyArray<number>): Array<{ reference: number; mean: number; n: number }> {
  checkLengths(x, y);
  const groups = new Map<number, number[]>();
  for (let i = 0; i < x.length; i++) {
    const g = groups.get(x[i]!) ?? [];
    g.push(y[i]!);
    groups.set(x[i]!, g);
  }
  return [...groups.entries()].sort((a, b) => a[0] - b[0]).map(([reference, ys]) => ({ reference, mean: mean(ys), n: ys.length }));
}

export interface ReliabilityReport {
  /** Items both raters scored. */
  n: number;
  /** Items dropped because one rater had no valid score. */
  dropped: number;
  exact: number;
  withinOne: number;
  pearson: number;
  spearman: number;
  kappaQuadratic: number;
  meanReference: number;
  meanOther: number;
  meanByReference: Array<{ reference: number; mean: number; n: number }>;
  /** confusion[r][o], rows = reference score, columns = other score, from range.min. */
  confusion: number[][];
}

/** Everything above for one pair of raters (the paper's Table 7 plus kappa and a confusion matrix). */
export function reliabilityReport(scores: PairedScores, range: ScoreRange = { min: 0, max: 5 }): ReliabilityReport {
  const { x, y, dropped } = completePairs(scores.reference, scores.other);
  return {
    n: x.length,
    dropped,
    exact: exactAgreement(x, y),
    withinOne: withinAgreement(x, y, 1),
    pearson: pearson(x, y),
    spearman: spearman(x, y),
    kappaQuadratic: quadraticKappa(x, y, range),
    meanReference: x.length ? mean(x) : NaN,
    meanOther: y.length ? mean(y) : NaN,
    meanByReference: meanByReference(x, y),
    confusion: confusionMatrix(x, y, range),
  };
}

/**
 * One pair judged in both orders. `firstOrder` is the raw verdict with the pair shown as (X, Y); `secondOrder` is
 * the raw verdict with it shown as (Y, X). Raw "A" always means "the solution shown first".
 */
export interface OrderedVerdicts {
  firstOrder: Verdict;
  secondOrder: Verdict;
}

/** The verdict about X (of the pair X, Y) implied by a raw verdict in the swapped order. */
export function unswapVerdict(v: Verdict): Verdict {
  return v === "A" ? "B" : v === "B" ? "A" : "tie";
}

export interface PositionBiasReport {
  n: number;
  /** Share of pairs whose verdict about X changes when the order is swapped (= inconsistent pairs). */
  flipRate: number;
  /** Share of pairs where the solution shown first won in both orders (raw A, A). */
  firstPositionRate: number;
  /** Share of pairs where the solution shown second won in both orders (raw B, B). */
  secondPositionRate: number;
}

/** Position bias of a pairwise judge over pairs judged in both orders (invalid verdicts already removed). */
export function positionBias(pairs: ReadonlyArray<OrderedVerdicts>): PositionBiasReport {
  const n = pairs.length;
  if (n === 0) return { n, flipRate: NaN, firstPositionRate: NaN, secondPositionRate: NaN };
  let flips = 0, first = 0, second = 0;
  for (const p of pairs) {
    if (p.firstOrder !== unswapVerdict(p.secondOrder)) flips++;
    if (p.firstOrder === "A" && p.secondOrder === "A") first++;
    if (p.firstOrder === "B" && p.secondOrder === "B") second++;
  }
  return { n, flipRate: flips / n, firstPositionRate: first / n, secondPositionRate: second / n };
}
