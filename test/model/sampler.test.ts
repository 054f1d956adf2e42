import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { InputError } from "../../src/core/errors";
import { Rng } from "../../src/core/rng";
import { KvCache, Transformer, generate, initBackend, sampleFromLogits } from "../../src/model";
import { LLAMA_GQA, QWEN2_TIED, maxAbsDiff, perturbedModel } from "./model-fixtures";

before(async () => {
  await initBackend({ backend: "cpu", quiet: true });
});

test("KV-cache logits equal full-recompute logits over 64 decode steps (ragged, left-padded batch)", () => {
  for (const cfg of [LLAMA_GQA, QWEN2_TIED]) {
    const m = perturbedModel(cfg, 21);
    const rng = new Rng(4);
    const prompts = [[3, 8, 1, 22, 5], [9], [14, 2, 30]];
    const P = 5;
    const rows = prompts.map((p) => [...new Array(P - p.length).fill(0), ...p]);
    const mask = prompts.map((p) => [...new Array(P - p.length).fill(0), ...new Array(p.length).fill(1)]);
    const cache = new KvCache(3);
    const h0 = cache.extend(m, rows, mask);
    const cached: tf.Tensor[] = [tf.tidy(() => m.headLogits(tf.reshape(h0, [3 * P, 16]) as tf.Tensor2D))];
    h0.dispose();
    for (let s = 0; s < 64; s++) {
      const next = rows.map(() => 1 + rng.int(36));
      rows.forEach((r, b) => r.push(next[b] as number));
      mask.forEach((r) => r.push(1));
      const h = cache.extend(m, next.map((t) => [t]));
      cached.push(tf.tidy(() => m.headLogits(tf.reshape(h, [3, 16]) as tf.Tensor2D)));
      h.dispose();
    }
    assert.equal(cache.length, P + 64);
    assert.deepEqual(cache.positions(), [69, 65, 67]);
    // Full recomputation over the final sequences; compare every position the cache produced.
    const full = m.logits(rows, mask);
    const first = tf.reshape(tf.slice(full, [0, 0, 0], [3, P, 37]), [3 * P, 37]);
    let worst = maxAbsDiff(first, cached[0] as tf.Tensor);
    for (let s = 0; s < 64; s++) {
      const col = tf.reshape(tf.slice(full, [0, P + s, 0], [3, 1, 37]), [3, 37]);
      worst = Math.max(worst, maxAbsDiff(col, cached[s + 1] as tf.Tensor));
      col.dispose();
    }
    assert.ok(worst < 1e-4, `max diff ${worst}`);
    tf.dispose([full, first, ...cached]);
    cache.dispose();
    m.dispose();
  }
});

test("same seed gives identical samples, a different seed differs, temperature 0 is deterministic", () => {
  const m = perturbedModel(LLAMA_GQA, 5);
  const prompts = [[1, 2, 3], [4, 5], [6]];
  const opts = { maxNewTokens: 12, temperature: 1.0, topP: 0.95 };
  const a = generate(m, prompts, { ...opts, rng: new Rng(1) });
  const b = generate(m, prompts, { ...opts, rng: new Rng(1) });
  const c = generate(m, prompts, { ...opts, rng: new Rng(2) });
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.map((r) => r.tokens), c.map((r) => r.tokens));
  for (const r of a) {
    assert.equal(r.tokens.length, 12);
    assert.equal(r.finishReason, "length");
    assert.equal(r.logprobs.length, 12);
    assert.ok(r.logprobs.every((x) => x <= 0 && Number.isFinite(x)));
    assert.ok(r.rawLogprobs.every((x) => x <= 0 && Number.isFinite(x)));
  }
  const g1 = generate(m, prompts, { maxNewTokens: 10, temperature: 0, topP: 1 });
  const g2 = generate(m, prompts, { maxNewTokens: 10, temperature: 0, topP: 1, rng: new Rng(77) });
  assert.deepEqual(g1, g2);
  assert.ok(g1.every((r) => r.logprobs.every((x) => x === 0)));
  m.dispose();
});

test("explicit per-row rngs make a row independent of the rest of the batch", () => {
  const m = perturbedModel(QWEN2_TIED, 8);
  const opts = { maxNewTokens: 8, temperature: 0.8, topP: 1 };
  const batch = generate(m, [[1, 2, 3, 4], [5, 6]], { ...opts, rngs: [new Rng(10), new Rng(11)] });
  const alone = generate(m, [[5, 6]], { ...opts, rngs: [new Rng(11)] });
  assert.deepEqual(batch[1]!.tokens, alone[0]!.tokens);
  m.dispose();
});

test("greedy ragged batch equals each prompt generated alone; no-cache decoding gives the same tokens", () => {
  const m = perturbedModel(LLAMA_GQA, 12);
  const prompts = [[7, 3, 9, 9, 1, 2], [5], [30, 31, 2]];
  const opts = { maxNewTokens: 16, temperature: 0, topP: 1 };
  const batch = generate(m, prompts, opts);
  prompts.forEach((p, i) => {
    const alone = generate(m, [p], opts)[0]!;
    assert.deepEqual(batch[i]!.tokens, alone.tokens, `row ${i}`);
    assert.ok(maxAbsDiff(batch[i]!.rawLogprobs, alone.rawLogprobs) < 1e-5);
  });
  const noCache = generate(m, prompts, { ...opts, useKvCache: false });
  assert.deepEqual(noCache.map((r) => r.tokens), batch.map((r) => r.tokens));
  // Rows that stop early are dropped from the decoding batch; the others continue unchanged.
  const stop = batch[1]!.tokens[2]!;
  const withStop = generate(m, [...prompts, [8, 8]], { ...opts, stopTokenIds: [stop] });
  [...prompts, [8, 8]].forEach((p, i) => {
    const alone = generate(m, [p], { ...opts, stopTokenIds: [stop] })[0]!;
    assert.deepEqual(withStop[i]!.tokens, alone.tokens, `row ${i} with stop`);
    assert.equal(withStop[i]!.finishReason, alone.finishReason);
  });
  assert.ok(withStop.some((r) => r.finishReason === "stop") && withStop.some((r) => r.tokens.length === 16));
  m.dispose();
});

test("KvCache.selectRows keeps the chosen rows' state exactly", () => {
  const m = perturbedModel(QWEN2_TIED, 14);
  const rows = [[1, 2, 3], [0, 4, 5], [6, 7, 8]];
  const mask = [[1, 1, 1], [0, 1, 1], [1, 1, 1]];
  const all = new KvCache(3);
  all.extend(m, rows, mask).dispose();
  const full = all.extendLastLogits(m, [[9], [10], [11]]);
  const sub = new KvCache(3);
  sub.extend(m, rows, mask).dispose();
  sub.selectRows([2, 1]);
  assert.equal(sub.batch, 2);
  assert.deepEqual(sub.positions(), [3, 2]);
  const part = sub.extendLastLogits(m, [[11], [10]]);
  assert.ok(maxAbsDiff(part.subarray(0, 37), full.subarray(74, 111)) < 1e-5);
  assert.ok(maxAbsDiff(part.subarray(37, 74), full.subarray(37, 74)) < 1e-5);
  assert.throws(() => sub.selectRows([2]), InputError);
  all.dispose();
  sub.dispose();
  m.dispose();
});

test("stop tokens and stop sequences end a row and are kept in tokens", () => {
  const m = perturbedModel(LLAMA_GQA, 13);
  const opts = { maxNewTokens: 20, temperature: 0, topP: 1 };
  const free = generate(m, [[1, 2, 3]], opts)[0]!.tokens;
  const stopAt = 4;
  const tok = generate(m, [[1, 2, 3]], { ...opts, stopTokenIds: [free[stopAt]!] })[0]!;
  const firstIdx = free.indexOf(free[stopAt]!);
  assert.deepEqual(tok.tokens, free.slice(0, firstIdx + 1));
  assert.equal(tok.finishReason, "stop");
  assert.deepEqual(tok.stoppedBy, [free[stopAt]]);
  const seq = free.slice(5, 7);
  const bySeq = generate(m, [[1, 2, 3]], { ...opts, stopSequences: [[999, 998], seq] })[0]!;
  let end = -1;
  for (let i = 1; i < free.length; i++) if (free[i - 1] === seq[0] && free[i] === seq[1]) { end = i; break; }
  assert.deepEqual(bySeq.tokens, free.slice(0, end + 1));
  assert.deepEqual(bySeq.stoppedBy, seq);
  assert.equal(bySeq.logprobs.length, bySeq.tokens.length);
  // maxSeqLen bounds a row: prompt 125 + 3 new = 128.
  const long = generate(m, [new Array(125).fill(2)], { ...opts, maxNewTokens: 10 })[0]!;
  assert.equal(long.tokens.length, 3);
  assert.equal(long.finishReason, "length");
  m.dispose();
});

test("sampleFromLogits: greedy, temperature, nucleus filtering and both log-probs are exact", () => {
  const logits = Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)]);
  const g = sampleFromLogits(logits, 0, 1, new Rng(1));
  assert.equal(g.id, 0);
  assert.ok(Math.abs(g.rawLogprob - Math.log(0.5)) < 1e-6);
  // top-p 0.7: nucleus {0, 1} (0.5 + 0.3 >= 0.7) renormalised to 0.625 / 0.375.
  const counts = [0, 0, 0, 0];
  const rng = new Rng(3);
  for (let i = 0; i < 4000; i++) {
    const s = sampleFromLogits(logits, 1, 0.7, rng);
    counts[s.id]!++;
    const expected = s.id === 0 ? Math.log(0.625) : Math.log(0.375);
    assert.ok(Math.abs(s.logprob - expected) < 1e-6);
    assert.ok(Math.abs(s.rawLogprob - Math.log([0.5, 0.3, 0.15, 0.05][s.id]!)) < 1e-6);
  }
  assert.equal(counts[2]! + counts[3]!, 0);
  assert.ok(Math.abs(counts[0]! / 4000 - 0.625) < 0.03);
  // temperature 2 flattens: p ~ sqrt(p0).
  const s2 = sampleFromLogits(logits, 2, 1, new Rng(5));
  const z = [0.5, 0.3, 0.15, 0.05].map(Math.sqrt).reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(s2.logprob - Math.log(Math.sqrt([0.5, 0.3, 0.15, 0.05][s2.id]!) / z)) < 1e-6);
});

test("bad options are InputErrors naming the field; generate leaves no tensors", () => {
  const m = new Transformer(LLAMA_GQA, 1);
  assert.throws(() => generate(m, [[]], { maxNewTokens: 1, temperature: 0, topP: 1 }), (e: unknown) => e instanceof InputError && e.field === "prompts.0");
  assert.throws(() => generate(m, [[40]], { maxNewTokens: 1, temperature: 0, topP: 1 }), /out of range/);
  assert.throws(() => generate(m, [[1]], { maxNewTokens: 1, temperature: 1, topP: 1 }), (e: unknown) => e instanceof InputError && e.field === "rng");
  assert.throws(() => generate(m, [[1]], { maxNewTokens: 1, temperature: 1, topP: 0, rng: new Rng(1) }), (e: unknown) => e instanceof InputError && e.field === "topP");
  generate(m, [[1]], { maxNewTokens: 1, temperature: 0, topP: 1 }); // fills the model's derived-weight cache
  const before = tf.memory().numTensors;
  generate(m, [[1, 2], [3]], { maxNewTokens: 5, temperature: 1, topP: 0.9, rng: new Rng(1) });
  generate(m, [[1, 2], [3]], { maxNewTokens: 5, temperature: 1, topP: 0.9, rng: new Rng(1), useKvCache: false });
  const c = new KvCache(1);
  c.extend(m, [[1, 2, 3]]).dispose();
  c.extendLastLogits(m, [[4]]);
  c.dispose();
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(generate(m, [[1]], { maxNewTokens: 0, temperature: 0, topP: 1 }), [{ tokens: [], logprobs: [], rawLogprobs: [], finishReason: "length" }]);
  m.dispose();
});
