import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  lossNormaliser,
  grpoLossValue,
  grpoLoss,
  perTokenLossValue,
  summariseLossStats,
  addStatSums,
  stopGradient,
} from "../../src/train/grpo-loss";
import type { LossType } from "../../src/train/grpo-config";

before(async () => {
  await tf.setBackend("cpu");
});

const close = (a: number, b: number, tol = 1e-6) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);
const P = { epsilonLow: 0.2, epsilonHigh: 0.28, beta: 0 };

test("lossNormaliser: hand values for grpo, dapo, dr_grpo", () => {
  assert.deepEqual(lossNormaliser("grpo", [2, 3, 0]), [1 / 6, 1 / 9, 1 / 3]);
  assert.deepEqual(lossNormaliser("dapo", [2, 3, 0]), [1 / 5, 1 / 5, 1 / 5]);
  assert.deepEqual(lossNormaliser("dr_grpo", [2, 3, 0], 4), [1 / 12, 1 / 12, 1 / 12]);
  assert.deepEqual(lossNormaliser("dapo", []), []);
  assert.throws(() => lossNormaliser("dr_grpo", [1]), /maxCompletionLength/);
});

test("grpoLossValue: each normaliser against hand-computed values (ratio 1, loss = -A per token)", () => {
  // seq 0: 2 trained tokens, A = 1; seq 1: 3 trained tokens, A = -0.5 (one extra masked-out token each)
  const zeros = [[0, 0, 0], [0, 0, 0, 0]];
  const args = {
    newLogprobs: zeros.map((r) => r.map(() => -1)),
    oldLogprobs: zeros.map((r) => r.map(() => -1)),
    advantages: [1, -0.5],
    mask: [[1, 1, 0], [0, 1, 1, 1]],
  };
  close(grpoLossValue(args, { ...P, loss: "grpo" }), (-1 + 0.5) / 2, 1e-12);
  close(grpoLossValue(args, { ...P, loss: "dapo" }), (2 * -1 + 3 * 0.5) / 5, 1e-12);
  close(grpoLossValue(args, { ...P, loss: "dr_grpo", maxCompletionLength: 4 }), (-2 + 1.5) / (2 * 4), 1e-12);
});

test("perTokenLossValue: clipping uses separate low/high epsilon; k3 KL hand value", () => {
  // ratio 1.5, A = +1: clipped at 1.28 -> loss -1.28
  close(perTokenLossValue(Math.log(1.5), 0, 1, P), -1.28, 1e-12);
  // ratio 1.5, A = -1: min(-1.5, -1.28) = -1.5 -> loss 1.5 (unclipped: pessimistic bound)
  close(perTokenLossValue(Math.log(1.5), 0, -1, P), 1.5, 1e-12);
  // ratio 0.5, A = -1: clipped at 0.8 -> min(-0.5, -0.8) = -0.8 -> loss 0.8
  close(perTokenLossValue(Math.log(0.5), 0, -1, P), 0.8, 1e-12);
  // KL: ref - new = 1 -> e - 2, beta 0.1, ratio 1, A = 0
  close(perTokenLossValue(-2, -2, 0, { ...P, beta: 0.1 }, -1), 0.1 * (Math.E - 2), 1e-12);
});

function randomCase(seed: number, B: number, T: number) {
  let s = seed;
  const u = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const mk = (f: () => number) => Array.from({ length: B }, () => Array.from({ length: T }, f));
  const newLp = mk(() => -3 * u());
  const oldLp = newLp.map((r) => r.map((x) => x + (u() - 0.5) * 0.8)); // ratios spread around 1, some clipped
  const refLp = newLp.map((r) => r.map((x) => x + (u() - 0.5)));
  const mask = mk(() => (u() < 0.6 ? 1 : 0));
  const adv = Array.from({ length: B }, () => (u() - 0.5) * 4);
  return { newLp, oldLp, refLp, mask, adv };
}

test("tfjs grpoLoss equals the plain-number mirror for every loss type, with clipping and KL", () => {
  const c = randomCase(7, 4, 6);
  for (const loss of ["grpo", "dapo", "dr_grpo"] as LossType[]) {
    const p = { epsilonLow: 0.2, epsilonHigh: 0.28, beta: 0.05 };
    const counts = c.mask.map((r) => r.reduce((a, b) => a + b, 0));
    const w = lossNormaliser(loss, counts, 6);
    const value = tf.tidy(() => {
      const { loss: l } = grpoLoss(
        {
          newLogprobs: tf.tensor2d(c.newLp),
          oldLogprobs: tf.tensor2d(c.oldLp),
          refLogprobs: tf.tensor2d(c.refLp),
          advantages: tf.tensor1d(c.adv),
          mask: tf.tensor2d(c.mask),
          weights: tf.tensor1d(w),
        },
        p,
      );
      return l.dataSync()[0]!;
    });
    const expected = grpoLossValue(
      { newLogprobs: c.newLp, oldLogprobs: c.oldLp, refLogprobs: c.refLp, advantages: c.adv, mask: c.mask },
      { ...p, loss, maxCompletionLength: 6 },
    );
    close(value, expected, 1e-5);
  }
});

test("a token outside the mask gets exactly zero gradient, even with extreme values there", () => {
  const before = tf.memory().numTensors;
  const newLp = tf.tensor2d([[-0.5, -1e4, -0.2], [-0.1, -0.3, 80]]);
  const oldLp = tf.tensor2d([[-0.6, 0, -0.2], [-0.1, -0.3, -90]]);
  const ref = tf.tensor2d([[-0.4, 1e4, -0.2], [-0.2, -0.3, -90]]);
  const mask = tf.tensor2d([[1, 0, 1], [1, 1, 0]]);
  const adv = tf.tensor1d([1.5, -0.7]);
  const w = tf.tensor1d(lossNormaliser("dapo", [2, 2]));
  const g = tf.grad((x: tf.Tensor) =>
    grpoLoss({ newLogprobs: x as tf.Tensor2D, oldLogprobs: oldLp, refLogprobs: ref, advantages: adv, mask, weights: w }, { ...P, beta: 0.04 }).loss,
  )(newLp);
  const gv = g.arraySync() as number[][];
  assert.equal(gv[0]![1], 0);
  assert.equal(gv[1]![2], 0);
  for (const row of gv) for (const x of row) assert.ok(Number.isFinite(x));
  assert.ok(gv[0]![0] !== 0 && gv[1]![0] !== 0);
  tf.dispose([newLp, oldLp, ref, mask, adv, w, g]);
  assert.equal(tf.memory().numTensors, before);
});

test("old = null (mu = 1, first iteration): ratio exactly 1, no clipping, gradient = -A * w per trained token", () => {
  const out = tf.tidy(() => {
    const newLp = tf.tensor2d([[-1.3, -0.7, -2.2], [-0.05, -4, -1]]);
    const mask = tf.tensor2d([[1, 1, 0], [1, 1, 1]]);
    const adv = tf.tensor1d([2, -1]);
    const w = tf.tensor1d(lossNormaliser("dapo", [2, 3]));
    const f = (x: tf.Tensor) => grpoLoss({ newLogprobs: x as tf.Tensor2D, oldLogprobs: null, advantages: adv, mask, weights: w }, P);
    const { stats } = f(newLp);
    const g = tf.grad((x: tf.Tensor) => f(x).loss)(newLp);
    return { stats: Array.from(stats.dataSync()), g: g.arraySync() as number[][] };
  });
  const s = summariseLossStats(out.stats);
  assert.equal(s.tokens, 5);
  assert.equal(s.meanRatio, 1);
  assert.equal(s.clipRatioLow + s.clipRatioHigh + s.clipRatioRegion, 0);
  close(s.entropy, (1.3 + 0.7 + 0.05 + 4 + 1) / 5);
  const e = [[-2 / 5, -2 / 5, 0], [1 / 5, 1 / 5, 1 / 5]];
  out.g.forEach((row, i) => row.forEach((x, t) => close(x, e[i]![t]!, 1e-7)));
});

test("clip statistics count low (A<0) and high (A>0) clipping over trained tokens", () => {
  const sums = tf.tidy(() => {
    const { stats } = grpoLoss(
      {
        newLogprobs: tf.tensor2d([[Math.log(1.5), Math.log(0.5), 0, Math.log(1.5)]]),
        oldLogprobs: tf.tensor2d([[0, 0, 0, 0]]),
        advantages: tf.tensor1d([1]),
        mask: tf.tensor2d([[1, 1, 1, 0]]),
        weights: tf.tensor1d([1 / 3]),
      },
      P,
    );
    return stats;
  });
  const s = summariseLossStats(Array.from(sums.dataSync()));
  sums.dispose();
  assert.equal(s.tokens, 3);
  close(s.clipRatioHigh, 1 / 3); // ratio 1.5 with A > 0
  close(s.clipRatioLow, 0); // ratio 0.5 but A > 0: not a "low" clip
  close(s.clipRatioRegion, 2 / 3);
  close(s.meanRatio, (1.5 + 0.5 + 1) / 3, 1e-6);
});

test("micro-batches with whole-batch weights add up to the full-batch loss", () => {
  const c = randomCase(11, 6, 5);
  const counts = c.mask.map((r) => r.reduce((a, b) => a + b, 0));
  for (const loss of ["grpo", "dapo", "dr_grpo"] as LossType[]) {
    const w = lossNormaliser(loss, counts, 5);
    const run = (lo: number, hi: number) =>
      tf.tidy(() =>
        grpoLoss(
          {
            newLogprobs: tf.tensor2d(c.newLp.slice(lo, hi)),
            oldLogprobs: tf.tensor2d(c.oldLp.slice(lo, hi)),
            advantages: tf.tensor1d(c.adv.slice(lo, hi)),
            mask: tf.tensor2d(c.mask.slice(lo, hi)),
            weights: tf.tensor1d(w.slice(lo, hi)),
          },
          P,
        ).loss.dataSync()[0]!,
      );
    close(run(0, 2) + run(2, 6), run(0, 6), 1e-6);
  }
  assert.deepEqual(addStatSums([1, 2], [3, 4, 5]), [4, 6, 5, 0, 0, 0, 0]);
});

test("stopGradient passes values and blocks gradients", () => {
  const g = tf.tidy(() => {
    const x = tf.tensor1d([1, 2]);
    return Array.from(tf.grad((a: tf.Tensor) => tf.sum(tf.add(tf.mul(a, 3), stopGradient(tf.square(a)))))(x).dataSync());
  });
  assert.deepEqual(g, [3, 3]);
});
