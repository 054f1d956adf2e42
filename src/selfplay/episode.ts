// Episode records (one self-play dialogue, JSONL-serialisable) and their conversion to per-turn training samples.
// Token-in/token-out (DESIGN.md §4): samples are cut from the recorded prompt/sampled ids, never from re-tokenised text.
import { z } from "zod";
import { InputError } from "../core/errors";

const PackageSchema = z.record(z.string(), z.string());

export const TokenSpansSchema = z
  .object({
    promptIds: z.array(z.number().int().nonnegative()),
    sampledIds: z.array(z.number().int().nonnegative()),
    logprobs: z.array(z.number()),
    rawLogprobs: z.array(z.number()),
  })
  .refine((t) => t.logprobs.length === t.sampledIds.length && t.rawLogprobs.length === t.sampledIds.length, {
    message: "logprobs and rawLogprobs must have one entry per sampled id",
  });

const ChatMessageSchema = z.object({ role: z.enum(["system", "user", "assistant"]), content: z.string() });

export const MoveRecordSchema = z.union([
  z.object({ kind: z.literal("propose"), package: PackageSchema, note: z.string() }),
  z.object({ kind: z.literal("accept"), package: PackageSchema, note: z.string() }),
  z.object({ kind: z.literal("reject"), note: z.string() }),
  z.object({ kind: z.literal("invalid"), invalid: z.literal(true), reason: z.string() }),
]);

export const TurnRecordSchema = z.object({
  index: z.number().int().nonnegative(),
  /** 1 = Agent 1 (trainable policy), 2 = Agent 2. */
  speaker: z.union([z.literal(1), z.literal(2)]),
  /** Persona of the pair that spoke. */
  side: z.enum(["a", "b"]),
  text: z.string(),
  /** Parsed move in the structured world; null in the free-text world. */
  move: MoveRecordSchema.nullable(),
  finishReason: z.enum(["stop", "length", "error"]),
  seed: z.number().int(),
  tokens: TokenSpansSchema.optional(),
  /** The prompt messages (only when the run records them, e.g. for the scripted corpus). */
  messages: z.array(ChatMessageSchema).optional(),
  error: z.string().optional(),
});
export type TurnRecord = z.infer<typeof TurnRecordSchema>;

export const SummaryRecordSchema = z.object({
  text: z.string(),
  /** Package named by the summary (structured world), null when it names none or does not parse. */
  package: PackageSchema.nullable(),
  parseError: z.string().optional(),
  finishReason: z.enum(["stop", "length", "error"]),
  seed: z.number().int(),
  tokens: TokenSpansSchema.optional(),
  messages: z.array(ChatMessageSchema).optional(),
});
export type SummaryRecord = z.infer<typeof SummaryRecordSchema>;

export const EpisodeSchema = z.object({
  id: z.string().min(1),
  scenarioId: z.string().min(1),
  /** Episodes of one GRPO group share the groupId (scenario x persona assignment x step). */
  groupId: z.string().min(1),
  sampleIndex: z.number().int().nonnegative(),
  mode: z.enum(["train", "eval"]),
  seed: z.number().int(),
  /** Which persona of the pair Agent 1 plays. */
  agent1Side: z.enum(["a", "b"]),
  personas: z.object({ agent1: z.string(), agent2: z.string() }),
  models: z.object({ agent1: z.string(), agent2: z.string() }),
  /** Who spoke first. */
  opener: z.union([z.literal(1), z.literal(2)]),
  turns: z.array(TurnRecordSchema),
  agreed: z.boolean(),
  /** Number of turns until agreement (the turn that sealed it included); null without agreement. */
  roundsToAgreement: z.number().int().positive().nullable(),
  agreedPackage: PackageSchema.nullable(),
  /** Why the judge decided as it did (free text from the judge). */
  judgeNote: z.string().optional(),
  summary: SummaryRecordSchema.nullable(),
  /** Share of turns that parse as moves (structured world); null in the free-text world. */
  wellFormedRate: z.number().min(0).max(1).nullable(),
  configHash: z.string().optional(),
});
export type Episode = z.infer<typeof EpisodeSchema>;

export interface TrainingSampleOptions {
  /** Whose turns train: both agents (paper Eq. 1 sums over D, both agents' utterances) or Agent 1 only. Default "both". */
  speakers?: "both" | "agent1";
  /** Add Agent 1's summary as a sample (the paper excludes it). Default false. */
  includeSummary?: boolean;
}

/** One sample per trained turn: the speaker's view (prompt) followed by its sampled tokens. */
export interface TrainingSample {
  episodeId: string;
  groupId: string;
  /** Turn index; the summary sample uses turns.length. */
  turnIndex: number;
  kind: "turn" | "summary";
  speaker: 1 | 2;
  /** promptIds ++ sampledIds. */
  inputIds: number[];
  /** 1 exactly on the sampled ids, 0 on the prompt. */
  lossMask: number[];
  /** Sampling log-probs aligned with inputIds (0 on prompt positions). */
  oldLogprobs: number[];
  /** Raw-model log-probs aligned with inputIds (0 on prompt positions). */
  rawOldLogprobs: number[];
  promptLength: number;
}

/**
 * Per-turn training samples of an episode, built from the recorded token spans. Error turns (nothing sampled) are
 * skipped; any other turn that should train without a token record (e.g. from a network model) throws InputError.
 */
export function episodeToTrainingSamples(episode: Episode, options: TrainingSampleOptions = {}): TrainingSample[] {
  const speakers = options.speakers ?? "both";
  const out: TrainingSample[] = [];
  for (const turn of episode.turns) {
    if (speakers === "agent1" && turn.speaker !== 1) continue;
    if (turn.finishReason === "error" && !turn.tokens) continue; // nothing was sampled (e.g. prompt did not fit)
    if (!turn.tokens) throw new InputError(`turn ${turn.index} has no token record; only local-policy episodes train`, { field: `turns.${turn.index}.tokens` });
    out.push(makeSample(episode, turn.tokens, turn.index, "turn", turn.speaker));
  }
  if (options.includeSummary && episode.summary) {
    if (!episode.summary.tokens) throw new InputError("summary has no token record", { field: "summary.tokens" });
    out.push(makeSample(episode, episode.summary.tokens, episode.turns.length, "summary", 1));
  }
  return out;
}

function makeSample(
  episode: Episode,
  t: { promptIds: number[]; sampledIds: number[]; logprobs: number[]; rawLogprobs: number[] },
  turnIndex: number,
  kind: "turn" | "summary",
  speaker: 1 | 2,
): TrainingSample {
  const p = t.promptIds.length;
  const zeros = new Array<number>(p).fill(0);
  return {
    episodeId: episode.id,
    groupId: episode.groupId,
    turnIndex,
    kind,
    speaker,
    inputIds: [...t.promptIds, ...t.sampledIds],
    lossMask: [...zeros, ...new Array<number>(t.sampledIds.length).fill(1)],
    oldLogprobs: [...zeros, ...t.logprobs],
    rawOldLogprobs: [...zeros, ...t.rawLogprobs],
    promptLength: p,
  };
}

/** Counts for reports: turns, well-formed turns, agreement, rounds. */
export interface EpisodeStats {
  episodes: number;
  turns: number;
  wellFormedTurns: number;
  wellFormedRate: number | null;
  agreementRate: number;
  meanRoundsToAgreement: number | null;
  meanTurns: number;
}

export function summarizeEpisodes(episodes: readonly Episode[]): EpisodeStats {
  let turns = 0, wf = 0, structuredTurns = 0, agreed = 0, rounds = 0;
  for (const e of episodes) {
    turns += e.turns.length;
    for (const t of e.turns) {
      if (t.move === null) continue;
      structuredTurns++;
      if (t.move.kind !== "invalid") wf++;
    }
    if (e.agreed) {
      agreed++;
      rounds += e.roundsToAgreement ?? 0;
    }
  }
  return {
    episodes: episodes.length,
    turns,
    wellFormedTurns: wf,
    wellFormedRate: structuredTurns ? wf / structuredTurns : null,
    agreementRate: episodes.length ? agreed / episodes.length : 0,
    meanRoundsToAgreement: agreed ? rounds / agreed : null,
    meanTurns: episodes.length ? turns / episodes.length : 0,
  };
}
