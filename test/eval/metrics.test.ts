// Metrics and bootstrap against hand-computed values.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  bootstrapMean, bootstrapWinRate, conflictMetrics, meanSd, pairedBootstrapDiff, quantileSorted, winRate, type DialogueOutcome,
} from "../../src/eval/metrics";

const o = (agreed: boolean, rounds: number | null, ca: number, joint: number | null, worse: number | null): DialogueOutcome => ({
  scenarioId: "s", sampleIndex: 0, agreed, rounds, ca, dealCa: agreed ? ca : 0, joint, worse,
});

test("conflict metrics: agreement rate, rounds over agreed only, CA over all, utilities over agreed", () => {
  const m = conflictMetrics([o(true, 2, 5, 1, 0.5), o(true, 3, 3, 0.5, 0.25), o(false, null, 1, null, null), o(true, 1, 4, 0.75, 0)]);
  assert.equal(m.n, 4);
  assert.equal(m.agreementRate, 0.75); // 3 of 4
  assert.equal(m.meanRounds, 2); // (2 + 3 + 1) / 3
  assert.equal(m.caMean, 3.25); // (5 + 3 + 1 + 4) / 4 = 13 / 4
  assert.equal(m.dealCaMean, 3); // (5 + 3 + 0 + 4) / 4 = 12 / 4
  assert.equal(m.jointMean, 0.75); // (1 + 0.5 + 0.75) / 3
  assert.equal(m.worseMean, 0.25); // (0.5 + 0.25 + 0) / 3
  assert.ok(Number.isNaN(conflictMetrics([o(false, null, 0, null, null)]).meanRounds));
});

test("win rate drops inconsistent and invalid pairs; ties count half; consistent share reported", () => {
  const w = winRate(["first", "first", "second", "tie", "inconsistent", "inconsistent", "invalid", "first"]);
  assert.equal(w.n, 8);
  assert.equal(w.consistent, 5); // 3 wins + 1 loss + 1 tie
  assert.equal(w.consistentShare, 5 / 8);
  assert.equal(w.winRate, 0.7); // (3 + 0.5) / 5
  assert.equal(w.strictWinRate, 0.6); // 3 / 5
  assert.equal(w.inconsistent, 2);
  assert.ok(Number.isNaN(winRate(["inconsistent", "invalid"]).winRate));
});

test("mean +/- sample SD over repeats", () => {
  // values 0.5, 0.6, 0.7: mean 0.6; squared deviations 0.01 + 0 + 0.01 = 0.02; / (3 - 1) = 0.01; sqrt = 0.1
  const m = meanSd([0.5, 0.6, 0.7]);
  assert.ok(Math.abs(m.mean - 0.6) < 1e-12);
  assert.ok(Math.abs(m.sd - 0.1) < 1e-12);
  assert.equal(m.n, 3);
  assert.ok(Number.isNaN(meanSd([1]).sd)); // one repeat: no SD
  assert.equal(meanSd([1, NaN, null, 3]).mean, 2); // non-finite dropped
});

test("type-7 quantile", () => {
  // sorted [1, 2, 3, 4]: h = 3 * 0.25 = 0.75 -> 1 + 0.75 * (2 - 1) = 1.75; median h = 1.5 -> 2.5
  assert.equal(quantileSorted([1, 2, 3, 4], 0.25), 1.75);
  assert.equal(quantileSorted([1, 2, 3, 4], 0.5), 2.5);
  assert.equal(quantileSorted([1, 2, 3, 4], 1), 4);
});

test("percentile bootstrap: constant data, a two-point sample, determinism", () => {
  const c = bootstrapMean([2, 2, 2], { seed: 1, resamples: 200 });
  assert.deepEqual([c.estimate, c.lo, c.hi], [2, 2, 2]);
  // Sample {0, 1}: a resample mean is 0 (p 1/4), 0.5 (p 1/2) or 1 (p 1/4). With 4000 resamples about 1000 are 0 and
  // 1000 are 1, so the 2.5% and 97.5% quantiles (positions ~100 and ~3900 of the sorted means) are exactly 0 and 1.
  const b = bootstrapMean([0, 1], { seed: 7, resamples: 4000 });
  assert.equal(b.estimate, 0.5);
  assert.equal(b.lo, 0);
  assert.equal(b.hi, 1);
  // Narrower level: 50% interval from the 25% and 75% quantiles; about half the means are 0.5, so both ends near it.
  const mid = bootstrapMean([0, 1], { seed: 7, resamples: 4000, level: 0.2 });
  assert.deepEqual([mid.lo, mid.hi], [0.5, 0.5]);
  assert.deepEqual(bootstrapMean([3, 1, 4, 1, 5], { seed: 3 }), bootstrapMean([3, 1, 4, 1, 5], { seed: 3 }));
  assert.ok(Number.isNaN(bootstrapMean([], { seed: 1 }).lo));
});

test("paired bootstrap of a difference: a constant shift has a degenerate interval; unpaired values are dropped", () => {
  const before = [1, 3, 2, 5, 4];
  const after = before.map((x) => x + 0.5);
  const d = pairedBootstrapDiff(after, before, { seed: 2, resamples: 500 });
  assert.deepEqual([d.estimate, d.lo, d.hi], [0.5, 0.5, 0.5]);
  // only the pairs (2,1) and (4,4) are complete: differences 1 and 0 -> estimate 0.5, interval [0, 1]
  const e = pairedBootstrapDiff([2, null, 4, NaN], [1, 2, 4, 3], { seed: 5, resamples: 4000 });
  assert.equal(e.estimate, 0.5);
  assert.deepEqual([e.lo, e.hi], [0, 1]);
  assert.throws(() => pairedBootstrapDiff([1], [1, 2], { seed: 1 }), RangeError);
});

test("bootstrap of a win rate uses consistent pairs only (1 win, 0.5 tie, 0 loss)", () => {
  const ci = bootstrapWinRate(["first", "first", "inconsistent", "invalid"], { seed: 1, resamples: 100 });
  assert.deepEqual([ci.estimate, ci.lo, ci.hi], [1, 1, 1]);
  const t = bootstrapWinRate(["tie", "tie", "inconsistent"], { seed: 1, resamples: 100 });
  assert.equal(t.estimate, 0.5);
});
