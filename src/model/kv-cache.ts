// Key/value cache for incremental decoding: each layer's rotated keys and values grow by concatenation along time.
// Same computation as a full forward pass (shared code path in Transformer.forwardHidden); see kv-cache tests.
import * as tf from "@tensorflow/tfjs";
import { InputError } from "../core/errors";
import { positionsFromMask } from "./ops";
import { LayerKv, Transformer } from "./transformer";

/** Checks an extend() call's ids [B][T] and mask for a batch of B rows; returns T and the flat mask (1 = token). */
export function extendMask(B: number, ids: number[][], mask?: number[][]): { T: number; m: number[] } {
  const T = ids[0]?.length ?? 0;
  if (ids.length !== B || T === 0 || ids.some((r) => r.length !== T)) {
    throw new InputError(`ids must be ${B} rows of equal, non-zero length`, { field: "ids" });
  }
  if (mask !== undefined && (mask.length !== B || mask.some((r) => r.length !== T))) {
    throw new InputError(`mask must be ${B} rows of ${T}`, { field: "mask" });
  }
  return { T, m: mask === undefined ? new Array<number>(B * T).fill(1) : mask.flat() };
}

/** Appends T new keys' validity (flat mask [B * T]) to each row and advances each row's next rotary position. */
export function appendValidity(valid: number[][], nextPos: number[], m: readonly number[], T: number): void {
  valid.forEach((row, b) => {
    for (let t = 0; t < T; t++) {
      const ok = (m[b * T + t] as number) !== 0 ? 1 : 0;
      row.push(ok);
      nextPos[b] = (nextPos[b] as number) + ok;
    }
  });
}

/** Keeps only `rows` (checked indices into a batch of `batch`), in order, of the per-row validity and positions. */
export function selectRowState(valid: number[][], nextPos: number[], rows: readonly number[], batch: number): void {
  if (rows.length === 0 || rows.some((r) => !Number.isInteger(r) || r < 0 || r >= batch)) {
    throw new InputError(`rows must be non-empty indices in [0, ${batch})`, { field: "rows" });
  }
  const v = rows.map((r) => (valid[r] as number[]).slice());
  const pos = rows.map((r) => nextPos[r] as number);
  valid.length = 0;
  valid.push(...v);
  nextPos.length = 0;
  nextPos.push(...pos);
}

/**
 * A batch's cache. Rows are independent sequences; padding (mask 0) can appear anywhere (left padding for ragged
 * prompts) and is never attended to. Owns its tensors: call dispose().
 */
export class KvCache {
  private kv: LayerKv[] | null = null;
  /** Per row: 1/0 validity of every cached key. */
  private readonly valid: number[][];
  /** Per row: rotary position of the next valid token. */
  private readonly nextPos: number[];

  private batchSize: number;

  constructor(batch: number) {
    if (!Number.isInteger(batch) || batch <= 0) throw new InputError(`batch must be a positive integer, got ${batch}`, { field: "batch" });
    this.batchSize = batch;
    this.valid = Array.from({ length: batch }, () => []);
    this.nextPos = new Array<number>(batch).fill(0);
  }

  /** Current number of rows. */
  get batch(): number {
    return this.batchSize;
  }

  /** Number of cached key positions (including padding), the same for every row. */
  get length(): number {
    return (this.valid[0] as number[]).length;
  }

  /** Per-row position the next real token will get (= number of real tokens so far). */
  positions(): number[] {
    return this.nextPos.slice();
  }

  /**
   * Feeds new tokens ids [batch][seq] (mask: 1 = token, 0 = padding; default all 1) through the model, appending
   * their keys/values. Returns final-norm hidden states [batch, seq, d]; the caller disposes them.
   */
  extend(model: Transformer, ids: number[][], mask?: number[][]): tf.Tensor3D {
    const B = this.batch;
    const { T, m } = extendMask(B, ids, mask);
    const positions = positionsFromMask(m, B, T, this.nextPos);
    const L = this.length + T;
    const keyValid = new Uint8Array(B * L);
    for (let b = 0; b < B; b++) {
      const row = this.valid[b] as number[];
      for (let j = 0; j < row.length; j++) keyValid[b * L + j] = row[j] as number;
      for (let t = 0; t < T; t++) keyValid[b * L + row.length + t] = (m[b * T + t] as number) !== 0 ? 1 : 0;
    }
    const idsT = tf.tensor2d(ids.flat(), [B, T], "int32");
    let out: { hidden: tf.Tensor3D; kv: LayerKv[] };
    try {
      out = model.forwardHidden({ ids: idsT, positions, keyValid }, this.kv, true);
    } finally {
      idsT.dispose();
    }
    this.disposeKv();
    this.kv = out.kv;
    appendValidity(this.valid, this.nextPos, m, T);
    return out.hidden;
  }

  /**
   * Like extend, but returns only the logits of each row's last new position, downloaded: Float32Array
   * [batch * vocab] (no tensors to dispose).
   */
  extendLastLogits(model: Transformer, ids: number[][], mask?: number[][]): Float32Array {
    const hidden = this.extend(model, ids, mask);
    return lastLogits(model, hidden, true);
  }

  /**
   * Starts an empty cache from cached prompt prefixes (prefix-cache.ts), one per row (null = none): their keys and
   * values are copied in, left-padded to the longest, and the next tokens continue at each prefix's length.
   */
  seedPrefixes(entries: ReadonlyArray<{ length: number; kT: readonly tf.Tensor3D[]; v: readonly tf.Tensor3D[] } | null>): void {
    if (entries.length !== this.batch || this.length !== 0) throw new InputError(`seedPrefixes needs an empty cache and ${this.batch} entries`, { field: "entries" });
    const P = Math.max(...entries.map((e) => e?.length ?? 0));
    if (P === 0) return;
    const layers = (entries.find((e) => e !== null) as { kT: readonly tf.Tensor3D[] }).kT.length;
    const [KV, hd] = (entries.find((e) => e !== null) as { kT: readonly tf.Tensor3D[] }).kT[0]!.shape;
    const rows = (l: number, part: "k" | "v") =>
      tf.tidy(() =>
        tf.stack(
          entries.map((e) => {
            if (e === null) return tf.zeros([KV, P, hd]);
            const t = part === "k" ? tf.transpose(e.kT[l] as tf.Tensor3D, [0, 2, 1]) : (e.v[l] as tf.Tensor3D);
            return e.length === P ? t : tf.pad(t, [[0, 0], [P - e.length, 0], [0, 0]]);
          }),
        ) as tf.Tensor4D,
      );
    this.kv = Array.from({ length: layers }, (_, l) => ({ k: rows(l, "k"), v: rows(l, "v") }));
    entries.forEach((e, b) => {
      const n = e?.length ?? 0;
      (this.valid[b] as number[]).push(...new Array<number>(P - n).fill(0), ...new Array<number>(n).fill(1));
      this.nextPos[b] = n;
    });
  }

  /**
   * Keeps only the given rows (in the given order), e.g. to drop finished rows from a decoding batch. The cache's
   * batch size becomes rows.length.
   */
  selectRows(rows: number[]): void {
    selectRowState(this.valid, this.nextPos, rows, this.batch);
    if (this.kv !== null) {
      const idx = tf.tensor1d(rows, "int32");
      const next = this.kv.map((l) => ({ k: tf.gather(l.k, idx) as tf.Tensor4D, v: tf.gather(l.v, idx) as tf.Tensor4D }));
      idx.dispose();
      this.disposeKv();
      this.kv = next;
    }
    this.batchSize = rows.length;
  }

  private disposeKv(): void {
    if (this.kv === null) return;
    for (const l of this.kv) {
      l.k.dispose();
      l.v.dispose();
    }
    this.kv = null;
  }

  /** Frees the cached tensors (the cache is empty afterwards). */
  dispose(): void {
    this.disposeKv();
    for (const r of this.valid) r.length = 0;
    this.nextPos.fill(0);
  }
}

/**
 * Logits of the last position of hidden [batch, seq, d], downloaded as Float32Array [batch * vocab].
 * Disposes `hidden` when disposeHidden is true.
 */
export function lastLogits(model: Transformer, hidden: tf.Tensor3D, disposeHidden: boolean): Float32Array {
  try {
    const logits = tf.tidy(() => {
      const [B, T, d] = hidden.shape;
      const last = tf.reshape(tf.slice(hidden, [0, T - 1, 0], [B, 1, d]), [B, d]) as tf.Tensor2D;
      return model.headLogits(last);
    });
    const data = logits.dataSync() as Float32Array;
    logits.dispose();
    return data;
  } finally {
    if (disposeHidden) hidden.dispose();
  }
}
