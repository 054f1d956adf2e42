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
import { episodeToTrainingSamples, type Episode, type TrainingSample } from "../selfplay/episode";
import { runEpisodes, type SelfPlayConfigInput } from "../selfplay/protocol";
import { computeAdvantages, meanOf as mean, type MaybeReward } from "./advantages";
import { rewardEpisodes, type EpisodeReward, type EpisodeRewarder } from "./rollout-reward";
import { sampleAdvantages } from "./batching";
import { parseGrpoConfig, type GrpoConfig, type GrpoConfigInput } from "./grpo-config";
import { grpoUpdate, type TrainableModel, type GrpoUpdateResult } from "./grpo-update";
import { AdamW } from "./optimizer";
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

export interface TrainerDeps<P extends PolicyModel<P>> {
  /** The policy being trained (weights change in place). */
  policy: P;
  /** Wraps a model as a ChatModel for self-play (S's local-policy adapter). */
  chatModel(model: P, name: string): ChatModel;
  /** Training scenarios (each step draws batchScenarios of them without replacement). */
  scenarios: readonly Scenario[];
  rewarder: EpisodeRewarder;
  agreementJudge?: AgreementJudge;
  /** Extra self-play settings (window, opener, prompt style); the GRPO config sets G, turns and sampling. */
  selfplay?: SelfPlayConfigInput;
  /** Run directory: metrics.jsonl, rollouts.jsonl. */
  runDir: string;
  checkpoints?: CheckpointStore<P>;
  /** Model context length (validated against maxSampleLength). */
  contextLength?: number;
  /** Padding id for packed batches (default 0; masked out anyway). */
  padId?: number;
}

export interface TrainerCallbacks {
  onStep?(metrics: MetricRecord): void;
  onEpisodes?(step: number, episodes: readonly Episode[], rewards: readonly EpisodeReward[]): void;
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

/** Per-episode record written to rollouts.jsonl (token ids stripped; text kept). */
export function rolloutRecord(step: number, e: Episode, r: EpisodeReward, advantage: number): Record<string, unknown> {
  return {
    step,
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
    reward: r.score,
    valid: r.valid,
    ...(r.raw !== undefined ? { judgeRaw: r.raw } : {}),
    advantage,
  };
}

/** Orders episodes into contiguous groups (by groupId first appearance, then sampleIndex). */
export function groupEpisodes<T extends { episode: Episode }>(items: readonly T[]): T[] {
  const order = new Map<string, number>();
  items.forEach((x) => {
    if (!order.has(x.episode.groupId)) order.set(x.episode.groupId, order.size);
  });
  return items
    .map((x, i) => ({ x, i }))
    .sort((a, b) => order.get(a.x.episode.groupId)! - order.get(b.x.episode.groupId)! || a.x.episode.sampleIndex - b.x.episode.sampleIndex || a.i - b.i)
    .map((o) => o.x);
}

/** Scenario indices for a step: batchScenarios distinct ones, from an Rng derived from (seed, step). */
export function scenariosForStep(seed: number, step: number, poolSize: number, batch: number): number[] {
  const rng = new Rng(deriveSeed(seed, "scenarios", step));
  return rng.sample(Array.from({ length: poolSize }, (_, i) => i), batch);
}

function lossOptions(c: GrpoConfig, step: number, padId: number | undefined) {
  return {
    loss: c.loss,
    epsilonLow: c.epsilonLow,
    epsilonHigh: c.epsilonHigh,
    beta: c.beta,
    mu: c.mu,
    maxCompletionLength: c.maxCompletionLength,
    microBatchTokens: c.microBatchTokens,
    oldLogprobs: c.oldLogprobs,
    skipZeroAdvantage: c.skipZeroAdvantage,
    lr: lrAt(step, { lr: c.learningRate, warmupSteps: Math.min(c.warmupSteps, c.steps), totalSteps: c.steps, minLrRatio: c.minLrRatio }),
    maxGradNorm: c.maxGradNorm,
    ...(padId !== undefined ? { padId } : {}),
  };
}

/** Metric record of one step (TRL-like slash names). */
export function stepMetrics(
  step: number,
  episodes: readonly Episode[],
  samples: readonly TrainingSample[],
  adv: ReturnType<typeof computeAdvantages>,
  rewards: readonly MaybeReward[],
  G: number,
  upd: GrpoUpdateResult,
  lr: number,
  times: { rollout: number; judge: number; update: number },
): MetricRecord {
  const agreed = episodes.filter((e) => e.agreed);
  const groupMins: number[] = [], groupMaxs: number[] = [];
  for (let g = 0; g < rewards.length / G; g++) {
    const vals = rewards.slice(g * G, (g + 1) * G).filter((r): r is number => typeof r === "number" && Number.isFinite(r));
    if (vals.length) {
      groupMins.push(Math.min(...vals));
      groupMaxs.push(Math.max(...vals));
    }
  }
  const turnLens = samples.map((s) => s.lossMask.reduce((a, b) => a + b, 0));
  const wf = episodes.map((e) => e.wellFormedRate).filter((x): x is number => x !== null);
  const num = (x: number) => (Number.isFinite(x) ? x : null);
  return {
    step,
    "reward/mean": num(adv.rewardMean),
    "reward/std": num(adv.rewardStd),
    "reward/frac_zero_std": adv.fracZeroStdGroups,
    "reward/group_min": num(mean(groupMins)),
    "reward/group_max": num(mean(groupMaxs)),
    "judge/invalid_rate": adv.invalidRate,
    "rollout/agreement_rate": episodes.length ? agreed.length / episodes.length : 0,
    "rollout/rounds": agreed.length ? num(mean(agreed.map((e) => e.roundsToAgreement ?? 0))) : null,
    "rollout/turns": num(mean(episodes.map((e) => e.turns.length))),
    "rollout/mean_length": num(mean(turnLens)),
    "rollout/well_formed_rate": wf.length ? num(mean(wf)) : null,
    "grpo/loss": num(upd.loss),
    "grpo/kl": upd.stats.kl,
    "grpo/clip_ratio_low": upd.stats.clipRatioLow,
    "grpo/clip_ratio_high": upd.stats.clipRatioHigh,
    "grpo/clip_ratio": upd.stats.clipRatioRegion,
    "grpo/ratio_mean": upd.stats.meanRatio,
    "grpo/entropy": upd.stats.entropy,
    "grpo/grad_norm": num(upd.gradNorm),
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

/** Drops rollouts.jsonl records past `lastStep` (resume). */
export function truncateRollouts(file: string, lastStep: number): void {
  if (!fs.existsSync(file)) return;
  const recs = readJsonl<{ step: number }>(file);
  writeJsonl(file, recs.filter((r) => r.step <= lastStep));
}

/**
 * Trains the policy with GRPO on self-play negotiations. Step s (1-based in logs) draws its scenarios and rollout
 * seeds from (seed, s), so a resumed run reproduces the uninterrupted one. Agent 2 is a frozen copy of the policy
 * refreshed every refreshAgent2Every steps (when it equals the policy, both agents share one batched ChatModel).
 */
export async function trainGrpo<P extends PolicyModel<P>>(
  configInput: GrpoConfigInput | GrpoConfig,
  deps: TrainerDeps<P>,
  callbacks: TrainerCallbacks = {},
  options: TrainOptions = {},
): Promise<TrainResult> {
  const config = parseGrpoConfig(configInput, deps.contextLength !== undefined ? { contextLength: deps.contextLength } : {});
  if (config.mode !== "multi") throw new ConfigError("mode", `trainGrpo runs mode "multi"; use trainSingleAgent for "single"`);
  if (deps.scenarios.length < config.batchScenarios) {
    throw new ConfigError("batchScenarios", `${config.batchScenarios} scenarios per step but only ${deps.scenarios.length} training scenarios`);
  }
  if (config.checkpointEvery % config.refreshAgent2Every !== 0) {
    throw new ConfigError("checkpointEvery", `must be a multiple of refreshAgent2Every (${config.refreshAgent2Every}) so a resumed run restores the frozen Agent 2 exactly`);
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
  const trainerRng = new Rng(config.seed);
  let start = 0;
  let resumedFrom: number | null = null;
  let lastCheckpoint: string | null = null;
  if (options.resume && deps.checkpoints) {
    const where = await deps.checkpoints.latest();
    if (where) {
      const st = await deps.checkpoints.restore(where, policy, optimizer);
      start = st.step;
      resumedFrom = st.step;
      trainerRng.setState(st.rng);
      lastCheckpoint = where;
    }
    metricsLog.truncateAfter(start);
    truncateRollouts(rolloutsFile, start);
  } else if (!options.resume) {
    for (const f of [metricsLog.file, rolloutsFile]) if (fs.existsSync(f)) fs.rmSync(f);
  }

  // Reference (beta > 0): a frozen copy of the starting policy (of the run's start, also after a resume it must be
  // the initial weights: we keep the copy made before any update of this process, documented limitation).
  const reference = config.beta !== 0 ? policy.clone() : null;
  const agent2 = config.refreshAgent2Every > 1 ? policy.clone() : null;
  const policyChat = deps.chatModel(policy, "policy");
  const agent2Chat = agent2 ? deps.chatModel(agent2, "agent2-frozen") : null;
  const scenarioById = new Map(deps.scenarios.map((s) => [s.id, s]));
  const progress = new Progress({ label: "grpo", total: config.steps, silent: callbacks.silent ?? false });
  progress.update(start);
  const metrics: MetricRecord[] = [];
  const G = config.groupSize;

  const saveCheckpoint = async (done: number): Promise<void> => {
    if (!deps.checkpoints) return;
    lastCheckpoint = await deps.checkpoints.save(policy, optimizer, { step: done, seed: config.seed, rng: trainerRng.getState(), config });
    await deps.checkpoints.prune?.(config.keepCheckpoints);
  };

  try {
    for (let s = start; s < config.steps; s++) {
      const stepNo = s + 1;
      // Agent 2: the policy itself on refresh steps (identical weights, one batched model), else the frozen copy.
      const refresh = s % config.refreshAgent2Every === 0;
      if (agent2 && refresh) agent2.copyWeightsFrom(policy);
      const picks = scenariosForStep(config.seed, stepNo, deps.scenarios.length, config.batchScenarios);
      const scenarios = picks.map((i) => deps.scenarios[i]!);

      let t0 = performance.now();
      const episodes = await runEpisodes(scenarios, {
        ...(deps.selfplay ?? {}),
        mode: "train",
        groupSize: G,
        maxTurns: config.maxTurns,
        dialogue: { ...(deps.selfplay?.dialogue ?? {}), temperature: config.temperature, topP: config.topP, maxTokens: config.maxCompletionLength },
        summary: { ...(deps.selfplay?.summary ?? {}), temperature: config.summaryTemperature, topP: config.summaryTopP },
        agent1: policyChat,
        agent2: agent2Chat && !refresh ? agent2Chat : policyChat,
        ...(deps.agreementJudge ? { agreementJudge: deps.agreementJudge } : {}),
        seed: config.seed,
        step: stepNo,
      });
      const tRollout = (performance.now() - t0) / 1000;

      t0 = performance.now();
      const grouped = groupEpisodes(episodes.map((episode) => ({ episode })));
      const ordered = grouped.map((x) => x.episode);
      const rewards = await rewardEpisodes(deps.rewarder, ordered, scenarioById);
      const tJudge = (performance.now() - t0) / 1000;

      t0 = performance.now();
      const rewardValues: MaybeReward[] = rewards.map((r) => (r.valid ? r.score : null));
      const adv = computeAdvantages(rewardValues, { groupSize: G, scaleRewards: config.scaleRewards, epsilon: config.advantageEpsilon });
      const advByEpisode = new Map(ordered.map((e, i) => [e.id, adv.advantages[i]!]));
      const samples = ordered.flatMap((e) => episodeToTrainingSamples(e, { speakers: config.trainSpeakers, includeSummary: config.includeSummary }));
      const sampleAdv = sampleAdvantages(samples, advByEpisode);
      const lo = lossOptions(config, s, deps.padId);
      const upd = grpoUpdate(
        policy,
        optimizer,
        samples.map((x) => ({ inputIds: x.inputIds, lossMask: x.lossMask, oldLogprobs: x.rawOldLogprobs })),
        sampleAdv,
        lo,
        reference,
      );
      const tUpdate = (performance.now() - t0) / 1000;

      const m = stepMetrics(stepNo, ordered, samples, adv, rewardValues, G, upd, lo.lr, { rollout: tRollout, judge: tJudge, update: tUpdate });
      if (!upd.finite) {
        metricsLog.log({ ...m, error: "non-finite loss or gradient" });
        throw new NonFiniteError(stepNo, `loss ${upd.loss} / gradient norm ${upd.gradNorm} is not finite`, lastCheckpoint);
      }
      metricsLog.log(m);
      metrics.push(m);
      if (config.saveRollouts) appendJsonl(rolloutsFile, ordered.map((e, i) => rolloutRecord(stepNo, e, rewards[i]!, adv.advantages[i]!)));
      callbacks.onEpisodes?.(stepNo, ordered, rewards);
      callbacks.onStep?.(m);
      const stop = callbacks.shouldStop?.() ?? false;
      if (stepNo % config.checkpointEvery === 0 || stepNo === config.steps || stop) await saveCheckpoint(stepNo);
      progress.update(stepNo, `reward ${fmt(adv.rewardMean)} agree ${fmt(m["rollout/agreement_rate"] as number)}`);
      if (stop) return { steps: stepNo, resumedFrom, metrics, lastCheckpoint };
    }
    return { steps: config.steps, resumedFrom, metrics, lastCheckpoint };
  } finally {
    progress.stop();
    policyChat.dispose?.();
    agent2Chat?.dispose?.();
    agent2?.dispose();
    reference?.dispose();
    optimizer.dispose();
  }
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toFixed(2) : "-";
}
