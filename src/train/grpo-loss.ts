// The GRPO clipped-surrogate loss over per-token log-probs (tfjs), its normalisers, and a plain-number mirror for tests.
// Formulas follow TRL's GRPOTrainer._compute_loss (clip with epsilon low/high, k3 KL, loss types grpo / dapo / dr_grpo;
// Shao et al. 2024; Yu et al. 2025 "DAPO"; Liu et al. 2025 "Dr. GRPO").
import * as tf from "@tensorflow/tfjs";
import type { LossType } from "./grpo-config";

// ---------------------------------------------------------------------------------------------------------------
// Normalisers (pure numbers)
// ---------------------------------------------------------------------------------------------------------------

/**
 * Per-sequence weights w_i such that the batch loss is sum_i w_i * sum_t (per-token loss_it * mask_it).
 * Computed over the WHOLE batch (all micro-batches), so micro-batch losses simply add up to the batch loss.
 * - grpo:    w_i = 1 / (N * max(n_i, 1))     mean over each sequence's trained tokens, then mean over sequences
 * - dapo:    w_i = 1 / max(sum_j n_j, 1)     sum over all trained tokens / number of trained tokens in the batch
 * - dr_grpo: w_i = 1 / (N * L)               constant; L = maxCompletionLength
 * where n_i = trained tokens of sequence i and N = number of sequences.
 */
export function lossNormaliser(loss: LossType, tokenCounts: readonly number[], maxCompletionLength?: number): number[] {
  const N = tokenCounts.length;
  if (N === 0) return [];
  switch (loss) {
    case "grpo":
      return tokenCounts.map((n) => 1 / (N * Math.max(n, 1)));
    case "dapo": {
      const total = tokenCounts.reduce((a, b) => a + b, 0);
      return tokenCounts.map(() => 1 / Math.max(total, 1));
    }
    case "dr_grpo": {
      if (!(maxCompletionLength !== undefined && maxCompletionLength > 0)) {
        throw new RangeError("lossNormaliser: dr_grpo needs maxCompletionLength > 0");
      }
      return tokenCounts.map(() => 1 / (N * maxCompletionLength));
    }
  }
}

export interface ClipParams {
  /** Ratio clipped below at 1 - epsilonLow. */
  epsilonLow: number;
  /** Ratio clipped above at 1 + epsilonHigh. */
  epsilonHigh: number;
  /** KL coefficient (k3 estimator against the reference); 0 = no KL term. */
  beta: number;
}

/** Per-token loss as plain numbers: -min(r A, clip(r, 1-eL, 1+eH) A) + beta * k3(ref, new). */
export function perTokenLossValue(newLp: number, oldLp: number, advantage: number, p: ClipParams, refLp?: number): number {
  const r = Math.exp(newLp - oldLp);
  const rc = Math.min(Math.max(r, 1 - p.epsilonLow), 1 + p.epsilonHigh);
  let l = -Math.min(r * advantage, rc * advantage);
  if (p.beta !== 0 && refLp !== undefined) l += p.beta * (Math.exp(refLp - newLp) - (refLp - newLp) - 1);
  return l;
}

/** The batch loss as plain numbers (rows = sequences); mirrors grpoLoss for tests and for checking a step. */
export function grpoLossValue(
  args: {
    newLogprobs: number[][];
    oldLogprobs: number[][];
    refLogprobs?: number[][];
    advantages: number[];
    mask: number[][];
  },
  p: ClipParams & { loss: LossType; maxCompletionLength?: number },
): number {
  const counts = args.mask.map((row) => row.reduce((a, b) => a + (b > 0 ? 1 : 0), 0));
  const w = lossNormaliser(p.loss, counts, p.maxCompletionLength);
  let total = 0;
  args.mask.forEach((row, i) => {
    row.forEach((m, t) => {
      if (m > 0) {
        const l = perTokenLossValue(args.newLogprobs[i]![t]!, args.oldLogprobs[i]![t]!, args.advantages[i]!, p, args.refLogprobs?.[i]?.[t]);
        total += w[i]! * l;
      }
    });
  });
  return total;
}

// ---------------------------------------------------------------------------------------------------------------
// tfjs loss
// ---------------------------------------------------------------------------------------------------------------

/** Identity with zero gradient (tfjs has no stop_gradient). Returns a new tensor owned by the caller / scope. */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  const f = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
    value: (args[0] as tf.Tensor).clone(),
    gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
  }));
  return f(x) as T;
}

export interface GrpoLossInputs {
  /** [B, T] per-token log-probs of the current policy (differentiable; from Transformer.tokenLogProbs). */
  newLogprobs: tf.Tensor2D;
  /** [B, T] old-policy log-probs; null = the detached new ones (ratio exactly 1: mu = 1 / first inner iteration). */
  oldLogprobs: tf.Tensor2D | null;
  /** [B, T] reference log-probs; needed when beta > 0. */
  refLogprobs?: tf.Tensor2D | null;
  /** [B] advantage of each sequence, broadcast to its tokens. */
  advantages: tf.Tensor1D;
  /** [B, T] 1 for trained tokens, 0 elsewhere (prompt, other speaker, summary, padding). */
  mask: tf.Tensor2D;
  /** [B] per-sequence normaliser weights from lossNormaliser over the whole batch. */
  weights: tf.Tensor1D;
  /** [B, T] entropy of each predictive distribution, when the model provides it (stats only). */
  entropy?: tf.Tensor2D | null;
}

/** Indices into the stats vector returned by grpoLoss (sums over trained tokens; add across micro-batches). */
export const LOSS_STAT_NAMES = ["tokens", "ratio", "clipLow", "clipHigh", "clipRegion", "kl", "entropy"] as const;

/**
 * The GRPO loss of one (micro-)batch. Call inside tf.grad / tf.variableGrads / tf.tidy.
 * Returns `loss` (scalar; this micro-batch's share of the batch loss, given the whole-batch weights) and `stats`
 * ([7] = LOSS_STAT_NAMES sums over trained tokens: count, sum ratio, count clipped low (ratio < 1-eL and A < 0), count
 * clipped high (ratio > 1+eH and A > 0), count outside the clip range, sum k3 KL, sum entropy (or, without an entropy
 * input, sum -logprob of the sampled tokens: a Monte Carlo estimate of it)). Both tensors belong to
 * the caller's scope; `stats` carries no gradient.
 * Masking uses tf.where, so a token outside the mask gets exactly zero gradient even when its values are extreme.
 */
export function grpoLoss(inputs: GrpoLossInputs, p: ClipParams): { loss: tf.Scalar; stats: tf.Tensor1D } {
  const { newLogprobs, mask, advantages, weights } = inputs;
  const on = tf.greater(mask, 0);
  const zeros = tf.zerosLike(newLogprobs);
  const old = inputs.oldLogprobs ?? stopGradient(newLogprobs);
  const logRatio = tf.where(on, tf.sub(newLogprobs, old), zeros);
  const ratio = tf.exp(logRatio);
  const clipped = tf.clipByValue(ratio, 1 - p.epsilonLow, 1 + p.epsilonHigh);
  const adv = tf.expandDims(advantages, 1); // [B,1]
  const surrogate = tf.minimum(tf.mul(ratio, adv), tf.mul(clipped, adv));
  let perToken = tf.neg(surrogate);
  let kl: tf.Tensor = zeros;
  if (p.beta !== 0) {
    if (!inputs.refLogprobs) throw new Error("grpoLoss: beta > 0 needs refLogprobs");
    const d = tf.where(on, tf.sub(inputs.refLogprobs, newLogprobs), zeros);
    kl = tf.sub(tf.sub(tf.exp(d), d), 1);
    perToken = tf.add(perToken, tf.mul(kl, p.beta));
  }
  const m = tf.cast(on, "float32");
  const weighted = tf.mul(tf.where(on, perToken, zeros), tf.expandDims(weights, 1));
  const loss = tf.sum(weighted) as tf.Scalar;

  // statistics (no gradient needed; computed from detached copies)
  const r = stopGradient(ratio);
  const a = tf.mul(tf.onesLike(r), adv);
  const low = tf.logicalAnd(tf.less(r, 1 - p.epsilonLow), tf.less(a, 0));
  const high = tf.logicalAnd(tf.greater(r, 1 + p.epsilonHigh), tf.greater(a, 0));
  const region = tf.logicalOr(tf.less(r, 1 - p.epsilonLow), tf.greater(r, 1 + p.epsilonHigh));
  const msum = (x: tf.Tensor) => tf.sum(tf.mul(tf.cast(x, "float32"), m));
  const stats = tf.stack([
    tf.sum(m),
    msum(r),
    msum(low),
    msum(high),
    msum(region),
    msum(stopGradient(kl)),
    inputs.entropy ? msum(stopGradient(inputs.entropy)) : tf.sum(tf.where(on, tf.neg(stopGradient(newLogprobs)), zeros)),
  ]) as tf.Tensor1D;
  return { loss, stats };
}

/** Summary of a batch update, aggregated over micro-batches and inner iterations. */
export interface LossStats {
  tokens: number;
  meanRatio: number;
  clipRatioLow: number;
  clipRatioHigh: number;
  clipRatioRegion: number;
  kl: number;
  /** Mean entropy of the policy at the trained positions (exact when the model provides it, else the mean -log p of
   * the sampled tokens, a Monte Carlo estimate at temperature 1). */
  entropy: number;
}

/** Adds stats vectors (LOSS_STAT_NAMES order) element-wise. */
export function addStatSums(a: readonly number[], b: ArrayLike<number>): number[] {
  return LOSS_STAT_NAMES.map((_, i) => (a[i] ?? 0) + (b[i] ?? 0));
}

export function summariseLossStats(sums: readonly number[]): LossStats {
  const n = sums[0] ?? 0;
  const div = (x: number | undefined) => (n > 0 ? (x ?? 0) / n : 0);
  return {
    tokens: n,
    meanRatio: div(sums[1]),
    clipRatioLow: div(sums[2]),
    clipRatioHigh: div(sums[3]),
    clipRatioRegion: div(sums[4]),
    kl: div(sums[5]),
    entropy: div(sums[6]),
  };
}
