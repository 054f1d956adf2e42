// sampleFromLogits's nucleus path bucket-sorts the candidate probability values and recovers the id afterwards; it must draw
// exactly what the plain definition (index sort by probability, ties smallest id first) draws: same id, same log-probs,
// same Rng consumption, including rows with many tied logits and every temperature / top-p regime.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../../src/core/rng";
import { sampleFromLogits } from "../../src/model/sampler";

/** The textbook nucleus draw, as a reference. */
function referenceDraw(logits: Float32Array, temperature: number, topP: number, rng: Rng): { id: number; logprob: number; rawLogprob: number } {
  const V = logits.length;
  let max = -Infinity;
  let arg = 0;
  for (let i = 0; i < V; i++) if ((logits[i] as number) > max) [max, arg] = [logits[i] as number, i];
  let z = 0;
  for (let i = 0; i < V; i++) z += Math.exp((logits[i] as number) - max);
  const lse = max + Math.log(z);
  if (temperature <= 0) return { id: arg, logprob: 0, rawLogprob: (logits[arg] as number) - lse };
  const probs = Array.from(logits, (x) => Math.exp((x - max) / temperature));
  const sum = probs.reduce((a, b) => a + b, 0);
  const order = probs.map((_, i) => i);
  if (topP < 1) order.sort((a, b) => (probs[b] as number) - (probs[a] as number) || a - b);
  let kept = 0;
  let acc = 0;
  if (topP < 1) {
    while (kept < V) {
      acc += probs[order[kept] as number] as number;
      kept++;
      if (acc >= topP * sum) break;
    }
  } else [kept, acc] = [V, sum];
  let u = rng.next() * acc;
  let id = order[kept - 1] as number;
  for (let k = 0; k < kept; k++) {
    u -= probs[order[k] as number] as number;
    if (u < 0) {
      id = order[k] as number;
      break;
    }
  }
  return { id, logprob: Math.log((probs[id] as number) / acc), rawLogprob: (logits[id] as number) - lse };
}

test("sampleFromLogits equals the plain nucleus definition draw for draw", () => {
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
      assert.deepEqual(sampleFromLogits(logits, temperature, topP, r1), referenceDraw(logits, temperature, topP, r2), `trial ${trial} draw ${k}`);
      checked++;
    }
    assert.equal(r1.next(), r2.next(), "same Rng consumption");
  }
  assert.equal(checked, 1500);
});

test("sampleFromLogits: vocabulary-sized rows, masked (-Infinity) entries and flat rows match the definition", () => {
  const gen = new Rng(7);
  for (let trial = 0; trial < 120; trial++) {
    const V = [1024, 1500, 64][trial % 3]!;
    const kind = trial % 4;
    const logits = Float32Array.from({ length: V }, (_, i) => {
      if (kind === 1 && i % 7 !== 3) return -Infinity; // grammar-masked row
      if (kind === 2) return Math.round(gen.normal()) * 0.25; // many ties
      if (kind === 3) return gen.normal() * 0.01; // nearly flat (untrained model): almost every id is a candidate
      return gen.normal() * 3;
    });
    const temperature = [0.7, 1, 0.1, 2][trial % 4]!;
    const topP = [0.95, 0.5, 0.99, 0.05, 0.999][trial % 5]!;
    const r1 = new Rng(1000 + trial);
    const r2 = new Rng(1000 + trial);
    for (let k = 0; k < 4; k++) assert.deepEqual(sampleFromLogits(logits, temperature, topP, r1), referenceDraw(logits, temperature, topP, r2), `trial ${trial} draw ${k}`);
    // A subarray view (generate passes rows of one downloaded batch) draws the same.
    const big = new Float32Array(V + 5);
    big.set(logits, 5);
    const r3 = new Rng(1);
    const r4 = new Rng(1);
    assert.deepEqual(sampleFromLogits(big.subarray(5), temperature, topP, r3), referenceDraw(logits, temperature, topP, r4));
  }
});

test("sampleFromLogits: clustered rows (most candidates in a few sort buckets) match the definition", () => {
  const gen = new Rng(11);
  for (let trial = 0; trial < 60; trial++) {
    const V = [1024, 700, 129][trial % 3]!;
    // A few far-apart leaders and a dense cluster: the bucket sort puts hundreds of values into one bucket.
    const logits = Float32Array.from({ length: V }, (_, i) => (i % 97 === 5 ? 4 + gen.normal() : trial % 2 === 0 ? gen.normal() * 1e-4 : Math.round(gen.normal() * 4) * 1e-3));
    const temperature = [0.7, 1, 1.3][trial % 3]!;
    const topP = [0.95, 0.999, 0.9][trial % 3]!;
    const r1 = new Rng(2000 + trial);
    const r2 = new Rng(2000 + trial);
    for (let k = 0; k < 4; k++) assert.deepEqual(sampleFromLogits(logits, temperature, topP, r1), referenceDraw(logits, temperature, topP, r2), `trial ${trial} draw ${k}`);
  }
});
