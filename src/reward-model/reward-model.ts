// Learned reward model: a scalar head on the policy transformer's pooled final hidden states, trained on judge
// labels by regression (MSE) or on preference pairs by Bradley-Terry (-log sigmoid(r_chosen - r_rejected)), as in RLHF reward models.
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../core/rng";
import { positionsFromMask } from "../model/ops";
import type { Transformer } from "../model/transformer";
import { reliabilityReport, type ReliabilityReport } from "../reward/reliability";

/** A trainable variable holding a copy of t; t is disposed. */
function variableFrom(t: tf.Tensor): tf.Variable {
  const v = tf.variable(t, true);
  t.dispose();
  return v;
}

export type Pooling = "mean" | "last";

export interface RewardModelOptions {
  /** How token states become one vector: mean over real tokens, or the last real token. Default "mean". */
  pooling?: Pooling;
  /** Hidden units of a one-hidden-layer MLP head (tanh); 0 = a linear head. Default 0. */
  headHidden?: number;
  /** Also train the transformer's weights (default false: frozen backbone, only the head trains). */
  trainBackbone?: boolean;
  /** Seed of the head's initialisation. */
  seed?: number;
}

export interface FitOptions {
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  /** Shuffling seed. */
  seed?: number;
  /** Called after each optimizer step with the batch loss. */
  onStep?: (step: number, loss: number) => void;
}

export interface LabeledExample {
  /** Token ids of the judged text (e.g. the tokenised solution). */
  ids: number[];
  /** The judge's score. */
  label: number;
}

export interface PreferencePair {
  chosen: number[];
  rejected: number[];
}

/**
 * A reward head on a Transformer. Owns the head's variables (dispose() them); the backbone stays owned by its
 * creator. Labels are standardised internally for regression (mean/std stored), so predict() returns label units.
 */
export class RewardModel {
  readonly backbone: Transformer;
  readonly pooling: Pooling;
  readonly trainBackbone: boolean;
  private readonly w1: tf.Variable | null;
  private readonly b1: tf.Variable | null;
  private readonly w: tf.Variable;
  private readonly b: tf.Variable;
  private labelMean = 0;
  private labelStd = 1;
  private disposed = false;

  constructor(backbone: Transformer, options: RewardModelOptions = {}) {
    this.backbone = backbone;
    this.pooling = options.pooling ?? "mean";
    this.trainBackbone = options.trainBackbone ?? false;
    const d = backbone.config.hiddenSize;
    const h = options.headHidden ?? 0;
    const rng = new Rng(options.seed ?? 0);
    const init = (shape: number[], scale: number, key: string): tf.Variable => {
      const n = shape.reduce((a, c) => a * c, 1);
      const r = rng.fork(key);
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = r.normal(0, scale);
      return variableFrom(tf.tensor(data, shape));
    };
    if (h > 0) {
      this.w1 = init([d, h], 1 / Math.sqrt(d), "w1");
      this.b1 = variableFrom(tf.zeros([h]));
      this.w = init([h, 1], 1 / Math.sqrt(h), "w");
    } else {
      this.w1 = null;
      this.b1 = null;
      this.w = init([d, 1], 1 / Math.sqrt(d), "w");
    }
    this.b = variableFrom(tf.zeros([1]));
  }

  /** The head's variables (and the backbone's when trainBackbone). */
  trainableVariables(): tf.Variable[] {
    const head = [this.w1, this.b1, this.w, this.b].filter((v): v is tf.Variable => v !== null);
    return this.trainBackbone ? [...head, ...this.backbone.trainableVariables()] : head;
  }

  /** Right-pads rows with 0 and builds the mask. Rows longer than the model's context keep their LAST tokens. */
  private batch(rows: ReadonlyArray<ReadonlyArray<number>>): { ids: tf.Tensor2D; mask: Float32Array; B: number; T: number } {
    const max = this.backbone.config.maxSeqLen;
    const clipped = rows.map((r) => (r.length > max ? r.slice(r.length - max) : r));
    const T = Math.max(1, ...clipped.map((r) => r.length));
    const B = clipped.length;
    const ids = new Int32Array(B * T);
    const mask = new Float32Array(B * T);
    clipped.forEach((r, b) => {
      if (r.length === 0) throw new RangeError(`reward model input ${b} is empty`);
      r.forEach((id, t) => {
        ids[b * T + t] = id;
        mask[b * T + t] = 1;
      });
    });
    return { ids: tf.tensor2d(ids, [B, T], "int32"), mask, B, T };
  }

  /** Rewards [batch] for token rows (label units after regression training). Differentiable; caller disposes. */
  forward(rows: ReadonlyArray<ReadonlyArray<number>>): tf.Tensor1D {
    if (this.disposed) throw new Error("RewardModel used after dispose()");
    return tf.tidy(() => {
      const { ids, mask, B, T } = this.batch(rows);
      const positions = positionsFromMask(mask, B, T);
      const { hidden } = this.backbone.forwardHidden({ ids, positions, keyValid: mask });
      let pooled: tf.Tensor2D;
      if (this.pooling === "mean") {
        const m = tf.tensor3d(mask, [B, T, 1]);
        pooled = tf.div(tf.sum(tf.mul(hidden, m), 1), tf.sum(m, 1)) as tf.Tensor2D;
      } else {
        // One-hot over positions picks each row's last real token (no gather: its gradient is missing on wasm).
        const sel = new Float32Array(B * T);
        for (let b = 0; b < B; b++) {
          let last = 0;
          for (let t = 0; t < T; t++) if (mask[b * T + t] !== 0) last = t;
          sel[b * T + last] = 1;
        }
        pooled = tf.sum(tf.mul(hidden, tf.tensor3d(sel, [B, T, 1])), 1) as tf.Tensor2D;
      }
      let z: tf.Tensor2D = pooled;
      if (this.w1 !== null && this.b1 !== null) z = tf.tanh(tf.add(tf.matMul(z, this.w1 as tf.Tensor2D), this.b1)) as tf.Tensor2D;
      const raw = tf.reshape(tf.add(tf.matMul(z, this.w as tf.Tensor2D), this.b), [B]);
      return tf.add(tf.mul(raw, this.labelStd), this.labelMean) as tf.Tensor1D;
    });
  }

  /** Rewards for token rows, in batches, as plain numbers. */
  predict(rows: ReadonlyArray<ReadonlyArray<number>>, batchSize = 32): number[] {
    const out: number[] = [];
    for (let i = 0; i < rows.length; i += batchSize) {
      const t = this.forward(rows.slice(i, i + batchSize));
      out.push(...Array.from(t.dataSync()));
      t.dispose();
    }
    return out;
  }

  /** Regression on judge scores: minimises MSE between the (standardised) head output and the standardised labels. */
  fitRegression(examples: ReadonlyArray<LabeledExample>, options: FitOptions = {}): number[] {
    if (examples.length === 0) throw new RangeError("fitRegression needs at least one example");
    const labels = examples.map((e) => e.label);
    const mean = labels.reduce((a, c) => a + c, 0) / labels.length;
    const sd = Math.sqrt(labels.reduce((a, c) => a + (c - mean) ** 2, 0) / labels.length) || 1;
    this.labelMean = mean;
    this.labelStd = sd;
    return this.loop(examples.length, options, (idx) => {
      const pred = this.forward(idx.map((i) => examples[i]!.ids));
      const target = tf.tensor1d(idx.map((i) => (examples[i]!.label - mean) / sd));
      return tf.mean(tf.square(tf.div(tf.sub(pred, mean), sd).sub(target))) as tf.Scalar;
    });
  }

  /** Bradley-Terry on preference pairs: minimises mean softplus(r_rejected - r_chosen) = -log sigmoid(r_c - r_r). */
  fitPairs(pairs: ReadonlyArray<PreferencePair>, options: FitOptions = {}): number[] {
    if (pairs.length === 0) throw new RangeError("fitPairs needs at least one pair");
    this.labelMean = 0;
    this.labelStd = 1;
    return this.loop(pairs.length, options, (idx) => {
      const rows = [...idx.map((i) => pairs[i]!.chosen), ...idx.map((i) => pairs[i]!.rejected)];
      const r = this.forward(rows);
      const n = idx.length;
      const diff = tf.sub(tf.slice(r, [n], [n]), tf.slice(r, [0], [n]));
      return tf.mean(tf.softplus(diff)) as tf.Scalar;
    });
  }

  private loop(n: number, options: FitOptions, lossFn: (idx: number[]) => tf.Scalar): number[] {
    const epochs = options.epochs ?? 10;
    const batchSize = Math.max(1, options.batchSize ?? 16);
    const opt = tf.train.adam(options.learningRate ?? 1e-2);
    const rng = new Rng(options.seed ?? 0);
    const vars = this.trainableVariables();
    const losses: number[] = [];
    let step = 0;
    try {
      for (let e = 0; e < epochs; e++) {
        const order = rng.fork("epoch", e).shuffle(Array.from({ length: n }, (_, i) => i));
        for (let s = 0; s < n; s += batchSize) {
          const idx = order.slice(s, s + batchSize);
          const loss = opt.minimize(() => lossFn(idx), true, vars);
          const v = loss!.dataSync()[0]!;
          loss!.dispose();
          losses.push(v);
          options.onStep?.(step++, v);
        }
      }
    } finally {
      opt.dispose();
    }
    return losses;
  }

  /**
   * Agreement with held-out judge labels: predictions rounded and clipped to the label range, then the
   * reliability statistics (exact, within 1, Pearson, Spearman, quadratic kappa) against the labels.
   */
  evaluate(heldOut: ReadonlyArray<LabeledExample>, range = { min: 0, max: 5 }): ReliabilityReport & { predictions: number[] } {
    const pred = this.predict(heldOut.map((e) => e.ids));
    const rounded = pred.map((p) => Math.min(range.max, Math.max(range.min, Math.round(p))));
    const rep = reliabilityReport({ reference: heldOut.map((e) => e.label), other: rounded }, range);
    return { ...rep, predictions: pred };
  }

  dispose(): void {
    if (this.disposed) return;
    for (const v of [this.w1, this.b1, this.w, this.b]) v?.dispose();
    this.disposed = true;
  }
}
