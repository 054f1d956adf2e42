import { test } from "node:test";
import assert from "node:assert/strict";
import {
  averageRanks, completePairs, confusionMatrix, exactAgreement, joinScores, meanByReference, pearson, positionBias,
  quadraticKappa, reliabilityReport, spearman, withinAgreement,
} from "../../src/reward/reliability";

const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) < eps, `${a} != ${b}`);

// Table A: x = [1,2,3,4,5], y = [2,2,3,5,4]
//  exact: (2,2) and (3,3) equal -> 2/5 = 0.4; within 1: |diffs| = 1,0,0,1,1 -> 5/5 = 1
//  Pearson: mean x 3, mean y 3.2; dx = -2,-1,0,1,2; dy = -1.2,-1.2,-0.2,1.8,0.8
//    sxy = 2.4+1.2+0+1.8+1.6 = 7; sxx = 10; syy = 1.44+1.44+0.04+3.24+0.64 = 6.8 -> r = 7/sqrt(68)
//  Spearman: ranks y (average for ties) = 1.5,1.5,3,5,4; d = -1.5,-1.5,0,2,1; sxy = 3+1.5+0+2+2 = 8.5;
//    sxx = 10; syy = 2.25+2.25+0+4+1 = 9.5 -> r = 8.5/sqrt(95)
//  Quadratic kappa on 1..5 (k = 5, w = (i-j)^2/16): observed off-diagonal cells (1,2),(4,5),(5,4) -> num = 3/16.
//    Row marginals all 1; column marginals: 2 -> 2, 3 -> 1, 4 -> 1, 5 -> 1; n = 5.
//    den = sum_j col_j * sum_i (i-j)^2 / (16*5) = (2*15 + 10 + 15 + 30)/80 = 85/80
//    kappa = 1 - (3/16)/(85/80) = 1 - 240/1360 = 14/17
const xA = [1, 2, 3, 4, 5];
const yA = [2, 2, 3, 5, 4];

test("table A: agreement, Pearson, Spearman, quadratic kappa match the hand computation", () => {
  close(exactAgreement(xA, yA), 0.4);
  close(withinAgreement(xA, yA, 1), 1);
  close(withinAgreement(xA, yA, 0), 0.4);
  close(pearson(xA, yA), 7 / Math.sqrt(68));
  close(spearman(xA, yA), 8.5 / Math.sqrt(95));
  close(quadraticKappa(xA, yA, { min: 1, max: 5 }), 14 / 17);
  assert.deepEqual(averageRanks(yA), [1.5, 1.5, 3, 5, 4]);
});

test("table A: confusion matrix and means per reference score", () => {
  assert.deepEqual(confusionMatrix(xA, yA, { min: 1, max: 5 }), [
    [0, 1, 0, 0, 0],
    [0, 1, 0, 0, 0],
    [0, 0, 1, 0, 0],
    [0, 0, 0, 0, 1],
    [0, 0, 0, 1, 0],
  ]);
  assert.deepEqual(meanByReference(xA, yA).map((r) => [r.reference, r.mean, r.n]), [[1, 2, 1], [2, 2, 1], [3, 3, 1], [4, 5, 1], [5, 4, 1]]);
});

// Table B with a missing score: reference [3,3,null,1], other [2,4,5,1] -> pairs (3,2),(3,4),(1,1), 1 dropped.
//  exact 1/3; within 1: diffs 1,1,0 -> 1.
//  Spearman: ranks x = 2.5,2.5,1 (tie of the 3s averages ranks 2 and 3); ranks y = 2,3,1; means 2 and 2;
//    dx = .5,.5,-1; dy = 0,1,-1; sxy = 0+.5+1 = 1.5; sxx = 1.5; syy = 2 -> r = 1.5/sqrt(3)
//  Mean per reference: 1 -> 1 (n 1); 3 -> (2+4)/2 = 3 (n 2).
test("table B: nulls are dropped and counted; ties average their ranks", () => {
  const rep = reliabilityReport({ reference: [3, 3, null, 1], other: [2, 4, 5, 1] });
  assert.equal(rep.n, 3);
  assert.equal(rep.dropped, 1);
  close(rep.exact, 1 / 3);
  close(rep.withinOne, 1);
  close(rep.spearman, 1.5 / Math.sqrt(3));
  assert.deepEqual(rep.meanByReference, [{ reference: 1, mean: 1, n: 1 }, { reference: 3, mean: 3, n: 2 }]);
  close(rep.meanReference, 7 / 3);
  close(rep.meanOther, 7 / 3);
  assert.equal(rep.confusion.length, 6);
  assert.equal(rep.confusion[3]![2], 1);
});

test("edge cases: perfect agreement, constant raters, mismatched lengths, out-of-range scores", () => {
  close(quadraticKappa([0, 2, 5], [0, 2, 5]), 1);
  close(pearson([1, 2, 3], [2, 4, 6]), 1);
  close(spearman([1, 2, 3], [1, 4, 9]), 1);
  assert.ok(Number.isNaN(pearson([2, 2, 2], [1, 2, 3])));
  assert.ok(Number.isNaN(quadraticKappa([3, 3], [3, 3])));
  assert.ok(Number.isNaN(exactAgreement([], [])));
  assert.throws(() => completePairs([1], [1, 2]), /differ in length/);
  assert.throws(() => confusionMatrix([6], [1]), /outside integer range 0..5/);
});

test("joinScores pairs tables by id", () => {
  const j = joinScores({ b: 2, a: 1, c: null }, { a: 3, c: 4, d: 5 });
  assert.deepEqual(j, { ids: ["a", "c"], reference: [1, null], other: [3, 4] });
});

// Pairs judged in both orders (raw verdicts, A = shown first):
//  (A,B) X wins both -> consistent; (A,A) first position wins twice -> flip; (B,B) second position -> flip;
//  (tie,tie) consistent; (B,A) Y wins both -> consistent. flip 2/5, first-position 1/5, second-position 1/5.
test("position bias: flips and same-position wins", () => {
  const r = positionBias([
    { firstOrder: "A", secondOrder: "B" },
    { firstOrder: "A", secondOrder: "A" },
    { firstOrder: "B", secondOrder: "B" },
    { firstOrder: "tie", secondOrder: "tie" },
    { firstOrder: "B", secondOrder: "A" },
  ]);
  assert.deepEqual(r, { n: 5, flipRate: 0.4, firstPositionRate: 0.2, secondPositionRate: 0.2 });
  assert.ok(Number.isNaN(positionBias([]).flipRate));
});
