import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../src/model/runtime";
import { Transformer } from "../../src/model/transformer";
import { microModelConfig } from "../../src/model/config";
import { setLogProbs } from "../../src/model/ops";
import { AdamW } from "../../src/train/optimizer";
import { sftUpdate, type SftSample } from "../../src/train/sft-update";

before(async () => {
  await initBackend({ backend: "wasm", quiet: true });
});

test("setLogProbs: log of the allowed mass, 0 for an all-zero bias row, gradient softmax(x+b) - softmax(x)", () => {
  const x = tf.tensor2d([[1, 2, 0.5, -1], [0, 0, 0, 0]]);
  const bias = tf.tensor2d([[0, -1e9, 0, -1e9], [0, 0, 0, 0]]);
  const v = setLogProbs(x, bias).arraySync() as number[];
  const e = [1, 2, 0.5, -1].map(Math.exp);
  const z = e.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(v[0]! - Math.log((e[0]! + e[2]!) / z)) < 1e-5, `${v[0]}`);
  assert.ok(Math.abs(v[1]!) < 1e-6);
  const g = (tf.grad((t: tf.Tensor) => tf.sum(setLogProbs(t as tf.Tensor2D, bias)))(x).arraySync() as number[][])[0]!;
  const pb = [e[0]! / (e[0]! + e[2]!), 0, e[2]! / (e[0]! + e[2]!), 0];
  g.forEach((gi, i) => assert.ok(Math.abs(gi - (pb[i]! - e[i]! / z)) < 1e-5, `grad ${i}: ${gi}`));
  tf.dispose([x, bias]);
});

/** P(token in `ids`) at position `at - 1` (predicting inputIds[at]) under the model. */
function massOf(model: Transformer, s: SftSample, at: number, ids: number[]): number {
  return tf.tidy(() => {
    const logits = model.logits([s.inputIds.slice(0, at) as number[]]);
    const p = tf.softmax(tf.slice(logits, [0, at - 1, 0], [1, 1, -1])).dataSync();
    return ids.reduce((a, id) => a + p[id]!, 0);
  });
}

test("sftUpdate: weight 0 is the token-mean NLL; the grammar term moves mass off forbidden tokens faster", () => {
  // Two contexts (prompt token 10 or 11) followed by "5"; the reply token after 5 may be 6 or 7 in context 10, only 6
  // in context 11. Targets are 6 in both, and 7 in a third example of context 10: plain NLL learns the marginal.
  const samples: SftSample[] = [
    { inputIds: [1, 10, 5, 6, 2], lossMask: [0, 0, 0, 1, 1], allowed: [{ at: 3, ids: [6, 7] }] },
    { inputIds: [1, 10, 5, 7, 2], lossMask: [0, 0, 0, 1, 1], allowed: [{ at: 3, ids: [6, 7] }] },
    { inputIds: [1, 11, 5, 6, 2], lossMask: [0, 0, 0, 1, 1], allowed: [{ at: 3, ids: [6] }] },
  ];
  const forbidden = (m: Transformer) => 1 - massOf(m, samples[2]!, 3, [6]);
  const run = (weight: number) => {
    const model = new Transformer(microModelConfig(16, { maxSeqLen: 16 }), 3);
    const opt = new AdamW(model.trainableVariables(), { weightDecay: 0 });
    const first = sftUpdate(model, opt, samples, { lr: 1e-2, maxGradNorm: 1, microBatchBudget: 10, grammarWeight: weight });
    for (let i = 0; i < 59; i++) sftUpdate(model, opt, samples, { lr: 1e-2, maxGradNorm: 1, microBatchBudget: 10, grammarWeight: weight });
    const out = { first, forbidden: forbidden(model) };
    opt.dispose();
    model.dispose();
    return out;
  };
  // Reference NLL of the untrained model, token mean over the 6 trained targets.
  const ref = new Transformer(microModelConfig(16, { maxSeqLen: 16 }), 3);
  const lp = tf.tidy(() => ref.tokenLogProbs(samples.map((s) => s.inputIds as number[])).arraySync() as number[][]);
  const nll = -lp.reduce((a, row) => a + row[2]! + row[3]!, 0) / 6;
  ref.dispose();
  const plain = run(0), grammar = run(1);
  assert.ok(Math.abs(plain.first.nll - nll) < 1e-5, `${plain.first.nll} vs ${nll}`);
  assert.equal(plain.first.tokens, 6);
  assert.equal(plain.first.constrained, 0);
  assert.ok(Number.isNaN(plain.first.grammarNll));
  assert.equal(grammar.first.constrained, 3);
  assert.ok(Math.abs(grammar.first.nll - nll) < 1e-5);
  assert.ok(grammar.first.grammarNll > 0 && Math.abs(grammar.first.loss - (grammar.first.nll + grammar.first.grammarNll)) < 1e-6);
  assert.ok(grammar.forbidden < plain.forbidden * 0.5, `forbidden mass after training: grammar ${grammar.forbidden} vs plain ${plain.forbidden}`);
});

test("sftUpdate: a grammar set outside the sample is an error", () => {
  const model = new Transformer(microModelConfig(16, { maxSeqLen: 16 }), 3);
  const opt = new AdamW(model.trainableVariables(), { weightDecay: 0 });
  try {
    assert.throws(() => sftUpdate(model, opt, [{ inputIds: [1, 5, 6], lossMask: [0, 1, 1], allowed: [{ at: 3, ids: [6] }] }], { lr: 1e-3, maxGradNorm: 1, microBatchBudget: 64, grammarWeight: 1 }), /outside 1\.\.2/);
  } finally {
    opt.dispose();
    model.dispose();
  }
});

test("sftUpdate: an exclude set scores -log(1 - P(excluded ids))", () => {
  const model = new Transformer(microModelConfig(16, { maxSeqLen: 16 }), 4);
  const opt = new AdamW(model.trainableVariables(), { weightDecay: 0 });
  try {
    const s: SftSample = { inputIds: [1, 10, 5, 6, 2], lossMask: [0, 0, 0, 1, 1], allowed: [{ at: 3, ids: [7, 9], exclude: true }] };
    const p = 1 - massOf(model, s, 3, [7, 9]);
    const r = sftUpdate(model, opt, [s], { lr: 1e-3, maxGradNorm: 1, microBatchBudget: 64, grammarWeight: 1 });
    assert.equal(r.constrained, 1);
    assert.ok(Math.abs(r.grammarNll + Math.log(p)) < 1e-5, `${r.grammarNll} vs ${-Math.log(p)}`);
  } finally {
    opt.dispose();
    model.dispose();
  }
});
