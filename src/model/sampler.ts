// Batched autoregressive sampling (temperature, top-p, stop tokens/sequences) in JS over downloaded logits.
// Nucleus sampling per Holtzman et al. 2020; ragged prompts are left-padded with per-row rotary positions.
import { InputError } from "../core/errors";
import { Rng, deriveSeed } from "../core/rng";
import type { TokenConstraint } from "./constraint";
import { ExpKernel } from "./fast-exp";
import { KvCache, lastLogits } from "./kv-cache";
import { PrefixCache } from "./prefix-cache";
import { SharedPrefixKv } from "./shared-prefix-kv";
import { positionsFromMask } from "./ops";
import { Transformer } from "./transformer";
import * as tf from "@tensorflow/tfjs";

export interface SampleOptions {
  /** Upper bound on sampled tokens per row. */
  maxNewTokens: number;
  /** 0 = greedy (argmax, deterministic); otherwise logits are divided by it. */
  temperature: number;
  /** Nucleus mass in (0, 1]; 1 disables top-p. */
  topP: number;
  /**
   * Source of randomness: row i uses an Rng derived from (one draw of rng, i), so rng advances by one draw per
   * call. Give `rngs` instead to fix each row's stream yourself (then a row's output does not depend on the batch).
   */
  rng?: Rng;
  /** One Rng per prompt (overrides rng). */
  rngs?: Rng[];
  /** A sampled id in this list ends its row (the id is kept in tokens). */
  stopTokenIds?: number[];
  /** A row whose sampled tokens end with one of these id sequences stops (the sequence is kept in tokens). */
  stopSequences?: number[][];
  /** Default true; false recomputes the whole prefix each step (for benchmarks and tests). */
  useKvCache?: boolean;
  /**
   * Shared-prefix reuse: the first prefixLengths[i] tokens of prompt i (0 = none; at most length - 1) are taken
   * from / added to this cache and only the rest is prefilled; decoding attends to each distinct prefix once per
   * batch (SharedPrefixKv). Same results up to float rounding. Needs useKvCache.
   */
  prefixCache?: PrefixCache;
  prefixLengths?: number[];
  /**
   * Per-prompt grammar constraints (constraint.ts), null/undefined = free. A constrained row only samples tokens its
   * constraint allows; its logprobs are those of the constrained distribution, its rawLogprobs stay the model's own.
   */
  constraints?: ReadonlyArray<TokenConstraint | null | undefined>;
}

export interface SampleResult {
  /** Sampled ids, in order, including a final stop token or stop sequence when finishReason is "stop". */
  tokens: number[];
  /** log-prob of each sampled token under the sampling distribution (after temperature, top-p and any constraint); 0 when greedy. */
  logprobs: number[];
  /** log-prob of each sampled token under the model's untempered, unconstrained distribution (GRPO's old-policy log-probs). */
  rawLogprobs: number[];
  finishReason: "stop" | "length";
  /** The stop token ([id]) or stop sequence that ended the row, when finishReason is "stop". */
  stoppedBy?: number[];
}

/** One draw from a logits row; exported for tests. Returns the id and both log-probs. */
export function sampleFromLogits(
  logits: Float32Array,
  temperature: number,
  topP: number,
  rng: Rng,
): { id: number; logprob: number; rawLogprob: number } {
  const V = logits.length;
  let max = -Infinity;
  let arg = 0;
  for (let i = 0; i < V; i++) {
    const x = logits[i] as number;
    if (x > max) {
      max = x;
      arg = i;
    }
  }
  // The exp passes run in wasm SIMD where available (fast-exp.ts: bit-identical to Math.exp, sums in index order).
  const ek = expKernel();
  let z = 0;
  if (ek !== null) {
    ek.load(logits);
    z = ek.pass(max, 1);
  } else {
    for (let i = 0; i < V; i++) z += Math.exp((logits[i] as number) - max);
  }
  const lse = max + Math.log(z);
  if (temperature <= 0) return { id: arg, logprob: 0, rawLogprob: (logits[arg] as number) - lse };
  let probs: Float64Array;
  let sum = 0;
  if (ek !== null) {
    sum = ek.pass(max, temperature);
    probs = ek.out;
  } else {
    probs = scratch.probs.length >= V ? scratch.probs : (scratch.probs = new Float64Array(V));
    for (let i = 0; i < V; i++) {
      const p = Math.exp(((logits[i] as number) - max) / temperature);
      probs[i] = p;
      sum += p;
    }
  }
  let id = V - 1;
  let mass: number;
  if (topP < 1) {
    // Nucleus: the kept mass and the walk depend only on the probability values in descending order. Only the top
    // ones can be kept, so those are sorted (nucleusCandidates); the id is recovered at the end, taking smaller ids
    // first among equal probabilities.
    const desc = nucleusCandidates(probs, V, sum, topP);
    const n = desc.length;
    let kept = 0;
    let acc = 0;
    while (kept < n) {
      acc += desc[kept] as number;
      kept++;
      if (acc >= topP * sum) break;
    }
    let u = rng.next() * acc;
    let pos = kept - 1;
    for (let k = 0; k < kept; k++) {
      u -= desc[k] as number;
      if (u < 0) {
        pos = k;
        break;
      }
    }
    const value = desc[pos] as number;
    let first = pos;
    while (first > 0 && desc[first - 1] === value) first--;
    let rank = pos - first;
    for (let i = 0; i < V; i++) {
      if (probs[i] === value && rank-- === 0) {
        id = i;
        break;
      }
    }
    mass = acc;
  } else {
    let u = rng.next() * sum;
    for (let i = 0; i < V; i++) {
      u -= probs[i] as number;
      if (u < 0) {
        id = i;
        break;
      }
    }
    mass = sum;
  }
  return { id, logprob: Math.log((probs[id] as number) / mass), rawLogprob: (logits[id] as number) - lse };
}

let exp: ExpKernel | null | undefined;
function expKernel(): ExpKernel | null {
  if (exp === undefined) exp = ExpKernel.create();
  return exp;
}

/** Reused buffers of sampleFromLogits (synchronous, so one set suffices). */
const scratch = { probs: new Float64Array(0), vals: new Float64Array(0), desc: new Float64Array(0), bucket: new Int32Array(0), count: new Int32Array(0) };

/**
 * The probabilities that can be in the nucleus, in descending order: at least every value the full descending walk
 * visits before its mass reaches topP * sum, as a prefix of the fully sorted values (so walking it is exactly walking
 * those). Candidates are the values >= (1 - topP) * sum / V (the others hold less than (1 - topP) * sum together),
 * sorted by value (sortDescending); if the candidates' mass falls short by float rounding, every value is sorted.
 */
function nucleusCandidates(probs: Float64Array, V: number, sum: number, topP: number): Float64Array {
  if (scratch.vals.length < V) {
    scratch.vals = new Float64Array(V);
    scratch.desc = new Float64Array(V);
    scratch.bucket = new Int32Array(V);
    scratch.count = new Int32Array(V + 1);
  }
  const vals = scratch.vals;
  const thr = ((1 - topP) * sum) / V;
  let n = 0;
  let hi = -Infinity;
  let lo = Infinity;
  for (let i = 0; i < V; i++) {
    const p = probs[i] as number;
    if (p >= thr && p > 0) {
      vals[n++] = p;
      if (p > hi) hi = p;
      if (p < lo) lo = p;
    }
  }
  const desc = scratch.desc.subarray(0, n);
  sortDescending(vals, n, hi, lo, desc);
  let acc = 0;
  for (let k = 0; k < n; k++) acc += desc[k] as number;
  if (n === V || acc >= topP * sum) return desc;
  return Float64Array.from(probs.subarray(0, V)).sort().reverse();
}

/**
 * desc = vals[0, n) in descending order (n values, no NaN, largest hi, smallest lo). Bucket sort: bucket b holds
 * values with floor((hi - x) * n / (hi - lo)) = b (clamped to n - 1), a non-decreasing function of hi - x, so buckets
 * come in descending order of value; each bucket is then insertion-sorted (natively sorted when large). Same result
 * as any exact sort.
 */
function sortDescending(vals: Float64Array, n: number, hi: number, lo: number, desc: Float64Array): void {
  if (n < 2 || !(hi > lo)) {
    desc.set(vals.subarray(0, n));
    return;
  }
  const count = scratch.count;
  const bucket = scratch.bucket;
  count.fill(0, 0, n + 1);
  const scale = n / (hi - lo);
  if (!(scale < 1e300)) {
    // hi - lo underflows the bucket scale (denormal spread): sort natively.
    desc.set(vals.subarray(0, n));
    desc.sort().reverse();
    return;
  }
  const last = n - 1;
  for (let k = 0; k < n; k++) {
    // (hi - x) * scale is in [0, n] (up to rounding), so truncation is floor.
    let b = ((hi - (vals[k] as number)) * scale) | 0;
    if (b > last) b = last;
    bucket[k] = b;
    count[b + 1]++;
  }
  for (let b = 0; b < n; b++) count[b + 1] = (count[b + 1] as number) + (count[b] as number);
  for (let k = 0; k < n; k++) desc[count[bucket[k] as number]++] = vals[k] as number;
  // count[b] is now the end of bucket b (= the start of bucket b + 1).
  let start = 0;
  for (let b = 0; b < n; b++) {
    const end = count[b] as number;
    if (end - start > 64) {
      desc.subarray(start, end).sort().reverse();
    } else {
      for (let k = start + 1; k < end; k++) {
        const x = desc[k] as number;
        let j = k - 1;
        while (j >= start && (desc[j] as number) < x) {
          desc[j + 1] = desc[j] as number;
          j--;
        }
        desc[j + 1] = x;
      }
    }
    start = end;
  }
}

function logSumExp(row: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if ((row[i] as number) > max) max = row[i] as number;
  let z = 0;
  for (let i = 0; i < row.length; i++) z += Math.exp((row[i] as number) - max);
  return max + Math.log(z);
}

function endsWith(tokens: number[], seq: number[]): boolean {
  if (seq.length === 0 || seq.length > tokens.length) return false;
  const off = tokens.length - seq.length;
  for (let i = 0; i < seq.length; i++) if (tokens[off + i] !== seq[i]) return false;
  return true;
}

function validate(model: Transformer, prompts: number[][], opts: SampleOptions): void {
  if (prompts.length === 0) throw new InputError("no prompts", { field: "prompts" });
  const V = model.config.vocabSize;
  prompts.forEach((p, i) => {
    if (p.length === 0) throw new InputError("empty prompt", { field: `prompts.${i}` });
    if (p.some((t) => !Number.isInteger(t) || t < 0 || t >= V)) throw new InputError(`token id out of range [0, ${V})`, { field: `prompts.${i}` });
    if (p.length >= model.config.maxSeqLen) throw new InputError(`prompt length ${p.length} >= maxSeqLen ${model.config.maxSeqLen}`, { field: `prompts.${i}` });
  });
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 0) throw new InputError("must be a non-negative integer", { field: "maxNewTokens" });
  if (!(opts.temperature >= 0)) throw new InputError("must be >= 0", { field: "temperature" });
  if (!(opts.topP > 0 && opts.topP <= 1)) throw new InputError("must be in (0, 1]", { field: "topP" });
  if (opts.rngs !== undefined && opts.rngs.length !== prompts.length) throw new InputError(`need ${prompts.length} rngs`, { field: "rngs" });
  if (opts.constraints !== undefined && opts.constraints.length !== prompts.length) throw new InputError(`need ${prompts.length} constraints (null for a free row)`, { field: "constraints" });
  if (opts.rngs === undefined && opts.rng === undefined && opts.temperature > 0) throw new InputError("rng or rngs is required when temperature > 0", { field: "rng" });
  const pl = opts.prefixLengths;
  if (pl !== undefined && (pl.length !== prompts.length || pl.some((n, i) => !Number.isInteger(n) || n < 0 || n >= (prompts[i] as number[]).length))) {
    throw new InputError("prefixLengths must give, per prompt, an integer in [0, prompt length - 1]", { field: "prefixLengths" });
  }
}

/**
 * Samples continuations for a batch of (possibly ragged) prompts. Prompts are left-padded into one batch; each row
 * keeps its own rotary positions and never attends to padding, so a row's tokens equal generating it alone (up to
 * float rounding) given the same Rng. Rows stop at a stop token/sequence, at maxNewTokens, or when their length
 * reaches config.maxSeqLen ("length"). Synchronous; leaves no tensors behind.
 */
export function generate(model: Transformer, prompts: number[][], opts: SampleOptions): SampleResult[] {
  validate(model, prompts, opts);
  const B = prompts.length;
  const V = model.config.vocabSize;
  const rngs = opts.rngs ?? (() => {
    const base = opts.rng === undefined ? 0 : opts.rng.nextU32();
    return prompts.map((_, i) => new Rng(deriveSeed(base, "row", i)));
  })();
  const stopIds = new Set(opts.stopTokenIds ?? []);
  const stopSeqs = (opts.stopSequences ?? []).filter((s) => s.length > 0);
  const results: SampleResult[] = prompts.map(() => ({ tokens: [], logprobs: [], rawLogprobs: [], finishReason: "length" }));
  const done = new Array<boolean>(B).fill(opts.maxNewTokens === 0);
  if (opts.maxNewTokens === 0) return results;
  const rowLen = prompts.map((p) => p.length);
  const useCache = opts.useKvCache ?? true;
  const prefixCache = useCache && opts.prefixLengths?.some((n) => n > 0) ? opts.prefixCache : undefined;
  // With a prefix cache only the suffixes are fed; the prefixes' keys/values come from the cache.
  const fed = prefixCache === undefined ? prompts : prompts.map((p, i) => p.slice((opts.prefixLengths as number[])[i]));
  const P = Math.max(...fed.map((p) => p.length));
  const ids = fed.map((p) => [...new Array<number>(P - p.length).fill(0), ...p]);
  const mask = fed.map((p) => [...new Array<number>(P - p.length).fill(0), ...new Array<number>(p.length).fill(1)]);
  const cache: KvCache | SharedPrefixKv | null = prefixCache !== undefined ? prefixDecoder(model, prefixCache, prompts, opts.prefixLengths as number[], opts.maxNewTokens) : useCache ? new KvCache(B) : null;
  // rowOf[j] = the prompt index held by row j of the (possibly compacted) cache batch.
  let rowOf = prompts.map((_, i) => i);
  try {
    let logits = cache !== null ? cache.extendLastLogits(model, ids, mask) : fullLastLogits(model, ids, mask);
    for (let step = 0; step < opts.maxNewTokens; step++) {
      const next = new Array<number>(B).fill(0);
      for (let j = 0; j < rowOf.length; j++) {
        const b = rowOf[j] as number;
        if (done[b]) continue;
        const r = results[b] as SampleResult;
        const row = logits.subarray(j * V, (j + 1) * V);
        const constraint = opts.constraints?.[b];
        const rawLse = constraint ? logSumExp(row) : 0;
        constraint?.mask(row);
        const s = sampleFromLogits(row, opts.temperature, opts.topP, rngs[b] as Rng);
        // The mask leaves allowed logits untouched, so the sampled id's logit is still the model's own.
        if (constraint) {
          s.rawLogprob = (row[s.id] as number) - rawLse;
          constraint.advance(s.id);
        }
        r.tokens.push(s.id);
        r.logprobs.push(s.logprob);
        r.rawLogprobs.push(s.rawLogprob);
        next[b] = s.id;
        rowLen[b] = (rowLen[b] as number) + 1;
        if (stopIds.has(s.id)) {
          r.finishReason = "stop";
          r.stoppedBy = [s.id];
          done[b] = true;
        } else {
          const seq = stopSeqs.find((q) => endsWith(r.tokens, q));
          if (seq !== undefined) {
            r.finishReason = "stop";
            r.stoppedBy = seq.slice();
            done[b] = true;
          } else if (r.tokens.length >= opts.maxNewTokens || (rowLen[b] as number) >= model.config.maxSeqLen) {
            done[b] = true;
          }
        }
      }
      if (done.every(Boolean)) break;
      if (cache !== null) {
        // Drop finished rows once they are a quarter of the batch (a gather per layer; saves their decode compute),
        // an eighth where dropping is a cheap copy (SharedPrefixKv on wasm).
        const live = rowOf.filter((b) => !done[b]);
        const keep = cache instanceof SharedPrefixKv && cache.cheapSelect ? 7 / 8 : 3 / 4;
        if (live.length <= rowOf.length * keep) {
          cache.selectRows(rowOf.flatMap((b, j) => (done[b] ? [] : [j])));
          rowOf = live;
        }
        logits = cache.extendLastLogits(model, rowOf.map((b) => [next[b] as number]));
      }
      else {
        ids.forEach((row, b) => row.push(next[b] as number));
        mask.forEach((row) => row.push(1));
        logits = fullLastLogits(model, ids, mask);
      }
    }
  } finally {
    cache?.dispose();
    prefixCache?.trim();
  }
  return results;
}

/**
 * Decoding state for prompts continuing cached prefixes: SharedPrefixKv (each distinct prefix is attended to once per
 * step with packed GEMMs, its prefill runs in row chunks of bounded memory). It is also the faster choice for a
 * single row on wasm (measured: 4.1 vs 5.6 cpu-s for 16 one-at-a-time dialogues), so a KvCache seeded with the
 * prefixes is only used below setSharedDecoderMinRows (default 1: never).
 */
function prefixDecoder(model: Transformer, cache: PrefixCache, prompts: number[][], lengths: number[], maxNewTokens: number): KvCache | SharedPrefixKv {
  const entries = cache.acquire(model, prompts.map((p, i) => p.slice(0, lengths[i])));
  if (entries.length >= sharedDecoderMinRows && entries.some((e) => e !== null)) return new SharedPrefixKv(model, entries, maxNewTokens);
  const kv = new KvCache(prompts.length);
  kv.seedPrefixes(entries);
  return kv;
}

/** Smallest batch decoded with SharedPrefixKv (see prefixDecoder). */
let sharedDecoderMinRows = 1;
/** Sets the smallest batch decoded with SharedPrefixKv (tests and benchmarks); returns the previous value. */
export function setSharedDecoderMinRows(n: number): number {
  const prev = sharedDecoderMinRows;
  sharedDecoderMinRows = Math.max(1, Math.floor(n));
  return prev;
}

/** Full forward over the whole (left-padded) batch; last-position logits [batch * vocab]. */
function fullLastLogits(model: Transformer, ids: number[][], mask: number[][]): Float32Array {
  const B = ids.length;
  const T = (ids[0] as number[]).length;
  const flatMask = mask.flat();
  const idsT = tf.tensor2d(ids.flat(), [B, T], "int32");
  try {
    const { hidden } = model.forwardHidden({ ids: idsT, positions: positionsFromMask(flatMask, B, T), keyValid: flatMask });
    return lastLogits(model, hidden, true);
  } finally {
    idsT.dispose();
  }
}
