import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../src/core/rng";
import { PrefixCache } from "../../src/model/prefix-cache";
import { SharedPrefixKv } from "../../src/model/shared-prefix-kv";
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
