// Decoding against cached prefixes (PrefixCache entries): each row prefills only its suffix and decodes, attending to
// the shared prefix with one GEMM per (kv head, distinct prefix) instead of per row ("cascade" attention: one softmax
// over [prefix | own keys], same function as a full forward up to float rounding).
import * as tf from "@tensorflow/tfjs";
import { InputError } from "../core/errors";
import { headDim } from "./config";
import { appendValidity, extendMask, lastLogits, selectRowState } from "./kv-cache";
import { MASK_VALUE, positionsFromMask } from "./ops";
import type { PrefixEntry } from "./prefix-cache";
import { joinScores, ownAttentionAvailable, ownOutput, ownScores, writeOwnColumn } from "./own-attention";
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
  /** Per layer, the chunk rows' own keys transposed [KV, rows, hd, S] and values [KV, rows, S, hd] after this call. */
  ownKT: tf.Tensor4D[];
  ownV: tf.Tensor4D[];
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
  /**
   * Per layer, the rows' own keys transposed [KV, B, hd, S] and values [KV, B, S, hd]: the layouts in which a decode
   * step's dot products run over contiguous memory (own-attention.ts) and T > 1 extends need no transposes.
   */
  private ownKT: Array<tf.Tensor4D | null>;
  private ownV: Array<tf.Tensor4D | null>;
  private readonly valid: number[][];
  private readonly nextPos: number[];
  private chunk: ChunkState | null = null;
  /** wasm: own-key buffers have spare zero columns (capacity) and decode steps write into them in place. */
  private readonly inPlace: boolean;
  /** Off: the attention runs as tf ops and JS heap copies instead of the wasm kernels (tests compare the two). */
  static ownKernels = true;
  /** wasm: one-query attention, the score join of T > 1 extends and in-place writes by the kernels of own-attention.ts. */
  private readonly ownKernel: boolean;

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
    this.ownKT = new Array<tf.Tensor4D | null>(c.numLayers).fill(null);
    this.ownV = new Array<tf.Tensor4D | null>(c.numLayers).fill(null);
    this.valid = rowEntries.map(() => []);
    this.nextPos = this.rowGroup.map((g) => this.groupLen[g] as number);
    this.inPlace = (this.kTb[0] as GemmWeights).fused;
    this.ownKernel = this.inPlace && SharedPrefixKv.ownKernels && hd % 4 === 0 && ownAttentionAvailable();
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
    const cap = this.ownKT[0]?.shape[3] ?? 0;
    const writeAt = this.inPlace && T === 1 && S0 < cap && this.KV * G * B * (this.Pmax + cap) <= SharedPrefixKv.scoreBudget ? S0 : -1;
    // Spare zero columns of the rebuilt own keys on wasm, for the next decode steps (capacity doubles when full).
    const spare = !this.inPlace ? 0 : S0 === 0 && this.decodeTokens !== undefined ? Math.max(1, this.decodeTokens) : Math.max(32, S0 + T);
    let out: { hidden: tf.Tensor3D; ownKT: tf.Tensor4D[]; ownV: tf.Tensor4D[]; spared?: boolean } | null = null;
    if (S0 === 0) {
      out = this.prefill(model, ids, m, positions, G, T, spare, lastOnly);
    } else {
      const W = this.Pmax + (writeAt >= 0 ? cap : S0 + T);
      const rowsPerChunk = writeAt >= 0 ? B : Math.max(1, Math.floor(SharedPrefixKv.scoreBudget / (this.KV * G * T * W)));
      const hiddens: tf.Tensor3D[] = [];
      const newKT: tf.Tensor4D[][] = [];
      const newV: tf.Tensor4D[][] = [];
      try {
        for (let r0 = 0; r0 < B; r0 += rowsPerChunk) {
          const r1 = Math.min(B, r0 + rowsPerChunk);
          const rows = Array.from({ length: r1 - r0 }, (_, i) => r0 + i);
          const st = this.runChunk(model, rows, ids.slice(r0, r1), m.slice(r0 * T, r1 * T), positions.subarray(r0 * T, r1 * T), G, T, S0, W, writeAt, lastOnly);
          hiddens.push(st.hidden);
          newKT.push(st.ownKT);
          newV.push(st.ownV);
        }
      } catch (e) {
        for (const t of [...hiddens, ...newKT.flat(), ...newV.flat()]) t.dispose();
        throw e;
      }
      const hidden = joinRows(hiddens, 0);
      if (writeAt < 0) out = { hidden, ownKT: this.ownKT.map((_, l) => joinRows(newKT.map((c) => c[l] as tf.Tensor4D), 1)), ownV: this.ownV.map((_, l) => joinRows(newV.map((c) => c[l] as tf.Tensor4D), 1)) };
      else out = { hidden, ownKT: [], ownV: [] };
    }
    if (writeAt < 0) {
      // Rebuilt own keys (with their spare columns on wasm).
      const add = out.spared === true ? 0 : spare;
      for (let l = 0; l < this.ownKT.length; l++) {
        this.ownKT[l]?.dispose();
        this.ownV[l]?.dispose();
        this.ownKT[l] = padAxis(out.ownKT[l] as tf.Tensor4D, 3, 0, add);
        this.ownV[l] = padAxis(out.ownV[l] as tf.Tensor4D, 2, 0, add);
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
  ): { hidden: tf.Tensor3D; ownKT: tf.Tensor4D[]; ownV: tf.Tensor4D[]; spared?: boolean } {
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
    const newKT: tf.Tensor4D[][] = [];
    const newV: tf.Tensor4D[][] = [];
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
          newKT.push(st.ownKT);
          newV.push(st.ownV);
        } else {
          hiddens.push(lastOnly ? st.hidden : padAxis(st.hidden, 1, off, 0));
          newKT.push(st.ownKT.map((k) => padAxis(k, 3, off, 0)));
          newV.push(st.ownV.map((v) => padAxis(v, 2, off, 0)));
        }
      }
      if (this.inPlace) return this.placeBuckets(hiddens, newKT, newV, order, T, spare, lastOnly ? 1 : T);
    } catch (e) {
      for (const t of [...hiddens, ...newKT.flat(), ...newV.flat()]) t.dispose();
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
      ownKT: this.ownKT.map((_, l) => put(joinRows(newKT.map((c) => c[l] as tf.Tensor4D), 1), 1)),
      ownV: this.ownV.map((_, l) => put(joinRows(newV.map((c) => c[l] as tf.Tensor4D), 1), 1)),
    };
  }

  /**
   * wasm: the prefill buckets' outputs (hidden [rows, Tc, d], own keys transposed [KV, rows, hd, Tc], values [KV, rows, Tc, hd],
   * bucket rows in `order`) copied on the heap into zero tensors in row order, right-aligned to T (the buckets' left
   * padding stays zero: validity 0, never attended to), the own keys/values with `spare` zero columns after T. Same
   * values as pad + concat + gather + pad, without those kernels (the gather alone is slow on wasm). Disposes the parts.
   */
  private placeBuckets(
    hiddens: tf.Tensor3D[], newKT: tf.Tensor4D[][], newV: tf.Tensor4D[][], order: number[], T: number, spare: number, Th: number,
  ): { hidden: tf.Tensor3D; ownKT: tf.Tensor4D[]; ownV: tf.Tensor4D[]; spared: boolean } {
    const B = this.batch;
    const { KV, hd } = this;
    const C = T + spare;
    const d = (hiddens[0] as tf.Tensor3D).shape[2];
    const hidden = tf.zeros([B, Th, d]) as tf.Tensor3D;
    const ownKT: tf.Tensor4D[] = [];
    const ownV: tf.Tensor4D[] = [];
    try {
      for (let l = 0; l < this.ownKT.length; l++) {
        ownKT.push(tf.zeros([KV, B, hd, C]) as tf.Tensor4D);
        ownV.push(tf.zeros([KV, B, C, hd]) as tf.Tensor4D);
      }
      let i0 = 0;
      hiddens.forEach((h, c) => {
        const n = h.shape[0];
        const Tc = ((newKT[c] as tf.Tensor4D[])[0] as tf.Tensor4D).shape[3]; // the bucket's length (h may be its last position only)
        const rows = order.slice(i0, i0 + n);
        i0 += n;
        const off = T - Tc;
        placeRows(h, hidden, 1, rows, h.shape[1], d, Th, d, Th - h.shape[1], 0);
        for (let l = 0; l < ownKT.length; l++) {
          placeRows((newKT[c] as tf.Tensor4D[])[l] as tf.Tensor4D, ownKT[l] as tf.Tensor4D, KV, rows, hd, Tc, hd, C, 0, off);
          placeRows((newV[c] as tf.Tensor4D[])[l] as tf.Tensor4D, ownV[l] as tf.Tensor4D, KV, rows, Tc, hd, C, hd, off, 0);
        }
      });
    } catch (e) {
      for (const t of [hidden, ...ownKT, ...ownV]) t.dispose();
      throw e;
    }
    for (const t of [...hiddens, ...newKT.flat(), ...newV.flat()]) t.dispose();
    return { hidden, ownKT, ownV, spared: true };
  }

  /**
   * One forward over the given rows (ascending and contiguous when S0 > 0: their old own keys are a slice): hidden
   * [rows, T, d] plus the rows' own keys/values per layer (old + new).
   */
  private runChunk(
    model: Transformer, rows: number[], ids: number[][], m: number[], positions: Int32Array, G: number, T: number, S0: number, W: number,
    writeAt: number, lastOnly: boolean,
  ): { hidden: tf.Tensor3D; ownKT: tf.Tensor4D[]; ownV: tf.Tensor4D[] } {
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
    const layers = this.ownKT.length;
    const st: ChunkState = {
      mask: tf.tensor4d(mv, [1, n, G * T, W]), maskLast, segmentsLast: last ? segmentsFor(1) : [], r0, r1, segments, ownKT: [], ownV: [], writeAt,
    };
    this.chunk = st;
    let hidden: tf.Tensor3D;
    try {
      hidden = model.forwardHidden({ ids: idsT, positions, keyValid: [], lastOnly, attention: (l, q, k, v) => this.attend(l, q, k, v) }).hidden;
    } catch (e) {
      for (const t of [...st.ownKT, ...st.ownV]) t.dispose();
      throw e;
    } finally {
      this.chunk = null;
      st.mask.dispose();
      st.maskLast?.dispose();
      idsT.dispose();
    }
    if (writeAt < 0 && st.ownKT.length !== layers) throw new Error("SharedPrefixKv: the attention hook was not called for every layer");
    return { hidden, ownKT: st.ownKT, ownV: st.ownV };
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
    let ownKT: tf.Tensor4D;
    let ownV: tf.Tensor4D;
    if (st.writeAt >= 0) {
      // One token per row, written into the spare column of the buffers (no per-step copy of every own key).
      ownKT = this.ownKT[l] as tf.Tensor4D;
      ownV = this.ownV[l] as tf.Tensor4D;
      if (this.ownKernel) writeOwnColumn(k, v, ownKT, ownV, st.writeAt);
      else writeColumn(k, v, ownKT, ownV, st.writeAt);
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
      const oldK = old(this.ownKT[l] ?? null, 3);
      const oldV = old(this.ownV[l] ?? null, 2);
      const kN = tf.transpose(k, [1, 0, 3, 2]) as tf.Tensor4D; // [KV, B, hd, T]
      const vN = tf.transpose(v, [1, 0, 2, 3]) as tf.Tensor4D; // [KV, B, T, hd]
      ownKT = tf.keep(oldK === null ? kN : (tf.concat([oldK, kN], 3) as tf.Tensor4D));
      ownV = tf.keep(oldV === null ? vN : (tf.concat([oldV, vN], 2) as tf.Tensor4D));
      st.ownKT.push(ownKT);
      st.ownV.push(ownV);
    }
    const S = ownKT.shape[3];
    const qK = tf.transpose(tf.reshape(q, [B, KV, GT, hd]), [1, 0, 2, 3]); // [KV, B, GT, hd]
    const sPre = (this.kTb[l] as GemmWeights).matMul(qK, segments); // [KV * B * GT, Pm]
    if (T === 1 && this.ownKernel) {
      // wasm: own-key scores, concat and mask in one kernel, the own-value sum, prefix add and transpose in another,
      // both only over the columns written so far (the spare ones are zero). Same values as the tf ops below.
      const filled = st.writeAt >= 0 ? st.writeAt + 1 : S;
      const probs = tf.softmax(ownScores(qK, ownKT, sPre, mask, filled)) as tf.Tensor4D;
      const aPre = (this.vb[l] as GemmWeights).matMul(tf.slice(probs, [0, 0, 0, 0], [KV, B, GT, Pm]), segments);
      return ownOutput(probs, ownV, aPre, filled);
    }
    // One query per row: broadcast multiply + sum over hd (keys) / over the own keys (values); else batched GEMMs.
    const sOwn =
      T === 1
        ? tf.sum(tf.mul(tf.reshape(qK, [KV, B, G, hd, 1]), tf.reshape(ownKT, [KV, B, 1, hd, S])), 3)
        : tf.matMul(tf.reshape(qK, [KV * B, GT, hd]) as tf.Tensor3D, tf.reshape(ownKT, [KV * B, hd, S]) as tf.Tensor3D);
    const joined =
      this.ownKernel
        ? joinScores(sPre, tf.reshape(sOwn, [KV, B, GT, S]), mask) // concat + mask add in one pass (same values)
        : tf.add(tf.concat([tf.reshape(sPre, [KV, B, GT, Pm]), tf.reshape(sOwn, [KV, B, GT, S])], 3), mask);
    const probs = tf.softmax(joined);
    const pPre = tf.slice(probs, [0, 0, 0, 0], [KV, B, GT, Pm]);
    const pOwn = tf.slice(probs, [0, 0, 0, Pm], [KV, B, GT, S]);
    const aPre = tf.reshape((this.vb[l] as GemmWeights).matMul(pPre, segments), [KV, B, GT, hd]);
    const aOwn =
      T === 1
        ? tf.sum(tf.mul(tf.reshape(pOwn, [KV, B, G, S, 1]), tf.reshape(ownV, [KV, B, 1, S, hd])), 3)
        : tf.matMul(tf.reshape(pOwn, [KV * B, GT, S]) as tf.Tensor3D, tf.reshape(ownV, [KV * B, S, hd]) as tf.Tensor3D);
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
      for (let l = 0; l < this.ownKT.length; l++) {
        const k = this.ownKT[l] ?? null;
        const v = this.ownV[l] ?? null;
        if (k !== null) this.ownKT[l] = pickRows(k, rows, B);
        if (v !== null) this.ownV[l] = pickRows(v, rows, B);
        k?.dispose();
        v?.dispose();
      }
      return;
    }
    const idx = tf.tensor1d(rows, "int32");
    // Rows are axis 1; gather on axis 0 (a row copy per index on wasm) between two transposes.
    const pick = (x: tf.Tensor4D | null): tf.Tensor4D | null =>
      x === null ? null : (tf.tidy(() => tf.transpose(tf.gather(tf.transpose(x, [1, 0, 2, 3]), idx), [1, 0, 2, 3])) as tf.Tensor4D);
    for (let l = 0; l < this.ownKT.length; l++) {
      const k = this.ownKT[l] ?? null;
      const v = this.ownV[l] ?? null;
      this.ownKT[l] = pick(k);
      this.ownV[l] = pick(v);
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
    for (const t of [...this.ownKT, ...this.ownV]) t?.dispose();
    this.ownKT.fill(null);
    this.ownV.fill(null);
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
