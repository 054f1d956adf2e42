// The GRPO trainer: per step, self-play G dialogues per scenario, judge them, group-relative advantages, mu updates.
// Loop shape follows the paper's Alg. 1 (arXiv 2603.10476 §3.2.2) with TRL-style metrics; checkpoints make it resumable.
import * as fs from "node:fs";
import * as path from "node:path";
import { ConfigError, ParleyError } from "../core/errors";
import { appendJsonl, readJsonl, writeJsonl } from "../core/jsonl";
import { MetricsLog, type MetricRecord } from "../core/metrics";
import { Progress } from "../core/progress";
import { Rng, deriveSeed } from "../core/rng";
import type { Scenario } from "../data/schema";
import type { ChatModel } from "../llm/chat-model";
import type { AgreementJudge } from "../selfplay/agreement";
import { episodeToTrainingSamples, type Episode } from "../selfplay/episode";
import { runEpisodes, type SelfPlayConfigInput } from "../selfplay/protocol";
import { computeAdvantages, meanOf as mean, type MaybeReward } from "./advantages";
import type { PackableSample } from "./batching";
import { parseGrpoConfig, type GrpoConfig, type GrpoConfigInput } from "./grpo-config";
import { grpoUpdate, type LogProbModel, type TrainableModel, type GrpoUpdateResult } from "./grpo-update";
import { AdamW } from "./optimizer";
import { rewardEpisodes, type EpisodeReward, type EpisodeRewarder } from "./rollout-reward";
import { lrAt } from "./schedule";

/** The trainable policy: M1's Transformer satisfies this. */
export interface PolicyModel<P> extends TrainableModel {
  clone(): P;
  copyWeightsFrom(other: P): void;
  dispose(): void;
}

/** What a checkpoint holds besides the weights and optimizer moments. */
export interface TrainerState {
  /** Completed GRPO steps. */
  step: number;
  seed: number;
  /** State of the trainer's Rng (scenario sampling is derived from (seed, step); kept for completeness). */
  rng: ReturnType<Rng["getState"]>;
  /** Hash-free copy of the resolved config, to warn when a resume changes it. */
  config: GrpoConfig;
}

/** Saves and restores checkpoints (M2's checkpoint.ts behind an adapter). */
export interface CheckpointStore<P> {
  /** Saves policy weights, optimizer state and trainer state for `state.step`; returns the checkpoint's path. */
  save(policy: P, optimizer: AdamW, state: TrainerState): Promise<string>;
  /** The newest complete checkpoint, or null. */
  latest(): Promise<string | null>;
  /** Loads weights into `policy`, moments into `optimizer`, and returns the trainer state. */
  restore(where: string, policy: P, optimizer: AdamW): Promise<TrainerState>;
  /** Keeps the newest `keep` checkpoints (optional). */
  prune?(keep: number): Promise<void>;
}

/** Everything the generic GRPO loop needs besides the rollout strategy. */
export interface LoopDeps<P extends PolicyModel<P>, T extends { id: string }> {
  /** The policy being trained (weights change in place). */
  policy: P;
  /** Prompts of the training split (scenarios, or questions in single mode); batchScenarios are drawn per step. */
  prompts: readonly T[];
  /** Run directory: metrics.jsonl, rollouts.jsonl. */
  runDir: string;
  checkpoints?: CheckpointStore<P>;
  /** Frozen reference for beta > 0 (the starting policy). Default: a copy of `policy` as passed in, taken before a
   * resume restores the checkpoint, so pass the policy with its starting (base) weights, also when resuming. */
  reference?: LogProbModel;
  /** Model context length (validated against maxSampleLength). */
  contextLength?: number;
  /** Padding id for packed batches (default 0; masked out anyway). */
  padId?: number;
}

/** One rollout (a dialogue, or a direct answer) with its reward and its training samples. */
export interface RolloutItem {
  id: string;
  reward: EpisodeReward;
  /** Samples of this rollout; its advantage is broadcast to all of them. */
  samples: PackableSample[];
  /** What rollouts.jsonl keeps (the loop adds step, reward, valid, advantage). */
  record: Record<string, unknown>;
}

/** A step's rollouts in group order (contiguous groups of groupSize) plus strategy-specific metrics. */
export interface StepRollouts {
  items: RolloutItem[];
  metrics: Record<string, number | null>;
  rolloutSeconds: number;
  judgeSeconds: number;
}

/** How a step's rollouts are produced (multi-agent self-play, single-agent answers, ...). */
export interface RolloutStrategy<T> {
  /** Rollouts of step `step` (1-based) for these prompts; deterministic in (seed, step, prompt, sample). */
  collect(step: number, prompts: readonly T[]): Promise<StepRollouts>;
  dispose(): void;
}

export interface TrainerCallbacks {
  onStep?(metrics: MetricRecord): void;
  /** Each step's rollouts (records as written to rollouts.jsonl). */
  onRollouts?(step: number, records: ReadonlyArray<Record<string, unknown>>): void;
  /** Return true to stop after the current step (a checkpoint is written). */
  shouldStop?(): boolean;
  /** Silence the progress bar (tests). */
  silent?: boolean;
}

export interface TrainOptions {
  /** Continue from the newest checkpoint in deps.checkpoints (metrics/rollouts past it are dropped). */
  resume?: boolean;
}

export interface TrainResult {
  /** Completed steps (including those before a resume). */
  steps: number;
  resumedFrom: number | null;
  /** Metrics of the steps run by this call. */
  metrics: MetricRecord[];
  lastCheckpoint: string | null;
}

/** Training stopped because a loss or gradient became NaN/Inf; weights were left at the last good update. */
export class NonFiniteError extends ParleyError {
  constructor(
    readonly step: number,
    readonly detail: string,
    readonly lastCheckpoint: string | null,
  ) {
    super(
      `GRPO step ${step}: ${detail}; training stopped before applying the update. ` +
        (lastCheckpoint ? `The last good checkpoint is ${lastCheckpoint}.` : "No checkpoint was written yet.") +
        " Lower learningRate or maxGradNorm, or check the rewards.",
    );
  }
}

/** Prompt indices for a step: batchScenarios distinct ones, from an Rng derived from (seed, step). */
export function scenariosForStep(seed: number, step: number, poolSize: number, batch: number): number[] {
  const rng = new Rng(deriveSeed(seed, "scenarios", step));
  return rng.sample(Array.from({ length: poolSize }, (_, i) => i), batch);
}

/** Orders episodes into contiguous groups (by groupId first appearance, then sampleIndex). */
export function groupEpisodes<X extends { episode: Episode }>(items: readonly X[]): X[] {
  const order = new Map<string, number>();
  items.forEach((x) => {
    if (!order.has(x.episode.groupId)) order.set(x.episode.groupId, order.size);
  });
  return items
    .map((x, i) => ({ x, i }))
    .sort((a, b) => order.get(a.x.episode.groupId)! - order.get(b.x.episode.groupId)! || a.x.episode.sampleIndex - b.x.episode.sampleIndex || a.i - b.i)
    .map((o) => o.x);
}

/** Drops rollouts.jsonl records past `lastStep` (resume). */
export function truncateRollouts(file: string, lastStep: number): void {
  if (!fs.existsSync(file)) return;
  const recs = readJsonl<{ step: number }>(file);
  writeJsonl(file, recs.filter((r) => r.step <= lastStep));
}

/** Learning rate of update `step` (0-based): warm-up then cosine to minLrRatio (1 = constant). */
export function grpoLearningRate(c: GrpoConfig, step: number): number {
  return lrAt(step, { lr: c.learningRate, warmupSteps: Math.min(c.warmupSteps, c.steps), totalSteps: c.steps, minLrRatio: c.minLrRatio });
}

const finiteOrNull = (x: number) => (Number.isFinite(x) ? x : null);

/** The metrics every mode logs (reward/*, judge/*, grpo/*, time/*), TRL-like names. */
export function commonStepMetrics(
  step: number,
  adv: ReturnType<typeof computeAdvantages>,
  rewards: readonly MaybeReward[],
  G: number,
  upd: GrpoUpdateResult,
  lr: number,
  times: { rollout: number; judge: number; update: number },
): MetricRecord {
  const groupMins: number[] = [], groupMaxs: number[] = [];
  for (let g = 0; g < rewards.length / G; g++) {
    const vals = rewards.slice(g * G, (g + 1) * G).filter((r): r is number => typeof r === "number" && Number.isFinite(r));
    if (vals.length) {
      groupMins.push(Math.min(...vals));
      groupMaxs.push(Math.max(...vals));
    }
  }
  return {
    step,
    "reward/mean": finiteOrNull(adv.rewardMean),
    "reward/std": finiteOrNull(adv.rewardStd),
    "reward/frac_zero_std": adv.fracZeroStdGroups,
    "reward/group_min": finiteOrNull(mean(groupMins)),
    "reward/group_max": finiteOrNull(mean(groupMaxs)),
    "judge/invalid_rate": adv.invalidRate,
    "grpo/loss": finiteOrNull(upd.loss),
    "grpo/kl": upd.stats.kl,
    "grpo/clip_ratio_low": upd.stats.clipRatioLow,
    "grpo/clip_ratio_high": upd.stats.clipRatioHigh,
    "grpo/clip_ratio": upd.stats.clipRatioRegion,
    "grpo/ratio_mean": upd.stats.meanRatio,
    "grpo/entropy": upd.stats.entropy,
    "grpo/grad_norm": finiteOrNull(upd.gradNorm),
    "grpo/lr": lr,
    "grpo/tokens": upd.tokens,
    "grpo/sequences": upd.sequences,
    "grpo/skipped": upd.skipped,
    "time/rollout_s": times.rollout,
    "time/judge_s": times.judge,
    "time/update_s": times.update,
    "time/step_s": times.rollout + times.judge + times.update,
  };
}

/**
 * The GRPO loop shared by every mode: per step, draw prompts from (seed, step), collect G rollouts each through the
 * strategy, compute group-relative advantages, run mu updates, log metrics/rollouts, checkpoint every N steps.
 * Resuming restores weights, optimizer moments and the step, and drops logged records past the checkpoint, so a killed
 * run continues exactly as the uninterrupted one (given deterministic rollouts).
 */
export async function runGrpoLoop<P extends PolicyModel<P>, T extends { id: string }>(
  config: GrpoConfig,
  deps: LoopDeps<P, T>,
  makeStrategy: (policy: P) => RolloutStrategy<T>,
  callbacks: TrainerCallbacks = {},
  options: TrainOptions = {},
): Promise<TrainResult> {
  if (deps.prompts.length < config.batchScenarios) {
    throw new ConfigError("batchScenarios", `${config.batchScenarios} prompts per step but only ${deps.prompts.length} training prompts`);
  }
  fs.mkdirSync(deps.runDir, { recursive: true });
  const metricsLog = new MetricsLog(path.join(deps.runDir, "metrics.jsonl"));
  const rolloutsFile = path.join(deps.runDir, "rollouts.jsonl");
  const { policy } = deps;
  const optimizer = new AdamW(policy.trainableVariables(), {
    beta1: config.adamBeta1,
    beta2: config.adamBeta2,
    eps: config.adamEpsilon,
    weightDecay: config.weightDecay,
  });
  const ownReference = config.beta !== 0 && !deps.reference ? policy.clone() : null;
  const reference: LogProbModel | null = config.beta !== 0 ? (deps.reference ?? ownReference) : null;
  const trainerRng = new Rng(config.seed);
  let start = 0;
  let resumedFrom: number | null = null;
  let lastCheckpoint: string | null = null;
  let strategy: RolloutStrategy<T> | null = null;
  let progress: Progress | null = null;
  try {
    if (options.resume) {
      // Continue from the newest checkpoint (none: from step 0); records past it are dropped.
      const where = deps.checkpoints ? await deps.checkpoints.latest() : null;
      if (where) {
        const st = await deps.checkpoints!.restore(where, policy, optimizer);
        start = st.step;
        resumedFrom = st.step;
        trainerRng.setState(st.rng);
        lastCheckpoint = where;
      }
      metricsLog.truncateAfter(start);
      truncateRollouts(rolloutsFile, start);
    } else {
      for (const f of [metricsLog.file, rolloutsFile]) if (fs.existsSync(f)) fs.rmSync(f);
    }
    strategy = makeStrategy(policy);
    progress = new Progress({ label: "grpo", total: config.steps, silent: callbacks.silent ?? false });
    progress.update(start);
    const metrics: MetricRecord[] = [];
    const G = config.groupSize;
    const saveCheckpoint = async (done: number): Promise<void> => {
      if (!deps.checkpoints) return;
      lastCheckpoint = await deps.checkpoints.save(policy, optimizer, { step: done, seed: config.seed, rng: trainerRng.getState(), config });
      await deps.checkpoints.prune?.(config.keepCheckpoints);
    };

    for (let s = start; s < config.steps; s++) {
      const stepNo = s + 1;
      const prompts = scenariosForStep(config.seed, stepNo, deps.prompts.length, config.batchScenarios).map((i) => deps.prompts[i]!);
      const got = await strategy.collect(stepNo, prompts);
      if (got.items.length !== prompts.length * G) {
        throw new Error(`step ${stepNo}: the rollout strategy returned ${got.items.length} rollouts for ${prompts.length} prompts x G=${G}`);
      }
      const t0 = performance.now();
      const rewardValues: MaybeReward[] = got.items.map((x) => (x.reward.valid ? x.reward.score : null));
      const adv = computeAdvantages(rewardValues, { groupSize: G, scaleRewards: config.scaleRewards, epsilon: config.advantageEpsilon });
      const samples: PackableSample[] = [];
      const sampleAdv: number[] = [];
      got.items.forEach((x, i) => {
        for (const smp of x.samples) {
          samples.push(smp);
          sampleAdv.push(adv.advantages[i]!);
        }
      });
      const lr = grpoLearningRate(config, s);
      const upd = grpoUpdate(
        policy,
        optimizer,
        samples,
        sampleAdv,
        {
          loss: config.loss,
          epsilonLow: config.epsilonLow,
          epsilonHigh: config.epsilonHigh,
          beta: config.beta,
          mu: config.mu,
          maxCompletionLength: config.maxCompletionLength,
          microBatchBudget: config.microBatchBudget,
          oldLogprobs: config.oldLogprobs,
          skipZeroAdvantage: config.skipZeroAdvantage,
          lr,
          maxGradNorm: config.maxGradNorm,
          ...(deps.padId !== undefined ? { padId: deps.padId } : {}),
        },
        reference,
      );
      const tUpdate = (performance.now() - t0) / 1000;
      const m: MetricRecord = {
        ...commonStepMetrics(stepNo, adv, rewardValues, G, upd, lr, { rollout: got.rolloutSeconds, judge: got.judgeSeconds, update: tUpdate }),
        ...got.metrics,
      };
      if (!upd.finite) {
        metricsLog.log({ ...m, error: "non-finite loss or gradient" });
        throw new NonFiniteError(stepNo, `loss ${upd.loss} / gradient norm ${upd.gradNorm} is not finite`, lastCheckpoint);
      }
      metricsLog.log(m);
      metrics.push(m);
      const records = got.items.map((x, i) => ({ step: stepNo, ...x.record, reward: x.reward.score, valid: x.reward.valid, ...(x.reward.raw !== undefined ? { judgeRaw: x.reward.raw } : {}), advantage: adv.advantages[i]! }));
      if (config.saveRollouts) appendJsonl(rolloutsFile, records);
      callbacks.onRollouts?.(stepNo, records);
      callbacks.onStep?.(m);
      const stop = callbacks.shouldStop?.() ?? false;
      if (stepNo % config.checkpointEvery === 0 || stepNo === config.steps || stop) await saveCheckpoint(stepNo);
      progress.update(stepNo, `reward ${fmt(adv.rewardMean)}`);
      if (stop) return { steps: stepNo, resumedFrom, metrics, lastCheckpoint };
    }
    return { steps: config.steps, resumedFrom, metrics, lastCheckpoint };
  } finally {
    progress?.stop();
    strategy?.dispose();
    ownReference?.dispose();
    optimizer.dispose();
  }
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toFixed(2) : "-";
}

// ---------------------------------------------------------------------------------------------------------------
// Multi-agent self-play (the paper's method)
// ---------------------------------------------------------------------------------------------------------------

export interface TrainerDeps<P extends PolicyModel<P>> extends Omit<LoopDeps<P, Scenario>, "prompts"> {
  /** Wraps a model as a ChatModel for self-play (S's local-policy adapter). */
  chatModel(model: P, name: string): ChatModel;
  /** Training scenarios (each step draws batchScenarios of them without replacement). */
  scenarios: readonly Scenario[];
  rewarder: EpisodeRewarder;
  agreementJudge?: AgreementJudge;
  /** Extra self-play settings (window, opener, prompt style); the GRPO config sets G, turns and sampling. */
  selfplay?: SelfPlayConfigInput;
}

/** Per-episode record written to rollouts.jsonl (token ids stripped; text kept). */
export function episodeRecord(e: Episode): Record<string, unknown> {
  return {
    id: e.id,
    groupId: e.groupId,
    scenarioId: e.scenarioId,
    sampleIndex: e.sampleIndex,
    opener: e.opener,
    agent1Side: e.agent1Side,
    agreed: e.agreed,
    rounds: e.roundsToAgreement,
    turns: e.turns.map((t) => ({ speaker: t.speaker, side: t.side, text: t.text, finish: t.finishReason, tokens: t.tokens?.sampledIds.length ?? null })),
    summary: e.summary ? { text: e.summary.text, package: e.summary.package } : null,
    agreedPackage: e.agreedPackage,
  };
}

/** Rollout metrics of self-play episodes (agreement rate, rounds, turns, lengths, well-formed rate). */
export function episodeMetrics(episodes: readonly Episode[], samples: ReadonlyArray<{ lossMask: readonly number[] }>): Record<string, number | null> {
  const agreed = episodes.filter((e) => e.agreed);
  const wf = episodes.map((e) => e.wellFormedRate).filter((x): x is number => x !== null);
  const lens = samples.map((s) => s.lossMask.reduce((a, b) => a + b, 0));
  return {
    "rollout/agreement_rate": episodes.length ? agreed.length / episodes.length : 0,
    "rollout/rounds": agreed.length ? finiteOrNull(mean(agreed.map((e) => e.roundsToAgreement ?? 0))) : null,
    "rollout/turns": finiteOrNull(mean(episodes.map((e) => e.turns.length))),
    "rollout/mean_length": finiteOrNull(mean(lens)),
    "rollout/well_formed_rate": wf.length ? finiteOrNull(mean(wf)) : null,
  };
}

/** Self-play rollouts: Agent 1 = the policy, Agent 2 = a frozen copy refreshed every refreshAgent2Every steps. */
export function selfPlayStrategy<P extends PolicyModel<P>>(config: GrpoConfig, deps: TrainerDeps<P>, policy: P): RolloutStrategy<Scenario> {
  const agent2 = config.refreshAgent2Every > 1 ? policy.clone() : null;
  const policyChat = deps.chatModel(policy, "policy");
  const agent2Chat = agent2 ? deps.chatModel(agent2, "agent2-frozen") : null;
  const scenarioById = new Map(deps.scenarios.map((s) => [s.id, s]));
  return {
    async collect(stepNo, scenarios) {
      // On refresh steps Agent 2's weights equal the policy's: both agents share one batched ChatModel.
      const refresh = (stepNo - 1) % config.refreshAgent2Every === 0;
      if (agent2 && refresh) agent2.copyWeightsFrom(policy);
      let t0 = performance.now();
      const episodes = await runEpisodes(scenarios, {
        ...(deps.selfplay ?? {}),
        mode: "train",
        groupSize: config.groupSize,
        maxTurns: config.maxTurns,
        dialogue: { ...(deps.selfplay?.dialogue ?? {}), temperature: config.temperature, topP: config.topP, maxTokens: config.maxCompletionLength },
        summary: { ...(deps.selfplay?.summary ?? {}), temperature: config.summaryTemperature, topP: config.summaryTopP },
        agent1: policyChat,
        agent2: agent2Chat && !refresh ? agent2Chat : policyChat,
        ...(deps.agreementJudge ? { agreementJudge: deps.agreementJudge } : {}),
        seed: config.seed,
        step: stepNo,
      });
      const rolloutSeconds = (performance.now() - t0) / 1000;
      t0 = performance.now();
      const ordered = groupEpisodes(episodes.map((episode) => ({ episode }))).map((x) => x.episode);
      const rewards = await rewardEpisodes(deps.rewarder, ordered, scenarioById);
      const judgeSeconds = (performance.now() - t0) / 1000;
      const allSamples: PackableSample[] = [];
      let errorTurns = 0;
      const items: RolloutItem[] = ordered.map((e, i) => {
        // Turns without a token record (e.g. a prompt that did not fit the context: finishReason "error") do not train.
        const trainable: Episode = { ...e, turns: e.turns.filter((t) => t.tokens), summary: e.summary?.tokens ? e.summary : null };
        errorTurns += e.turns.length - trainable.turns.length;
        const samples = episodeToTrainingSamples(trainable, { speakers: config.trainSpeakers, includeSummary: config.includeSummary }).map((x) => ({
          inputIds: x.inputIds,
          lossMask: x.lossMask,
          oldLogprobs: x.rawOldLogprobs,
        }));
        allSamples.push(...samples);
        return { id: e.id, reward: rewards[i]!, samples, record: episodeRecord(e) };
      });
      const turns = ordered.reduce((a, e) => a + e.turns.length, 0);
      return { items, metrics: { ...episodeMetrics(ordered, allSamples), "rollout/error_turn_rate": turns ? errorTurns / turns : 0 }, rolloutSeconds, judgeSeconds };
    },
    dispose() {
      policyChat.dispose?.();
      agent2Chat?.dispose?.();
      agent2?.dispose();
    },
  };
}

/**
 * Trains the policy with GRPO on self-play negotiations (mode "multi"). Step s (1-based in logs) draws its scenarios
 * and rollout seeds from (seed, s), so a resumed run reproduces the uninterrupted one. Agent 2 is a frozen copy of the
 * policy refreshed every refreshAgent2Every steps.
 */
export async function trainGrpo<P extends PolicyModel<P>>(
  configInput: GrpoConfigInput | GrpoConfig,
  deps: TrainerDeps<P>,
  callbacks: TrainerCallbacks = {},
  options: TrainOptions = {},
): Promise<TrainResult> {
  const config = parseGrpoConfig(configInput, deps.contextLength !== undefined ? { contextLength: deps.contextLength } : {});
  if (config.mode !== "multi") throw new ConfigError("mode", `trainGrpo runs mode "multi"; use trainSingleAgent for "single"`);
  if (config.checkpointEvery % config.refreshAgent2Every !== 0) {
    throw new ConfigError("checkpointEvery", `must be a multiple of refreshAgent2Every (${config.refreshAgent2Every}) so a resumed run restores the frozen Agent 2 exactly`);
  }
  return runGrpoLoop(config, { ...deps, prompts: deps.scenarios }, (policy) => selfPlayStrategy(config, deps, policy), callbacks, options);
}
