import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { ConfigError, InputError } from "../../src/core/errors";
import { readJsonl } from "../../src/core/jsonl";
import { initBackend } from "../../src/model/runtime";
import { loadCorpus } from "../../src/model/corpus";
import { loadCheckpoint, latestCheckpoint } from "../../src/model/checkpoint";
import {
  WindowSampler,
  corpusLoss,
  pretrain,
  resolvePretrainConfig,
  streamLoss,
  tokenizeDocuments,
  unigramCrossEntropy,
  unigramEntropy,
  type PretrainConfigInput,
} from "../../src/model/pretrain";

before(async () => {
  await initBackend({ backend: "wasm", quiet: true });
});

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "pretrain-"));

test("WindowSampler: batches are a pure function of (seed, step); an epoch visits each window once", () => {
  const stream = Int32Array.from({ length: 1000 }, (_, i) => i);
  const a = new WindowSampler(stream, 10, 4, 7);
  const b = new WindowSampler(stream, 10, 4, 7);
  assert.equal(a.windowsPerEpoch, 99);
  // query b out of order: same answers
  const later = b.batchAt(60);
  const first = b.batchAt(0);
  assert.deepEqual(a.batchAt(0), first);
  assert.deepEqual(a.batchAt(60), later);
  assert.notDeepEqual(new WindowSampler(stream, 10, 4, 8).batchAt(0), first);
  // rows are contiguous slices of the stream; within epoch 0 all window starts differ and share one offset
  const starts = new Set<number>();
  for (let s = 0; s < 24; s++) {
    const batch = a.batchAt(s);
    for (let r = 0; r < 4; r++) {
      const row = batch.subarray(r * 10, r * 10 + 10);
      for (let k = 1; k < 10; k++) assert.equal(row[k], row[0]! + k);
      starts.add(row[0]!);
    }
  }
  assert.equal(starts.size, 96);
  assert.equal(new Set([...starts].map((s) => s % 10)).size, 1);
  assert.throws(() => new WindowSampler(new Int32Array(15), 10, 1, 0), ConfigError);
});

test("unigram baselines: hand values", () => {
  assert.ok(Math.abs(unigramEntropy(Int32Array.from([0, 0, 1, 1]), 4) - Math.log(2)) < 1e-12);
  assert.equal(unigramEntropy(Int32Array.from([3, 3, 3]), 4), 0);
  // add-one smoothing: counts 1+2, 1+2, 1, 1 over 8 -> p(0) = 3/8
  assert.ok(Math.abs(unigramCrossEntropy(Int32Array.from([0, 0, 1, 1]), Int32Array.from([0]), 4) + Math.log(3 / 8)) < 1e-12);
});

test("config validation names the field", () => {
  assert.throws(() => resolvePretrainConfig({ steps: 0 }), (e: unknown) => e instanceof InputError && e.field === "steps");
  assert.throws(() => resolvePretrainConfig({ stepz: 3 }), (e: unknown) => e instanceof InputError && /stepz/.test(e.message));
  assert.throws(() => resolvePretrainConfig({ steps: 5, warmupSteps: 10 }), (e: unknown) => e instanceof ConfigError && e.field === "warmupSteps");
  const c = resolvePretrainConfig({});
  assert.equal(c.bpe.vocabSize, 2048);
  assert.equal(c.modelPreset, "default");
});

const texts = (() => {
  const docs = loadCorpus({ split: "all", generatedDocuments: 60, authored: false });
  return { train: docs.slice(0, 54).map((d) => d.text), heldout: docs.slice(54).map((d) => d.text) };
})();

const micro: PretrainConfigInput = {
  seed: 3,
  steps: 12,
  batchSize: 4,
  seqLen: 32,
  lr: 1e-2,
  warmupSteps: 2,
  evalEvery: 4,
  evalWindows: 4,
  checkpointEvery: 4,
  keepCheckpoints: 3,
  bpe: { vocabSize: 320, trainChars: 20_000 },
  modelPreset: "micro",
};

test("micro pretraining run: loss falls below the unigram baseline; final checkpoint reloads with the same held-out loss", async () => {
  const runDir = tmp();
  const startTensors = tf.memory().numTensors;
  const r = await pretrain(
    { ...micro, steps: 150, batchSize: 8, seqLen: 64, evalEvery: 0, checkpointEvery: 0, lr: 1e-2, warmupSteps: 10 },
    { runDir, texts, silent: true },
  );
  assert.equal(r.stepsDone, 150);
  assert.ok(r.finalTrainLoss < r.unigramEntropy - 0.15, `train loss ${r.finalTrainLoss} vs unigram ${r.unigramEntropy}`);
  assert.ok(r.finalEvalLoss! < r.unigramHeldoutLoss, `held-out ${r.finalEvalLoss} vs unigram ${r.unigramHeldoutLoss}`);
  const rows = readJsonl<Record<string, number>>(path.join(runDir, "metrics.jsonl"));
  assert.equal(rows[0]!["baseline/unigram_entropy"], r.unigramEntropy);
  assert.equal(rows.length, 151);
  assert.ok(rows[1]!["train/loss"]! > rows[150]!["train/loss"]!);
  assert.ok(fs.existsSync(path.join(runDir, "config.json")) && fs.existsSync(path.join(runDir, "env.json")));
  const ck = loadCheckpoint(r.finalDir!);
  const held = tokenizeDocuments(ck.tokenizer!, texts.heldout);
  assert.equal(streamLoss(ck.model, held, { seqLen: 64, batchSize: 8, maxWindows: 4 }), r.finalEvalLoss);
  // the general-capability helper on the shipped held-out slice: finite, and no better than the train loss by much
  const gen = corpusLoss(ck.model, ck.tokenizer!, { seqLen: 64, maxWindows: 2, generatedDocuments: 60 });
  assert.ok(Number.isFinite(gen.loss) && gen.loss > 0 && gen.perplexity === Math.exp(gen.loss) && gen.tokens === 126);
  ck.model.dispose();
  r.model.dispose();
  assert.equal(tf.memory().numTensors, startTensors, "no tensors leaked by the training loop");
  fs.rmSync(runDir, { recursive: true, force: true });
});

test("resume after an interruption reproduces the uninterrupted run's metrics exactly", async () => {
  const full = tmp(), cut = tmp();
  const a = await pretrain(micro, { runDir: full, texts, silent: true });
  a.model.dispose();
  // "killed" after step 6: checkpoint at 4 exists, steps 5-6 are logged but not checkpointed
  const b1 = await pretrain(micro, { runDir: cut, texts, silent: true, stopAfterStep: 6 });
  b1.model.dispose();
  assert.equal(latestCheckpoint(cut)!.step, 4);
  assert.equal(readJsonl(path.join(cut, "metrics.jsonl")).length, 7);
  const b2 = await pretrain(micro, { runDir: cut, texts, silent: true, resume: true });
  assert.equal(b2.resumedFrom, 4);
  b2.model.dispose();
  assert.equal(b2.finalTrainLoss, a.finalTrainLoss);
  // resuming a finished run does nothing and reports the same summary
  const b3 = await pretrain(micro, { runDir: cut, texts, silent: true, resume: true });
  assert.equal(b3.finalDir, path.join(cut, "final"));
  assert.equal(b3.finalTrainLoss, a.finalTrainLoss);
  assert.equal(b3.finalEvalLoss, a.finalEvalLoss);
  b3.model.dispose();
  const strip = (dir: string) =>
    readJsonl<Record<string, number>>(path.join(dir, "metrics.jsonl")).map((r) => {
      const { ["train/tokens_per_s"]: _t, ...rest } = r;
      return rest;
    });
  assert.deepEqual(strip(cut), strip(full));
  // the final weights are identical too
  const fa = loadCheckpoint(path.join(full, "final")), fb = loadCheckpoint(path.join(cut, "final"));
  const la = fa.model.logits([[1, 5, 9, 30]]), lb = fb.model.logits([[1, 5, 9, 30]]);
  assert.deepEqual(la.dataSync(), lb.dataSync());
  tf.dispose([la, lb]);
  fa.model.dispose();
  fb.model.dispose();
  // resuming with a different config is refused
  await assert.rejects(pretrain({ ...micro, lr: 5e-3 }, { runDir: cut, texts, silent: true, resume: true }), (e: unknown) => e instanceof ConfigError && e.field === "config");
  for (const d of [full, cut]) fs.rmSync(d, { recursive: true, force: true });
});
