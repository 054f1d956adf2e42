import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { readJsonl } from "../../src/core/jsonl";
import { trainGrpo, NonFiniteError, groupEpisodes, scenariosForStep } from "../../src/train/trainer";
import type { GrpoConfigInput } from "../../src/train/grpo-config";
import { makeScenarios } from "../selfplay/fixtures";
import { BigramPolicy, BigramChat, MentionAgreement, CountRewarder, MemoryCheckpoints } from "./helpers";

before(async () => {
  await tf.setBackend("cpu");
});

const CFG: GrpoConfigInput = {
  groupSize: 4,
  batchScenarios: 2,
  steps: 4,
  checkpointEvery: 2,
  maxTurns: 3,
  maxCompletionLength: 3,
  maxSampleLength: 8,
  microBatchBudget: 64,
  learningRate: 0.05,
  seed: 3,
};

function setup(dir: string, policy = new BigramPolicy(6)) {
  return {
    policy,
    chatModel: (m: BigramPolicy, name: string) => new BigramChat(m, name),
    scenarios: makeScenarios(5),
    rewarder: new CountRewarder(),
    agreementJudge: new MentionAgreement(),
    runDir: dir,
  };
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "parley-grpo-"));
const noTime = (r: Record<string, unknown>) => Object.fromEntries(Object.entries(r).filter(([k]) => !k.startsWith("time/")));

test("trainGrpo writes TRL-style metrics and per-dialogue rollouts, and leaks no tensors", async () => {
  const dir = tmp();
  const deps = setup(dir);
  const before = tf.memory().numTensors;
  const res = await trainGrpo(CFG, { ...deps, checkpoints: new MemoryCheckpoints() }, { silent: true });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(res.steps, 4);
  assert.equal(res.lastCheckpoint, "step-4");
  const metrics = readJsonl<Record<string, number | null>>(path.join(dir, "metrics.jsonl"));
  assert.deepEqual(metrics.map((m) => m.step), [1, 2, 3, 4]);
  for (const k of [
    "reward/mean", "reward/std", "reward/frac_zero_std", "judge/invalid_rate", "rollout/agreement_rate", "rollout/rounds",
    "rollout/mean_length", "grpo/kl", "grpo/clip_ratio_low", "grpo/clip_ratio_high", "grpo/entropy", "grpo/grad_norm",
    "grpo/loss", "time/rollout_s", "time/judge_s", "time/update_s",
  ]) assert.ok(k in metrics[0]!, `missing ${k}`);
  assert.equal(metrics[0]!["rollout/mean_length"], 3);
  const rollouts = readJsonl<{ step: number; advantage: number; valid: boolean; reward: number | null; groupId: string }>(path.join(dir, "rollouts.jsonl"));
  assert.equal(rollouts.length, 4 * 2 * 4);
  // advantages are centred within each group
  const byGroup = new Map<string, number[]>();
  for (const r of rollouts) byGroup.set(r.groupId, [...(byGroup.get(r.groupId) ?? []), r.advantage]);
  for (const a of byGroup.values()) assert.ok(Math.abs(a.reduce((x, y) => x + y, 0)) < 1e-9);
  for (const r of rollouts) if (!r.valid) assert.equal(r.advantage, 0);
  deps.policy.dispose();
});

test("resume after a crash reproduces the uninterrupted run's metrics and weights", async () => {
  const dirA = tmp(), dirB = tmp();
  const a = setup(dirA);
  await trainGrpo(CFG, { ...a, checkpoints: new MemoryCheckpoints() }, { silent: true });
  const wA = a.policy.w.arraySync();

  const b = setup(dirB);
  const store = new MemoryCheckpoints();
  let n = 0;
  await assert.rejects(
    trainGrpo(CFG, { ...b, checkpoints: store }, {
      silent: true,
      onStep: () => {
        if (++n === 3) throw new Error("simulated crash after step 3");
      },
    }),
    /simulated crash/,
  );
  assert.equal(await store.latest(), "step-2");
  assert.equal(readJsonl(path.join(dirB, "metrics.jsonl")).length, 3);
  // a fresh process: new policy object with the initial weights, restored from the checkpoint
  b.policy.dispose();
  const b2 = setup(dirB);
  const res = await trainGrpo(CFG, { ...b2, checkpoints: store }, { silent: true }, { resume: true });
  assert.equal(res.resumedFrom, 2);
  const mA = readJsonl<Record<string, unknown>>(path.join(dirA, "metrics.jsonl")).map(noTime);
  const mB = readJsonl<Record<string, unknown>>(path.join(dirB, "metrics.jsonl")).map(noTime);
  assert.deepEqual(mB, mA);
  assert.equal(readJsonl(path.join(dirB, "rollouts.jsonl")).length, readJsonl(path.join(dirA, "rollouts.jsonl")).length);
  assert.deepEqual(b2.policy.w.arraySync(), wA);
  a.policy.dispose();
  b2.policy.dispose();
});

test("NaN guard stops with a clear message naming the last good checkpoint and keeps the weights", async () => {
  const dir = tmp();
  const deps = setup(dir);
  const store = new MemoryCheckpoints();
  let n = 0;
  const run = trainGrpo({ ...CFG, steps: 6 }, { ...deps, checkpoints: store }, {
    silent: true,
    onStep: () => {
      if (++n === 2) deps.policy.nanLogprobs = true;
    },
  });
  await assert.rejects(run, (e: unknown) => {
    assert.ok(e instanceof NonFiniteError);
    assert.equal(e.step, 3);
    assert.equal(e.lastCheckpoint, "step-2");
    assert.match(e.message, /not finite.*step-2/);
    return true;
  });
  assert.deepEqual(deps.policy.w.arraySync(), store.saved.get("step-2")!.w);
  const metrics = readJsonl<Record<string, unknown>>(path.join(dir, "metrics.jsonl"));
  assert.equal(metrics.length, 3);
  assert.equal(metrics[2]!.error, "non-finite loss or gradient");
  deps.policy.dispose();
});

test("config relations checked against the deps: too few scenarios, checkpoint vs refresh period", async () => {
  const deps = setup(tmp());
  await assert.rejects(trainGrpo({ ...CFG, batchScenarios: 9 }, deps, { silent: true }), /batchScenarios/);
  await assert.rejects(trainGrpo({ ...CFG, refreshAgent2Every: 3 }, deps, { silent: true }), /checkpointEvery/);
  await assert.rejects(trainGrpo({ ...CFG, groupSize: 1 }, deps, { silent: true }), /groupSize/);
  deps.policy.dispose();
});

test("frozen Agent 2 refreshed every 2 steps: runs, and resumes exactly", async () => {
  const cfg = { ...CFG, refreshAgent2Every: 2, steps: 4 };
  const dirA = tmp(), dirB = tmp();
  const a = setup(dirA);
  await trainGrpo(cfg, a, { silent: true });
  const b = setup(dirB);
  const store = new MemoryCheckpoints();
  let n = 0;
  await assert.rejects(trainGrpo(cfg, { ...b, checkpoints: store }, { silent: true, onStep: () => { if (++n === 3) throw new Error("crash"); } }));
  const b2 = setup(dirB, b.policy);
  await trainGrpo(cfg, { ...b2, checkpoints: store }, { silent: true }, { resume: true });
  const mA = readJsonl<Record<string, unknown>>(path.join(dirA, "metrics.jsonl")).map(noTime);
  const mB = readJsonl<Record<string, unknown>>(path.join(dirB, "metrics.jsonl")).map(noTime);
  assert.deepEqual(mB, mA);
  a.policy.dispose();
  b.policy.dispose();
});

test("helpers: scenario draw depends only on (seed, step); groups are made contiguous", () => {
  assert.deepEqual(scenariosForStep(1, 5, 10, 3), scenariosForStep(1, 5, 10, 3));
  assert.equal(new Set(scenariosForStep(1, 5, 10, 10)).size, 10);
  const e = (g: string, k: number) => ({ episode: { groupId: g, sampleIndex: k } as never });
  const out = groupEpisodes([e("x", 1), e("y", 0), e("x", 0), e("y", 1)]);
  assert.deepEqual(out.map((o) => [(o.episode as { groupId: string }).groupId, (o.episode as { sampleIndex: number }).sampleIndex]), [["x", 0], ["x", 1], ["y", 0], ["y", 1]]);
});

test("trainSpeakers agent1 trains only Agent 1's turns; includeSummary adds the summary sample", async () => {
  const seqs = async (extra: Record<string, unknown>) => {
    const dir = tmp();
    const deps = setup(dir);
    const r = await trainGrpo({ ...CFG, steps: 1, skipZeroAdvantage: false, ...extra }, deps, { silent: true });
    const rollouts = readJsonl<{ turns: Array<{ speaker: number }>; summary: unknown }>(path.join(dir, "rollouts.jsonl"));
    deps.policy.dispose();
    return { n: r.metrics[0]!["grpo/sequences"], rollouts };
  };
  const both = await seqs({});
  assert.equal(both.n, both.rollouts.reduce((a, e) => a + e.turns.length, 0));
  const a1 = await seqs({ trainSpeakers: "agent1" });
  assert.equal(a1.n, a1.rollouts.reduce((a, e) => a + e.turns.filter((t) => t.speaker === 1).length, 0));
  assert.ok((a1.n as number) < (both.n as number));
  const withSummary = await seqs({ includeSummary: true });
  assert.equal(withSummary.n, (both.n as number) + withSummary.rollouts.filter((e) => e.summary !== null).length);
});

test("resume without any checkpoint starts over and drops the old records", async () => {
  const dir = tmp();
  const deps = setup(dir);
  await trainGrpo({ ...CFG, steps: 2 }, deps, { silent: true });
  const r = await trainGrpo({ ...CFG, steps: 2 }, deps, { silent: true }, { resume: true });
  assert.equal(r.resumedFrom, null);
  assert.deepEqual(readJsonl<{ step: number }>(path.join(dir, "metrics.jsonl")).map((m) => m.step), [1, 2]);
  deps.policy.dispose();
});
