import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../src/core/rng";
import { generate, initBackend, microModelConfig, type SampleOptions } from "../../src/model";
import { joinScores, ownAttentionAvailable, ownOutput, ownScores, writeOwnColumn } from "../../src/model/own-attention";
import { writeColumn } from "../../src/model/wasm-heap";
import { PrefixCache } from "../../src/model/prefix-cache";
import { SharedPrefixKv } from "../../src/model/shared-prefix-kv";
import { LLAMA_GQA, perturbedModel, randomIds } from "./model-fixtures";

before(async () => {
  await initBackend({ backend: "wasm", quiet: true });
  assert.ok(ownAttentionAvailable(), "wasm SIMD kernels over the backend's heap");
});

function seeded(shape: number[], r: Rng): tf.Tensor {
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => r.normal()), shape);
}

/** Bit-level equality of two float arrays (NaN never occurs here; -0 and 0 compare equal as in the tf ops' outputs). */
function sameBits(a: ArrayLike<number>, b: ArrayLike<number>, label: string): void {
  assert.equal(a.length, b.length, `${label}: length`);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) assert.fail(`${label}: element ${i}: ${a[i]} vs ${b[i]}`);
}

test("own-key kernels equal the tf ops they replace, bit for bit (head dims 4-32, ragged widths, unwritten columns)", () => {
  const r = new Rng(3);
  // [KV, B, G, hd, Pm, C, S]: S < C leaves zero columns the kernels skip; widths not multiples of 4 or 8.
  const cases: number[][] = [[2, 5, 2, 32, 13, 11, 7], [2, 9, 2, 32, 37, 40, 40], [1, 3, 3, 8, 4, 9, 9], [2, 4, 1, 4, 0, 6, 1], [2, 6, 2, 4, 5, 17, 13], [1, 2, 4, 16, 3, 12, 8]];
  for (const [KV, B, G, hd, Pm, C, S] of cases as Array<[number, number, number, number, number, number, number]>) {
    const label = `KV ${KV} B ${B} G ${G} hd ${hd} Pm ${Pm} C ${C} S ${S}`;
    const start = tf.memory().numTensors;
    tf.tidy(() => {
      const written = tf.tensor4d(Array.from({ length: C }, (_, s) => (s < S ? 1 : 0)), [1, 1, 1, C]);
      const q = seeded([KV, B, G, hd], r);
      const kT = tf.mul(seeded([KV, B, hd, C], r), written) as tf.Tensor4D;
      const v = tf.mul(seeded([KV, B, C, hd], r), tf.reshape(written, [1, 1, C, 1])) as tf.Tensor4D;
      const pre = seeded([KV * B * G, Pm], r);
      const mask = tf.tensor4d(Array.from({ length: B * G * (Pm + C) }, () => (r.next() < 0.3 ? -1e9 : 0)), [1, B, G, Pm + C]);
      // The decoder's tf ops (broadcast multiply + sum, concat, mask add).
      const sOwn = tf.sum(tf.mul(tf.reshape(q, [KV, B, G, hd, 1]), tf.reshape(kT, [KV, B, 1, hd, C])), 3);
      const want = tf.add(tf.concat([tf.reshape(pre, [KV, B, G, Pm]), sOwn], 3), mask);
      const got = ownScores(q, kT, pre, mask, S);
      assert.deepEqual(got.shape, [KV, B, G, Pm + C]);
      sameBits(got.dataSync(), want.dataSync(), `${label} scores`);
      const probs = tf.softmax(got) as tf.Tensor4D;
      const aPre = seeded([KV * B * G, hd], r);
      const pOwn = tf.slice(probs, [0, 0, 0, Pm], [KV, B, G, C]);
      const aOwn = tf.sum(tf.mul(tf.reshape(pOwn, [KV, B, G, C, 1]), tf.reshape(v, [KV, B, 1, C, hd])), 3);
      const wantOut = tf.transpose(tf.add(tf.reshape(aPre, [KV, B, G, hd]), aOwn), [1, 0, 2, 3]);
      const out = ownOutput(probs, v, aPre, S);
      assert.deepEqual(out.shape, [B, KV * G, 1, hd]);
      sameBits(out.dataSync(), wantOut.dataSync(), `${label} output`);
    });
    assert.equal(tf.memory().numTensors, start, `${label}: no tensors left`);
  }
});

test("joinScores (T > 1: concat + mask in one pass) and writeOwnColumn equal the tf ops / heap copies they replace", () => {
  const r = new Rng(8);
  for (const [KV, B, GT, Pm, S] of [[2, 5, 6, 13, 7], [1, 3, 4, 0, 5], [2, 7, 10, 33, 1], [2, 2, 3, 9, 16]] as Array<[number, number, number, number, number]>) {
    tf.tidy(() => {
      const pre = seeded([KV * B * GT, Pm], r);
      const own = seeded([KV, B, GT, S], r) as tf.Tensor4D;
      const mask = tf.tensor4d(Array.from({ length: B * GT * (Pm + S) }, () => (r.next() < 0.4 ? -1e9 : 0)), [1, B, GT, Pm + S]);
      const want = tf.add(tf.concat([tf.reshape(pre, [KV, B, GT, Pm]), own], 3), mask);
      sameBits(joinScores(pre, own, mask).dataSync(), want.dataSync(), `join KV ${KV} B ${B} GT ${GT} Pm ${Pm} S ${S}`);
    });
  }
  for (const [B, KV, hd, C, col] of [[5, 2, 32, 11, 4], [1, 1, 4, 3, 2], [7, 2, 8, 40, 0]] as Array<[number, number, number, number, number]>) {
    const k = seeded([B, KV, 1, hd], r) as tf.Tensor4D;
    const v = seeded([B, KV, 1, hd], r) as tf.Tensor4D;
    const bufs = () => [seeded([KV, B, hd, C], new Rng(C)) as tf.Tensor4D, seeded([KV, B, C, hd], new Rng(C + 1)) as tf.Tensor4D];
    const [kA, vA] = bufs() as [tf.Tensor4D, tf.Tensor4D];
    const [kB, vB] = bufs() as [tf.Tensor4D, tf.Tensor4D];
    writeColumn(k, v, kA, vA, col);
    writeOwnColumn(k, v, kB, vB, col);
    sameBits(kB.dataSync(), kA.dataSync(), `writeOwnColumn keys B ${B}`);
    sameBits(vB.dataSync(), vA.dataSync(), `writeOwnColumn values B ${B}`);
    tf.dispose([k, v, kA, vA, kB, vB]);
  }
});

test("shared-prefix generation with the own-key kernels equals it with tf ops: same tokens, bit-identical log-probs", () => {
  const configs = [LLAMA_GQA, microModelConfig(37, { hiddenSize: 64, numHeads: 4, numKvHeads: 2, tieEmbeddings: false })];
  for (const [c, cfg] of configs.entries()) {
    const m = perturbedModel(cfg, 30 + c);
    const rng = new Rng(40 + c);
    const prefixes = [19, 12].map((n) => randomIds(rng, 1, n, 37)[0] as number[]);
    const plan: Array<[number, number]> = [[0, 3], [1, 6], [0, 1], [1, 2], [0, 5], [-1, 4], [1, 1]];
    const prompts = plan.map(([p, s]) => [...(p < 0 ? [] : (prefixes[p] as number[])), ...(randomIds(rng, 1, s, 37)[0] as number[])]);
    const prefixLengths = plan.map(([p]) => (p < 0 ? 0 : (prefixes[p] as number[]).length));
    const cache = new PrefixCache();
    // 40 tokens: the own-key buffers (32 spare columns) fill up and are rebuilt mid-generation; a stop token ends rows early.
    const run = (kernels: boolean) => {
      const prev = SharedPrefixKv.ownKernels;
      SharedPrefixKv.ownKernels = kernels;
      try {
        const opts: SampleOptions = { maxNewTokens: 40, temperature: 0.8, topP: 0.9, rngs: prompts.map((_, i) => new Rng(70 + i)), stopTokenIds: [5], prefixCache: cache, prefixLengths };
        return generate(m, prompts, opts);
      } finally {
        SharedPrefixKv.ownKernels = prev;
      }
    };
    const want = run(false);
    const got = run(true);
    assert.ok(want.some((x) => x.tokens.length > 33), "some row outgrows the first own-key capacity");
    got.forEach((x, i) => {
      const w = want[i]!;
      assert.deepEqual(x.tokens, w.tokens, `config ${c} row ${i} tokens`);
      assert.deepEqual(x.logprobs, w.logprobs, `config ${c} row ${i} logprobs`);
      assert.deepEqual(x.rawLogprobs, w.rawLogprobs, `config ${c} row ${i} raw logprobs`);
    });
    cache.dispose();
    m.dispose();
  }
});
