// The self-play protocol: two agents with opposing personas take turns on a dilemma, batched in lockstep.
// Paper §3.2 defaults: Agent 1 trainable, Agent 2 frozen copy, window of the last 2 turns, at most 7 turns, judge after each turn.
import { z } from "zod";
import { ConfigError, fieldPath } from "../core/errors";
import { hashJson } from "../core/hash";
import { Rng, deriveSeed } from "../core/rng";
import type { Scenario } from "../data/schema";
import type { ChatModel, ChatModelRequest, ChatTurn, SamplingParams } from "../llm/chat-model";
import { RuleAgreementJudge, standingOffer, type AgreementJudge } from "./agreement";
import type { Episode, TurnRecord } from "./episode";
import { moveGrammar, parseMove, parseSummary, summaryGrammar } from "./language";
import { buildSummaryMessages, buildTurnMessages, otherSide, type Side } from "./prompts";

const SamplingSchema = (t: number, maxTokens: number) =>
  z
    .object({
      temperature: z.number().min(0).max(5).default(t),
      topP: z.number().gt(0).max(1).default(0.95),
      maxTokens: z.number().int().min(1).max(4096).default(maxTokens),
      stop: z.array(z.string()).optional(),
    })
    .prefault({});

const WindowSchema = z.union([z.literal("all"), z.number().int().min(0)]);

export const SelfPlayConfigSchema = z.object({
  /** train: summary only on agreement; eval: summary always (paper). */
  mode: z.enum(["train", "eval"]).default("train"),
  /** Dialogues per scenario (GRPO group size G; paper 8). */
  groupSize: z.number().int().min(1).default(8),
  /** Turn cap (paper 7). */
  maxTurns: z.number().int().min(1).max(64).default(7),
  /** Turns each speaker sees besides its system prompt (paper 2; "all" = whole dialogue). */
  contextTurns: WindowSchema.default(2),
  /** Who speaks first: alternate within each group (half each), random per dialogue, or fixed. */
  opener: z.enum(["alternate", "random", "agent1", "agent2"]).default("alternate"),
  /** Which persona of the pair Agent 1 plays; "random" draws once per scenario (the whole group shares it). */
  agent1Side: z.enum(["a", "b", "random"]).default("a"),
  /** Dialogue sampling (paper T 0.7, top-p 0.95). */
  dialogue: SamplingSchema(0.7, 64),
  /** Joint-solution sampling (paper T 0.1, top-p 0.95). */
  summary: SamplingSchema(0.1, 96),
  /** Turns of the dialogue Agent 1 sees when writing the joint solution. */
  summaryContext: WindowSchema.default("all"),
  promptStyle: z.enum(["full", "compact"]).default("full"),
  /** Dialogues run together in lockstep (several scenarios x G); bounds memory of local batches. */
  maxBatchEpisodes: z.number().int().min(1).default(128),
  /** Keep the prompt messages in each turn record (scripted corpus, debugging). */
  recordMessages: z.boolean().default(false),
  /**
   * Grammar-constrained decoding of turns and joint solutions in the structured world (local policies only; network
   * and scripted models ignore it): every reply is a well-formed move by construction and the policy only chooses
   * the move, the package and the words. Off by default: it measures the language skill away.
   */
  constrained: z.boolean().default(false),
});
export type SelfPlayConfig = z.infer<typeof SelfPlayConfigSchema>;
export type SelfPlayConfigInput = z.input<typeof SelfPlayConfigSchema>;

/** Validates a partial config; errors are ConfigError naming the field. */
export function resolveSelfPlayConfig(input: SelfPlayConfigInput = {}): SelfPlayConfig {
  const res = SelfPlayConfigSchema.safeParse(input);
  if (!res.success) {
    const issue = res.error.issues[0]!;
    throw new ConfigError(`selfplay.${fieldPath(issue.path)}`, issue.message);
  }
  return res.data;
}

export interface RunEpisodesOptions extends SelfPlayConfigInput {
  /** The trainable policy. */
  agent1: ChatModel;
  /** The frozen copy (or any other ChatModel); may be the same object as agent1 (then turns batch together). */
  agent2: ChatModel;
  agreementJudge?: AgreementJudge;
  seed: number;
  /** Training step (enters seeds and group ids). Default 0. */
  step?: number;
  /** Called for each finished episode, in order of completion of its lockstep batch. */
  onEpisode?: (episode: Episode) => void;
}

interface Live {
  scenario: Scenario;
  episode: Episode;
  history: Array<{ side: Side; text: string }>;
  done: boolean;
}

/** Runs groupSize dialogues per scenario; dialogues whose next speaker is the same model share one generate call. */
export async function runEpisodes(scenarios: readonly Scenario[], options: RunEpisodesOptions): Promise<Episode[]> {
  const { agent1, agent2, seed, onEpisode } = options;
  const config = resolveSelfPlayConfig(pickConfig(options));
  const judge = options.agreementJudge ?? new RuleAgreementJudge();
  const step = options.step ?? 0;
  const configHash = hashJson(config).slice(0, 12);
  const all = planEpisodes(scenarios, config, seed, step, { agent1: agent1.name, agent2: agent2.name }, configHash);
  const out: Episode[] = [];
  try {
    for (let i = 0; i < all.length; i += config.maxBatchEpisodes) {
      const chunk = all.slice(i, i + config.maxBatchEpisodes);
      await runLockstep(chunk, config, agent1, agent2, judge);
      for (const live of chunk) {
        finalize(live.episode);
        out.push(live.episode);
        onEpisode?.(live.episode);
      }
    }
  } finally {
    // Cached prompt prefixes serve every turn and chunk of this call; free them before the caller updates weights
    // (local policies also drop them on any weight change by themselves).
    for (const m of new Set([agent1, agent2])) m.releaseCaches?.();
  }
  return out;
}

function pickConfig(o: RunEpisodesOptions): SelfPlayConfigInput {
  const { agent1: _a1, agent2: _a2, agreementJudge: _j, seed: _s, step: _st, onEpisode: _o, ...rest } = o;
  return rest;
}

/** Episode skeletons with their seeds, persona assignment and opener (pure, so runs are reproducible). */
export function planEpisodes(
  scenarios: readonly Scenario[],
  config: SelfPlayConfig,
  seed: number,
  step: number,
  models: { agent1: string; agent2: string },
  configHash?: string,
): Live[] {
  const out: Live[] = [];
  for (const scenario of scenarios) {
    const groupRng = new Rng(deriveSeed(seed, "group", step, scenario.id));
    const agent1Side: Side = config.agent1Side === "random" ? (groupRng.bernoulli(0.5) ? "a" : "b") : config.agent1Side;
    const firstOpener: 1 | 2 = groupRng.bernoulli(0.5) ? 1 : 2;
    const groupId = `s${step}-${scenario.id}`;
    for (let k = 0; k < config.groupSize; k++) {
      const epSeed = deriveSeed(seed, "episode", step, scenario.id, k);
      let opener: 1 | 2;
      if (config.opener === "agent1") opener = 1;
      else if (config.opener === "agent2") opener = 2;
      else if (config.opener === "random") opener = new Rng(deriveSeed(epSeed, "opener")).bernoulli(0.5) ? 1 : 2;
      else opener = k % 2 === 0 ? firstOpener : firstOpener === 1 ? 2 : 1;
      const episode: Episode = {
        id: `${groupId}-${k}`,
        scenarioId: scenario.id,
        groupId,
        sampleIndex: k,
        mode: config.mode,
        seed: epSeed,
        agent1Side,
        personas: { agent1: scenario.pair[agent1Side].id, agent2: scenario.pair[otherSide(agent1Side)].id },
        models,
        opener,
        turns: [],
        agreed: false,
        roundsToAgreement: null,
        agreedPackage: null,
        summary: null,
        wellFormedRate: null,
        ...(configHash ? { configHash } : {}),
      };
      out.push({ scenario, episode, history: [], done: false });
    }
  }
  return out;
}

function speakerAt(episode: Episode, turnIndex: number): 1 | 2 {
  return turnIndex % 2 === 0 ? episode.opener : episode.opener === 1 ? 2 : 1;
}

function sideOf(episode: Episode, speaker: 1 | 2): Side {
  return speaker === 1 ? episode.agent1Side : otherSide(episode.agent1Side);
}

async function runLockstep(chunk: Live[], config: SelfPlayConfig, agent1: ChatModel, agent2: ChatModel, judge: AgreementJudge): Promise<void> {
  for (let t = 0; t < config.maxTurns; t++) {
    const active = chunk.filter((l) => !l.done);
    if (active.length === 0) break;
    // One generate call per distinct model with every dialogue whose next speaker it is.
    const byModel = new Map<ChatModel, Array<{ live: Live; req: ChatModelRequest; speaker: 1 | 2 }>>();
    for (const live of active) {
      const speaker = speakerAt(live.episode, t);
      const side = sideOf(live.episode, speaker);
      const messages = buildTurnMessages(live.scenario, side, live.history, { contextTurns: config.contextTurns, maxTurns: config.maxTurns, style: config.promptStyle });
      const req: ChatModelRequest = {
        messages,
        sampling: sampling(config.dialogue),
        seed: deriveSeed(live.episode.seed, "turn", t),
        meta: { episodeId: live.episode.id, scenarioId: live.scenario.id, speaker, side, turnIndex: t, purpose: "turn" },
      };
      const grammar = config.constrained && live.scenario.structured ? moveGrammar(live.scenario.structured, standingOffer(live.episode.turns, side)?.package ?? null) : undefined;
      if (grammar) req.grammar = grammar;
      const model = speaker === 1 ? agent1 : agent2;
      if (!byModel.has(model)) byModel.set(model, []);
      byModel.get(model)!.push({ live, req, speaker });
    }
    for (const [model, items] of byModel) {
      const turns = await safeGenerate(model, items.map((x) => x.req));
      items.forEach((item, j) => {
        const turn = turns[j]!;
        const { live, req, speaker } = item;
        const structured = live.scenario.structured;
        const record: TurnRecord = {
          index: t,
          speaker,
          side: sideOf(live.episode, speaker),
          text: turn.text,
          move: structured ? parseMove(turn.text, structured) : null,
          finishReason: turn.finishReason,
          seed: req.seed,
          ...(turn.tokens ? { tokens: turn.tokens } : {}),
          ...(config.recordMessages ? { messages: req.messages } : {}),
          ...(turn.error ? { error: turn.error } : {}),
        };
        live.episode.turns.push(record);
        live.history.push({ side: record.side, text: turn.text });
      });
    }
    const verdicts = await judge.judge(active.map((l) => ({ scenario: l.scenario, turns: l.episode.turns })));
    active.forEach((live, j) => {
      const v = verdicts[j]!;
      if (v.note !== undefined) live.episode.judgeNote = v.note;
      if (v.agreed) {
        live.episode.agreed = true;
        live.episode.roundsToAgreement = t + 1;
        live.episode.agreedPackage = v.package;
        live.done = true;
      }
    });
  }
  // Joint solution by Agent 1: train -> only after agreement; eval -> always.
  const needSummary = chunk.filter((l) => config.mode === "eval" || l.episode.agreed);
  if (needSummary.length === 0) return;
  const reqs: ChatModelRequest[] = needSummary.map((l) => {
    const grammar = config.constrained && l.scenario.structured ? summaryGrammar(l.scenario.structured) : undefined;
    return {
      messages: buildSummaryMessages(l.scenario, l.episode.agent1Side, l.history, { contextTurns: config.summaryContext, agreed: l.episode.agreed, style: config.promptStyle }),
      sampling: sampling(config.summary),
      seed: deriveSeed(l.episode.seed, "summary"),
      meta: { episodeId: l.episode.id, scenarioId: l.scenario.id, speaker: 1, side: l.episode.agent1Side, turnIndex: l.episode.turns.length, purpose: "summary" },
      ...(grammar ? { grammar } : {}),
    };
  });
  const outs = await safeGenerate(agent1, reqs);
  needSummary.forEach((l, j) => {
    const turn = outs[j]!;
    const parsed = l.scenario.structured ? parseSummary(turn.text, l.scenario.structured) : null;
    l.episode.summary = {
      text: turn.text,
      package: parsed?.package ?? null,
      ...(parsed?.error ? { parseError: parsed.error } : {}),
      finishReason: turn.finishReason,
      seed: reqs[j]!.seed,
      ...(turn.tokens ? { tokens: turn.tokens } : {}),
      ...(config.recordMessages ? { messages: reqs[j]!.messages } : {}),
    };
  });
}

function sampling(s: SelfPlayConfig["dialogue"]): SamplingParams {
  return { temperature: s.temperature, topP: s.topP, maxTokens: s.maxTokens, ...(s.stop ? { stop: s.stop } : {}) };
}

/** Calls the model and checks it answered every request (per-request failures come back as finishReason "error"). */
async function safeGenerate(model: ChatModel, reqs: ChatModelRequest[]): Promise<ChatTurn[]> {
  const turns = await model.generate(reqs);
  if (turns.length !== reqs.length) throw new Error(`ChatModel ${model.name} returned ${turns.length} turns for ${reqs.length} requests`);
  return turns;
}

function finalize(e: Episode): void {
  const structured = e.turns.filter((t) => t.move !== null);
  e.wellFormedRate = structured.length ? structured.filter((t) => t.move!.kind !== "invalid").length / structured.length : null;
}
