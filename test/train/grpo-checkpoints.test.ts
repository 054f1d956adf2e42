import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { Transformer } from "../../src/model/transformer";
import { microModelConfig } from "../../src/model/config";
import { AdamW } from "../../src/train/optimizer";
import { RunCheckpoints } from "../../src/train/grpo-checkpoints";
import { parseGrpoConfig } from "../../src/train/grpo-config";
import { Rng } from "../../src/core/rng";

before(async () => {
  await tf.setBackend("cpu");
});

test("RunCheckpoints: save, latest, restore into a fresh policy + optimizer, prune", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-ck-"));
  const store = new RunCheckpoints(dir);
  const a = new Transformer(microModelConfig(9), 1);
  const optA = new AdamW(a.trainableVariables(), { weightDecay: 0 });
  const grads = tf.tidy(() => a.trainableVariables().map((v) => tf.onesLike(v)));
  optA.applyGradients(grads, { lr: 0.01 });
  const rng = new Rng(5);
  rng.next();
  const config = parseGrpoConfig({ steps: 10 });
  assert.equal(await store.latest(), null);
  await store.save(a, optA, { step: 3, seed: 0, rng: rng.getState(), config });
  const p6 = await store.save(a, optA, { step: 6, seed: 0, rng: rng.getState(), config });
  assert.equal(await store.latest(), p6);
  const b = new Transformer(microModelConfig(9), 2);
  const optB = new AdamW(b.trainableVariables(), { weightDecay: 0 });
  const st = await store.restore(p6, b, optB);
  assert.equal(st.step, 6);
  assert.deepEqual(st.rng, rng.getState());
  assert.equal(st.config.steps, 10);
  assert.equal(optB.step, 1);
  const va = a.trainableVariables().map((v) => Array.from(v.dataSync()));
  const vb = b.trainableVariables().map((v) => Array.from(v.dataSync()));
  assert.deepEqual(vb, va);
  // the same next update on both gives identical weights (moments restored)
  optA.applyGradients(grads, { lr: 0.01 });
  optB.applyGradients(grads, { lr: 0.01 });
  assert.deepEqual(b.trainableVariables().map((v) => Array.from(v.dataSync())), a.trainableVariables().map((v) => Array.from(v.dataSync())));
  await store.prune(1);
  assert.deepEqual(fs.readdirSync(path.join(dir, "checkpoints")), ["step-000006"]);
  tf.dispose(grads);
  for (const x of [optA, optB, a, b]) x.dispose();
});
