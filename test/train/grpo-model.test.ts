// GRPO loss and update through M1's Transformer (micro config, cpu backend for exact gradients).
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng, deriveSeed } from "../../src/core/rng";
import { Transformer } from "../../src/model/transformer";
import { microModelConfig } from "../../src/model/config";
import { generate } from "../../src/model/sampler";
import { AdamW } from "../../src/train/optimizer";
import { grpoLoss, lossNormaliser } from "../../src/train/grpo-loss";
import { grpoUpdate } from "../../src/train/grpo-update";
import { computeAdvantages } from "../../src/train/advantages";

before(async () => {
  await tf.setBackend("cpu");
});

test("gradient wrt model weights ignores a token outside the mask (changing it leaves every gradient identical)", () => {
  const model = new Transformer(microModelConfig(11), 4);
  const vars = model.trainableVariables();
  const gradsFor = (ids: number[][]) =>
    tf.tidy(() => {
      const { grads } = tf.variableGrads(() => {
        const lp = model.tokenLogProbs(tf.tensor2d(ids, undefined, "int32"));
        return grpoLoss(
          {
            newLogprobs: lp,
            oldLogprobs: null,
            advantages: tf.tensor1d([1.3, -0.4]),
            // targets 1..5; the last target (position 4 = token at index 5) is outside the mask
            mask: tf.tensor2d([[0, 1, 1, 1, 0], [0, 0, 1, 1, 0]]),
            weights: tf.tensor1d(lossNormaliser("dapo", [3, 2])),
          },
          { epsilonLow: 0.2, epsilonHigh: 0.2, beta: 0 },
        ).loss;
      }, vars);
      return vars.map((v) => Array.from(grads[v.name]!.dataSync()));
    });
  const a = gradsFor([[1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 2, 3]]);
  const b = gradsFor([[1, 2, 3, 4, 5, 9], [7, 8, 9, 10, 2, 0]]); // only the unmasked last token changes
  assert.deepEqual(b, a);
  assert.ok(a.some((g) => g.some((x) => x !== 0)));
  // changing a masked target does change the gradient
  const c = gradsFor([[1, 2, 3, 4, 9, 6], [7, 8, 9, 10, 2, 3]]);
  assert.notDeepEqual(c, a);
  model.dispose();
});

test("toy reward with the micro Transformer: rewarded for emitting token 5, it learns within a few dozen steps", () => {
  const V = 8, X = 5, G = 8, prompts = 2, len = 3;
  const model = new Transformer(microModelConfig(V), 1);
  const opt = new AdamW(model.trainableVariables(), { weightDecay: 0 });
  let before = -1;
  const pX = () =>
    tf.tidy(() => {
      const lp = model.tokenLogProbs(tf.tensor2d([[1, X]], undefined, "int32"));
      return Math.exp(lp.dataSync()[0]!);
    });
  const start = pX();
  let reward = 0;
  for (let step = 0; step < 30; step++) {
    const rngs = Array.from({ length: prompts * G }, (_, i) => new Rng(deriveSeed(9, step, i)));
    const outs = generate(model, rngs.map(() => [1]), { maxNewTokens: len, temperature: 1, topP: 1, rngs });
    const samples = outs.map((o) => ({ inputIds: [1, ...o.tokens], lossMask: [0, ...o.tokens.map(() => 1)] }));
    const rewards = outs.map((o) => o.tokens.filter((t) => t === X).length / len);
    reward = rewards.reduce((x, y) => x + y, 0) / rewards.length;
    const { advantages } = computeAdvantages(rewards, { groupSize: G, scaleRewards: "group" });
    const r = grpoUpdate(model, opt, samples, advantages, {
      loss: "dapo", epsilonLow: 0.2, epsilonHigh: 0.2, beta: 0, mu: 1, maxCompletionLength: len, microBatchBudget: 256,
      oldLogprobs: "policy", skipZeroAdvantage: true, lr: 0.03, maxGradNorm: 1,
    });
    assert.ok(r.finite);
    if (step === 0) before = tf.memory().numTensors; // after the model's lazily built caches exist
    if (step === 0) assert.ok(Math.abs(r.stats.entropy - Math.log(V)) < 0.01, `exact entropy at init ${r.stats.entropy} vs log V`);
  }
  assert.equal(tf.memory().numTensors, before);
  assert.ok(start < 0.3, `start p(X) ${start}`);
  assert.ok(pX() > 0.8, `p(X | prompt) after 30 steps = ${pX()}`);
  assert.ok(reward > 0.6, `final mean reward ${reward}`);
  opt.dispose();
  model.dispose();
});
