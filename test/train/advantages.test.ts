import { test } from "node:test";
import assert from "node:assert/strict";
import { computeAdvantages, midRanks, stdUnbiased, fracZeroStdGroups } from "../../src/train/advantages";

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);
const closeAll = (a: number[], b: number[], tol = 1e-9) => {
  assert.equal(a.length, b.length);
  a.forEach((x, i) => close(x, b[i]!, tol));
};

test("group scaling: hand-computed standardised advantages (unbiased std, eps 1e-4)", () => {
  // group (0,1,5): mean 2, unbiased std sqrt((4+1+9)/2) = sqrt(7)
  const s7 = Math.sqrt(7);
  const r = computeAdvantages([0, 1, 5], { groupSize: 3, scaleRewards: "group" });
  closeAll(r.advantages, [-2 / (s7 + 1e-4), -1 / (s7 + 1e-4), 3 / (s7 + 1e-4)]);
  close(r.rewardMean, 2);
  close(r.rewardStd, s7);
  assert.equal(r.fracZeroStdGroups, 0);
});

test("reviewer's counterexample: (0,1,2) vs (0,1,5) flips the middle sample under group, not under rank", () => {
  const a = computeAdvantages([0, 1, 2, 0, 1, 5], { groupSize: 3, scaleRewards: "group" }).advantages;
  assert.equal(a[1], 0); // middle of (0,1,2): exactly 0
  assert.ok(a[4]! < 0); // middle of (0,1,5): negative
  close(a[4]!, -1 / (Math.sqrt(7) + 1e-4));
  const r = computeAdvantages([0, 1, 2, 0, 1, 5], { groupSize: 3, scaleRewards: "rank" }).advantages;
  // mid-ranks (0,1,2), mean 1, unbiased std 1 -> (-1, 0, 1)/(1+eps) for both groups
  closeAll(r, [-1, 0, 1, -1, 0, 1].map((x) => x / (1 + 1e-4)));
  assert.deepEqual(r.slice(0, 3), r.slice(3));
});

test("rank scaling is invariant to strictly increasing rescaling; ties get averaged ranks", () => {
  const base = [0, 2, 2, 5, 1, 3, 4, 4];
  const rescaled = base.map((x) => Math.exp(x) * 10 - 3);
  const a = computeAdvantages(base, { groupSize: 4, scaleRewards: "rank" }).advantages;
  const b = computeAdvantages(rescaled, { groupSize: 4, scaleRewards: "rank" }).advantages;
  closeAll(a, b, 0);
  // group 1: (0,2,2,5) -> mid-ranks (0,1.5,1.5,3), mean 1.5, std sqrt((2.25+0+0+2.25)/3)=sqrt(1.5)
  const s = Math.sqrt(1.5) + 1e-4;
  closeAll(a.slice(0, 4), [-1.5 / s, 0, 0, 1.5 / s]);
  assert.deepEqual(midRanks([3, 1, 3]), [1.5, 0, 1.5]);
});

test("rank equals group for a two-valued group (up to eps)", () => {
  const rs = [0, 0, 0, 5, 5, 0, 0, 0];
  const g = computeAdvantages(rs, { groupSize: 8, scaleRewards: "group", epsilon: 1e-12 }).advantages;
  const k = computeAdvantages(rs, { groupSize: 8, scaleRewards: "rank", epsilon: 1e-12 }).advantages;
  closeAll(g, k, 1e-9);
});

test("none: mean-centred only; batch: divided by the batch std", () => {
  const rs = [1, 3, 2, 6];
  closeAll(computeAdvantages(rs, { groupSize: 2, scaleRewards: "none" }).advantages, [-1, 1, -2, 2]);
  const sb = stdUnbiased(rs); // mean 3; (4+0+1+9)/3 = 14/3
  close(sb, Math.sqrt(14 / 3));
  closeAll(computeAdvantages(rs, { groupSize: 2, scaleRewards: "batch" }).advantages, [-1, 1, -2, 2].map((x) => x / (sb + 1e-4)));
});

test("all-equal groups give exactly 0 and count as zero-std", () => {
  const rs = [0.1, 0.1, 0.1, 0, 0, 0, 0, 3, 4];
  for (const scale of ["group", "batch", "none", "rank"] as const) {
    const r = computeAdvantages(rs, { groupSize: 3, scaleRewards: scale });
    assert.deepEqual(r.advantages.slice(0, 6), [0, 0, 0, 0, 0, 0]);
    close(r.fracZeroStdGroups, 2 / 3);
  }
  close(fracZeroStdGroups(rs, 3), 2 / 3);
});

test("invalid (unscorable) members are excluded from statistics and get advantage 0 — not treated as reward 0", () => {
  const rs = [0, null, 4, NaN];
  const r = computeAdvantages(rs, { groupSize: 4, scaleRewards: "group" });
  // valid (0,4): mean 2, std sqrt(8) -> (-2, 2)/(sqrt 8 + eps)
  const s = Math.sqrt(8) + 1e-4;
  closeAll(r.advantages, [-2 / s, 0, 2 / s, 0]);
  close(r.invalidRate, 0.5);
  close(r.rewardMean, 2);
  // a zero in place of the invalid ones would change the valid members' advantages
  const asZero = computeAdvantages([0, 0, 4, 0], { groupSize: 4, scaleRewards: "group" }).advantages;
  assert.notEqual(asZero[2], r.advantages[2]);
  // one valid member left: no signal
  const one = computeAdvantages([null, 3, null], { groupSize: 3, scaleRewards: "group" });
  assert.deepEqual(one.advantages, [0, 0, 0]);
  assert.equal(one.fracZeroStdGroups, 1);
  assert.equal(one.groups[0]!.count, 1);
});

test("advantages are centred within each group and reject a ragged batch", () => {
  const rs = [1, 5, 2, 2, 0, 3];
  for (const scale of ["group", "batch", "none", "rank"] as const) {
    const a = computeAdvantages(rs, { groupSize: 3, scaleRewards: scale }).advantages;
    close(a[0]! + a[1]! + a[2]!, 0, 1e-12);
    close(a[3]! + a[4]! + a[5]!, 0, 1e-12);
  }
  assert.throws(() => computeAdvantages([1, 2, 3], { groupSize: 2, scaleRewards: "group" }), /multiple of groupSize/);
});
