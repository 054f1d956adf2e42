// Supervised format tuning on the scripted negotiation corpus: next-token loss on reply tokens only (the SFT examples of
// src/selfplay/corpus.ts), plus the grammar term of src/train/sft-update.ts (grammarWeight; 0 = plain SFT).
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { MetricsLog } from "../core/metrics";
import { Progress } from "../core/progress";
import { Rng, deriveSeed } from "../core/rng";
import { checkpointName, latestCheckpoint, loadCheckpoint, pruneCheckpoints, saveCheckpoint } from "../model/checkpoint";
import type { Tokenizer } from "../model/tokenizer";
import type { Transformer } from "../model/transformer";
import type { SftExample } from "../selfplay/corpus";
import { sftUpdate } from "../train/sft-update";
import { AdamW } from "../train/optimizer";
import { lrAt } from "../train/schedule";

export const FormatTuneStageConfigSchema = z
  .object({
    steps: z.number().int().nonnegative().default(150),
    /** Examples per update. */
    batchSize: z.number().int().positive().default(16),
    lr: z.number().positive().default(2e-3),
    warmupSteps: z.number().int().nonnegative().default(10),
    minLrRatio: z.number().min(0).max(1).default(0.1),
    weightDecay: z.number().min(0).default(0),
    maxGradNorm: z.number().min(0).default(1),
    /**
     * Weight of the grammar term: -log P(tokens the turn grammar allows) at move-header positions, and the missing
     * options' letters excluded after issue numbers in notes (src/train/sft-update.ts). 0 = plain SFT. Measured from
     * scratch, free decoding: plain SFT 77% well-formed turns after 250 steps; with the shape in the prompt's cue,
     * weight 1 for 550 steps then 3 for 200 (bench/format-tune-recipe.sh) 97%. See README, "Known gaps".
     */
    grammarWeight: z.number().min(0).default(1),
    /** Header sets keep only the longest token spellings ("=a", not the bare "=" it starts with): headerAllowedSets' longestOnly. */
    longestOnly: z.boolean().default(true),
    /** Padded-token budget of one micro-batch. */
    microBatchSize: z.number().int().positive().default(4096),
    checkpointEvery: z.number().int().positive().default(50),
    seed: z.number().int().default(0),
  })
  .strict();
export type FormatTuneStageConfig = z.infer<typeof FormatTuneStageConfigSchema>;

export interface FormatTuneStageResult {
  finalDir: string;
  steps: number;
  resumedFrom: number | null;
  /** Mean reply-token NLL of the last update (nats). */
  finalLoss: number;
}

/**
 * Trains `model` in place on the examples; checkpoints to <dir>/checkpoints (weights, optimizer, step) and resumes from
 * the newest one; writes <dir>/final and <dir>/metrics.jsonl ("sft/loss" = reply-token NLL before the update).
 * Batches are drawn by an Rng derived from (seed, step), so a resumed run equals an uninterrupted one.
 */
export async function formatTuneStage(
  model: Transformer,
  tokenizer: Tokenizer,
  examples: readonly SftExample[],
  config: FormatTuneStageConfig,
  dir: string,
  options: { resume?: boolean; silent?: boolean; onStep?: (step: number, loss: number) => void } = {},
): Promise<FormatTuneStageResult> {
  if (examples.length === 0) throw new RangeError("formatTune: no examples (all longer than the model context?)");
  fs.mkdirSync(path.join(dir, "checkpoints"), { recursive: true });
  const metrics = new MetricsLog(path.join(dir, "metrics.jsonl"));
  const params = [...model.namedVariables()].map(([name, variable]) => ({ name, variable }));
  const opt = new AdamW(params, { weightDecay: config.weightDecay });
  let start = 0;
  let resumedFrom: number | null = null;
  const latest = options.resume ? latestCheckpoint(dir) : null;
  if (latest) {
    const ck = loadCheckpoint(latest.dir);
    model.copyWeightsFrom(ck.model);
    ck.model.dispose();
    if (ck.optimizerState) opt.importState(ck.optimizerState, latest.dir);
    start = latest.step;
    resumedFrom = start;
    metrics.truncateAfter(start);
  } else if (fs.existsSync(metrics.file)) fs.rmSync(metrics.file);
  const sched = { lr: config.lr, warmupSteps: Math.min(config.warmupSteps, Math.max(0, config.steps - 1)), totalSteps: Math.max(config.steps, 1), minLrRatio: config.minLrRatio };
  const progress = new Progress({ label: "format-tune", total: config.steps, silent: options.silent ?? false });
  let last = NaN;
  const save = (step: number, where: string) =>
    saveCheckpoint(where, { model, tokenizer, optimizerState: opt.exportState(), trainerState: { kind: "format-tune", step, seed: config.seed } });
  try {
    progress.update(start);
    for (let step = start; step < config.steps; step++) {
      const rng = new Rng(deriveSeed(config.seed, "sft-batch", step));
      const batch = Array.from({ length: Math.min(config.batchSize, examples.length) }, () => examples[rng.int(examples.length)]!);
      const t0 = performance.now();
      const r = sftUpdate(model, opt, batch, { lr: lrAt(step, sched), maxGradNorm: config.maxGradNorm, microBatchBudget: config.microBatchSize, grammarWeight: config.grammarWeight });
      if (!r.finite) throw new Error(`format-tune step ${step + 1}: non-finite loss or gradient; lower formatTune.lr`);
      last = r.nll;
      metrics.log({
        step: step + 1, "sft/loss": last, ...(r.constrained > 0 ? { "sft/grammar_nll": r.grammarNll } : {}), "sft/grad_norm": r.gradNorm,
        "sft/lr": lrAt(step, sched), "sft/tokens": r.tokens, "time/step_s": (performance.now() - t0) / 1000,
      });
      options.onStep?.(step + 1, last);
      progress.update(step + 1, `loss ${last.toFixed(3)}`);
      if ((step + 1) % config.checkpointEvery === 0 && step + 1 < config.steps) {
        save(step + 1, path.join(dir, "checkpoints", checkpointName(step + 1)));
        pruneCheckpoints(dir, 2);
      }
    }
    save(config.steps, path.join(dir, "final"));
  } finally {
    progress.stop();
    opt.dispose();
  }
  const finalDir = path.join(dir, "final");
  return { finalDir, steps: config.steps, resumedFrom, finalLoss: last };
}
