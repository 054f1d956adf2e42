import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../src/core/rng";
import { PrefixCache } from "../../src/model/prefix-cache";
import { SharedPrefixKv, planPrefillBuckets } from "../../src/model/shared-prefix-kv";
import { generate, initBackend, type SampleOptions, type SampleResult } from "../../src/model";
import { setSharedDecoderMinRows } from "../../src/model/sampler";
import { LLAMA_GQA, perturbedModel, randomIds } from "./model-fixtures";

before(async () => {
  await initBackend({ backend: "wasm", quiet: true });
});

test("wasm shared-prefix decoder (packed prefix GEMMs, in-place own keys, row-chunked prefill) equals plain generation", () => {
  const m = perturbedModel(LLAMA_GQA, 5);
  const rng = new Rng(11);
  const prefixes = [13, 21, 7].map((n) => randomIds(rng, 1, n, 37)[0] as number[]);
  // Unsorted rows (several runs per prefix), ragged suffixes, one row without a prefix.
  const plan: Array<[number, number]> = [[0, 3], [1, 1], [0, 6], [0, 2], [2, 4], [1, 5], [-1, 8], [2, 1], [1, 2]];
  const prompts = plan.map(([p, s]) => [...(p < 0 ? [] : (prefixes[p] as number[])), ...(randomIds(rng, 1, s, 37)[0] as number[])]);
  const prefixLengths = plan.map(([p]) => (p < 0 ? 0 : (prefixes[p] as number[]).length));
  const base: SampleOptions = { maxNewTokens: 40, temperature: 1, topP: 0.95 };
  const opts = (): SampleOptions => ({ ...base, rngs: prompts.map((_, i) => new Rng(50 + i)) });
  const plain = generate(m, prompts, opts());
  const stop = (plain[1] as SampleResult).tokens[3] as number;
  const want = generate(m, prompts, { ...opts(), stopTokenIds: [stop] });
  assert.ok(want.some((r) => r.finishReason === "stop") && want.some((r) => r.tokens.length > 33), "rows stop at different steps and the own-key buffers fill up");
  const check = (got: SampleResult[], label: string) =>
    got.forEach((r, i) => {
      const w = want[i] as SampleResult;
      assert.deepEqual(r.tokens, w.tokens, `${label}: row ${i}`);
      r.rawLogprobs.forEach((x, j) => assert.ok(Math.abs(x - (w.rawLogprobs[j] as number)) < 1e-4, `${label}: row ${i} logprob ${j}`));
    });
  const cache = new PrefixCache();
  const start = tf.memory().numTensors;
  check(generate(m, prompts, { ...opts(), stopTokenIds: [stop], prefixCache: cache, prefixLengths }), "batched");
  const budget = SharedPrefixKv.scoreBudget;
  SharedPrefixKv.scoreBudget = 1; // one row per prefill chunk
  try {
    check(generate(m, prompts, { ...opts(), stopTokenIds: [stop], prefixCache: cache, prefixLengths }), "row chunks");
  } finally {
    SharedPrefixKv.scoreBudget = budget;
  }
  const prev = setSharedDecoderMinRows(1);
  try {
    const one = prompts.map((p, i) => generate(m, [p], { ...base, rngs: [new Rng(50 + i)], stopTokenIds: [stop], prefixCache: cache, prefixLengths: [prefixLengths[i] as number] })[0] as SampleResult);
    check(one, "one row at a time");
  } finally {
    setSharedDecoderMinRows(prev);
  }
  assert.equal(tf.memory().numTensors, start + cache.size * 2 * LLAMA_GQA.numLayers, "only the cache entries remain");
  cache.dispose();
  m.dispose();
});

test("planPrefillBuckets: a partition of the rows by length, within the score budget, no padding when forwards are free", () => {
  const rng = new Rng(3);
  const len = Array.from({ length: 40 }, () => 1 + Math.floor(rng.next() * 60));
  const fits = (rows: number, t: number) => rows * t <= 400;
  for (const cost of [0, 24, 1e9]) {
    const buckets = planPrefillBuckets(len, fits, cost);
    assert.deepEqual(buckets.flat().sort((a, b) => a - b), len.map((_, i) => i), "every row exactly once");
    for (const b of buckets) {
      const t = Math.max(...b.map((r) => len[r] as number));
      assert.ok(b.length === 1 || fits(b.length, t), "each bucket fits");
    }
    const padded = buckets.reduce((a, b) => a + b.length * Math.max(...b.map((r) => len[r] as number)), 0);
    if (cost === 0) assert.equal(padded, len.reduce((a, b) => a + b, 0), "free forwards: no padding at all");
    if (cost === 1e9) assert.ok(buckets.length <= Math.ceil((40 * 60) / 400) + 1, "costly forwards: few buckets");
  }
  assert.deepEqual(planPrefillBuckets([5, 5, 5], () => false), [[0], [1], [2]], "nothing fits: one row per forward");
  assert.deepEqual(planPrefillBuckets([7], () => true), [[0]]);
});

test("wasm shared-prefix prefill: bucketed rows (extra left padding trimmed) and in-place decode equal each row alone", () => {
  const m = perturbedModel(LLAMA_GQA, 9);
  const rng = new Rng(21);
  const prefixes = [11, 17].map((n) => randomIds(rng, 1, n, 37)[0] as number[]);
  const cache = new PrefixCache();
  const plan: Array<[number, number]> = [[0, 2], [1, 9], [0, 5], [1, 1], [0, 9], [1, 4]];
  const suffixes = plan.map(([, n]) => randomIds(rng, 1, n, 37)[0] as number[]);
  const steps = randomIds(rng, plan.length, 6, 37);
  const entries = cache.acquire(m, prefixes);
  const start = tf.memory().numTensors; // after the first forward (which creates the model's derived weights)
  const V = LLAMA_GQA.vocabSize;
  // Batch: every row left-padded to 12 (3 columns more than the longest row: padding for every row).
  const T = 12;
  const batch = new SharedPrefixKv(m, plan.map(([p]) => entries[p] ?? null), steps[0]!.length);
  const got: Float32Array[] = [batch.extendLastLogits(m, suffixes.map((s) => [...new Array<number>(T - s.length).fill(0), ...s]), suffixes.map((s) => [...new Array<number>(T - s.length).fill(0), ...s.map(() => 1)]))];
  for (let t = 0; t < steps[0]!.length; t++) got.push(batch.extendLastLogits(m, steps.map((r) => [r[t] as number])));
  batch.dispose();
  plan.forEach(([p], i) => {
    const one = new SharedPrefixKv(m, [entries[p] ?? null], steps[0]!.length);
    const want = [one.extendLastLogits(m, [suffixes[i] as number[]])];
    for (let t = 0; t < steps[0]!.length; t++) want.push(one.extendLastLogits(m, [[steps[i]![t] as number]]));
    one.dispose();
    want.forEach((w, s) => {
      const row = (got[s] as Float32Array).subarray(i * V, (i + 1) * V);
      let d = 0;
      for (let v = 0; v < V; v++) d = Math.max(d, Math.abs((row[v] as number) - (w[v] as number)));
      assert.ok(d < 1e-4, `row ${i} step ${s}: max |diff| ${d}`);
    });
  });
  assert.equal(tf.memory().numTensors, start, "no tensors left behind");
  cache.dispose();
  m.dispose();
});

test("wasm shared-prefix decoder: dropping rows (heap copy), then decoding on, equals each row alone; extend keeps every position", () => {
  const m = perturbedModel(LLAMA_GQA, 4);
  const rng = new Rng(8);
  const prefixes = [9, 15].map((n) => randomIds(rng, 1, n, 37)[0] as number[]);
  const cache = new PrefixCache();
  const plan: Array<[number, number]> = [[0, 3], [1, 7], [0, 5], [1, 2], [0, 7]];
  const suffixes = plan.map(([, n]) => randomIds(rng, 1, n, 37)[0] as number[]);
  const steps = randomIds(rng, plan.length, 4, 37);
  const entries = cache.acquire(m, prefixes);
  const V = LLAMA_GQA.vocabSize;
  const T = 7;
  const pad = (s: number[]) => [...new Array<number>(T - s.length).fill(0), ...s];
  const padMask = (s: number[]) => [...new Array<number>(T - s.length).fill(0), ...s.map(() => 1)];
  const start = tf.memory().numTensors;
  const batch = new SharedPrefixKv(m, plan.map(([p]) => entries[p] ?? null), 4);
  assert.ok(batch.cheapSelect, "wasm: in-place own keys, rows dropped by a heap copy");
  // extend (not extendLastLogits): every position's hidden state.
  const hidden = batch.extend(m, suffixes.map(pad), suffixes.map(padMask));
  assert.deepEqual(hidden.shape, [plan.length, T, LLAMA_GQA.hiddenSize]);
  hidden.dispose();
  const kept = [4, 1, 3];
  const got: Float32Array[] = [];
  for (let t = 0; t < 4; t++) {
    if (t === 2) batch.selectRows(kept);
    const rows = t < 2 ? plan.map((_, i) => i) : kept;
    got.push(batch.extendLastLogits(m, rows.map((i) => [steps[i]![t] as number])));
  }
  batch.dispose();
  kept.forEach((i, j) => {
    const one = new SharedPrefixKv(m, [entries[plan[i]![0]] ?? null], 4);
    one.extendLastLogits(m, [suffixes[i] as number[]]);
    for (let t = 0; t < 4; t++) {
      const w = one.extendLastLogits(m, [[steps[i]![t] as number]]);
      const row = t < 2 ? (got[t] as Float32Array).subarray(i * V, (i + 1) * V) : (got[t] as Float32Array).subarray(j * V, (j + 1) * V);
      let d = 0;
      for (let v = 0; v < V; v++) d = Math.max(d, Math.abs((row[v] as number) - (w[v] as number)));
      assert.ok(d < 1e-4, `row ${i} step ${t}: max |diff| ${d}`);
    }
    one.dispose();
  });
  assert.equal(tf.memory().numTensors, start, "no tensors left behind");
  cache.dispose();
  m.dispose();
});
