// End to end on real components, tiny: micro Transformer + BPE + local-policy ChatModel + self-play + oracle CA judge +
// on-disk checkpoints. Checks the plumbing (metrics, checkpoints, exact resume), not learning.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { initBackend } from "../../src/model/runtime";
import { Transformer } from "../../src/model/transformer";
import { microModelConfig } from "../../src/model/config";
import { trainBpe } from "../../src/model/bpe";
import { readJsonl } from "../../src/core/jsonl";
import { LocalPolicyChatModel } from "../../src/selfplay/local-policy";
import { generateScriptedCorpus } from "../../src/selfplay/corpus";
import type { EpisodeRewarder } from "../../src/train/rollout-reward";
import type { AgreementJudge } from "../../src/selfplay/agreement";
import { RunCheckpoints } from "../../src/train/grpo-checkpoints";
import { trainGrpo } from "../../src/train/trainer";
import { makeScenarios } from "../selfplay/fixtures";

const scenarios = makeScenarios(3);
let tok: ReturnType<typeof trainBpe>;

before(async () => {
  await initBackend({ backend: "wasm", quiet: true });
  const corpus = await generateScriptedCorpus(scenarios, { seed: 1, n: 4 });
  tok = trainBpe(corpus.transcripts.flatMap((t) => [...t.messages.map((m) => m.content), t.response]), { vocabSize: 600 });
});

const cfg = {
  groupSize: 2, batchScenarios: 2, steps: 2, checkpointEvery: 1, keepCheckpoints: 1, maxTurns: 2, maxCompletionLength: 5,
  maxSampleLength: 1024, microBatchBudget: 4096, learningRate: 1e-3, seed: 7,
};
/** An untrained micro policy never agrees in the embedded language: agree after the second turn so summaries exist. */
const agreeAtTurn2: AgreementJudge = { name: "turn-2", judge: async (xs) => xs.map((x) => ({ agreed: x.turns.length >= 2, package: null })) };
/** A varied but deterministic reward from the summary's sampled ids, so the update path runs. */
const idReward: EpisodeRewarder = {
  name: "ids",
  score: async (items) => items.map(({ episode }) => ({ valid: true, score: (episode.summary?.tokens?.sampledIds.reduce((a, b) => a + b, 0) ?? 0) % 6 })),
};

test("trainGrpo on the real stack: metrics, HF-layout checkpoints, and a resumed run equal to the uninterrupted one", async () => {
  const make = () => new Transformer(microModelConfig(tok.vocabSize, { maxSeqLen: 1024 }), 3);
  const deps = (policy: Transformer, dir: string) => ({
    policy,
    chatModel: (m: Transformer, name: string) => new LocalPolicyChatModel({ model: m, tokenizer: tok, name }),
    scenarios,
    rewarder: idReward,
    agreementJudge: agreeAtTurn2,
    runDir: dir,
    checkpoints: new RunCheckpoints(dir, tok),
    contextLength: 1024,
    selfplay: { promptStyle: "compact" as const },
  });
  const dirA = fs.mkdtempSync(path.join(os.tmpdir(), "parley-e2e-"));
  const a = make();
  const resA = await trainGrpo(cfg, deps(a, dirA), { silent: true });
  assert.equal(resA.steps, 2);
  const mA = readJsonl<Record<string, unknown>>(path.join(dirA, "metrics.jsonl"));
  assert.equal(mA.length, 2);
  for (const m of mA) {
    assert.ok((m["grpo/tokens"] as number) > 0);
    assert.ok((m["grpo/skipped"] as number) < (m["grpo/sequences"] as number), "some rows train");
    assert.ok((m["grpo/grad_norm"] as number) > 0);
    assert.equal(m["rollout/agreement_rate"], 1);
  }
  assert.deepEqual(fs.readdirSync(path.join(dirA, "checkpoints")), ["step-000002"]); // keepCheckpoints 1
  assert.ok(fs.existsSync(path.join(dirA, "checkpoints", "step-000002", "model.safetensors")));
  assert.ok(fs.existsSync(path.join(dirA, "checkpoints", "step-000002", "tokenizer.json")));

  const dirB = fs.mkdtempSync(path.join(os.tmpdir(), "parley-e2e-"));
  const b = make();
  let n = 0;
  await assert.rejects(trainGrpo(cfg, deps(b, dirB), { silent: true, onStep: () => { if (++n === 2) throw new Error("killed"); } }), /killed/);
  b.dispose();
  const b2 = make();
  const resB = await trainGrpo(cfg, deps(b2, dirB), { silent: true }, { resume: true });
  assert.equal(resB.resumedFrom, 1);
  const strip = (r: Record<string, unknown>) => Object.fromEntries(Object.entries(r).filter(([k]) => !k.startsWith("time/")));
  assert.deepEqual(readJsonl<Record<string, unknown>>(path.join(dirB, "metrics.jsonl")).map(strip), mA.map(strip));
  const wa = a.trainableVariables().map((v) => Array.from(v.dataSync()));
  const wb = b2.trainableVariables().map((v) => Array.from(v.dataSync()));
  assert.deepEqual(wb, wa);
  a.dispose();
  b2.dispose();
});
