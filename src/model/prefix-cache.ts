// Shared-prefix KV reuse for batched sampling. Self-play prompts start with a long system message (persona, dilemma,
// issue list) that is identical for every dialogue of a group with the same speaker side and for every turn of an
// episode; only a short user message (the last turns) differs. PrefixCache keeps the keys/values of such prefixes,
// keyed by their exact token ids, so each is computed once; SharedPrefixKv (shared-prefix-kv.ts) then prefills only
// each row's suffix and decodes against them.
import * as tf from "@tensorflow/tfjs";
import { headDim } from "./config";
import { positionsFromMask } from "./ops";
import type { Transformer } from "./transformer";

/** One cached prefix. Per layer: rotated keys, transposed, [kvHeads, hd, length]; values [kvHeads, length, hd]. */
export interface PrefixEntry {
  readonly ids: readonly number[];
  readonly length: number;
  readonly kT: readonly tf.Tensor3D[];
  readonly v: readonly tf.Tensor3D[];
  readonly bytes: number;
}

export interface PrefixCacheOptions {
  /** Upper bound on cached key/value bytes, enforced after each use (LRU eviction). Default 64 MiB. */
  maxBytes?: number;
  /** Prefixes prefilled together in one forward pass (memory ~ batch x length^2). Default 8. */
  prefillBatch?: number;
}

export interface PrefixCacheStats {
  hits: number;
  misses: number;
  evictions: number;
  /** Times the whole cache was dropped because the model or its weights changed. */
  invalidations: number;
  /** Prefix tokens run through the model (misses only). */
  prefillTokens: number;
}

/**
 * Keys/values of prompt prefixes, keyed by exact token ids, for one model at a time. Staleness: every lookup
 * (acquire) compares the model object and the identity of each weight variable's data (tf.Variable.assign, used by
 * the optimizers, checkpoint loading and copyWeightsFrom, always installs new data) with those the entries were
 * computed from, and drops every entry when anything differs, so an entry is never served for other weights.
 * Owns its tensors: call dispose() (or clear()).
 */
export class PrefixCache {
  readonly maxBytes: number;
  private readonly prefillBatch: number;
  /** Insertion order is recency order (a hit re-inserts). */
  private readonly entries = new Map<string, PrefixEntry>();
  private model: Transformer | null = null;
  private weights: object[] = [];
  private bytesHeld = 0;
  readonly stats: PrefixCacheStats = { hits: 0, misses: 0, evictions: 0, invalidations: 0, prefillTokens: 0 };

  constructor(options: PrefixCacheOptions = {}) {
    this.maxBytes = Math.max(0, options.maxBytes ?? 64 * 1024 * 1024);
    this.prefillBatch = Math.max(1, options.prefillBatch ?? 8);
  }

  /** Number of cached prefixes. */
  get size(): number {
    return this.entries.size;
  }

  /** Bytes of cached keys/values. */
  get bytes(): number {
    return this.bytesHeld;
  }

  /**
   * The entry of each prefix (null for an empty prefix), computing missing ones (batched, without gradients).
   * Entries stay valid until the next acquire/trim/clear/dispose; the cache may exceed maxBytes until trim().
   */
  acquire(model: Transformer, prefixes: ReadonlyArray<readonly number[]>): Array<PrefixEntry | null> {
    this.checkWeights(model);
    const out = new Array<PrefixEntry | null>(prefixes.length).fill(null);
    const missing = new Map<string, number[]>();
    prefixes.forEach((p, i) => {
      if (p.length === 0) return;
      const key = p.join(",");
      const hit = this.entries.get(key);
      if (hit !== undefined) {
        this.entries.delete(key);
        this.entries.set(key, hit);
        this.stats.hits++;
        out[i] = hit;
      } else if (!missing.has(key)) {
        missing.set(key, p.slice());
      }
    });
    const todo = [...missing.values()].sort((a, b) => a.length - b.length);
    for (let s = 0; s < todo.length; s += this.prefillBatch) {
      for (const e of computeEntries(model, todo.slice(s, s + this.prefillBatch))) {
        this.entries.set(e.ids.join(","), e);
        this.bytesHeld += e.bytes;
        this.stats.misses++;
        this.stats.prefillTokens += e.length;
      }
    }
    prefixes.forEach((p, i) => {
      if (p.length > 0 && out[i] === null) out[i] = this.entries.get(p.join(",")) as PrefixEntry;
    });
    return out;
  }

  /** Evicts least recently used entries until the cache holds at most maxBytes. */
  trim(): void {
    for (const [key, e] of this.entries) {
      if (this.bytesHeld <= this.maxBytes) break;
      this.drop(key, e);
      this.stats.evictions++;
    }
  }

  /** Drops every entry (the cache stays usable). */
  clear(): void {
    for (const [key, e] of this.entries) this.drop(key, e);
    this.model = null;
    this.weights = [];
  }

  dispose(): void {
    this.clear();
  }

  private drop(key: string, e: PrefixEntry): void {
    for (const t of e.kT) t.dispose();
    for (const t of e.v) t.dispose();
    this.entries.delete(key);
    this.bytesHeld -= e.bytes;
  }

  private checkWeights(model: Transformer): void {
    if (model.isDisposed) throw new Error("PrefixCache: model is disposed");
    const ids = model.trainableVariables().map((v) => v.dataId);
    const same = this.model === model && ids.length === this.weights.length && ids.every((d, i) => d === this.weights[i]);
    if (same) return;
    if (this.entries.size > 0) this.stats.invalidations++;
    this.clear();
    this.model = model;
    this.weights = ids;
  }
}

/** Runs prefixes (ragged, left-padded) through the model and keeps each one's keys/values. */
function computeEntries(model: Transformer, prefixes: number[][]): PrefixEntry[] {
  const B = prefixes.length;
  const P = Math.max(...prefixes.map((p) => p.length));
  const ids = prefixes.flatMap((p) => [...new Array<number>(P - p.length).fill(0), ...p]);
  const mask = prefixes.flatMap((p) => [...new Array<number>(P - p.length).fill(0), ...new Array<number>(p.length).fill(1)]);
  const idsT = tf.tensor2d(ids, [B, P], "int32");
  let out: ReturnType<Transformer["forwardHidden"]>;
  try {
    // Keys/values only: the last layer's attention and MLP are skipped (the hidden states are not used).
    out = model.forwardHidden({ ids: idsT, positions: positionsFromMask(mask, B, P), keyValid: mask, kvOnly: true }, null, true);
  } finally {
    idsT.dispose();
  }
  out.hidden.dispose();
  const KV = model.config.numKvHeads;
  const hd = headDim(model.config);
  try {
    return prefixes.map((p, b) => {
      const n = p.length;
      const kT: tf.Tensor3D[] = [];
      const v: tf.Tensor3D[] = [];
      for (const l of out.kv) {
        kT.push(tf.tidy(() => tf.transpose(tf.reshape(tf.slice(l.k, [b, 0, P - n, 0], [1, KV, n, hd]), [KV, n, hd]), [0, 2, 1]) as tf.Tensor3D));
        v.push(tf.tidy(() => tf.reshape(tf.slice(l.v, [b, 0, P - n, 0], [1, KV, n, hd]), [KV, n, hd]) as tf.Tensor3D));
      }
      return { ids: p, length: n, kT, v, bytes: 2 * out.kv.length * KV * n * hd * 4 };
    });
  } finally {
    for (const l of out.kv) {
      l.k.dispose();
      l.v.dispose();
    }
  }
}
