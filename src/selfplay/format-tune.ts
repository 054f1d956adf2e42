// Format tuning: supervised fine-tuning of the policy on the scripted self-play corpus so it speaks the embedded
// language before RL. Masked token-mean NLL on reply tokens, plus (grammarWeight > 0) the grammar term of
// src/train/sft-update.ts on examples that carry allowed sets. The pipeline stage (src/pipeline/format-tune.ts) adds
// checkpoints and resume; this is the in-memory loop for notebooks and benches.
import { Rng } from "../core/rng";
import type { Transformer } from "../model/transformer";
import { AdamW } from "../train/optimizer";
import { sftUpdate } from "../train/sft-update";
import { lrAt } from "../train/schedule";
import type { SftExample } from "./corpus";

export interface FormatTuneOptions {
  steps: number;
  /** Examples per optimizer step. Default 16. */
  batchSize?: number;
  /** Peak learning rate (linear warm-up, then constant, or cosine decay with minLrRatio). Default 1e-3. */
  lr?: number;
  /** When set: cosine decay from the peak to lr * minLrRatio at the last step (the pipeline stage's schedule). */
  minLrRatio?: number;
  warmupSteps?: number;
  /** Micro-batch token budget for gradient accumulation. Default 4096. */
  microBatchTokens?: number;
  maxGradNorm?: number;
  /** Weight of the grammar term on examples that carry `allowed` sets (buildSftExamples' `grammar` option). Default 1; 0 = plain NLL. */
  grammarWeight?: number;
  seed: number;
  /** Stop early after this many wall-clock seconds (the steps done so far are kept). */
  timeBudgetSeconds?: number;
  onStep?: (record: FormatTuneStep) => void;
}

export interface FormatTuneStep {
  step: number;
  /** Mean NLL per reply token of this step's batch (before the update). */
  nll: number;
  /** Mean -log P(grammar-allowed set) at the batch's header positions (NaN without the grammar term). */
  grammarNll: number;
  tokens: number;
  lr: number;
  seconds: number;
}

/** Runs SFT steps on `examples` in place on `model`; returns the per-step records. */
export function formatTune(model: Transformer, examples: readonly SftExample[], options: FormatTuneOptions): FormatTuneStep[] {
  if (examples.length === 0) throw new RangeError("formatTune: no examples");
  const batchSize = options.batchSize ?? 16;
  const peak = options.lr ?? 1e-3;
  const warm = options.warmupSteps ?? Math.min(20, Math.floor(options.steps / 10));
  const optimizer = new AdamW(model.trainableVariables(), { weightDecay: 0 });
  const rng = new Rng(options.seed);
  let order: number[] = [];
  const records: FormatTuneStep[] = [];
  const t0 = Date.now();
  try {
    for (let step = 0; step < options.steps; step++) {
      if (options.timeBudgetSeconds !== undefined && (Date.now() - t0) / 1000 > options.timeBudgetSeconds) break;
      const batch: SftExample[] = [];
      while (batch.length < batchSize) {
        if (order.length === 0) order = rng.shuffle(examples.map((_, i) => i));
        batch.push(examples[order.pop()!]!);
      }
      const lr =
        options.minLrRatio === undefined
          ? warm > 0 && step < warm ? (peak * (step + 1)) / warm : peak
          : lrAt(step, { lr: peak, warmupSteps: warm, totalSteps: options.steps, minLrRatio: options.minLrRatio });
      const res = sftUpdate(model, optimizer, batch, {
        lr, maxGradNorm: options.maxGradNorm ?? 1, microBatchBudget: options.microBatchTokens ?? 4096, grammarWeight: options.grammarWeight ?? 1,
      });
      const rec = { step: step + 1, nll: res.nll, grammarNll: res.grammarNll, tokens: res.tokens, lr, seconds: (Date.now() - t0) / 1000 };
      records.push(rec);
      options.onStep?.(rec);
      if (!res.finite) break;
    }
  } finally {
    optimizer.dispose();
  }
  return records;
}
