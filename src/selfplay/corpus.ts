// Scripted self-play corpus for format tuning: dialogues between scripted negotiators run through the real protocol,
// so the policy is fine-tuned on exactly the prompts, windows, turn format and summary format it will meet in RL.
import { deriveSeed } from "../core/rng";
import type { Package, Scenario } from "../data/schema";
import type { ChatMessage } from "../llm/client";
import { compileLineGrammar, headerAllowedSets, type CompiledLineGrammar, type LineGrammar } from "../model/constraint";
import type { Tokenizer } from "../model/tokenizer";
import { standingOffer } from "./agreement";
import type { Episode } from "./episode";
import { moveGrammar, summaryGrammar } from "./language";
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
  /** Turns only: the package the other side proposed last (null: none yet), which decides what ACCEPT may name. */
  standingOffer?: Package | null;
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
      const offer = standingOffer(e.turns.slice(0, t.index), t.side)?.package ?? null;
      transcripts.push({ episodeId: e.id, scenarioId: e.scenarioId, turnIndex: t.index, kind: "turn", speaker: t.speaker, strategy: strategies[`${e.id}#${t.speaker}`]!, messages: t.messages ?? [], response: t.text, standingOffer: offer });
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
  /**
   * Optional grammar sets (`at` indexes inputIds): at reply positions inside a move header, the ids the turn grammar
   * allows there; with `exclude`, at option references in the notes, the "=letter" ids of options the issue lacks.
   * Grammar-aware format tuning raises the allowed mass (src/train/sft-update.ts).
   */
  allowed?: Array<{ at: number; ids: number[]; exclude?: boolean }>;
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
  options: { maxLength?: number; includeSummaries?: boolean; grammar?: SftGrammarSource } = {},
): { examples: SftExample[]; dropped: number } {
  const examples: SftExample[] = [];
  let dropped = 0;
  const setsOf = options.grammar ? grammarSetsOf(options.grammar, encoder.endIds) : null;
  for (const t of transcripts) {
    if (t.kind === "summary" && options.includeSummaries === false) continue;
    const prompt = encoder.encodePrompt(t.messages);
    const reply = [...encoder.encodeText(t.response), ...encoder.endIds];
    if (options.maxLength !== undefined && prompt.length + reply.length > options.maxLength) {
      dropped++;
      continue;
    }
    const ex: SftExample = { inputIds: [...prompt, ...reply], lossMask: [...new Array<number>(prompt.length).fill(0), ...new Array<number>(reply.length).fill(1)] };
    const sets = setsOf?.(t, reply);
    if (sets) ex.allowed = sets.map((x) => ({ ...x, at: prompt.length + x.at }));
    examples.push(ex);
  }
  return { examples, dropped };
}

/** What grammar-aware SFT examples need: the tokenizer and the scenarios the transcripts came from. */
export interface SftGrammarSource {
  tokenizer: Tokenizer;
  scenarios: readonly Scenario[];
  /** Header sets keep only the longest spellings (headerAllowedSets' `longestOnly`). Default true. */
  longestOnly?: boolean;
}

/** The grammar a transcript's reply follows: the summary grammar, or the move grammar given the standing offer. */
export function transcriptGrammar(t: ChatTranscript, scenario: Scenario): LineGrammar | null {
  if (!scenario.structured) return null;
  if (t.kind === "summary") return summaryGrammar(scenario.structured);
  // Transcripts written before standingOffer was recorded: any package may follow ACCEPT.
  return moveGrammar(scenario.structured, t.standingOffer === undefined ? undefined : t.standingOffer);
}

function grammarSetsOf(src: SftGrammarSource, endIds: readonly number[]) {
  const byId = new Map(src.scenarios.map((s) => [s.id, s]));
  const compiled = new WeakMap<LineGrammar, CompiledLineGrammar>();
  const letterTokens = optionLetterTokens(src.tokenizer);
  return (t: ChatTranscript, replyIds: readonly number[]) => {
    const scenario = byId.get(t.scenarioId);
    const g = scenario ? transcriptGrammar(t, scenario) : null;
    if (!g) return null;
    let c = compiled.get(g);
    if (!c) compiled.set(g, (c = compileLineGrammar(g)));
    const header = headerAllowedSets(c, src.tokenizer, replyIds, endIds, { longestOnly: src.longestOnly ?? true });
    if (!header) return null;
    const refs = optionReferenceSets(scenario!.structured!, src.tokenizer, replyIds, letterTokens, header.length);
    return [...header, ...refs];
  };
}

/** Ids whose text starts with "=" and a lowercase letter ("=a", "=c,"), with that letter's option index. */
function optionLetterTokens(tok: Tokenizer): Array<{ id: number; option: number }> {
  const out: Array<{ id: number; option: number }> = [];
  for (let id = 0; id < tok.vocabSize; id++) {
    if (tok.isSpecial(id)) continue;
    const m = /^=([a-z])/.exec(tok.decode([id]));
    if (m) out.push({ id, option: m[1]!.charCodeAt(0) - 97 });
  }
  return out;
}

/**
 * Option references in the free text after the header ("I cannot give up 3=b"): where the text so far ends in an issue
 * number k and the next token starts with "=" + letter, the "=letter" tokens naming options issue k lacks (all of them
 * when there is no issue k) are excluded. Notes then never teach letters that do not exist, which a small policy would
 * otherwise carry over into its packages.
 */
function optionReferenceSets(
  structured: NonNullable<Scenario["structured"]>,
  tok: Tokenizer,
  replyIds: readonly number[],
  letterTokens: ReadonlyArray<{ id: number; option: number }>,
  from: number,
): Array<{ at: number; ids: number[]; exclude: true }> {
  const out: Array<{ at: number; ids: number[]; exclude: true }> = [];
  let text = tok.decode(replyIds.slice(0, from) as number[]);
  for (let i = from; i < replyIds.length; i++) {
    const piece = tok.decode([replyIds[i]!]);
    const k = /(?:^|[^0-9])([0-9]+)$/.exec(text);
    if (k && /^=[a-z]/.test(piece)) {
      const n = structured.issues[Number(k[1]) - 1]?.options.length ?? 0;
      out.push({ at: i, ids: letterTokens.filter((x) => x.option >= n).map((x) => x.id), exclude: true });
    }
    text += piece;
  }
  return out;
}
