// sampleNucleus must be a drop-in for sampler.ts's sampleFromLogits: same id, same log-probs, same Rng consumption,
// including rows with many tied logits (ids then go smallest first) and every temperature / top-p regime.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../../src/core/rng";
import { sampleFromLogits } from "../../src/model/sampler";
import { sampleNucleus } from "../../src/serve/sampling";
import { findStop, heldBackLength, topLogprobs, logSumExp } from "../../src/serve/logprobs";

test("sampleNucleus equals sampleFromLogits draw for draw", () => {
  const gen = new Rng(42);
  let checked = 0;
  for (let trial = 0; trial < 300; trial++) {
    const V = 1 + gen.int(300);
    const ties = trial % 3 === 0;
    const scale = [0.1, 1, 5, 20][trial % 4]!;
    const logits = Float32Array.from({ length: V }, () => (ties ? Math.round(gen.normal() * 2) / 2 : gen.normal() * scale));
    const temperature = [0, 0.1, 0.7, 1, 1.5][trial % 5]!;
    const topP = [0.05, 0.5, 0.9, 0.95, 1][(trial >> 1) % 5]!;
    const r1 = new Rng(trial);
    const r2 = new Rng(trial);
    for (let k = 0; k < 5; k++) {
      assert.deepEqual(sampleNucleus(logits, temperature, topP, r1), sampleFromLogits(logits, temperature, topP, r2), `trial ${trial} draw ${k}`);
      checked++;
    }
    assert.equal(r1.next(), r2.next(), "same Rng consumption");
  }
  assert.equal(checked, 1500);
});

test("top-k log-probs, stop search and streaming hold-back", () => {
  const row = Float32Array.from([0, 3, 1, 3, -2]);
  const lse = logSumExp(row);
  assert.deepEqual(topLogprobs(row, 3, lse).map((t) => t.id), [1, 3, 2]);
  assert.ok(Math.abs(topLogprobs(row, 5, lse).reduce((a, t) => a + Math.exp(t.logprob), 0) - 1) < 1e-9);
  assert.deepEqual(topLogprobs(row, 0, lse), []);
  assert.equal(findStop("abc END x", ["END", "x"], 0), 4);
  assert.equal(findStop("abc", ["END"], 0), -1);
  assert.equal(heldBackLength("hello EN", ["END"]), 2);
  assert.equal(heldBackLength("hello E", ["END", "Ex"]), 1);
  assert.equal(heldBackLength("hello", ["END"]), 0);
});
