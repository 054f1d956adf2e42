// Packs variable-length per-turn samples into right-padded [B, T] arrays and splits them into micro-batches (pure).
// Layout matches Transformer.tokenLogProbs: ids [B, T] -> log-probs [B, T-1], position t scoring token t+1.
import type { LossType } from "./grpo-config";
import { lossNormaliser } from "./grpo-loss";

/** What the packer needs from a sample (S's TrainingSample has these fields). */
export interface PackableSample {
  /** prompt ++ sampled ids. */
  inputIds: readonly number[];
  /** Aligned with inputIds: 1 on tokens that train (sampled ids), 0 elsewhere. */
  lossMask: readonly number[];
  /** Aligned with inputIds: log-prob of each token under the sampling policy (0 on prompt positions); optional. */
  oldLogprobs?: readonly number[];
}

/** One right-padded micro-batch (plain arrays; the trainer turns them into tensors). */
export interface PackedBatch {
  /** Rows. */
  batch: number;
  /** Padded length of inputIds; log-prob arrays have seqLen - 1 columns. */
  seqLen: number;
  /** [batch * seqLen] token ids, padding = padId. */
  ids: Int32Array;
  /** [batch * (seqLen-1)] 1 where the target token at t+1 trains. */
  mask: Float32Array;
  /** [batch * (seqLen-1)] sampler log-probs of the target tokens (0 where unknown). */
  oldLogprobs: Float32Array;
  /** [batch] advantage per row. */
  advantages: Float32Array;
  /** [batch] loss normaliser weight per row (computed over the whole batch). */
  weights: Float32Array;
  /** Index of each row's sample in the input list. */
  indices: number[];
}

/** Number of trained target tokens of a sample (mask positions 1..len-1; position 0 is never a target). */
export function trainedTokenCount(s: PackableSample): number {
  let n = 0;
  for (let i = 1; i < s.lossMask.length; i++) if (s.lossMask[i]! > 0) n++;
  return n;
}

/**
 * Groups sample indices into micro-batches whose padded size (rows * longest row) stays within tokenBudget.
 * Samples are sorted by length (longest first, ties by index) to reduce padding; deterministic.
 * A sample longer than tokenBudget gets a micro-batch of its own.
 */
export function planMicroBatches(lengths: readonly number[], tokenBudget: number, include?: readonly number[]): number[][] {
  const idx = (include ?? lengths.map((_, i) => i)).slice();
  idx.sort((a, b) => lengths[b]! - lengths[a]! || a - b);
  const out: number[][] = [];
  let cur: number[] = [];
  let curMax = 0;
  for (const i of idx) {
    const len = lengths[i]!;
    const newMax = Math.max(curMax, len);
    if (cur.length > 0 && (cur.length + 1) * newMax > tokenBudget) {
      out.push(cur);
      cur = [];
      curMax = 0;
    }
    cur.push(i);
    curMax = Math.max(curMax, len);
  }
  if (cur.length) out.push(cur);
  return out;
}

/** Packs the given samples (by index) into one right-padded batch. */
export function packSamples(
  samples: readonly PackableSample[],
  indices: readonly number[],
  advantages: readonly number[],
  weights: readonly number[],
  padId = 0,
): PackedBatch {
  const B = indices.length;
  let T = 2;
  for (const i of indices) T = Math.max(T, samples[i]!.inputIds.length);
  const ids = new Int32Array(B * T).fill(padId);
  const mask = new Float32Array(B * (T - 1));
  const old = new Float32Array(B * (T - 1));
  const adv = new Float32Array(B);
  const w = new Float32Array(B);
  indices.forEach((si, r) => {
    const s = samples[si]!;
    if (s.lossMask.length !== s.inputIds.length) {
      throw new RangeError(`packSamples: sample ${si} has ${s.inputIds.length} ids but ${s.lossMask.length} mask entries`);
    }
    if (s.oldLogprobs && s.oldLogprobs.length !== s.inputIds.length) {
      throw new RangeError(`packSamples: sample ${si} has ${s.inputIds.length} ids but ${s.oldLogprobs.length} old log-probs`);
    }
    for (let t = 0; t < s.inputIds.length; t++) ids[r * T + t] = s.inputIds[t]!;
    for (let t = 1; t < s.inputIds.length; t++) {
      mask[r * (T - 1) + t - 1] = s.lossMask[t]! > 0 ? 1 : 0;
      old[r * (T - 1) + t - 1] = s.oldLogprobs ? s.oldLogprobs[t]! : 0;
    }
    adv[r] = advantages[si]!;
    w[r] = weights[si]!;
  });
  return { batch: B, seqLen: T, ids, mask, oldLogprobs: old, advantages: adv, weights: w, indices: indices.slice() };
}

export interface BatchPlanOptions {
  loss: LossType;
  maxCompletionLength: number;
  /** Padded-token budget of one micro-batch. */
  microBatchBudget: number;
  /** Leave out rows whose advantage is 0 (their loss and gradient are exactly 0 when beta = 0); they still count in
   * the normaliser, so the loss value is unchanged. */
  skipZeroAdvantage: boolean;
  padId?: number;
}

export interface BatchPlan {
  micro: PackedBatch[];
  /** Per-sample normaliser weights (whole batch). */
  weights: number[];
  /** Samples with at least one trained token (the normaliser's N). */
  sequences: number;
  /** Trained tokens in the whole batch. */
  tokens: number;
  /** Samples left out of the forward pass (zero advantage or no trained token). */
  skipped: number;
}

/**
 * Whole-batch plan: per-sample advantages (broadcast from each sample's dialogue by the caller), normaliser weights over
 * all samples that have trained tokens, and micro-batches. Samples without trained tokens are dropped (they carry no
 * loss and would only inflate the grpo / dr_grpo sequence count).
 */
export function planBatch(samples: readonly PackableSample[], advantages: readonly number[], o: BatchPlanOptions): BatchPlan {
  if (advantages.length !== samples.length) throw new RangeError(`planBatch: ${advantages.length} advantages for ${samples.length} samples`);
  const counts = samples.map(trainedTokenCount);
  const live = counts.map((n, i) => (n > 0 ? i : -1)).filter((i) => i >= 0);
  const liveWeights = lossNormaliser(o.loss, live.map((i) => counts[i]!), o.maxCompletionLength);
  const weights = new Array<number>(samples.length).fill(0);
  live.forEach((i, k) => (weights[i] = liveWeights[k]!));
  const run = o.skipZeroAdvantage ? live.filter((i) => advantages[i] !== 0) : live;
  const lengths = samples.map((s) => s.inputIds.length);
  const micro = planMicroBatches(lengths, o.microBatchBudget, run).map((ix) => packSamples(samples, ix, advantages, weights, o.padId ?? 0));
  return {
    micro,
    weights,
    sequences: live.length,
    tokens: live.reduce((a, i) => a + counts[i]!, 0),
    skipped: samples.length - run.length,
  };
}

/** Broadcasts one advantage per dialogue to its samples: advantageOf(sample.episodeId). */
export function sampleAdvantages<S extends { episodeId: string }>(samples: readonly S[], byEpisode: ReadonlyMap<string, number>): number[] {
  return samples.map((s) => {
    const a = byEpisode.get(s.episodeId);
    if (a === undefined) throw new RangeError(`sampleAdvantages: no advantage for episode "${s.episodeId}"`);
    return a;
  });
}
