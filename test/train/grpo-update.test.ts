import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../src/core/rng";
import { AdamW } from "../../src/train/optimizer";
import { grpoUpdate, type TrainableModel, type GrpoUpdateOptions } from "../../src/train/grpo-update";
import { computeAdvantages } from "../../src/train/advantages";
import type { PackableSample } from "../../src/train/batching";

before(async () => {
  await tf.setBackend("cpu");
});

/** A bigram policy: logits of the next token = W[previous token]. Enough to exercise loss + optimizer. */
class BigramPolicy implements TrainableModel {
  readonly w: tf.Variable;
  constructor(readonly vocab: number, init?: number[][]) {
    this.w = tf.variable(init ? tf.tensor2d(init) : tf.zeros([vocab, vocab]), true, `bigram_w_${Math.random()}`);
  }
  tokenLogProbs(ids: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const [B, T] = ids.shape;
      const prev = tf.slice(ids, [0, 0], [B, T - 1]);
      const next = tf.slice(ids, [0, 1], [B, T - 1]);
      const logits = tf.matMul(tf.oneHot(tf.reshape(prev, [-1]), this.vocab), this.w); // [B*(T-1), V]
      const lp = tf.logSoftmax(logits);
      return tf.reshape(tf.sum(tf.mul(lp, tf.oneHot(tf.reshape(next, [-1]), this.vocab)), -1), [B, T - 1]) as tf.Tensor2D;
    });
  }
  trainableVariables() {
    return [{ name: "w", variable: this.w }];
  }
  probs(): number[][] {
    return tf.tidy(() => tf.softmax(this.w).arraySync() as number[][]);
  }
  dispose() {
    this.w.dispose();
  }
}

/** Samples `len` tokens after the prompt [0] at temperature 1; returns a per-turn sample. */
function rollout(p: number[][], rng: Rng, len: number): PackableSample & { generated: number[] } {
  const ids = [0];
  for (let i = 0; i < len; i++) ids.push(rng.weightedIndex(p[ids[ids.length - 1]!]!));
  return { inputIds: ids, lossMask: [0, ...new Array(len).fill(1)], generated: ids.slice(1) };
}

const OPTS: GrpoUpdateOptions = {
  loss: "dapo",
  epsilonLow: 0.2,
  epsilonHigh: 0.2,
  beta: 0,
  mu: 1,
  maxCompletionLength: 8,
  microBatchBudget: 64,
  oldLogprobs: "policy",
  skipZeroAdvantage: true,
  lr: 0.05,
  maxGradNorm: 1,
};

test("toy reward: a policy rewarded for emitting token 3 learns it within a few dozen GRPO steps", () => {
  const policy = new BigramPolicy(6);
  const opt = new AdamW(policy.trainableVariables(), { weightDecay: 0 });
  const rng = new Rng(1);
  const X = 3, G = 8, prompts = 4, len = 4;
  const before = tf.memory().numTensors;
  const frac = () => {
    const p = policy.probs();
    return p[0]![X]!; // probability of X right after the prompt
  };
  const start = frac();
  let lastReward = 0;
  for (let step = 0; step < 40; step++) {
    const p = policy.probs();
    const samples = Array.from({ length: prompts * G }, () => rollout(p, rng, len));
    const rewards = samples.map((s) => s.generated.filter((t) => t === X).length / len);
    lastReward = rewards.reduce((a, b) => a + b, 0) / rewards.length;
    const { advantages } = computeAdvantages(rewards, { groupSize: G, scaleRewards: "group" });
    const r = grpoUpdate(policy, opt, samples, advantages, { ...OPTS, lr: 0.1 });
    assert.ok(r.finite);
    if (r.stats.tokens > 0) assert.equal(r.stats.meanRatio, 1); // mu = 1: ratio exactly 1 (0 tokens once every group is solved)
  }
  assert.equal(tf.memory().numTensors, before, "no tensors leak across updates");
  assert.ok(start < 0.2, `start ${start}`);
  assert.ok(frac() > 0.9, `p(X | prompt) after training = ${frac()}`);
  assert.ok(lastReward > 0.7, `mean reward at the end = ${lastReward}`);
  opt.dispose();
  policy.dispose();
});

function fixedBatch() {
  const rng = new Rng(5);
  const init = Array.from({ length: 5 }, () => Array.from({ length: 5 }, () => rng.normal(0, 0.5)));
  const samples: PackableSample[] = [];
  for (let i = 0; i < 12; i++) {
    const len = 2 + (i % 4);
    const ids = [i % 5];
    for (let k = 0; k < len; k++) ids.push(rng.int(5));
    samples.push({ inputIds: ids, lossMask: ids.map((_, k) => (k >= 1 + (i % 2) ? 1 : 0)) });
  }
  const adv = samples.map((_, i) => [1, -0.5, 0, 0.75][i % 4]!);
  return { init, samples, adv };
}

test("micro-batching by token budget gives the same loss and gradient norm as one batch", () => {
  const { init, samples, adv } = fixedBatch();
  const results = [1000, 12].map((budget) => {
    const policy = new BigramPolicy(5, init);
    const opt = new AdamW(policy.trainableVariables(), { weightDecay: 0 });
    const r = grpoUpdate(policy, opt, samples, adv, { ...OPTS, loss: "grpo", microBatchBudget: budget, lr: 1e-9 });
    opt.dispose();
    policy.dispose();
    return r;
  });
  assert.ok(results[1]!.skipped === results[0]!.skipped);
  assert.ok(Math.abs(results[0]!.loss - results[1]!.loss) < 1e-6);
  assert.ok(Math.abs(results[0]!.gradNorm - results[1]!.gradNorm) < 1e-6);
});

test("mu = 2 with policy old log-probs: pass 1 ratio is 1, pass 2 sees the moved policy (ratio != 1)", () => {
  const { init, samples, adv } = fixedBatch();
  const one = (mu: number) => {
    const policy = new BigramPolicy(5, init);
    const opt = new AdamW(policy.trainableVariables(), { weightDecay: 0 });
    const r = grpoUpdate(policy, opt, samples, adv, { ...OPTS, mu, lr: 0.05 });
    opt.dispose();
    policy.dispose();
    return r;
  };
  const r1 = one(1), r2 = one(2);
  assert.equal(r1.stats.meanRatio, 1);
  assert.equal(r2.optimizerSteps, 2);
  assert.equal(r2.stats.tokens, 2 * r1.stats.tokens);
  assert.notEqual(r2.stats.meanRatio, 1);
});

test("NaN guard: a non-finite loss leaves the weights untouched and reports finite = false", () => {
  const { init, samples, adv } = fixedBatch();
  const policy = new BigramPolicy(5, init);
  const opt = new AdamW(policy.trainableVariables(), { weightDecay: 0 });
  const w0 = policy.w.arraySync();
  const bad = adv.map((a, i) => (i === 0 ? NaN : a));
  const r = grpoUpdate(policy, opt, samples, bad, OPTS);
  assert.equal(r.finite, false);
  assert.equal(r.optimizerSteps, 0);
  assert.deepEqual(policy.w.arraySync(), w0);
  assert.equal(opt.step, 0);
  opt.dispose();
  policy.dispose();
});

test("beta > 0 needs a reference and adds a KL stat; all-zero advantages with beta 0 skip every row", () => {
  const { init, samples, adv } = fixedBatch();
  const policy = new BigramPolicy(5, init);
  const ref = new BigramPolicy(5, init.map((r) => r.map((x) => x + 0.3 * Math.sin(x * 7))));
  const opt = new AdamW(policy.trainableVariables(), { weightDecay: 0 });
  assert.throws(() => grpoUpdate(policy, opt, samples, adv, { ...OPTS, beta: 0.04 }), /reference/);
  const r = grpoUpdate(policy, opt, samples, adv, { ...OPTS, beta: 0.04 }, ref);
  assert.ok(r.stats.kl > 0);
  assert.equal(r.skipped, 0); // with beta > 0, zero-advantage rows still carry the KL term
  const z = grpoUpdate(policy, opt, samples, adv.map(() => 0), OPTS);
  assert.equal(z.optimizerSteps, 0);
  assert.equal(z.skipped, samples.length);
  opt.dispose();
  policy.dispose();
  ref.dispose();
});
