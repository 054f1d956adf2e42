// Shared-prefix KV reuse for batched sampling. Self-play prompts start with a long system message (persona, dilemma,
// issue list) that is identical for every dialogue of a group with the same speaker side and for every turn of an
// episode; only a short user message (the last turns) differs. PrefixCache keeps the keys/values of such prefixes,
// keyed by their exact token ids, so each is computed once; SharedPrefixKv then prefills only each row's suffix and
// decodes, attending to the shared prefix with one GEMM per (kv head, distinct prefix) instead of per row
// ("cascade" attention: one softmax over [prefix | own keys], same function as a full forward up to float rounding).
import * as tf from "@tensorflow/tfjs";
import { InputError } from "../core/errors";
import { headDim } from "./config";
import { lastLogits } from "./kv-cache";
import { MASK_VALUE, positionsFromMask } from "./ops";
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
    out = model.forwardHidden({ ids: idsT, positions: positionsFromMask(mask, B, P), keyValid: mask }, null, true);
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

/** Per-call tensors shared by every layer of one forward (created inside the forward's tidy, freed with it). */
interface CallState {
  mask: tf.Tensor4D;
  slotIdx: tf.Tensor1D | null;
  rowSlot: tf.Tensor1D | null;
}

/**
 * Decoding state for a batch whose rows continue cached prefixes (the same interface as KvCache: extend with new
 * tokens, drop rows, dispose). Row b's sequence is entry(b).ids followed by the tokens fed through extend, with
 * rotary positions continuing after the prefix; padding (mask 0) is never attended to. Attention for row b is
 * softmax over [its prefix's keys | its own keys]: the prefix part is one batched GEMM over (kv head, distinct
 * prefix) slots of R rows each, the own part per row. Owns its tensors (not the entries'): call dispose().
 */
export class SharedPrefixKv {
  private readonly KV: number;
  private readonly hd: number;
  private readonly Pmax: number;
  private groups: number;
  /** Per layer: [KV * groups, hd, Pmax] and [KV * groups, Pmax, hd], prefix keys/values right-padded with zeros. */
  private kTb: tf.Tensor3D[] = [];
  private vb: tf.Tensor3D[] = [];
  private groupLen: number[];
  private rowGroup: number[];
  /** Per layer, the rows' own keys [KV, B, S, hd] and values transposed [KV, B, hd, S]. */
  private ownK: Array<tf.Tensor4D | null>;
  private ownVT: Array<tf.Tensor4D | null>;
  private readonly valid: number[][];
  private readonly nextPos: number[];
  private call: CallState | null = null;
  private slots: { R: number; slotIdx: number[]; rowSlot: number[]; identity: boolean } = { R: 1, slotIdx: [], rowSlot: [], identity: true };

  constructor(model: Transformer, rowEntries: ReadonlyArray<PrefixEntry | null>) {
    if (rowEntries.length === 0) throw new InputError("no rows", { field: "rowEntries" });
    const c = model.config;
    this.KV = c.numKvHeads;
    this.hd = headDim(c);
    const distinct: Array<PrefixEntry | null> = [];
    this.rowGroup = rowEntries.map((e) => {
      const g = distinct.indexOf(e);
      if (g >= 0) return g;
      distinct.push(e);
      return distinct.length - 1;
    });
    this.groups = distinct.length;
    this.groupLen = distinct.map((e) => e?.length ?? 0);
    this.Pmax = Math.max(...this.groupLen);
    if (this.Pmax === 0) throw new InputError("every prefix is empty; use KvCache", { field: "rowEntries" });
    const { KV, hd, Pmax } = this;
    for (let l = 0; l < c.numLayers; l++) {
      this.kTb.push(tf.tidy(() => {
        const parts = distinct.map((e) => (e === null ? tf.zeros([KV, hd, Pmax]) : e.length === Pmax ? e.kT[l] as tf.Tensor3D : tf.pad(e.kT[l] as tf.Tensor3D, [[0, 0], [0, 0], [0, Pmax - e.length]])));
        return tf.reshape(tf.stack(parts, 1), [KV * distinct.length, hd, Pmax]) as tf.Tensor3D;
      }));
      this.vb.push(tf.tidy(() => {
        const parts = distinct.map((e) => (e === null ? tf.zeros([KV, Pmax, hd]) : e.length === Pmax ? e.v[l] as tf.Tensor3D : tf.pad(e.v[l] as tf.Tensor3D, [[0, 0], [0, Pmax - e.length], [0, 0]])));
        return tf.reshape(tf.stack(parts, 1), [KV * distinct.length, Pmax, hd]) as tf.Tensor3D;
      }));
    }
    this.ownK = new Array<tf.Tensor4D | null>(c.numLayers).fill(null);
    this.ownVT = new Array<tf.Tensor4D | null>(c.numLayers).fill(null);
    this.valid = rowEntries.map(() => []);
    this.nextPos = this.rowGroup.map((g) => this.groupLen[g] as number);
    this.layoutSlots();
  }

  get batch(): number {
    return this.rowGroup.length;
  }

  /** Per-row position the next real token will get (prefix length + real tokens fed so far). */
  positions(): number[] {
    return this.nextPos.slice();
  }

  /** Feeds new tokens [batch][seq] (mask 1 = token, 0 = padding); returns final-norm hidden [batch, seq, d]. */
  extend(model: Transformer, ids: number[][], mask?: number[][]): tf.Tensor3D {
    const B = this.batch;
    const T = ids[0]?.length ?? 0;
    if (ids.length !== B || T === 0 || ids.some((r) => r.length !== T)) throw new InputError(`ids must be ${B} rows of equal, non-zero length`, { field: "ids" });
    if (mask !== undefined && (mask.length !== B || mask.some((r) => r.length !== T))) throw new InputError(`mask must be ${B} rows of ${T}`, { field: "mask" });
    const m = mask === undefined ? new Array<number>(B * T).fill(1) : mask.flat();
    const positions = positionsFromMask(m, B, T, this.nextPos);
    const H = model.config.numHeads;
    const G = H / this.KV;
    const S0 = (this.valid[0] as number[]).length;
    const W = this.Pmax + S0 + T;
    // Additive mask [1, B, G*T, W]: prefix columns of the row's own prefix, then its valid own keys (causal).
    const mv = new Float32Array(B * G * T * W).fill(MASK_VALUE);
    for (let b = 0; b < B; b++) {
      const P = this.groupLen[this.rowGroup[b] as number] as number;
      const row = this.valid[b] as number[];
      for (let t = 0; t < T; t++) {
        const base = (b * G * T + t) * W;
        for (let j = 0; j < P; j++) mv[base + j] = 0;
        for (let j = 0; j < S0; j++) if (row[j] !== 0) mv[base + this.Pmax + j] = 0;
        for (let j = 0; j <= t; j++) if (j === t || (m[b * T + j] as number) !== 0) mv[base + this.Pmax + S0 + j] = 0;
        for (let g = 1; g < G; g++) mv.copyWithin(base + g * T * W, base, base + W);
      }
    }
    const idsT = tf.tensor2d(ids.flat(), [B, T], "int32");
    let hidden: tf.Tensor3D;
    try {
      hidden = tf.tidy(() => {
        const s = this.slots;
        this.call = {
          mask: tf.tensor4d(mv, [1, B, G * T, W]),
          slotIdx: s.identity ? null : tf.tensor1d(s.slotIdx, "int32"),
          rowSlot: s.identity ? null : tf.tensor1d(s.rowSlot, "int32"),
        };
        return model.forwardHidden({ ids: idsT, positions, keyValid: [], attention: (l, q, k, v) => this.attend(l, q, k, v) }).hidden;
      });
    } finally {
      this.call = null;
      idsT.dispose();
    }
    for (let b = 0; b < B; b++) {
      const row = this.valid[b] as number[];
      for (let t = 0; t < T; t++) {
        const ok = (m[b * T + t] as number) !== 0 ? 1 : 0;
        row.push(ok);
        this.nextPos[b] = (this.nextPos[b] as number) + ok;
      }
    }
    return hidden;
  }

  /** Like extend, but returns the logits of each row's last new position, downloaded [batch * vocab]. */
  extendLastLogits(model: Transformer, ids: number[][], mask?: number[][]): Float32Array {
    return lastLogits(model, this.extend(model, ids, mask), true);
  }

  /** One layer's attention for the new tokens (runs inside the forward's tidy). */
  private attend(l: number, q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D): tf.Tensor {
    const call = this.call as CallState;
    const [B, H, T, hd] = q.shape;
    const KV = this.KV;
    const G = H / KV;
    const GT = G * T;
    const U = this.groups;
    const { R } = this.slots;
    const Pm = this.Pmax;
    const qK = tf.transpose(tf.reshape(q, [B, KV, GT, hd]), [1, 0, 2, 3]); // [KV, B, GT, hd]
    const oldK = this.ownK[l] ?? null;
    const oldV = this.ownVT[l] ?? null;
    const kN = tf.transpose(k, [1, 0, 2, 3]) as tf.Tensor4D; // [KV, B, T, hd]
    const vN = tf.transpose(v, [1, 0, 3, 2]) as tf.Tensor4D; // [KV, B, hd, T]
    const ownK = tf.keep(oldK === null ? kN : (tf.concat([oldK, kN], 2) as tf.Tensor4D));
    const ownVT = tf.keep(oldV === null ? vN : (tf.concat([oldV, vN], 3) as tf.Tensor4D));
    oldK?.dispose();
    oldV?.dispose();
    this.ownK[l] = ownK;
    this.ownVT[l] = ownVT;
    const S = ownK.shape[2];
    // Rows <-> (prefix, slot) layout: [KV, B, ...] <-> [KV, U * R, ...] (identity when rows already are U x R).
    const toSlots = (x: tf.Tensor): tf.Tensor => (call.slotIdx === null ? x : tf.gather(x, call.slotIdx, 1));
    const toRows = (x: tf.Tensor): tf.Tensor => (call.rowSlot === null ? x : tf.gather(x, call.rowSlot, 1));
    const sPre = toRows(tf.reshape(tf.matMul(tf.reshape(toSlots(qK), [KV * U, R * GT, hd]) as tf.Tensor3D, this.kTb[l] as tf.Tensor3D), [KV, U * R, GT, Pm]));
    const sOwn =
      T === 1
        ? tf.sum(tf.mul(tf.reshape(qK, [KV, B, G, 1, hd]), tf.reshape(ownK, [KV, B, 1, S, hd])), -1)
        : tf.matMul(tf.reshape(qK, [KV * B, GT, hd]) as tf.Tensor3D, tf.reshape(ownK, [KV * B, S, hd]) as tf.Tensor3D, false, true);
    const probs = tf.softmax(tf.add(tf.concat([sPre, tf.reshape(sOwn, [KV, B, GT, S])], 3), call.mask));
    const pPre = tf.slice(probs, [0, 0, 0, 0], [KV, B, GT, Pm]);
    const pOwn = tf.slice(probs, [0, 0, 0, Pm], [KV, B, GT, S]);
    const aPre = toRows(tf.reshape(tf.matMul(tf.reshape(toSlots(pPre), [KV * U, R * GT, Pm]) as tf.Tensor3D, this.vb[l] as tf.Tensor3D), [KV, U * R, GT, hd]));
    const aOwn =
      T === 1
        ? tf.sum(tf.mul(tf.reshape(pOwn, [KV, B, G, 1, S]), tf.reshape(ownVT, [KV, B, 1, hd, S])), -1)
        : tf.matMul(tf.reshape(pOwn, [KV * B, GT, S]) as tf.Tensor3D, tf.reshape(ownVT, [KV * B, hd, S]) as tf.Tensor3D, false, true);
    return tf.transpose(tf.add(aPre, tf.reshape(aOwn, [KV, B, GT, hd])), [1, 0, 2, 3]); // [B, KV, G*T, hd] = [B, H, T, hd]
  }

  /** Keeps only the given rows, in order (drops finished rows); prefixes no longer used are dropped too. */
  selectRows(rows: number[]): void {
    if (rows.length === 0 || rows.some((r) => !Number.isInteger(r) || r < 0 || r >= this.batch)) {
      throw new InputError(`rows must be non-empty indices in [0, ${this.batch})`, { field: "rows" });
    }
    const idx = tf.tensor1d(rows, "int32");
    for (let l = 0; l < this.ownK.length; l++) {
      const k = this.ownK[l];
      const v = this.ownVT[l];
      if (k) this.ownK[l] = tf.gather(k, idx, 1) as tf.Tensor4D;
      if (v) this.ownVT[l] = tf.gather(v, idx, 1) as tf.Tensor4D;
      k?.dispose();
      v?.dispose();
    }
    idx.dispose();
    const kept = rows.map((r) => this.rowGroup[r] as number);
    const used = [...new Set(kept)].sort((a, b) => a - b);
    if (used.length < this.groups) {
      const U = this.groups;
      const gidx = tf.tensor1d(Array.from({ length: this.KV }, (_, h) => used.map((g) => h * U + g)).flat(), "int32");
      this.kTb = this.kTb.map((t) => { const n = tf.gather(t, gidx, 0) as tf.Tensor3D; t.dispose(); return n; });
      this.vb = this.vb.map((t) => { const n = tf.gather(t, gidx, 0) as tf.Tensor3D; t.dispose(); return n; });
      gidx.dispose();
      this.groupLen = used.map((g) => this.groupLen[g] as number);
      this.groups = used.length;
    }
    this.rowGroup = kept.map((g) => used.indexOf(g));
    const valid = rows.map((r) => (this.valid[r] as number[]).slice());
    const pos = rows.map((r) => this.nextPos[r] as number);
    this.valid.length = 0;
    this.valid.push(...valid);
    this.nextPos.length = 0;
    this.nextPos.push(...pos);
    this.layoutSlots();
  }

  /** R = most rows on one prefix; slot u * R + i holds the i-th row of prefix u (padding slots repeat a row). */
  private layoutSlots(): void {
    const U = this.groups;
    const members: number[][] = Array.from({ length: U }, () => []);
    this.rowGroup.forEach((g, b) => (members[g] as number[]).push(b));
    const R = Math.max(...members.map((m) => m.length));
    const slotIdx: number[] = [];
    const rowSlot = new Array<number>(this.batch).fill(0);
    members.forEach((m, g) => {
      for (let i = 0; i < R; i++) {
        const b = m[Math.min(i, m.length - 1)] ?? 0;
        if (i < m.length) rowSlot[b] = g * R + i;
        slotIdx.push(b);
      }
    });
    const identity = U * R === this.batch && rowSlot.every((s, b) => s === b);
    this.slots = { R, slotIdx, rowSlot, identity };
  }

  /** Frees the rows' keys/values and the padded prefix copies (the entries belong to the PrefixCache). */
  dispose(): void {
    for (const t of [...this.ownK, ...this.ownVT]) t?.dispose();
    this.ownK.fill(null);
    this.ownVT.fill(null);
    for (const t of [...this.kTb, ...this.vb]) t.dispose();
    this.kTb = [];
    this.vb = [];
  }
}
