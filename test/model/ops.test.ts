import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  attentionMaskValues, embedLookup, entropyFromLogProbs, entropyFromLogits, initBackend, logProbsOfTargets, MASK_VALUE,
  pickByOneHot, positionsFromMask, rmsNorm, ropeTables, rotateHalf, rotateHalfMatrix, silu, swiGlu,
} from "../../src/model";
import { assertNoLeak, maxAbsDiff } from "./model-fixtures";

before(async () => {
  await initBackend({ backend: "cpu", quiet: true });
});

test("rotate_half as a matrix equals the slice/concat form; rope tables repeat the half table", () => {
  const x = tf.tensor2d([[1, 2, 3, 4, 5, 6], [-1, 0.5, 2, 7, -3, 1]]);
  const r = rotateHalfMatrix(6);
  assert.deepEqual(tf.matMul(x, r).arraySync(), [[-4, -5, -6, 1, 2, 3], [-7, 3, -1, -1, 0.5, 2]]);
  assert.deepEqual(rotateHalf(x).arraySync(), tf.matMul(x, r).arraySync());
  const { cos, sin } = ropeTables([0, 3], 4, 10000);
  assert.deepEqual(Array.from(cos.slice(0, 4)), [1, 1, 1, 1]);
  assert.equal(cos[4], cos[6]);
  assert.ok(Math.abs(sin[4]! - Math.sin(3)) < 1e-7);
  assert.ok(Math.abs(sin[5]! - Math.sin(Math.fround(3 * Math.fround(1 / 100)))) < 1e-7);
  tf.dispose([x, r]);
});

test("positions skip padding and continue from offsets; masks are causal, padding-blind, self-visible", () => {
  assert.deepEqual(Array.from(positionsFromMask([0, 0, 1, 1, 1, 1, 1, 0], 2, 4)), [0, 0, 0, 1, 0, 1, 2, 2]);
  assert.deepEqual(Array.from(positionsFromMask([1, 1, 0, 1], 2, 2, [5, 2])), [5, 6, 1, 2]);
  const m = attentionMaskValues([0, 1, 1], 1, 3, 0);
  const M = MASK_VALUE;
  assert.deepEqual(Array.from(m), [0, M, M, M, 0, M, M, 0, 0]);
  // One new token after 2 cached keys (first cached key is padding).
  assert.deepEqual(Array.from(attentionMaskValues([0, 1, 1], 1, 1, 2)), [M, 0, 0]);
});

test("logProbsOfTargets equals logSoftmax picking in value and gradient; entropies agree", () => {
  const logits = tf.tensor2d([[2, -1, 0.5, 30], [0, 0, 0, 0], [-5, 4, 4, 1]]);
  const targets = tf.tensor1d([1, 2, 0], "int32");
  const ref = (x: tf.Tensor) => pickByOneHot(tf.logSoftmax(x) as tf.Tensor2D, targets);
  assert.ok(maxAbsDiff(logProbsOfTargets(logits, targets), ref(logits)) < 1e-5);
  const w = tf.tensor1d([1, -2, 0.5]);
  const g1 = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(logProbsOfTargets(x as tf.Tensor2D, targets), w)))(logits);
  const g2 = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(ref(x), w)))(logits);
  assert.ok(maxAbsDiff(g1, g2) < 1e-6);
  assert.ok(maxAbsDiff(entropyFromLogits(logits), entropyFromLogProbs(tf.logSoftmax(logits) as tf.Tensor2D)) < 1e-5);
  assert.ok(Math.abs(entropyFromLogits(logits).dataSync()[1]! - Math.log(4)) < 1e-6);
});

test("embedLookup gradient equals tf.gather's; rmsNorm and silu match their formulas", () => {
  const table = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
  const ids = tf.tensor1d([2, 0, 2], "int32");
  const up = tf.tensor2d([[1, 0], [0, 1], [2, 2]]);
  const g1 = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(embedLookup(t as tf.Tensor2D, ids), up)))(table);
  const g2 = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, ids), up)))(table);
  assert.deepEqual(g1.arraySync(), g2.arraySync());
  assert.deepEqual(g1.arraySync(), [[0, 1], [0, 0], [3, 2]]);
  const x = tf.tensor2d([[3, 4]]);
  const y = (rmsNorm(x, tf.tensor1d([1, 2]), 0).arraySync() as number[][])[0]!;
  const rms = Math.sqrt(12.5);
  assert.ok(Math.abs(y[0]! - 3 / rms) < 1e-6 && Math.abs(y[1]! - 8 / rms) < 1e-6);
  assert.ok(Math.abs(silu(tf.scalar(2)).dataSync()[0]! - 2 / (1 + Math.exp(-2))) < 1e-6);
});

/** Seeded pseudo-normal tensor (Box-Muller over a small LCG) so the checks below do not depend on tf's RNG. */
function seededTensor(shape: number[], seed: number, scale = 1): tf.Tensor {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: n }, () => scale * Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next()));
  return tf.tensor(data, shape);
}

test("rmsNorm's custom gradient equals autograd through the plain formula (values and gradients, 2-D and 3-D)", () => {
  const plain = (x: tf.Tensor, w: tf.Tensor, eps: number) => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), w);
  for (const [shape, eps] of [[[7, 16], 1e-5], [[2, 5, 8], 1e-6], [[3, 4], 0.5]] as Array<[number[], number]>) {
    const x = seededTensor(shape, 1);
    const w = seededTensor([shape[shape.length - 1]!], 2, 0.5);
    const up = seededTensor(shape, 3);
    const loss = (norm: typeof plain) => (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(norm(a, b, eps), up));
    assert.ok(maxAbsDiff(rmsNorm(x, w, eps), plain(x, w, eps)) < 1e-6, `value ${shape}`);
    const [gx, gw] = tf.grads(loss(rmsNorm))([x, w]);
    const [rx, rw] = tf.grads(loss(plain))([x, w]);
    assert.ok(maxAbsDiff(gx!, rx!) < 1e-5, `dx ${shape}: ${maxAbsDiff(gx!, rx!)}`);
    assert.ok(maxAbsDiff(gw!, rw!) < 1e-5, `dw ${shape}: ${maxAbsDiff(gw!, rw!)}`);
    tf.dispose([x, w, up, gx!, gw!, rx!, rw!]);
  }
});

test("swiGlu equals silu(gate) * up on the fused columns, values and gradient", () => {
  const plain = (gu: tf.Tensor2D) => {
    const F = gu.shape[1] / 2;
    return tf.mul(silu(tf.slice(gu, [0, 0], [-1, F])), tf.slice(gu, [0, F], [-1, F]));
  };
  const gu = seededTensor([9, 12], 4, 2) as tf.Tensor2D;
  const up = seededTensor([9, 6], 5);
  assert.ok(maxAbsDiff(swiGlu(gu), plain(gu)) < 1e-6);
  const g1 = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(swiGlu(a as tf.Tensor2D), up)))(gu);
  const g2 = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(plain(a as tf.Tensor2D), up)))(gu);
  assert.ok(maxAbsDiff(g1, g2) < 1e-5, `d gu: ${maxAbsDiff(g1, g2)}`);
  tf.dispose([gu, up, g1, g2]);
});

test("no op leaks tensors (forward and gradient)", () => {
  const x = tf.tensor2d([[1, 2, 3, 4], [0.5, -1, 2, 0]]);
  const w = tf.tensor1d([1, 1, 2, 2]);
  const t = tf.tensor1d([3, 0], "int32");
  assertNoLeak("rmsNorm", () => rmsNorm(x, w, 1e-6));
  assertNoLeak("rmsNorm grads", () => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(rmsNorm(a, b, 1e-6)))([x, w]));
  assertNoLeak("silu", () => silu(x));
  assertNoLeak("swiGlu", () => swiGlu(x));
  assertNoLeak("swiGlu grad", () => tf.grad((a: tf.Tensor) => tf.sum(swiGlu(a as tf.Tensor2D)))(x));
  assertNoLeak("rotateHalf", () => rotateHalf(x));
  assertNoLeak("rotateHalfMatrix", () => rotateHalfMatrix(4));
  const rows = tf.tensor1d([1, 0, 1], "int32");
  assertNoLeak("embedLookup", () => embedLookup(x, rows));
  assertNoLeak("embedLookup grad", () => tf.grad((a: tf.Tensor) => tf.sum(embedLookup(a as tf.Tensor2D, rows)))(x));
  rows.dispose();
  assertNoLeak("logProbsOfTargets", () => logProbsOfTargets(x, t));
  assertNoLeak("logProbsOfTargets grad", () => tf.grad((a: tf.Tensor) => tf.sum(logProbsOfTargets(a as tf.Tensor2D, t)))(x));
  assertNoLeak("pickByOneHot", () => pickByOneHot(x, t));
  assertNoLeak("entropyFromLogits", () => entropyFromLogits(x));
  assertNoLeak("entropyFromLogProbs", () => entropyFromLogProbs(x));
  tf.dispose([x, w, t]);
});
