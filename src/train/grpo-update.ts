// One GRPO policy update on a batch of per-turn samples: mu passes, micro-batches with gradient accumulation, AdamW.
// Follows TRL's GRPOTrainer inner loop (num_iterations, old log-probs from the pre-update policy, k3 KL to a reference).
import * as tf from "@tensorflow/tfjs";
import type { AdamW } from "./optimizer";
import { accumulateGradients, applyIfFinite } from "./optimizer";
import type { LossType } from "./grpo-config";
import { planBatch, type PackableSample, type PackedBatch } from "./batching";
import { grpoLoss, addStatSums, summariseLossStats, stopGradient, type LossStats } from "./grpo-loss";

/** What the update needs from a model (M1's Transformer satisfies it). */
export interface LogProbModel {
  /** ids [B, T] int32 -> per-token log-probs [B, T-1] of ids[:, 1:], differentiable; caller disposes. */
  tokenLogProbs(ids: tf.Tensor2D): tf.Tensor2D;
  /** Optional: log-probs plus the entropy of each predictive distribution (both [B, T-1]), for the entropy metric. */
  tokenLogProbsAndEntropy?(ids: tf.Tensor2D): { logprobs: tf.Tensor2D; entropy: tf.Tensor2D };
}

export interface TrainableModel extends LogProbModel {
  trainableVariables(): ReadonlyArray<tf.Variable | { name: string; variable: tf.Variable }>;
}

export interface GrpoUpdateOptions {
  loss: LossType;
  epsilonLow: number;
  epsilonHigh: number;
  beta: number;
  mu: number;
  maxCompletionLength: number;
  microBatchBudget: number;
  /** "policy": ratio against the pre-update policy; "sampler": against each sample's recorded oldLogprobs. */
  oldLogprobs: "policy" | "sampler";
  skipZeroAdvantage: boolean;
  lr: number;
  /** 0 = no clipping. */
  maxGradNorm: number;
  padId?: number;
}

export interface GrpoUpdateResult {
  /** Batch loss averaged over the mu passes (NaN if nothing trained). */
  loss: number;
  /** Global gradient norm before clipping, averaged over the mu passes. */
  gradNorm: number;
  stats: LossStats;
  /** Trained tokens / sequences in the batch (normaliser counts). */
  tokens: number;
  sequences: number;
  /** Rows left out of the forward pass (zero advantage with beta 0, or no trained token). */
  skipped: number;
  /** Optimizer steps applied (mu, or 0 when nothing trains or a non-finite value stopped the update). */
  optimizerSteps: number;
  /** False when the loss or gradient norm was NaN/Inf; no update was applied in that pass (nor after it). */
  finite: boolean;
}

function variablesOf(model: TrainableModel): tf.Variable[] {
  return model.trainableVariables().map((v) => (v instanceof tf.Variable ? v : v.variable));
}

function tensorsOf(mb: PackedBatch) {
  return {
    ids: tf.tensor2d(mb.ids, [mb.batch, mb.seqLen], "int32"),
    mask: tf.tensor2d(mb.mask, [mb.batch, mb.seqLen - 1]),
    advantages: tf.tensor1d(mb.advantages),
    weights: tf.tensor1d(mb.weights),
  };
}

/** Per-token log-probs of a model on a packed micro-batch, as plain numbers ([B*(T-1)]). */
export function logProbsOf(model: LogProbModel, mb: PackedBatch): Float32Array {
  return tf.tidy(() => {
    const ids = tf.tensor2d(mb.ids, [mb.batch, mb.seqLen], "int32");
    return model.tokenLogProbs(ids).dataSync() as Float32Array;
  }).slice();
}

/**
 * Runs mu optimizer steps of the GRPO loss on the samples. Samples carry inputIds / lossMask (and oldLogprobs for the
 * "sampler" option); advantages are per sample (the dialogue's advantage broadcast to its turns).
 * Each pass accumulates gradients over token-budget micro-batches (whole-batch normaliser weights, so the sum is the
 * batch loss) and applies one AdamW step. Before applying, the loss and the gradient norm are checked: a NaN/Inf
 * leaves the weights untouched and returns finite = false. No tensors are left behind.
 */
export function grpoUpdate(
  policy: TrainableModel,
  optimizer: AdamW,
  samples: readonly PackableSample[],
  advantages: readonly number[],
  o: GrpoUpdateOptions,
  reference?: LogProbModel | null,
): GrpoUpdateResult {
  const plan = planBatch(samples, advantages, {
    loss: o.loss,
    maxCompletionLength: o.maxCompletionLength,
    microBatchBudget: o.microBatchBudget,
    skipZeroAdvantage: o.skipZeroAdvantage && o.beta === 0,
    ...(o.padId !== undefined ? { padId: o.padId } : {}),
  });
  const base = { tokens: plan.tokens, sequences: plan.sequences, skipped: plan.skipped };
  if (plan.micro.length === 0) {
    return { ...base, loss: NaN, gradNorm: 0, stats: summariseLossStats([]), optimizerSteps: 0, finite: true };
  }
  if (o.beta !== 0 && !reference) throw new Error("grpoUpdate: beta > 0 needs a reference model");
  const refLp = o.beta !== 0 ? plan.micro.map((mb) => logProbsOf(reference!, mb)) : null;
  const vars = variablesOf(policy);
  const oldLp: Array<Float32Array | null> = plan.micro.map((mb) => (o.oldLogprobs === "sampler" ? mb.oldLogprobs : null));
  const clip = { epsilonLow: o.epsilonLow, epsilonHigh: o.epsilonHigh, beta: o.beta };

  let lossSum = 0, normSum = 0, steps = 0;
  let statSums: number[] = [];
  for (let pass = 0; pass < o.mu; pass++) {
    let acc: tf.NamedTensorMap | null = null;
    let passLoss = 0;
    const recordOld = o.oldLogprobs === "policy" && pass === 0 && o.mu > 1;
    plan.micro.forEach((mb, k) => {
      const t = tensorsOf(mb);
      const old = oldLp[k] ? tf.tensor2d(oldLp[k]!, [mb.batch, mb.seqLen - 1]) : null;
      const ref = refLp ? tf.tensor2d(refLp[k]!, [mb.batch, mb.seqLen - 1]) : null;
      let stats: tf.Tensor | null = null;
      let kept: tf.Tensor | null = null;
      const { value, grads } = tf.variableGrads(() => {
        let entropy: tf.Tensor2D | null = null;
        let newLp: tf.Tensor2D;
        if (policy.tokenLogProbsAndEntropy) ({ logprobs: newLp, entropy } = policy.tokenLogProbsAndEntropy(t.ids));
        else newLp = policy.tokenLogProbs(t.ids);
        if (recordOld) kept = tf.keep(stopGradient(newLp));
        const out = grpoLoss({ newLogprobs: newLp, oldLogprobs: old, refLogprobs: ref, advantages: t.advantages, mask: t.mask, weights: t.weights, entropy }, clip);
        stats = tf.keep(out.stats);
        return out.loss;
      }, vars);
      passLoss += value.dataSync()[0]!;
      statSums = addStatSums(statSums, stats!.dataSync());
      if (kept) oldLp[k] = (kept as tf.Tensor).dataSync().slice() as Float32Array;
      tf.dispose([value, stats!, ...(kept ? [kept] : []), t.ids, t.mask, t.advantages, t.weights, ...(old ? [old] : []), ...(ref ? [ref] : [])]);
      acc = accumulateGradients(acc, grads);
    });
    const { gradNorm: norm, finite } = applyIfFinite(optimizer, acc as unknown as tf.NamedTensorMap, passLoss, { lr: o.lr, ...(o.maxGradNorm > 0 ? { maxGradNorm: o.maxGradNorm } : {}) });
    if (!finite) return { ...base, loss: passLoss, gradNorm: norm, stats: summariseLossStats(statSums), optimizerSteps: steps, finite: false };
    lossSum += passLoss;
    normSum += norm;
    steps++;
  }
  return { ...base, loss: lossSum / steps, gradNorm: normSum / steps, stats: summariseLossStats(statSums), optimizerSteps: steps, finite: true };
}
