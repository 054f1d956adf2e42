// GRPO training configuration: every knob with its default and meaning, validated up front (zod + relations).
// Knob names and semantics follow TRL's GRPOConfig (loss_type, scale_rewards, epsilon/epsilon_high, beta, num_iterations)
// and the paper's settings (arXiv 2603.10476 §3.2.2: G=8, batch 16, beta 0, DAPO token-level normalisation).
import { z } from "zod";
import { ConfigError, fieldPath } from "../core/errors";

/** How the per-token losses are averaged (TRL `loss_type`). */
export const LOSS_TYPES = ["grpo", "dapo", "dr_grpo"] as const;
export type LossType = (typeof LOSS_TYPES)[number];

/** How rewards become advantages (TRL `scale_rewards`, plus the rank option this project adds). */
export const SCALE_REWARDS = ["group", "batch", "none", "rank"] as const;
export type ScaleRewards = (typeof SCALE_REWARDS)[number];

/** Which dialogue tokens train: both agents' turns (Eq. 1 sums over all of D_i) or Agent 1's only. */
export const TRAIN_SPEAKERS = ["both", "agent1"] as const;
export type TrainSpeakers = (typeof TRAIN_SPEAKERS)[number];

export const GrpoConfigSchema = z
  .object({
    /** "multi" (default): self-play negotiation, loss on dialogue tokens. "single": the single-agent baseline on
     * direct answers (src/train/single-agent.ts). */
    mode: z.enum(["multi", "single"]).default("multi"),
    /** G, completions (dialogues) sampled per prompt; advantages are relative within these G. Default 8 (paper). */
    groupSize: z.number().int().default(8),
    /** Prompts (scenario + persona pair) per step; a step samples batchScenarios * groupSize dialogues.
     * Default 16 (paper's batch size). */
    batchScenarios: z.number().int().default(16),
    /** Loss normalisation. "grpo": mean over each sequence's trained tokens, then mean over sequences.
     * "dapo" (default, as the paper): sum over all trained tokens / number of trained tokens in the whole batch.
     * "dr_grpo": sum / (number of sequences * maxCompletionLength), a constant (Dr. GRPO, Liu et al. 2025). */
    loss: z.enum(LOSS_TYPES).default("dapo"),
    /** Advantage scaling. "group" (default, paper): (r - group mean) / (group std + eps). "batch": group-centred,
     * divided by the std over the whole batch. "none": group-centred only (Dr. GRPO). "rank": "group" applied to the
     * mid-ranks of the rewards inside each group (ties averaged), invariant to any strictly increasing rescaling of
     * the judge's scale (see advantages.ts). */
    scaleRewards: z.enum(SCALE_REWARDS).default("group"),
    /** Epsilon added to the std in advantage scaling. Default 1e-4 (TRL). */
    advantageEpsilon: z.number().default(1e-4),
    /** Lower clip: ratio is clipped at 1 - epsilonLow. Default 0.2 (PPO/TRL). */
    epsilonLow: z.number().default(0.2),
    /** Upper clip: ratio is clipped at 1 + epsilonHigh. Default 0.2 (TRL's default: symmetric); DAPO's
     * "clip-higher" uses 0.28. The paper does not report its clip epsilon; with mu = 1 (default) the ratio is 1 and
     * clipping never triggers, so this only matters for mu > 1. */
    epsilonHigh: z.number().default(0.2),
    /** KL coefficient against a frozen reference policy (k3 estimator exp(ref-new) - (ref-new) - 1).
     * Default 0 (paper); no reference model is kept when 0. The single-agent baseline defaults to 0.04. */
    beta: z.number().default(0),
    /** mu, optimisation passes over each batch of rollouts (TRL num_iterations). Default 1. */
    mu: z.number().int().default(1),
    /** Which speakers' dialogue tokens are trained. Default "both" (Eq. 1 sums over all tokens of D_i). */
    trainSpeakers: z.enum(TRAIN_SPEAKERS).default("both"),
    /** Also train Agent 1's final summary tokens. Default false (the paper masks the summary out). */
    includeSummary: z.boolean().default(false),
    /** Where the old-policy log-probs of the ratio come from. "policy" (default): the current policy before the
     * update, i.e. the detached new log-probs at the first inner iteration (ratio exactly 1) and their recorded values
     * for the later ones. "sampler": the raw-model (temperature 1) log-probs the sampler recorded at rollout time
     * (saves nothing at mu = 1; with refreshAgent2Every > 1 Agent 2's tokens then carry the stale model's values). */
    oldLogprobs: z.enum(["policy", "sampler"]).default("policy"),
    /** Leave rows with advantage 0 out of the forward/backward pass when beta = 0 (their loss and gradient are exactly
     * 0; they still count in the normaliser, so the loss is unchanged). Saves the update time of zero-std groups. */
    skipZeroAdvantage: z.boolean().default(true),
    /** Final learning rate as a fraction of the peak (cosine decay over `steps` after warm-up); 1 = constant. */
    minLrRatio: z.number().default(1),
    /** Peak learning rate of AdamW. Default 5e-5 (the paper's 5e-6 is for a 14B QLoRA model; the embedded policy is
     * tiny and trained in full). */
    learningRate: z.number().default(5e-5),
    /** AdamW decoupled weight decay. Default 0. */
    weightDecay: z.number().default(0),
    /** AdamW beta1 / beta2 / epsilon. Defaults 0.9 / 0.99 / 1e-8. */
    adamBeta1: z.number().default(0.9),
    adamBeta2: z.number().default(0.99),
    adamEpsilon: z.number().default(1e-8),
    /** Global gradient-norm clip (TRL max_grad_norm). Default 1.0; 0 disables clipping. */
    maxGradNorm: z.number().default(1.0),
    /** Linear warm-up steps of the learning rate. Default 0. */
    warmupSteps: z.number().int().default(0),
    /** Refresh the frozen Agent 2 from the policy every this many steps. Default 1 (paper: every iteration). */
    refreshAgent2Every: z.number().int().default(1),
    /** Number of GRPO steps (each: rollouts, judging, mu updates). Default 60. */
    steps: z.number().int().default(60),
    /** Save a checkpoint every this many steps (and at the end). Default 10. */
    checkpointEvery: z.number().int().default(10),
    /** How many checkpoints to keep (older are deleted). Default 2. */
    keepCheckpoints: z.number().int().default(2),
    /** Seed of the run; per-step and per-rollout randomness derives from (seed, step, scenario, sample). */
    seed: z.number().int().default(0),
    /** Token budget of one micro-batch in the update (padded B*T); bounds memory. Default 4096. */
    microBatchBudget: z.number().int().default(4096),
    /** Largest number of generated tokens in one trained sample (one turn). It is the dr_grpo normaliser and the
     * per-turn generation cap. Default 48. */
    maxCompletionLength: z.number().int().default(48),
    /** Most tokens a trained sample (prompt window + turn) may have; must fit the model context. Default 256. */
    maxSampleLength: z.number().int().default(256),
    /** Dialogue sampling temperature / top-p (paper: 0.7 / 0.95). */
    temperature: z.number().default(0.7),
    topP: z.number().default(0.95),
    /** Summary sampling temperature / top-p (paper: 0.1 / 0.95). */
    summaryTemperature: z.number().default(0.1),
    summaryTopP: z.number().default(0.95),
    /** Maximum dialogue turns (paper: 7). */
    maxTurns: z.number().int().default(7),
    /** Write every dialogue with its reward and advantage to rollouts.jsonl. Default true. */
    saveRollouts: z.boolean().default(true),
    /** Single-agent mode only: the policy judges its own answers (the paper's DA baseline) instead of the
     * configured judge. Default false. */
    selfReward: z.boolean().default(false),
  })
  .strict();

export type GrpoConfig = z.infer<typeof GrpoConfigSchema>;
export type GrpoConfigInput = z.input<typeof GrpoConfigSchema>;

/** Facts about the model the config must fit. */
export interface ModelLimits {
  /** Maximum sequence length of the policy. */
  contextLength?: number;
}

/** Parses (defaults filled) and validates a config; throws ConfigError naming the field. */
export function parseGrpoConfig(input: unknown, limits: ModelLimits = {}): GrpoConfig {
  const res = GrpoConfigSchema.safeParse(input ?? {});
  if (!res.success) {
    const issue = res.error.issues[0]!;
    throw new ConfigError(fieldPath(issue.path) || "(root)", issue.message);
  }
  validateGrpoConfig(res.data, limits);
  return res.data;
}

/** Checks value ranges and relations between fields; throws ConfigError naming the first bad field. */
export function validateGrpoConfig(c: GrpoConfig, limits: ModelLimits = {}): void {
  const need = (ok: boolean, field: keyof GrpoConfig | string, detail: string): void => {
    if (!ok) throw new ConfigError(field, detail);
  };
  need(c.groupSize >= 2, "groupSize", `must be >= 2 (group-relative advantages need at least two samples per prompt), got ${c.groupSize}`);
  need(c.batchScenarios >= 1, "batchScenarios", `must be >= 1, got ${c.batchScenarios}`);
  need(c.advantageEpsilon > 0, "advantageEpsilon", `must be > 0, got ${c.advantageEpsilon}`);
  need(c.epsilonLow > 0 && c.epsilonLow < 1, "epsilonLow", `must be in (0, 1) so the lower clip 1 - epsilonLow stays positive, got ${c.epsilonLow}`);
  need(c.epsilonHigh > 0, "epsilonHigh", `must be > 0, got ${c.epsilonHigh}`);
  need(c.beta >= 0 && Number.isFinite(c.beta), "beta", `must be a finite number >= 0, got ${c.beta}`);
  need(c.mu >= 1, "mu", `must be >= 1, got ${c.mu}`);
  need(c.learningRate > 0 && Number.isFinite(c.learningRate), "learningRate", `must be > 0, got ${c.learningRate}`);
  need(c.weightDecay >= 0, "weightDecay", `must be >= 0, got ${c.weightDecay}`);
  need(c.adamBeta1 >= 0 && c.adamBeta1 < 1, "adamBeta1", `must be in [0, 1), got ${c.adamBeta1}`);
  need(c.adamBeta2 >= 0 && c.adamBeta2 < 1, "adamBeta2", `must be in [0, 1), got ${c.adamBeta2}`);
  need(c.adamEpsilon > 0, "adamEpsilon", `must be > 0, got ${c.adamEpsilon}`);
  need(c.maxGradNorm >= 0, "maxGradNorm", `must be >= 0 (0 disables clipping), got ${c.maxGradNorm}`);
  need(c.warmupSteps >= 0, "warmupSteps", `must be >= 0, got ${c.warmupSteps}`);
  need(c.refreshAgent2Every >= 1, "refreshAgent2Every", `must be >= 1, got ${c.refreshAgent2Every}`);
  need(c.steps >= 1, "steps", `must be >= 1, got ${c.steps}`);
  need(c.checkpointEvery >= 1, "checkpointEvery", `must be >= 1, got ${c.checkpointEvery}`);
  need(c.keepCheckpoints >= 1, "keepCheckpoints", `must be >= 1, got ${c.keepCheckpoints}`);
  need(c.maxCompletionLength >= 1, "maxCompletionLength", `must be >= 1, got ${c.maxCompletionLength}`);
  need(c.maxSampleLength >= 2, "maxSampleLength", `must be >= 2, got ${c.maxSampleLength}`);
  need(
    c.maxCompletionLength < c.maxSampleLength,
    "maxCompletionLength",
    `must be < maxSampleLength (${c.maxSampleLength}) so a prompt fits before the completion, got ${c.maxCompletionLength}`,
  );
  need(
    c.microBatchBudget >= c.maxSampleLength,
    "microBatchBudget",
    `must be >= maxSampleLength (${c.maxSampleLength}) so one sample fits a micro-batch, got ${c.microBatchBudget}`,
  );
  if (limits.contextLength !== undefined) {
    need(
      c.maxSampleLength <= limits.contextLength,
      "maxSampleLength",
      `${c.maxSampleLength} exceeds the model context length ${limits.contextLength}`,
    );
  }
  need(c.temperature > 0, "temperature", `must be > 0, got ${c.temperature}`);
  need(c.topP > 0 && c.topP <= 1, "topP", `must be in (0, 1], got ${c.topP}`);
  need(c.summaryTemperature > 0, "summaryTemperature", `must be > 0, got ${c.summaryTemperature}`);
  need(c.summaryTopP > 0 && c.summaryTopP <= 1, "summaryTopP", `must be in (0, 1], got ${c.summaryTopP}`);
  need(c.maxTurns >= 1, "maxTurns", `must be >= 1, got ${c.maxTurns}`);
  need(c.minLrRatio >= 0 && c.minLrRatio <= 1, "minLrRatio", `must be in [0, 1], got ${c.minLrRatio}`);
  need(c.mode === "single" || !c.selfReward, "selfReward", `self-reward is only available with mode "single"`);
}

/**
 * The embedded default run (offline scenarios, oracle judge, the default ~0.9M-parameter policy on 2 CPU cores):
 * smaller groups, batch and dialogues than the paper. Measured with bench/grpo-step.ts --synthetic (random-init default
 * policy, every dialogue at 4 full-length turns: the worst case) about 30 CPU-seconds per step at maxCompletionLength
 * 32; a format-tuned policy stops turns at the end token and skips zero-std groups, so 30 steps target ~10 minutes.
 * Everything else keeps the paper's settings (dapo, group scaling, beta 0, Agent 2 refreshed every step).
 */
export const EMBEDDED_GRPO_PRESET: GrpoConfigInput = {
  groupSize: 4,
  batchScenarios: 4,
  maxTurns: 4,
  maxCompletionLength: 24,
  maxSampleLength: 512,
  microBatchBudget: 4096,
  learningRate: 5e-5,
  steps: 30,
  checkpointEvery: 10,
};

/** Rollouts per step (batchScenarios * groupSize). */
export function rolloutsPerStep(c: Pick<GrpoConfig, "batchScenarios" | "groupSize">): number {
  return c.batchScenarios * c.groupSize;
}
