// Scripted self-play corpus for format tuning: dialogues between scripted negotiators run through the real protocol,
// so the policy is fine-tuned on exactly the prompts, windows, turn format and summary format it will meet in RL.
import { deriveSeed } from "../core/rng";
import type { Scenario } from "../data/schema";
import type { ChatMessage } from "../llm/client";
import type { Episode } from "./episode";
import { runEpisodes, type SelfPlayConfigInput } from "./protocol";
import { DEFAULT_MIX, ScriptedNegotiatorModel, mixedStrategy, type Strategy, type StrategyMix } from "./scripted";

/** One supervised example: the prompt the speaker saw and the reply it gave. */
export interface ChatTranscript {
  episodeId: string;
  scenarioId: string;
  turnIndex: number;
  kind: "turn" | "summary";
  speaker: 1 | 2;
  strategy: Strategy;
  messages: ChatMessage[];
  response: string;
}

export interface ScriptedCorpusOptions {
  seed: number;
  /** Number of dialogues (scenarios are cycled). */
  n: number;
  mix?: StrategyMix;
  /** Protocol settings (window, turn cap, prompt style...); mode defaults to "eval" so every dialogue has a summary. */
  config?: SelfPlayConfigInput;
}

export interface ScriptedCorpus {
  episodes: Episode[];
  transcripts: ChatTranscript[];
  /** Strategy of each (episodeId, speaker): `${episodeId}#${speaker}`. */
  strategies: Record<string, Strategy>;
}

export async function generateScriptedCorpus(scenarios: readonly Scenario[], options: ScriptedCorpusOptions): Promise<ScriptedCorpus> {
  const usable = scenarios.filter((s) => s.structured);
  if (usable.length === 0) throw new RangeError("generateScriptedCorpus: no scenario has a structured form");
  const choose = mixedStrategy(deriveSeed(options.seed, "mix"), options.mix ?? DEFAULT_MIX);
  const strategies: Record<string, Strategy> = {};
  const strategy = (req: Parameters<typeof choose>[0]) => {
    const s = choose(req);
    strategies[`${String(req.meta?.episodeId)}#${String(req.meta?.speaker)}`] = s;
    return s;
  };
  const model = new ScriptedNegotiatorModel({ strategy, scenarios: usable, name: "scripted:mix" });
  const episodes: Episode[] = [];
  for (let rep = 0; episodes.length < options.n; rep++) {
    const batch = usable.slice(0, Math.min(usable.length, options.n - episodes.length));
    const got = await runEpisodes(batch, {
      mode: "eval",
      ...options.config,
      groupSize: 1,
      recordMessages: true,
      agent1: model,
      agent2: model,
      seed: options.seed,
      step: rep,
    });
    episodes.push(...got);
  }
  const transcripts: ChatTranscript[] = [];
  for (const e of episodes) {
    for (const t of e.turns) {
      transcripts.push({ episodeId: e.id, scenarioId: e.scenarioId, turnIndex: t.index, kind: "turn", speaker: t.speaker, strategy: strategies[`${e.id}#${t.speaker}`]!, messages: t.messages ?? [], response: t.text });
    }
    if (e.summary) {
      transcripts.push({ episodeId: e.id, scenarioId: e.scenarioId, turnIndex: e.turns.length, kind: "summary", speaker: 1, strategy: strategies[`${e.id}#1`] ?? "integrative", messages: e.summary.messages ?? [], response: e.summary.text });
    }
  }
  return { episodes, transcripts, strategies };
}

/** Supervised example in token space: loss on the reply tokens and the end-of-turn token only. */
export interface SftExample {
  inputIds: number[];
  lossMask: number[];
}

export interface SftEncoder {
  /** Prompt ids of the messages with the assistant generation prompt appended (e.g. T's encodeChat(..., {addGenerationPrompt: true})). */
  encodePrompt(messages: ChatMessage[]): number[];
  /** Ids of plain reply text (no specials). */
  encodeText(text: string): number[];
  /** Id(s) that end an assistant turn (e.g. [<|im_end|>]); sampling stops there, so the model must learn it. */
  endIds: number[];
}

/**
 * Builds SFT examples exactly as the sampler will see them: prompt (generation prompt included) ++ reply ++ end,
 * so format tuning and RL share one token layout. Examples longer than maxLength are dropped (counted in `dropped`).
 */
export function buildSftExamples(
  transcripts: readonly ChatTranscript[],
  encoder: SftEncoder,
  options: { maxLength?: number; includeSummaries?: boolean } = {},
): { examples: SftExample[]; dropped: number } {
  const examples: SftExample[] = [];
  let dropped = 0;
  for (const t of transcripts) {
    if (t.kind === "summary" && options.includeSummaries === false) continue;
    const prompt = encoder.encodePrompt(t.messages);
    const reply = [...encoder.encodeText(t.response), ...encoder.endIds];
    if (options.maxLength !== undefined && prompt.length + reply.length > options.maxLength) {
      dropped++;
      continue;
    }
    examples.push({ inputIds: [...prompt, ...reply], lossMask: [...new Array<number>(prompt.length).fill(0), ...new Array<number>(reply.length).fill(1)] });
  }
  return { examples, dropped };
}
