import { test } from "node:test";
import assert from "node:assert/strict";
import { packSamples, planMicroBatches, planBatch, trainedTokenCount, sampleAdvantages } from "../../src/train/batching";

const s = (ids: number[], mask: number[], old?: number[]) => ({ inputIds: ids, lossMask: mask, ...(old ? { oldLogprobs: old } : {}) });

test("packSamples: right padding, target-aligned mask and old log-probs", () => {
  const samples = [s([5, 6, 7], [0, 1, 1], [0, -0.5, -0.25]), s([8, 9], [0, 1], [0, -2])];
  const p = packSamples(samples, [0, 1], [1.5, -1], [0.25, 0.5], 0);
  assert.equal(p.batch, 2);
  assert.equal(p.seqLen, 3);
  assert.deepEqual(Array.from(p.ids), [5, 6, 7, 8, 9, 0]);
  assert.deepEqual(Array.from(p.mask), [1, 1, 1, 0]);
  assert.deepEqual(Array.from(p.oldLogprobs), [-0.5, -0.25, -2, 0]);
  assert.deepEqual(Array.from(p.advantages), [1.5, -1]);
  assert.deepEqual(Array.from(p.weights), [0.25, 0.5]);
  assert.throws(() => packSamples([s([1, 2], [0])], [0], [0], [0]), /mask entries/);
});

test("planMicroBatches: longest first, padded size within budget, deterministic ties", () => {
  const lengths = [4, 10, 3, 10, 6];
  const plan = planMicroBatches(lengths, 20);
  assert.deepEqual(plan, [[1, 3], [4, 0, 2]]);
  for (const mb of plan) assert.ok(mb.length * Math.max(...mb.map((i) => lengths[i]!)) <= 20);
  assert.deepEqual(planMicroBatches([30, 2], 20), [[0], [1]]); // an over-long sample still gets its own batch
});

test("planBatch: whole-batch dapo weights, zero-advantage rows skipped but counted, empty samples dropped", () => {
  const samples = [s([1, 2, 3], [0, 1, 1]), s([1, 2], [0, 1]), s([4, 5, 6, 7], [0, 0, 1, 1]), s([9], [0])];
  assert.deepEqual(samples.map(trainedTokenCount), [2, 1, 2, 0]);
  const plan = planBatch(samples, [1, 0, -1, 2], { loss: "dapo", maxCompletionLength: 8, microBatchBudget: 100, skipZeroAdvantage: true });
  assert.equal(plan.tokens, 5);
  assert.equal(plan.sequences, 3);
  assert.deepEqual(plan.weights, [0.2, 0.2, 0.2, 0]);
  assert.equal(plan.skipped, 2);
  assert.deepEqual(plan.micro.flatMap((m) => m.indices), [2, 0]);
  const g = planBatch(samples, [1, 0, -1, 2], { loss: "grpo", maxCompletionLength: 8, microBatchBudget: 100, skipZeroAdvantage: false });
  assert.deepEqual(g.weights, [1 / 6, 1 / 3, 1 / 6, 0]);
  assert.deepEqual(g.micro.flatMap((m) => m.indices), [2, 0, 1]);
});

test("sampleAdvantages broadcasts per episode and rejects unknown episodes", () => {
  const m = new Map([["e1", 0.5], ["e2", -1]]);
  assert.deepEqual(sampleAdvantages([{ episodeId: "e2" }, { episodeId: "e1" }, { episodeId: "e2" }], m), [-1, 0.5, -1]);
  assert.throws(() => sampleAdvantages([{ episodeId: "x" }], m), /no advantage/);
});
