// Decoding against cached prefixes (PrefixCache entries): each row prefills only its suffix and decodes, attending to
// the shared prefix with one GEMM per (kv head, distinct prefix) instead of per row ("cascade" attention: one softmax
// over [prefix | own keys], same function as a full forward up to float rounding).
import * as tf from "@tensorflow/tfjs";
import { InputError } from "../core/errors";
import { headDim } from "./config";
import { appendValidity, extendMask, lastLogits, selectRowState } from "./kv-cache";
import { MASK_VALUE, positionsFromMask } from "./ops";
import type { PrefixEntry } from "./prefix-cache";
import { GemmWeights, type GemmSegment } from "./prefix-gemm";
import type { Transformer } from "./transformer";
import { pickRows, placeRows, writeColumn } from "./wasm-heap";

/** Per-chunk state shared by every layer of one forward (created inside the forward's tidy, freed with it). */
interface ChunkState {
  /** Additive mask [1, rows, G*T, Pmax + S0 + T]. */
  mask: tf.Tensor4D;
  /** lastOnly forwards: the mask rows and prefix GEMM segments of the last position alone (for the last layer). */
  maskLast: tf.Tensor4D | null;
  segmentsLast: GemmSegment[];
  /** Rows [r0, r1) of the batch. */
  r0: number;
  r1: number;
  /** Prefix GEMM segments over the chunk's query rows [KV, rows, G*T] (one per kv head and run of rows). */
  segments: GemmSegment[];
  /** Per layer, the chunk rows' own keys [KV, rows, S, hd] and values transposed [KV, rows, hd, S] after this call. */
  ownK: tf.Tensor4D[];
  ownVT: tf.Tensor4D[];
  /** One new token written in place into the own-key buffers at this column (wasm; else -1: concatenate). */
  writeAt: number;
}


/**
 * Decoding state for a batch whose rows continue cached prefixes (the same interface as KvCache: extend with new
 * tokens, drop rows, dispose). Row b's sequence is entry(b).ids followed by the tokens fed through extend, with
 * rotary positions continuing after the prefix; padding (mask 0) is never attended to. Attention for row b is
 * softmax over [its prefix's keys | its own keys] ("cascade"): the prefix part is one GEMM per (kv head, run of
 * consecutive rows with the same prefix) against that prefix's keys/values, which stay packed for the whole call
 * (GemmWeights: one op per layer on wasm); the own part is per row. Rows are best grouped by prefix (fewer runs).
 * Long prefills run in row chunks to bound the score tensors. Owns its tensors (not the entries'): call dispose().
 */
export class SharedPrefixKv {
  /** Most attention-score floats (kv heads x rows x G*T x keys) one forward handles at once (rows are chunked). */
  static scoreBudget = 4 * 1024 * 1024;
  private readonly KV: number;
  private readonly hd: number;
  private readonly Pmax: number;
  private readonly groups: number;
  /** Per layer: [KV * groups, hd, Pmax] and [KV * groups, Pmax, hd] (block h * groups + g), zero-padded to Pmax. */
  private kTb: GemmWeights[] = [];
  private vb: GemmWeights[] = [];
  private readonly groupLen: number[];
  private rowGroup: number[];
  /** Per layer, the rows' own keys [KV, B, S, hd] and values transposed [KV, B, hd, S]. */
  private ownK: Array<tf.Tensor4D | null>;
  private ownVT: Array<tf.Tensor4D | null>;
  private readonly valid: number[][];
  private readonly nextPos: number[];
  private chunk: ChunkState | null = null;
  /** wasm: own-key buffers have spare zero columns (capacity) and decode steps write into them in place. */
  private readonly inPlace: boolean;

  /**
   * rowEntries: each row's prefix (null = none). decodeTokens (optional): how many single-token steps are expected
   * after the first extend; on wasm the own-key buffers reserve that many columns (default max(32, tokens so far)).
   */
  constructor(model: Transformer, rowEntries: ReadonlyArray<PrefixEntry | null>, private readonly decodeTokens?: number) {
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
      const kT = tf.tidy(() => {
        const parts = distinct.map((e) => (e === null ? tf.zeros([KV, hd, Pmax]) : e.length === Pmax ? e.kT[l] as tf.Tensor3D : tf.pad(e.kT[l] as tf.Tensor3D, [[0, 0], [0, 0], [0, Pmax - e.length]])));
        return tf.reshape(tf.stack(parts, 1), [KV * distinct.length, hd, Pmax]) as tf.Tensor3D;
      });
      this.kTb.push(new GemmWeights(kT));
      const v = tf.tidy(() => {
        const parts = distinct.map((e) => (e === null ? tf.zeros([KV, Pmax, hd]) : e.length === Pmax ? e.v[l] as tf.Tensor3D : tf.pad(e.v[l] as tf.Tensor3D, [[0, 0], [0, Pmax - e.length], [0, 0]])));
        return tf.reshape(tf.stack(parts, 1), [KV * distinct.length, Pmax, hd]) as tf.Tensor3D;
      });
      this.vb.push(new GemmWeights(v));
    }
    this.ownK = new Array<tf.Tensor4D | null>(c.numLayers).fill(null);
    this.ownVT = new Array<tf.Tensor4D | null>(c.numLayers).fill(null);
    this.valid = rowEntries.map(() => []);
    this.nextPos = this.rowGroup.map((g) => this.groupLen[g] as number);
    this.inPlace = (this.kTb[0] as GemmWeights).fused;
  }

  get batch(): number {
    return this.rowGroup.length;
  }

  /** Whether the prefix GEMMs run as one wasm op per layer with packed prefixes (GemmWeights.fused). */
  get fused(): boolean {
    return this.kTb[0]?.fused ?? false;
  }

  /** Per-row position the next real token will get (prefix length + real tokens fed so far). */
  positions(): number[] {
    return this.nextPos.slice();
  }

  /** Feeds new tokens [batch][seq] (mask 1 = token, 0 = padding); returns final-norm hidden [batch, seq, d]. */
  extend(model: Transformer, ids: number[][], mask?: number[][]): tf.Tensor3D {
    return this.feed(model, ids, mask, false);
  }

  /** extend; with lastOnly the hidden state of the last position alone, [batch, 1, d] (Transformer lastOnly). */
  private feed(model: Transformer, ids: number[][], mask: number[][] | undefined, lastOnly: boolean): tf.Tensor3D {
    const B = this.batch;
    const { T, m } = extendMask(B, ids, mask);
    const positions = positionsFromMask(m, B, T, this.nextPos);
    const G = model.config.numHeads / this.KV;
    const S0 = (this.valid[0] as number[]).length;
    // Own-key columns attended to: the buffer's capacity when one token goes in place, else exactly old + new.
    const cap = this.ownK[0]?.shape[2] ?? 0;
    const writeAt = this.inPlace && T === 1 && S0 < cap && this.KV * G * B * (this.Pmax + cap) <= SharedPrefixKv.scoreBudget ? S0 : -1;
    // Spare zero columns of the rebuilt own keys on wasm, for the next decode steps (capacity doubles when full).
    const spare = !this.inPlace ? 0 : S0 === 0 && this.decodeTokens !== undefined ? Math.max(1, this.decodeTokens) : Math.max(32, S0 + T);
    let out: { hidden: tf.Tensor3D; ownK: tf.Tensor4D[]; ownVT: tf.Tensor4D[]; spared?: boolean } | null = null;
    if (S0 === 0) {
      out = this.prefill(model, ids, m, positions, G, T, spare, lastOnly);
    } else {
      const W = this.Pmax + (writeAt >= 0 ? cap : S0 + T);
      const rowsPerChunk = writeAt >= 0 ? B : Math.max(1, Math.floor(SharedPrefixKv.scoreBudget / (this.KV * G * T * W)));
      const hiddens: tf.Tensor3D[] = [];
      const newK: tf.Tensor4D[][] = [];
      const newVT: tf.Tensor4D[][] = [];
      try {
        for (let r0 = 0; r0 < B; r0 += rowsPerChunk) {
          const r1 = Math.min(B, r0 + rowsPerChunk);
          const rows = Array.from({ length: r1 - r0 }, (_, i) => r0 + i);
          const st = this.runChunk(model, rows, ids.slice(r0, r1), m.slice(r0 * T, r1 * T), positions.subarray(r0 * T, r1 * T), G, T, S0, W, writeAt, lastOnly);
          hiddens.push(st.hidden);
          newK.push(st.ownK);
          newVT.push(st.ownVT);
        }
      } catch (e) {
        for (const t of [...hiddens, ...newK.flat(), ...newVT.flat()]) t.dispose();
        throw e;
      }
      const hidden = joinRows(hiddens, 0);
      if (writeAt < 0) out = { hidden, ownK: this.ownK.map((_, l) => joinRows(newK.map((c) => c[l] as tf.Tensor4D), 1)), ownVT: this.ownVT.map((_, l) => joinRows(newVT.map((c) => c[l] as tf.Tensor4D), 1)) };
      else out = { hidden, ownK: [], ownVT: [] };
    }
    if (writeAt < 0) {
      // Rebuilt own keys (with their spare columns on wasm).
      const add = out.spared === true ? 0 : spare;
      for (let l = 0; l < this.ownK.length; l++) {
        this.ownK[l]?.dispose();
        this.ownVT[l]?.dispose();
        this.ownK[l] = padAxis(out.ownK[l] as tf.Tensor4D, 2, 0, add);
        this.ownVT[l] = padAxis(out.ownVT[l] as tf.Tensor4D, 3, 0, add);
      }
    }
    appendValidity(this.valid, this.nextPos, m, T);
    return out.hidden;
  }

  /**
   * The first extend (no own keys yet, typically the prompt suffixes): rows are bucketed by their real length
   * (planPrefillBuckets) and each bucket runs with its common leading padding trimmed, so short rows do not pay for
   * the longest row's length (linear layers, prefix attention). The buckets' hidden states and own keys/values are
   * left-padded back to T (zeros, never attended to: their validity is 0) and put back in row order. Each bucket
   * also fits the score budget, like the row chunks of later extends. Same function per row, up to float rounding.
   */
  private prefill(
    model: Transformer, ids: number[][], m: number[], positions: Int32Array, G: number, T: number, spare: number, lastOnly: boolean,
  ): { hidden: tf.Tensor3D; ownK: tf.Tensor4D[]; ownVT: tf.Tensor4D[]; spared?: boolean } {
    const B = this.batch;
    const len = new Array<number>(B);
    for (let b = 0; b < B; b++) {
      let lead = 0;
      while (lead < T - 1 && (m[b * T + lead] as number) === 0) lead++;
      len[b] = T - lead;
    }
    const { KV, Pmax } = this;
    const buckets = planPrefillBuckets(len, (rows, t) => KV * G * rows * t * (Pmax + t) <= SharedPrefixKv.scoreBudget);
    const order: number[] = [];
    const hiddens: tf.Tensor3D[] = [];
    const newK: tf.Tensor4D[][] = [];
    const newVT: tf.Tensor4D[][] = [];
    try {
      for (const bucket of buckets) {
        // Rows of one prefix adjacent: one prefix GEMM per run.
        const rows = bucket.slice().sort((a, b) => (this.rowGroup[a] as number) - (this.rowGroup[b] as number) || a - b);
        const Tc = Math.max(...rows.map((b) => len[b] as number));
        const off = T - Tc;
        const cPos = new Int32Array(rows.length * Tc);
        rows.forEach((b, i) => cPos.set(positions.subarray(b * T + off, (b + 1) * T), i * Tc));
        const st = this.runChunk(
          model, rows, rows.map((b) => (ids[b] as number[]).slice(off)), rows.flatMap((b) => m.slice(b * T + off, (b + 1) * T)), cPos, G, Tc, 0, Pmax + Tc, -1,
          lastOnly,
        );
        order.push(...rows);
        if (this.inPlace) {
          // Placed by one heap copy per row below (no pad / concat / gather on wasm).
          hiddens.push(st.hidden);
          newK.push(st.ownK);
          newVT.push(st.ownVT);
        } else {
          hiddens.push(lastOnly ? st.hidden : padAxis(st.hidden, 1, off, 0));
          newK.push(st.ownK.map((k) => padAxis(k, 2, off, 0)));
          newVT.push(st.ownVT.map((v) => padAxis(v, 3, off, 0)));
        }
      }
      if (this.inPlace) return this.placeBuckets(hiddens, newK, newVT, order, T, spare, lastOnly ? 1 : T);
    } catch (e) {
      for (const t of [...hiddens, ...newK.flat(), ...newVT.flat()]) t.dispose();
      throw e;
    }
    // Back to row order (order[i] = the row at position i of the joined buckets).
    const inverse = new Array<number>(B);
    order.forEach((b, i) => (inverse[b] = i));
    const identity = inverse.every((i, b) => i === b);
    const put = <X extends tf.Tensor>(x: X, axis: number): X => {
      if (identity) return x;
      const idx = tf.tensor1d(inverse, "int32");
      const y = tf.gather(x, idx, axis) as X;
      idx.dispose();
      x.dispose();
      return y;
    };
    return {
      hidden: put(joinRows(hiddens, 0), 0),
      ownK: this.ownK.map((_, l) => put(joinRows(newK.map((c) => c[l] as tf.Tensor4D), 1), 1)),
      ownVT: this.ownVT.map((_, l) => put(joinRows(newVT.map((c) => c[l] as tf.Tensor4D), 1), 1)),
    };
  }

  /**
   * wasm: the prefill buckets' outputs (hidden [rows, Tc, d], own keys [KV, rows, Tc, hd], values [KV, rows, hd, Tc],
   * bucket rows in `order`) copied on the heap into zero tensors in row order, right-aligned to T (the buckets' left
   * padding stays zero: validity 0, never attended to), the own keys/values with `spare` zero columns after T. Same
   * values as pad + concat + gather + pad, without those kernels (the gather alone is slow on wasm). Disposes the parts.
   */
  private placeBuckets(
    hiddens: tf.Tensor3D[], newK: tf.Tensor4D[][], newVT: tf.Tensor4D[][], order: number[], T: number, spare: number, Th: number,
  ): { hidden: tf.Tensor3D; ownK: tf.Tensor4D[]; ownVT: tf.Tensor4D[]; spared: boolean } {
    const B = this.batch;
    const { KV, hd } = this;
    const C = T + spare;
    const d = (hiddens[0] as tf.Tensor3D).shape[2];
    const hidden = tf.zeros([B, Th, d]) as tf.Tensor3D;
    const ownK: tf.Tensor4D[] = [];
    const ownVT: tf.Tensor4D[] = [];
    try {
      for (let l = 0; l < this.ownK.length; l++) {
        ownK.push(tf.zeros([KV, B, C, hd]) as tf.Tensor4D);
        ownVT.push(tf.zeros([KV, B, hd, C]) as tf.Tensor4D);
      }
      let i0 = 0;
      hiddens.forEach((h, c) => {
        const n = h.shape[0];
        const Tc = ((newK[c] as tf.Tensor4D[])[0] as tf.Tensor4D).shape[2]; // the bucket's length (h may be its last position only)
        const rows = order.slice(i0, i0 + n);
        i0 += n;
        const off = T - Tc;
        placeRows(h, hidden, 1, rows, h.shape[1], d, Th, d, Th - h.shape[1], 0);
        for (let l = 0; l < ownK.length; l++) {
          placeRows((newK[c] as tf.Tensor4D[])[l] as tf.Tensor4D, ownK[l] as tf.Tensor4D, KV, rows, Tc, hd, C, hd, off, 0);
          placeRows((newVT[c] as tf.Tensor4D[])[l] as tf.Tensor4D, ownVT[l] as tf.Tensor4D, KV, rows, hd, Tc, hd, C, 0, off);
        }
      });
    } catch (e) {
      for (const t of [hidden, ...ownK, ...ownVT]) t.dispose();
      throw e;
    }
    for (const t of [...hiddens, ...newK.flat(), ...newVT.flat()]) t.dispose();
    return { hidden, ownK, ownVT, spared: true };
  }

  /**
   * One forward over the given rows (ascending and contiguous when S0 > 0: their old own keys are a slice): hidden
   * [rows, T, d] plus the rows' own keys/values per layer (old + new).
   */
  private runChunk(
    model: Transformer, rows: number[], ids: number[][], m: number[], positions: Int32Array, G: number, T: number, S0: number, W: number,
    writeAt: number, lastOnly: boolean,
  ): { hidden: tf.Tensor3D; ownK: tf.Tensor4D[]; ownVT: tf.Tensor4D[] } {
    const n = rows.length;
    const r0 = rows[0] as number;
    const r1 = r0 + n;
    const Pmax = this.Pmax;
    // Additive mask [1, rows, G*T, W]: prefix columns of the row's own prefix, then its valid own keys (causal).
    const mv = new Float32Array(n * G * T * W).fill(MASK_VALUE);
    for (let i = 0; i < n; i++) {
      const b = rows[i] as number;
      const P = this.groupLen[this.rowGroup[b] as number] as number;
      const row = this.valid[b] as number[];
      for (let t = 0; t < T; t++) {
        const base = (i * G * T + t) * W;
        mv.fill(0, base, base + P);
        for (let j = 0; j < S0; j++) if (row[j] !== 0) mv[base + Pmax + j] = 0;
        for (let j = 0; j <= t; j++) if (j === t || (m[i * T + j] as number) !== 0) mv[base + Pmax + S0 + j] = 0;
        for (let g = 1; g < G; g++) mv.copyWithin(base + g * T * W, base, base + W);
      }
    }
    // Runs of consecutive rows with the same prefix; one GEMM per (kv head, run) over rows [KV, n, G*T].
    const segmentsFor = (Tq: number): GemmSegment[] => {
      const segments: GemmSegment[] = [];
      for (let h = 0; h < this.KV; h++) {
        for (let i = 0; i < n; ) {
          const g = this.rowGroup[rows[i] as number] as number;
          let j = i + 1;
          while (j < n && this.rowGroup[rows[j] as number] === g) j++;
          segments.push({ row: (h * n + i) * G * Tq, rows: (j - i) * G * Tq, block: h * this.groups + g });
          i = j;
        }
      }
      return segments;
    };
    const segments = segmentsFor(T);
    const last = lastOnly && T > 1;
    let maskLast: tf.Tensor4D | null = null;
    if (last) {
      // Rows (i, g, T - 1) of the mask.
      const ml = new Float32Array(n * G * W);
      for (let r = 0; r < n * G; r++) ml.set(mv.subarray((r * T + T - 1) * W, (r * T + T) * W), r * W);
      maskLast = tf.tensor4d(ml, [1, n, G, W]);
    }
    const idsT = tf.tensor2d(ids.flat(), [n, T], "int32");
    const layers = this.ownK.length;
    const st: ChunkState = {
      mask: tf.tensor4d(mv, [1, n, G * T, W]), maskLast, segmentsLast: last ? segmentsFor(1) : [], r0, r1, segments, ownK: [], ownVT: [], writeAt,
    };
    this.chunk = st;
    let hidden: tf.Tensor3D;
    try {
      hidden = model.forwardHidden({ ids: idsT, positions, keyValid: [], lastOnly, attention: (l, q, k, v) => this.attend(l, q, k, v) }).hidden;
    } catch (e) {
      for (const t of [...st.ownK, ...st.ownVT]) t.dispose();
      throw e;
    } finally {
      this.chunk = null;
      st.mask.dispose();
      st.maskLast?.dispose();
      idsT.dispose();
    }
    if (writeAt < 0 && st.ownK.length !== layers) throw new Error("SharedPrefixKv: the attention hook was not called for every layer");
    return { hidden, ownK: st.ownK, ownVT: st.ownVT };
  }

  /** Like extend, but returns the logits of each row's last new position, downloaded [batch * vocab]. */
  extendLastLogits(model: Transformer, ids: number[][], mask?: number[][]): Float32Array {
    return lastLogits(model, this.feed(model, ids, mask, true), true);
  }

  /** One layer's attention for the current chunk's new tokens (runs inside the forward's tidy). */
  private attend(l: number, q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D): tf.Tensor {
    // Own tidy: a layer's score-sized intermediates are freed before the next layer runs.
    return tf.tidy(() => this.attendLayer(l, q, k, v));
  }

  private attendLayer(l: number, q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D): tf.Tensor {
    const st = this.chunk as ChunkState;
    // T: query positions (1 in a lastOnly forward's last layer, whose keys/values still cover every new position).
    const [B, H, T, hd] = q.shape;
    const lastQ = T !== k.shape[2];
    const mask = lastQ ? (st.maskLast as tf.Tensor4D) : st.mask;
    const segments = lastQ ? st.segmentsLast : st.segments;
    const KV = this.KV;
    const G = H / KV;
    const GT = G * T;
    const Pm = this.Pmax;
    let ownK: tf.Tensor4D;
    let ownVT: tf.Tensor4D;
    if (st.writeAt >= 0) {
      // One token per row, written into the spare column of the buffers (no per-step copy of every own key).
      ownK = this.ownK[l] as tf.Tensor4D;
      ownVT = this.ownVT[l] as tf.Tensor4D;
      writeColumn(k, v, ownK, ownVT, st.writeAt);
    } else {
      // Own keys: the chunk rows' cached ones (if any) followed by the new ones, kept beyond the forward's tidy.
      const S0 = (this.valid[0] as number[]).length;
      const old = (x: tf.Tensor4D | null, axis: 2 | 3): tf.Tensor4D | null => {
        if (x === null || S0 === 0) return null;
        const size = x.shape.slice() as [number, number, number, number];
        const begin: [number, number, number, number] = [0, st.r0, 0, 0];
        size[1] = st.r1 - st.r0;
        size[axis] = S0;
        return size[1] === x.shape[1] && size[axis] === x.shape[axis] ? x : (tf.slice(x, begin, size) as tf.Tensor4D);
      };
      const oldK = old(this.ownK[l] ?? null, 2);
      const oldV = old(this.ownVT[l] ?? null, 3);
      const kN = tf.transpose(k, [1, 0, 2, 3]) as tf.Tensor4D; // [KV, B, T, hd]
      const vN = tf.transpose(v, [1, 0, 3, 2]) as tf.Tensor4D; // [KV, B, hd, T]
      ownK = tf.keep(oldK === null ? kN : (tf.concat([oldK, kN], 2) as tf.Tensor4D));
      ownVT = tf.keep(oldV === null ? vN : (tf.concat([oldV, vN], 3) as tf.Tensor4D));
      st.ownK.push(ownK);
      st.ownVT.push(ownVT);
    }
    const S = ownK.shape[2];
    const qK = tf.transpose(tf.reshape(q, [B, KV, GT, hd]), [1, 0, 2, 3]); // [KV, B, GT, hd]
    const sPre = tf.reshape((this.kTb[l] as GemmWeights).matMul(qK, segments), [KV, B, GT, Pm]);
    const sOwn =
      T === 1
        ? tf.sum(tf.mul(tf.reshape(qK, [KV, B, G, 1, hd]), tf.reshape(ownK, [KV, B, 1, S, hd])), -1)
        : tf.matMul(tf.reshape(qK, [KV * B, GT, hd]) as tf.Tensor3D, tf.reshape(ownK, [KV * B, S, hd]) as tf.Tensor3D, false, true);
    const probs = tf.softmax(tf.add(tf.concat([sPre, tf.reshape(sOwn, [KV, B, GT, S])], 3), mask));
    const pPre = tf.slice(probs, [0, 0, 0, 0], [KV, B, GT, Pm]);
    const pOwn = tf.slice(probs, [0, 0, 0, Pm], [KV, B, GT, S]);
    const aPre = tf.reshape((this.vb[l] as GemmWeights).matMul(pPre, segments), [KV, B, GT, hd]);
    const aOwn =
      T === 1
        ? tf.sum(tf.mul(tf.reshape(pOwn, [KV, B, G, 1, S]), tf.reshape(ownVT, [KV, B, 1, hd, S])), -1)
        : tf.matMul(tf.reshape(pOwn, [KV * B, GT, S]) as tf.Tensor3D, tf.reshape(ownVT, [KV * B, hd, S]) as tf.Tensor3D, false, true);
    return tf.transpose(tf.add(aPre, tf.reshape(aOwn, [KV, B, GT, hd])), [1, 0, 2, 3]); // [B, KV, G*T, hd] = [B, H, T, hd]
  }

  /**
   * Keeps only the given rows, in order (drops finished rows). The packed prefixes stay as they are (re-packing
   * would cost more than the unused blocks).
   */
  selectRows(rows: number[]): void {
    const B = this.batch;
    selectRowState(this.valid, this.nextPos, rows, B);
    this.rowGroup = rows.map((r) => this.rowGroup[r] as number);
    if (this.inPlace) {
      // wasm: one heap copy per kept row (the gather between two transposes costs far more).
      for (let l = 0; l < this.ownK.length; l++) {
        const k = this.ownK[l] ?? null;
        const v = this.ownVT[l] ?? null;
        if (k !== null) this.ownK[l] = pickRows(k, rows, B);
        if (v !== null) this.ownVT[l] = pickRows(v, rows, B);
        k?.dispose();
        v?.dispose();
      }
      return;
    }
    const idx = tf.tensor1d(rows, "int32");
    // Rows are axis 1; gather on axis 0 (a row copy per index on wasm) between two transposes.
    const pick = (x: tf.Tensor4D | null): tf.Tensor4D | null =>
      x === null ? null : (tf.tidy(() => tf.transpose(tf.gather(tf.transpose(x, [1, 0, 2, 3]), idx), [1, 0, 2, 3])) as tf.Tensor4D);
    for (let l = 0; l < this.ownK.length; l++) {
      const k = this.ownK[l] ?? null;
      const v = this.ownVT[l] ?? null;
      this.ownK[l] = pick(k);
      this.ownVT[l] = pick(v);
      k?.dispose();
      v?.dispose();
    }
    idx.dispose();
  }

  /** Whether selectRows is a cheap copy (wasm), so finished rows are worth dropping early. */
  get cheapSelect(): boolean {
    return this.inPlace;
  }

  /** Frees the rows' keys/values and the padded prefix copies (the entries belong to the PrefixCache). */
  dispose(): void {
    for (const t of [...this.ownK, ...this.ownVT]) t?.dispose();
    this.ownK.fill(null);
    this.ownVT.fill(null);
    for (const w of [...this.kTb, ...this.vb]) {
      w.dispose();
      w.tensor.dispose();
    }
    this.kTb = [];
    this.vb = [];
  }
}

/** Concatenates row chunks along `axis` (disposing them); a single chunk is returned as is. */
function joinRows<X extends tf.Tensor>(parts: X[], axis: number): X {
  if (parts.length === 1) return parts[0] as X;
  const out = tf.concat(parts, axis) as X;
  for (const p of parts) p.dispose();
  return out;
}

/** Adds `before` / `after` zero entries along `axis` (disposing x); nothing to add returns x. */
function padAxis<X extends tf.Tensor>(x: X, axis: number, before: number, after: number): X {
  if (before <= 0 && after <= 0) return x;
  const pad = x.shape.map((): [number, number] => [0, 0]);
  pad[axis] = [Math.max(0, before), Math.max(0, after)];
  const out = tf.pad(x, pad) as X;
  x.dispose();
  return out;
}

/**
 * Splits rows of real lengths `len` into prefill buckets: rows sorted by length, cut where a bucket's padding (every
 * row padded to the bucket's longest) would cost more than starting another forward (`chunkCost`, in token
 * positions), each bucket fitting `fits(rows, length)` (a single row always does). Minimises the sum over buckets of
 * rows x longest + chunkCost (dynamic programming over the sorted lengths). Returns row indices per bucket.
 */
export function planPrefillBuckets(len: readonly number[], fits: (rows: number, length: number) => boolean, chunkCost = 24): number[][] {
  const order = len.map((_, i) => i).sort((a, b) => (len[a] as number) - (len[b] as number) || a - b);
  const n = order.length;
  const best = new Float64Array(n + 1).fill(Infinity);
  const from = new Int32Array(n + 1);
  best[0] = 0;
  for (let j = 1; j <= n; j++) {
    const t = len[order[j - 1] as number] as number;
    for (let i = j - 1; i >= 0; i--) {
      const rows = j - i;
      if (rows > 1 && !fits(rows, t)) break;
      const c = (best[i] as number) + rows * t + chunkCost;
      if (c < (best[j] as number)) {
        best[j] = c;
        from[j] = i;
      }
    }
  }
  const out: number[][] = [];
  for (let j = n; j > 0; j = from[j] as number) out.unshift(order.slice(from[j] as number, j));
  return out;
}
