import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { AdamW, adamWStateFromTensors, adamWStateToTensors, clipByGlobalNorm, globalNorm } from "../../src/train/optimizer";
import { parseSafetensors, serializeSafetensors } from "../../src/model/safetensors";

before(async () => {
  await tf.setBackend("cpu");
  await tf.ready();
});

/** Float64 reference of torch.optim.AdamW for one parameter array. */
function refAdamW(p: number[], grads: number[][], lr: number[], cfg: { b1: number; b2: number; eps: number; wd: number }): number[] {
  const m = p.map(() => 0), v = p.map(() => 0);
  const x = p.slice();
  grads.forEach((g, k) => {
    const t = k + 1;
    for (let i = 0; i < x.length; i++) {
      x[i]! *= 1 - lr[k]! * cfg.wd;
      m[i] = cfg.b1 * m[i]! + (1 - cfg.b1) * g[i]!;
      v[i] = cfg.b2 * v[i]! + (1 - cfg.b2) * g[i]! * g[i]!;
      const denom = Math.sqrt(v[i]!) / Math.sqrt(1 - cfg.b2 ** t) + cfg.eps;
      x[i]! -= (lr[k]! / (1 - cfg.b1 ** t)) * (m[i]! / denom);
    }
  });
  return x;
}

test("first Adam step moves each weight by lr * sign(grad) (hand value)", () => {
  const p = tf.variable(tf.tensor1d([1, -2, 0.5]));
  const opt = new AdamW([p], { weightDecay: 0.1 });
  const g = tf.tensor1d([0.5, -3, 1e-3]);
  opt.applyGradients([g], { lr: 0.1 });
  const got = [...p.dataSync()];
  // rank-1 parameter: no weight decay; m_hat/sqrt(v_hat) = sign(g) up to eps
  [0.9, -1.9, 0.4].forEach((want, i) => assert.ok(Math.abs(got[i]! - want) < 1e-5, `${got[i]} vs ${want}`));
  assert.equal(opt.step, 1);
  g.dispose(); p.dispose(); opt.dispose();
});

test("matches a float64 reference of torch AdamW over several steps, with decoupled decay on matrices only", () => {
  const cfg = { b1: 0.9, b2: 0.95, eps: 1e-8, wd: 0.1 };
  const w0 = [0.3, -0.7, 1.2, 0.05, -0.4, 0.9];
  const b0 = [0.1, -0.2];
  const w = tf.variable(tf.tensor2d(w0, [2, 3]));
  const b = tf.variable(tf.tensor1d(b0));
  const opt = new AdamW([{ name: "layer.weight", variable: w }, { name: "layer.bias", variable: b }], { beta1: cfg.b1, beta2: cfg.b2, eps: cfg.eps, weightDecay: cfg.wd });
  assert.deepEqual(opt.decayedNames, ["layer.weight"]);
  const gw = [[0.1, -0.2, 0.3, 0.0, 0.5, -0.1], [-0.3, 0.2, 0.1, 0.4, -0.5, 0.2], [0.05, 0.05, -0.05, 0.1, 0.2, 0.0]];
  const gb = [[1, -1], [0.5, 0.25], [-0.1, 0.3]];
  const lrs = [0.01, 0.02, 0.005];
  for (let k = 0; k < 3; k++) {
    tf.tidy(() => opt.applyGradients([tf.tensor2d(gw[k]!, [2, 3]), tf.tensor1d(gb[k]!)], { lr: lrs[k]! }));
  }
  const wantW = refAdamW(w0, gw, lrs, cfg);
  const wantB = refAdamW(b0, gb, lrs, { ...cfg, wd: 0 });
  [...w.dataSync()].forEach((x, i) => assert.ok(Math.abs(x - wantW[i]!) < 2e-6, `w[${i}] ${x} vs ${wantW[i]}`));
  [...b.dataSync()].forEach((x, i) => assert.ok(Math.abs(x - wantB[i]!) < 2e-6, `b[${i}] ${x} vs ${wantB[i]}`));
  w.dispose(); b.dispose(); opt.dispose();
});

test("zero gradient: matrices shrink by exactly (1 - lr*wd), vectors stay", () => {
  const w = tf.variable(tf.tensor2d([2, -4], [1, 2]));
  const n = tf.variable(tf.tensor1d([3]));
  const opt = new AdamW([{ name: "w", variable: w }, { name: "norm.weight", variable: n }], { weightDecay: 0.5 });
  tf.tidy(() => opt.applyGradients([tf.zeros([1, 2]), tf.zeros([1])], { lr: 0.1 }));
  assert.deepEqual([...w.dataSync()], [2 * 0.95, -4 * 0.95].map(Math.fround));
  assert.deepEqual([...n.dataSync()], [3]);
  w.dispose(); n.dispose(); opt.dispose();
});

test("global norm and clipping follow torch's clip_grad_norm_", () => {
  tf.tidy(() => {
    const gs = [tf.tensor1d([3]), tf.tensor2d([[4]])];
    assert.ok(Math.abs(globalNorm(gs).dataSync()[0]! - 5) < 1e-6);
    const { grads, norm } = clipByGlobalNorm(gs, 1);
    assert.ok(Math.abs(norm.dataSync()[0]! - 5) < 1e-6);
    assert.ok(Math.abs(grads[0]!.dataSync()[0]! - 0.6) < 1e-6);
    assert.ok(Math.abs(grads[1]!.dataSync()[0]! - 0.8) < 1e-6);
    const small = clipByGlobalNorm([tf.tensor1d([0.3, 0.4])], 1);
    assert.deepEqual([...small.grads[0]!.dataSync()], [0.3, 0.4].map(Math.fround)); // below the cap: unchanged
  });
  // applyGradients returns the pre-clip norm, and clipping changes the update when eps matters
  const p = tf.variable(tf.tensor1d([0, 0]));
  const q = tf.variable(tf.tensor1d([0, 0]));
  const a = new AdamW([p], { eps: 1 });
  const c = new AdamW([q], { eps: 1 });
  const g = tf.tensor1d([3, 4]);
  assert.ok(Math.abs(a.applyGradients([g], { lr: 1 }) - 5) < 1e-5);
  assert.ok(Math.abs(c.applyGradients([g], { lr: 1, maxGradNorm: 1 }) - 5) < 1e-5);
  // update = g' / (|g'| + 1) elementwise (bias-corrected first step): unclipped 3/4, clipped 0.6/1.6
  assert.ok(Math.abs(p.dataSync()[0]! + 0.75) < 1e-5);
  assert.ok(Math.abs(q.dataSync()[0]! + 0.375) < 1e-5);
  g.dispose(); p.dispose(); q.dispose(); a.dispose(); c.dispose();
});

test("gradients keyed by variable name (tf.variableGrads) are accepted", () => {
  const w = tf.variable(tf.tensor2d([[1, 2], [3, 4]]));
  const opt = new AdamW([w], { weightDecay: 0 });
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(w)) as tf.Scalar, [w]);
  const norm = opt.applyGradients(grads, { lr: 0.01 });
  assert.ok(Math.abs(norm - 2 * Math.sqrt(30)) < 1e-4);
  value.dispose();
  tf.dispose(Object.values(grads));
  w.dispose(); opt.dispose();
});

test("state export/import (through safetensors bytes) continues bit-identically", () => {
  const init = [0.5, -0.25, 0.125, 1, 2, 3];
  const gradsAt = (k: number) => tf.tensor2d(init.map((x, i) => Math.sin(x * (k + 1) + i)), [2, 3]);
  const a = tf.variable(tf.tensor2d(init, [2, 3]));
  const optA = new AdamW([{ name: "w", variable: a }]);
  for (let k = 0; k < 2; k++) tf.tidy(() => optA.applyGradients([gradsAt(k)], { lr: 0.05, maxGradNorm: 1 }));
  const packed = adamWStateToTensors(optA.exportState());
  const bytes = serializeSafetensors(packed.tensors, { metadata: packed.metadata });
  const b = tf.variable(tf.tensor(a.dataSync(), [2, 3]));
  const optB = new AdamW([{ name: "w", variable: b }]);
  const back = parseSafetensors(bytes);
  optB.importState(adamWStateFromTensors(back.tensors, back.metadata));
  assert.equal(optB.step, 2);
  for (let k = 2; k < 5; k++) {
    tf.tidy(() => optA.applyGradients([gradsAt(k)], { lr: 0.05, maxGradNorm: 1 }));
    tf.tidy(() => optB.applyGradients([gradsAt(k)], { lr: 0.05, maxGradNorm: 1 }));
  }
  assert.deepEqual([...b.dataSync()], [...a.dataSync()]);
  // mismatched shapes are rejected with the parameter named
  const c = tf.variable(tf.zeros([3, 2]));
  const optC = new AdamW([{ name: "w", variable: c }]);
  assert.throws(() => optC.importState(optA.exportState(), "opt.safetensors"), /opt\.safetensors field "w": optimizer state for "w" has shape \[2,3\]/);
  for (const x of [a, b, c]) x.dispose();
  for (const o of [optA, optB, optC]) o.dispose();
});

test("no tensor leaks across steps, and dispose frees the moments", () => {
  const start = tf.memory().numTensors;
  const w = tf.tidy(() => tf.variable(tf.randomNormal([4, 4], 0, 1, "float32", 1)));
  const opt = new AdamW([w]);
  const afterCreate = tf.memory().numTensors;
  for (let k = 0; k < 5; k++) {
    const g = tf.randomNormal([4, 4], 0, 1, "float32", k);
    opt.applyGradients([g], { lr: 0.01, maxGradNorm: 0.5 });
    g.dispose();
    assert.equal(tf.memory().numTensors, afterCreate);
  }
  opt.exportState();
  assert.equal(tf.memory().numTensors, afterCreate);
  opt.dispose();
  w.dispose();
  assert.equal(tf.memory().numTensors, start);
});
