import { test } from "node:test";
import assert from "node:assert/strict";
import { parseGrpoConfig, rolloutsPerStep } from "../../src/train/grpo-config";
import { ConfigError } from "../../src/core/errors";

test("defaults follow the paper: G=8, batch 16, dapo, group scaling, beta 0, mu 1", () => {
  const c = parseGrpoConfig({});
  assert.equal(c.groupSize, 8);
  assert.equal(c.batchScenarios, 16);
  assert.equal(c.loss, "dapo");
  assert.equal(c.scaleRewards, "group");
  assert.equal(c.beta, 0);
  assert.equal(c.mu, 1);
  assert.equal(c.trainSpeakers, "both");
  assert.equal(c.includeSummary, false);
  assert.equal(rolloutsPerStep(c), 128);
});

function fieldOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.field;
  }
  assert.fail("expected a ConfigError");
}

test("relation errors name the field", () => {
  assert.equal(fieldOf(() => parseGrpoConfig({ groupSize: 1 })), "groupSize");
  assert.equal(fieldOf(() => parseGrpoConfig({ epsilonLow: 1 })), "epsilonLow");
  assert.equal(fieldOf(() => parseGrpoConfig({ epsilonHigh: 0 })), "epsilonHigh");
  assert.equal(fieldOf(() => parseGrpoConfig({ mu: 0 })), "mu");
  assert.equal(fieldOf(() => parseGrpoConfig({ beta: -0.1 })), "beta");
  assert.equal(fieldOf(() => parseGrpoConfig({ maxCompletionLength: 300, maxSampleLength: 256 })), "maxCompletionLength");
  assert.equal(fieldOf(() => parseGrpoConfig({ microBatchBudget: 100 })), "microBatchBudget");
  assert.equal(fieldOf(() => parseGrpoConfig({ maxSampleLength: 512 }, { contextLength: 256 })), "maxSampleLength");
  assert.equal(fieldOf(() => parseGrpoConfig({ oldLogprobs: "raw" })), "oldLogprobs");
  assert.equal(fieldOf(() => parseGrpoConfig({ minLrRatio: 2 })), "minLrRatio");
  assert.equal(fieldOf(() => parseGrpoConfig({ selfReward: true })), "selfReward");
  assert.equal(fieldOf(() => parseGrpoConfig({ groupSize: 2.5 })), "groupSize");
  assert.equal(fieldOf(() => parseGrpoConfig({ loss: "ppo" })), "loss");
  assert.equal(fieldOf(() => parseGrpoConfig({ nope: 1 })), "(root)");
});

test("message names the field and the bad value", () => {
  assert.throws(() => parseGrpoConfig({ groupSize: 1 }), /config field "groupSize": must be >= 2.*got 1/);
});
