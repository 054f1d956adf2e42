import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../src/core/rng";
import { PrefixCache } from "../../src/model/prefix-cache";
import { Transformer, generate, initBackend, type SampleOptions, type SampleResult } from "../../src/model";
import { LLAMA_GQA, QWEN2_TIED, perturbedModel, randomIds } from "./model-fixtures";

before(async () => {
  await initBackend({ backend: "cpu", quiet: true });
});

/** Ragged prompts over three shared prefixes (lengths 11, 17, 6), suffixes of 1-7 tokens, plus one with no prefix. */
function promptSet(seed: number): { prompts: number[][]; prefixLengths: number[] } {
  const rng = new Rng(seed);
  const prefixes = [11, 17, 6].map((n) => randomIds(rng, 1, n, 37)[0] as number[]);
  const plan: Array<[number, number]> = [[0, 3], [1, 1], [0, 7], [2, 4], [1, 5], [0, 2], [2, 1], [-1, 9]];
  const prompts = plan.map(([p, s]) => [...(p < 0 ? [] : (prefixes[p] as number[])), ...(randomIds(rng, 1, s, 37)[0] as number[])]);
  return { prompts, prefixLengths: plan.map(([p]) => (p < 0 ? 0 : (prefixes[p] as number[]).length)) };
}

function assertSame(a: SampleResult[], b: SampleResult[], label: string): void {
  assert.equal(a.length, b.length);
  a.forEach((r, i) => {
    const s = b[i] as SampleResult;
    assert.deepEqual(s.tokens, r.tokens, `${label}: row ${i} tokens`);
    assert.equal(s.finishReason, r.finishReason, `${label}: row ${i} finish`);
    for (const k of ["logprobs", "rawLogprobs"] as const) {
      r[k].forEach((x, j) => assert.ok(Math.abs(x - (s[k][j] as number)) < 1e-4, `${label}: row ${i} ${k}[${j}] ${x} vs ${s[k][j]}`));
    }
  });
}

test("generation with a prefix cache equals generation without it (ragged batches, greedy and seeded sampling, row drops, cache hits)", () => {
  for (const cfg of [LLAMA_GQA, QWEN2_TIED]) {
    const m = perturbedModel(cfg, 31);
    const { prompts, prefixLengths } = promptSet(7);
    for (const temperature of [0, 1]) {
      const base: SampleOptions = { maxNewTokens: 14, temperature, topP: 0.9, rngs: prompts.map((_, i) => new Rng(100 + i)) };
      const plain = generate(m, prompts, base);
      // A stop id that ends some rows early, so finished rows are dropped from the decoding batch mid-way.
      const stop = (plain[0] as SampleResult).tokens[2] as number;
      const opts = (): SampleOptions => ({ ...base, rngs: prompts.map((_, i) => new Rng(100 + i)), stopTokenIds: [stop] });
      const want = generate(m, prompts, opts());
      assert.ok(want.some((r) => r.finishReason === "stop") && want.some((r) => r.tokens.length > 4), "the stop id ends some rows, not all");
      const cache = new PrefixCache();
      const got = generate(m, prompts, { ...opts(), prefixCache: cache, prefixLengths });
      assertSame(want, got, `${cfg.architecture} T=${temperature} miss`);
      assert.equal(cache.size, 3);
      assert.equal(cache.stats.misses, 3);
      // Second call: every prefix comes from the cache; a subset of rows in another order still matches.
      const order = [6, 3, 0, 7, 2];
      const sub = generate(m, order.map((i) => prompts[i] as number[]), {
        ...opts(), rngs: order.map((i) => new Rng(100 + i)), prefixCache: cache, prefixLengths: order.map((i) => prefixLengths[i] as number),
      });
      assertSame(order.map((i) => want[i] as SampleResult), sub, `${cfg.architecture} T=${temperature} hit`);
      assert.equal(cache.stats.misses, 3);
      assert.equal(cache.stats.hits, 4, "one hit per row with a prefix in the second call");
      // No prefix shared within the batch: the prefixes seed a plain KvCache instead.
      const distinct = [1, 3, 7, 0];
      const flat = generate(m, distinct.map((i) => prompts[i] as number[]), {
        ...opts(), rngs: distinct.map((i) => new Rng(100 + i)), prefixCache: cache, prefixLengths: distinct.map((i) => prefixLengths[i] as number),
      });
      assertSame(distinct.map((i) => want[i] as SampleResult), flat, `${cfg.architecture} T=${temperature} seeded KvCache`);
      cache.dispose();
    }
    m.dispose();
  }
});

test("prefix cache: bounded by maxBytes (LRU), leak-free across calls and after dispose()", () => {
  const m = perturbedModel(LLAMA_GQA, 2);
  const { prompts, prefixLengths } = promptSet(3);
  const opts: SampleOptions = { maxNewTokens: 6, temperature: 0, topP: 1 };
  generate(m, prompts, opts); // lazily built model caches exist from here on
  const start = tf.memory().numTensors;
  // One 17-token prefix: 2 layers x (k, v) x 2 kv heads x 17 x 4 dims x 4 bytes = 2176 bytes.
  const small = new PrefixCache({ maxBytes: 2200 });
  const big = new PrefixCache();
  generate(m, prompts, { ...opts, prefixCache: big, prefixLengths });
  const withEntries = tf.memory().numTensors;
  assert.equal(withEntries - start, 3 * 2 * LLAMA_GQA.numLayers, "each entry holds one kT and one v tensor per layer");
  for (let i = 0; i < 3; i++) {
    generate(m, prompts, { ...opts, prefixCache: big, prefixLengths });
    generate(m, prompts, { ...opts, prefixCache: small, prefixLengths });
    assert.ok(small.bytes <= small.maxBytes && small.size < 3, `small cache holds ${small.bytes} bytes in ${small.size} entries`);
    assert.equal(tf.memory().numTensors, withEntries + small.size * 2 * LLAMA_GQA.numLayers);
  }
  assert.ok(small.stats.evictions >= 2);
  big.dispose();
  small.dispose();
  assert.equal(big.size + small.size, 0);
  assert.equal(tf.memory().numTensors, start);
  m.dispose();
});

test("prefix cache never serves keys/values of other weights: a weight update, copyWeightsFrom or another model invalidates it", () => {
  const m = perturbedModel(QWEN2_TIED, 8);
  const other = perturbedModel(QWEN2_TIED, 9);
  const { prompts, prefixLengths } = promptSet(5);
  const opts: SampleOptions = { maxNewTokens: 8, temperature: 0, topP: 1 };
  const cache = new PrefixCache();
  const run = (model: Transformer) => generate(model, prompts, { ...opts, prefixCache: cache, prefixLengths });
  const before0 = run(m);
  // An optimizer-style in-place update of one weight (Variable.assign).
  const v = m.namedVariables().get("layers.0.wqkv") as tf.Variable;
  const updated = tf.tidy(() => tf.add(v, tf.randomNormal(v.shape, 0, 0.5, "float32", 1)));
  v.assign(updated);
  updated.dispose();
  assertSame(generate(m, prompts, opts), run(m), "after assign");
  assert.equal(cache.stats.invalidations, 1);
  assert.notDeepEqual(run(m).map((r) => r.tokens), before0.map((r) => r.tokens), "the update changes the samples");
  // The frozen-copy pattern: copyWeightsFrom replaces every variable's data.
  m.copyWeightsFrom(other);
  assertSame(generate(other, prompts, opts), run(m), "after copyWeightsFrom");
  assert.equal(cache.stats.invalidations, 2);
  // A different model object with the same weights also starts afresh.
  assertSame(generate(other, prompts, opts), run(other), "other model");
  assert.equal(cache.stats.invalidations, 3);
  cache.dispose();
  m.dispose();
  other.dispose();
});
