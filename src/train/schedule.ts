// Learning-rate schedule: linear warm-up followed by cosine decay to a floor (pure function of the step).
// The shape follows SGDR (Loshchilov & Hutter 2017) as used in GPT-style pretraining (e.g. nanoGPT's get_lr).
import { ConfigError } from "../core/errors";

export interface LrScheduleConfig {
  /** Peak learning rate reached at the end of warm-up. */
  lr: number;
  /** Number of warm-up updates (0 = start at the peak). */
  warmupSteps: number;
  /** Total number of updates; the cosine reaches the floor at this step. */
  totalSteps: number;
  /** Floor as a fraction of the peak (default 0.1). */
  minLrRatio?: number;
}

/** Checks the schedule fields; throws ConfigError naming the field. */
export function validateLrSchedule(cfg: LrScheduleConfig, prefix = ""): void {
  if (!(cfg.lr > 0) || !Number.isFinite(cfg.lr)) throw new ConfigError(`${prefix}lr`, `must be a positive number, got ${cfg.lr}`);
  if (!Number.isInteger(cfg.totalSteps) || cfg.totalSteps < 1) throw new ConfigError(`${prefix}totalSteps`, `must be an integer >= 1, got ${cfg.totalSteps}`);
  if (!Number.isInteger(cfg.warmupSteps) || cfg.warmupSteps < 0 || cfg.warmupSteps > cfg.totalSteps) {
    throw new ConfigError(`${prefix}warmupSteps`, `must be an integer in [0, totalSteps=${cfg.totalSteps}], got ${cfg.warmupSteps}`);
  }
  const r = cfg.minLrRatio ?? 0.1;
  if (!(r >= 0 && r <= 1)) throw new ConfigError(`${prefix}minLrRatio`, `must be in [0, 1], got ${r}`);
}

/**
 * Learning rate for the update with 0-based index `step`.
 * Warm-up: lr * (step + 1) / warmupSteps for step < warmupSteps (so the first update is not wasted at lr 0).
 * Then cosine: floor + (lr - floor) * (1 + cos(pi * p)) / 2 with p = (step - warmupSteps) / (totalSteps - warmupSteps),
 * clamped to [0, 1] (steps past totalSteps stay at the floor).
 */
export function lrAt(step: number, cfg: LrScheduleConfig): number {
  const floor = cfg.lr * (cfg.minLrRatio ?? 0.1);
  if (step < cfg.warmupSteps) return (cfg.lr * (step + 1)) / cfg.warmupSteps;
  const span = cfg.totalSteps - cfg.warmupSteps;
  const p = span <= 0 ? 1 : Math.min(1, Math.max(0, (step - cfg.warmupSteps) / span));
  return floor + ((cfg.lr - floor) * (1 + Math.cos(Math.PI * p))) / 2;
}
