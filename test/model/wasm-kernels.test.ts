import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../src/core/rng";
import { KvCache, Transformer, generate, initBackend, microModelConfig, wasmKernelsInstalled } from "../../src/model";
import { LLAMA_GQA, QWEN2_TIED, maxAbsDiff, perturbedModel } from "./model-fixtures";

before(async () => {
  const info = await initBackend({ backend: "wasm", quiet: true });
  assert.equal(info.backend, "wasm");
  assert.equal(info.patchedKernels, true);
  assert.ok(wasmKernelsInstalled());
});

/** Runs f on the cpu backend and on wasm; returns both results as plain arrays. */
async function onBoth(f: () => tf.Tensor | tf.Tensor[]): Promise<[Float32Array[], Float32Array[]]> {
  const run = () => {
    const out = f();
    const list = Array.isArray(out) ? out : [out];
    const data = list.map((t) => Float32Array.from(t.dataSync()));
    tf.dispose(list);
    return data;
  };
  await tf.setBackend("cpu");
  const cpu = run();
  await tf.setBackend("wasm");
  return [cpu, run()];
}

function seeded(shape: number[], seed: number): tf.Tensor {
  const r = new Rng(seed);
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r.normal()), shape);
}

test("patched Slice/Unpack/split copy exactly the requested box (contiguous and strided, ranks 1-4)", async () => {
  const cases: Array<[number[], number[], number[]]> = [
    [[10], [3], [4]],
    [[6, 8], [2, 0], [3, 8]],
    [[6, 8], [1, 3], [4, 2]],
    [[3, 5, 7], [1, 2, 0], [2, 3, 7]],
    [[3, 5, 7], [0, 1, 2], [3, 3, 4]],
    [[2, 3, 4, 5], [1, 0, 1, 1], [1, 3, 2, 4]],
    [[2, 3, 4, 5], [0, 1, 0, 0], [2, 2, 4, 5]],
  ];
  for (const [shape, begin, size] of cases) {
    const [cpu, wasm] = await onBoth(() => tf.tidy(() => tf.slice(seeded(shape, 1), begin, size)));
    assert.deepEqual(wasm, cpu, `slice ${shape} ${begin} ${size}`);
  }
  const [cpu, wasm] = await onBoth(() => tf.tidy(() => [...tf.unstack(seeded([3, 4, 5], 2), 1), ...tf.split(seeded([4, 6], 3), [2, 4], 1)]));
  assert.deepEqual(wasm, cpu);
  const i32 = tf.tensor2d([[1, 2, 3], [4, 5, 6]], undefined, "int32");
  assert.deepEqual(tf.slice(i32, [0, 1], [2, 2]).arraySync(), [[2, 3], [5, 6]]);
  i32.dispose();
});

test("patched BatchMatMul equals cpu for transposes and batch broadcasting", async () => {
  const cases: Array<[number[], number[], boolean, boolean]> = [
    [[5, 7], [7, 3], false, false],
    [[7, 5], [7, 3], true, false],
    [[5, 7], [3, 7], false, true],
    [[7, 5], [3, 7], true, true],
    [[4, 5, 7], [4, 7, 3], false, false],
    [[4, 5, 7], [4, 3, 7], false, true],
    [[4, 7, 5], [4, 7, 3], true, false],
    [[4, 5, 7], [1, 7, 3], false, false],
    [[1, 5, 7], [4, 7, 3], false, false],
    [[2, 3, 5, 7], [2, 3, 3, 7], false, true],
    [[4, 5, 7], [7, 3], false, false],
    // transposed A with N > M: computed as (B^T A)^T
    [[7, 3], [7, 5], true, false],
    [[4, 7, 3], [4, 7, 5], true, false],
    [[1, 7, 3], [4, 7, 5], true, false],
    [[4, 7, 3], [7, 5], true, false],
    // 1024-row operands: transposes go through the two-stage path
    [[1024, 24], [1024, 16], true, false],
    [[1024, 16], [1024, 40], true, false],
    [[2, 1024, 16], [2, 1024, 24], true, false],
  ];
  for (const [sa, sb, ta, tb] of cases) {
    const [cpu, wasm] = await onBoth(() =>
      tf.tidy(() => tf.matMul(seeded(sa, 4) as tf.Tensor3D, seeded(sb, 5) as tf.Tensor3D, ta, tb)),
    );
    // float32 sums over K terms of unit normals: allow ~1e-6 * K (exact layout bugs give O(1) differences)
    const k = ta ? (sa[sa.length - 2] as number) : (sa[sa.length - 1] as number);
    const diff = maxAbsDiff(wasm[0]!, cpu[0]!);
    assert.ok(diff < Math.max(1e-4, 1e-6 * k), `matMul ${sa} ${sb} ${ta} ${tb}: ${diff}`);
  }
});

test("patched Transpose (two-stage for 512k-row matrices) and GatherV2 (axis-0 row copies) equal cpu", async () => {
  const cases: Array<[number[], number[]]> = [
    [[1024, 24], [1, 0]],
    [[512, 64], [1, 0]],
    [[3, 1024, 16], [0, 2, 1]],
    [[2, 2, 512, 32], [0, 1, 3, 2]],
    [[100, 24], [1, 0]],
    [[8, 16, 4, 8], [0, 2, 1, 3]],
  ];
  for (const [shape, perm] of cases) {
    const [cpu, wasm] = await onBoth(() => tf.tidy(() => tf.transpose(seeded(shape, 9), perm)));
    assert.deepEqual(wasm, cpu, `transpose ${shape} ${perm}`);
  }
  const [cpuI, wasmI] = await onBoth(() => tf.tidy(() => tf.transpose(tf.cast(tf.mul(seeded([1024, 16], 10), 100), "int32"), [1, 0])));
  assert.deepEqual(wasmI, cpuI);
  const [cpuG, wasmG] = await onBoth(() =>
    tf.tidy(() => {
      const table = seeded([50, 3, 4], 11);
      const ids = tf.tensor2d([[0, 49, 7], [7, 7, 1]], [2, 3], "int32");
      return [tf.gather(table, ids), tf.gather(table, tf.tensor1d([2, 0], "int32"), 1), tf.gather(tf.tensor1d([5, 6, 7], "int32"), tf.tensor1d([2, 2, 0], "int32"))];
    }),
  );
  assert.deepEqual(wasmG, cpuG);
  const before = tf.memory().numTensors;
  const table = tf.zeros([4, 2]);
  const bad = tf.tensor1d([1, 4], "int32");
  assert.throws(() => tf.gather(table, bad), /index value 4/);
  tf.dispose([table, bad]);
  assert.equal(tf.memory().numTensors, before);
});

test("gather gradient works on wasm (JS UnsortedSegmentSum); shared Identity survives disposal of its source", async () => {
  const [cpu, wasm] = await onBoth(() => {
    const table = seeded([6, 3], 7);
    const ids = tf.tensor1d([0, 2, 2, 5, 1], "int32");
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, ids), seeded([5, 3], 8))))(table);
    tf.dispose([table, ids]);
    return g;
  });
  assert.ok(maxAbsDiff(wasm[0]!, cpu[0]!) < 1e-6);
  const before = tf.memory().numTensors;
  const x = tf.tensor1d([1, 2, 3]);
  const y = tf.clone(x);
  x.dispose();
  assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3]);
  y.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test("on wasm: fast path equals reference, KV cache equals recompute, sampling is reproducible", () => {
  for (const cfg of [LLAMA_GQA, QWEN2_TIED]) {
    const m = perturbedModel(cfg, 31);
    const ids = [[3, 4, 5, 6, 7, 8], [0, 0, 9, 10, 11, 12]];
    const mask = [[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]];
    const a = m.logits(ids, mask);
    m.impl = "reference";
    const b = m.logits(ids, mask);
    m.impl = "fast";
    assert.ok(maxAbsDiff(a, b) < 1e-5);
    const cache = new KvCache(2);
    const h1 = cache.extend(m, ids.map((r) => r.slice(0, 4)), mask.map((r) => r.slice(0, 4)));
    const h2 = cache.extend(m, ids.map((r) => r.slice(4)));
    const viaCache = tf.tidy(() => tf.concat([tf.reshape(m.headLogits(tf.reshape(h1, [8, 16]) as tf.Tensor2D), [2, 4, 37]), tf.reshape(m.headLogits(tf.reshape(h2, [4, 16]) as tf.Tensor2D), [2, 2, 37])], 1));
    assert.ok(maxAbsDiff(a, viaCache) < 1e-4);
    tf.dispose([a, b, h1, h2, viaCache]);
    cache.dispose();
    const opts = { maxNewTokens: 10, temperature: 0.9, topP: 0.9 };
    assert.deepEqual(generate(m, [[1, 2], [3]], { ...opts, rng: new Rng(3) }), generate(m, [[1, 2], [3]], { ...opts, rng: new Rng(3) }));
    m.dispose();
  }
});

test("a micro model overfits a 200-token text to loss < 0.05 (Adam, wasm)", () => {
  const text = "the quick brown fox jumps over the lazy dog; a negotiation ends when both sides agree. ".repeat(3).slice(0, 201);
  const chars = [...new Set(text)].sort();
  const ids = [...text].map((ch) => chars.indexOf(ch));
  assert.equal(ids.length, 201); // 200 next-token targets
  const m = new Transformer(microModelConfig(chars.length, { hiddenSize: 32, intermediateSize: 64, maxSeqLen: 256 }), 1);
  const x = tf.tensor2d([ids], undefined, "int32") as tf.Tensor2D;
  const opt = tf.train.adam(1e-2);
  let loss = Infinity;
  let steps = 0;
  const start = tf.memory().numTensors;
  for (; steps < 400 && loss >= 0.05; steps++) {
    const l = opt.minimize(() => tf.neg(tf.mean(m.tokenLogProbs(x))) as tf.Scalar, true, m.trainableVariables()) as tf.Scalar;
    loss = l.dataSync()[0] as number;
    l.dispose();
    if (steps === 1) assert.ok(tf.memory().numTensors >= start);
  }
  assert.ok(loss < 0.05, `loss ${loss} after ${steps} steps`);
  const afterTraining = tf.memory().numTensors;
  const l = opt.minimize(() => tf.neg(tf.mean(m.tokenLogProbs(x))) as tf.Scalar, true, m.trainableVariables()) as tf.Scalar;
  l.dispose();
  assert.equal(tf.memory().numTensors, afterTraining, "a training step leaks tensors");
  // Greedy decoding now reproduces the text from its first 10 characters.
  const out = generate(m, [ids.slice(0, 10)], { maxNewTokens: 40, temperature: 0, topP: 1 })[0]!;
  assert.deepEqual(out.tokens, ids.slice(10, 50));
  x.dispose();
  opt.dispose();
  m.dispose();
});
