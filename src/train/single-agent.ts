// The single-agent baseline: GRPO on direct answers to the dilemmas, rewarded by a CA judge or by the policy itself.
// Mirrors the paper's Dynamic Alignment baseline (App. C: self-reward, beta 0.04, T 1, top-p 1) on the same GRPO loop.
import type { Scenario } from "../data/schema";
import type { ChatModel } from "../llm/chat-model";
import type { ChatMessage } from "../llm/client";
import { parseScoreAnswer } from "../reward/parse";
import { renderPointwisePrompt, type LoadedRubric, CA_SCORE_MAX, CA_SCORE_MIN } from "../reward/rubric";
import type { CaJudge, CaJudgeInput, JudgeResult } from "../reward/judges";
import { solutionParts } from "../reward/judges";
import { deriveSeed } from "../core/rng";
import { ConfigError } from "../core/errors";
import type { LineGrammar } from "../model/constraint";
import { NO_DEAL_KEYWORD, SOLUTION_KEYWORD, optionLetter, packageTemplate, parseSummary, summaryGrammar } from "../selfplay/language";
import { meanOf } from "./advantages";
import { parseGrpoConfig, type GrpoConfig, type GrpoConfigInput } from "./grpo-config";
import { judgeResultToReward } from "./rollout-reward";
import {
  runGrpoLoop, type LoopDeps, type PolicyModel, type RolloutItem, type RolloutStrategy, type TrainOptions,
  type TrainResult, type TrainerCallbacks,
} from "./trainer";

/** Defaults of the single-agent baseline where they differ from the multi-agent ones (paper App. C). */
export const SINGLE_AGENT_DEFAULTS: Partial<GrpoConfigInput> = { mode: "single", beta: 0.04, temperature: 1, topP: 1 };

/** Resolves a single-agent config: SINGLE_AGENT_DEFAULTS under the given fields. */
export function parseSingleAgentConfig(input: GrpoConfigInput = {}, contextLength?: number): GrpoConfig {
  return parseGrpoConfig({ ...SINGLE_AGENT_DEFAULTS, ...input }, contextLength !== undefined ? { contextLength } : {});
}

/**
 * The direct-answer prompt: the dilemma and both stakeholders, and (structured world) every issue with both sides'
 * scores, since a single agent has no negotiation partner to learn the other side's interests from; answer in the
 * joint-solution format the self-play summary uses, so the same judge scores both systems.
 */
export function buildDirectAnswerMessages(scenario: Scenario): ChatMessage[] {
  const { a, b } = scenario.pair;
  const lines = [
    "You advise on a dilemma between two stakeholders and propose one solution that serves both.",
    `Dilemma: ${scenario.dilemma}`,
    `${a.name} (${a.role}) wants: ${a.goals.join("; ")}.`,
    `${b.name} (${b.role}) wants: ${b.goals.join("; ")}.`,
  ];
  if (scenario.structured) {
    lines.push(`Issues and options with scores for ${a.name} / ${b.name} (0-10):`);
    scenario.structured.issues.forEach((i, k) => lines.push(`${k + 1}. ${i.id}: ${i.options.map((o, j) => `${optionLetter(j)}) ${o.id} ${o.utility.a}/${o.utility.b}`).join(", ")}`));
    lines.push(`Answer in one line, each issue by its number and your choice by its letter: ${SOLUTION_KEYWORD} ${packageTemplate(scenario.structured)} | how it serves both sides`);
  } else {
    lines.push("Answer with the solution in two or three sentences.");
  }
  return [
    { role: "system", content: lines.join("\n") },
    { role: "user", content: "Your solution:" },
  ];
}

/**
 * Self-reward (Dynamic Alignment): the policy scores a solution with the pointwise CA rubric; its answer is parsed like
 * any judge's, and an unparseable answer is invalid (never 0). Greedy decoding, so the score is deterministic.
 */
export class SelfRewardJudge implements CaJudge {
  readonly name: string;
  constructor(
    private readonly model: ChatModel,
    private readonly rubric: LoadedRubric,
    private readonly maxTokens = 32,
  ) {
    this.name = `self:${model.name}`;
  }

  async score(input: CaJudgeInput): Promise<JudgeResult> {
    return (await this.scoreBatch([input]))[0]!;
  }

  /** Scores many solutions with one batched generate call (the local policy batches the prompts). */
  async scoreBatch(inputs: readonly CaJudgeInput[]): Promise<JudgeResult[]> {
    const turns = await this.model.generate(
      inputs.map((input) => {
        const sol = solutionParts(input.solution);
        const p = renderPointwisePrompt(this.rubric.rubric, { scenario: input.scenario, solution: sol.text, ...(input.dialogue ? { dialogue: input.dialogue } : {}) });
        return {
          messages: [{ role: "system" as const, content: p.system }, { role: "user" as const, content: p.user }],
          sampling: { temperature: 0, topP: 1, maxTokens: this.maxTokens },
          seed: 0,
          meta: { scenarioId: input.scenario.id, purpose: "judge" as const },
        };
      }),
    );
    return inputs.map((_, i) => {
      const raw = turns[i]?.text ?? "";
      const base = { raw, rubricId: this.rubric.rubric.id, rubricHash: this.rubric.hash, model: this.model.name, cached: false, attempts: 1 };
      const a = parseScoreAnswer(raw, { min: CA_SCORE_MIN, max: CA_SCORE_MAX });
      if (!a.valid) return { ...base, valid: false, error: turns[i]?.error ?? a.error };
      return { ...base, valid: true, score: a.score, via: a.via };
    });
  }
}

export interface SingleAgentDeps<P extends PolicyModel<P>> extends Omit<LoopDeps<P, Scenario>, "prompts"> {
  chatModel(model: P, name: string): ChatModel;
  scenarios: readonly Scenario[];
  /** The CA judge (oracle offline, LLM online); ignored when config.selfReward (then `selfRewardRubric` is used). */
  judge?: CaJudge;
  /** Rubric for self-reward. */
  selfRewardRubric?: LoadedRubric;
  /** Grammar-constrained answers in the structured world (as the self-play option `constrained`): SOLUTION/NO-DEAL lines. */
  constrained?: boolean;
}

/** Direct-answer rollouts: G answers per scenario from the policy, scored by the judge. */
export function directAnswerStrategy<P extends PolicyModel<P>>(config: GrpoConfig, deps: SingleAgentDeps<P>, policy: P): RolloutStrategy<Scenario> {
  const chat = deps.chatModel(policy, "policy");
  let judge: CaJudge;
  if (config.selfReward) {
    if (!deps.selfRewardRubric) throw new ConfigError("selfReward", "self-reward needs a rubric (deps.selfRewardRubric)");
    judge = new SelfRewardJudge(chat, deps.selfRewardRubric);
  } else {
    if (!deps.judge) throw new ConfigError("selfReward", "single-agent training needs a judge (deps.judge) unless selfReward is true");
    judge = deps.judge;
  }
  return {
    async collect(stepNo, scenarios) {
      let t0 = performance.now();
      const reqs = scenarios.flatMap((sc) => {
        const grammar: LineGrammar | undefined = deps.constrained && sc.structured ? summaryGrammar(sc.structured) : undefined;
        return Array.from({ length: config.groupSize }, (_, k) => ({
          messages: buildDirectAnswerMessages(sc),
          sampling: { temperature: config.temperature, topP: config.topP, maxTokens: config.maxCompletionLength },
          seed: deriveSeed(config.seed, "answer", stepNo, sc.id, k),
          meta: { scenarioId: sc.id, speaker: 1 as const, purpose: "turn" as const },
          ...(grammar ? { grammar } : {}),
        }));
      });
      const turns = await chat.generate(reqs);
      const rolloutSeconds = (performance.now() - t0) / 1000;
      t0 = performance.now();
      const answers = turns.map((turn, i) => {
        const sc = scenarios[Math.floor(i / config.groupSize)]!;
        const parsed = sc.structured ? parseSummary(turn.text, sc.structured) : null;
        return { sc, k: i % config.groupSize, turn, pkg: parsed ? parsed.package : undefined };
      });
      const inputs = answers.map((x) => ({ scenario: x.sc, solution: x.pkg === undefined ? x.turn.text : { text: x.turn.text, package: x.pkg } }));
      const results = judge instanceof SelfRewardJudge ? await judge.scoreBatch(inputs) : await Promise.all(inputs.map((inp) => judge.score(inp)));
      const judgeSeconds = (performance.now() - t0) / 1000;
      const items: RolloutItem[] = answers.map((x, i) => {
        const t = x.turn.tokens;
        if (!t) throw new ConfigError("chatModel", `the policy's ChatModel ${chat.name} returned no token record; only local policies train`);
        const p = t.promptIds.length;
        return {
          id: `s${stepNo}-${x.sc.id}-${x.k}`,
          reward: judgeResultToReward(results[i]!),
          samples: [
            {
              inputIds: [...t.promptIds, ...t.sampledIds],
              lossMask: [...new Array<number>(p).fill(0), ...new Array<number>(t.sampledIds.length).fill(1)],
              oldLogprobs: [...new Array<number>(p).fill(0), ...t.rawLogprobs],
            },
          ],
          record: { id: `s${stepNo}-${x.sc.id}-${x.k}`, groupId: `s${stepNo}-${x.sc.id}`, scenarioId: x.sc.id, sampleIndex: x.k, answer: x.turn.text, package: x.pkg ?? null },
        };
      });
      const parsedRate = answers.filter((x) => x.sc.structured).length
        ? answers.filter((x) => x.sc.structured && x.pkg).length / answers.filter((x) => x.sc.structured).length
        : null;
      return {
        items,
        metrics: {
          "rollout/mean_length": meanOf(answers.map((x) => x.turn.tokens?.sampledIds.length ?? 0)),
          "rollout/parse_rate": parsedRate,
          "rollout/no_deal_rate": answers.filter((x) => x.turn.text.includes(NO_DEAL_KEYWORD)).length / Math.max(answers.length, 1),
        },
        rolloutSeconds,
        judgeSeconds,
      };
    },
    dispose() {
      chat.dispose?.();
    },
  };
}

/** Trains the single-agent baseline (mode "single"; beta 0.04, T 1, top-p 1 unless set) on the same GRPO loop. */
export async function trainSingleAgent<P extends PolicyModel<P>>(
  configInput: GrpoConfigInput | GrpoConfig,
  deps: SingleAgentDeps<P>,
  callbacks: TrainerCallbacks = {},
  options: TrainOptions = {},
): Promise<TrainResult> {
  const config = parseSingleAgentConfig(configInput as GrpoConfigInput, deps.contextLength);
  if (config.mode !== "single") throw new ConfigError("mode", `trainSingleAgent runs mode "single"`);
  return runGrpoLoop(config, { ...deps, prompts: deps.scenarios }, (policy) => directAnswerStrategy(config, deps, policy), callbacks, options);
}
