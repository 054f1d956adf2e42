// The local tfjs policy as a ChatModel: chat template -> prompt ids, one batched KV-cache generate per sampling
// setting, stop at the end-of-turn token, exact token spans returned (token-in/token-out, DESIGN.md §4).
// This is the only self-play file that touches src/model; it never imports tfjs itself.
import { Rng } from "../core/rng";
import type { ChatMessage } from "../llm/client";
import type { ChatModel, ChatModelRequest, ChatTurn } from "../llm/chat-model";
import { DEFAULT_CHAT_TEMPLATE, encodeChat } from "../model/chat-template";
import { LineGrammarConstraint, compileLineGrammar, type CompiledLineGrammar, type LineGrammar } from "../model/constraint";
import { PrefixCache } from "../model/prefix-cache";
import { generate } from "../model/sampler";
import { turnStopIds, type Tokenizer } from "../model/tokenizer";
import type { Transformer } from "../model/transformer";
import type { SftEncoder } from "./corpus";

export interface LocalPolicyOptions {
  model: Transformer;
  tokenizer: Tokenizer;
  /** Chat template; default the tokenizer's own, else ChatML (DEFAULT_CHAT_TEMPLATE). */
  template?: string;
  name?: string;
  /**
   * Largest batch per generate call (bigger batches are split). Default 128 with the prefix cache (the shared-prefix
   * decoder prefills in row chunks of bounded score memory, and a bigger batch shares each prefix among more rows),
   * 32 without it: a plain prefill's memory grows with batch x prompt length^2 and the wasm heap is bounded.
   */
  maxBatch?: number;
  /**
   * Bytes of prompt-prefix keys/values kept between generate calls (shared-prefix reuse, see prefix-cache.ts);
   * default 64 MiB, 0 = off. The prefix of a prompt is its first chat message (the system prompt: persona, dilemma,
   * issues), identical across a group's dialogues and an episode's turns. Entries are dropped whenever the model's
   * weights change; runEpisodes also releases them when it returns (releaseCaches).
   */
  prefixCacheBytes?: number;
}

/** Shortest first message worth caching as a prefix (shorter ones are prefilled with the rest of the prompt). */
const MIN_PREFIX_TOKENS = 16;

/** How prompts are encoded and replies end, shared by sampling and supervised format tuning. */
export function chatEncoder(tokenizer: Tokenizer, template?: string): SftEncoder {
  const tpl = template ?? tokenizer.chatTemplate ?? DEFAULT_CHAT_TEMPLATE;
  return {
    encodePrompt: (messages: ChatMessage[]) => encodeChat(tokenizer, tpl, messages, { addGenerationPrompt: true }),
    encodeText: (text: string) => tokenizer.encode(text),
    endIds: [turnStopIds(tokenizer)[0]!],
  };
}

/** Batched local policy; requests with equal sampling settings share one generate call (rows keep their own Rng). */
export class LocalPolicyChatModel implements ChatModel {
  readonly name: string;
  private readonly model: Transformer;
  private readonly tok: Tokenizer;
  private readonly encoder: SftEncoder;
  private readonly stops: number[];
  private readonly maxBatch: number;
  private readonly prefixCache: PrefixCache | null;
  private readonly grammars = new WeakMap<LineGrammar, CompiledLineGrammar>();

  constructor(options: LocalPolicyOptions) {
    this.model = options.model;
    this.tok = options.tokenizer;
    this.encoder = chatEncoder(options.tokenizer, options.template);
    this.stops = turnStopIds(options.tokenizer);
    this.name = options.name ?? "local:policy";
    const bytes = options.prefixCacheBytes ?? 64 * 1024 * 1024;
    this.prefixCache = bytes > 0 ? new PrefixCache({ maxBytes: bytes }) : null;
    this.maxBatch = Math.max(1, options.maxBatch ?? (this.prefixCache !== null ? 128 : 32));
  }

  /** Hit/miss counters of the shared-prefix cache (null when it is off). */
  get prefixCacheStats(): PrefixCache["stats"] | null {
    return this.prefixCache?.stats ?? null;
  }

  /** Frees the cached prompt-prefix keys/values (the policy stays usable; they are recomputed on demand). */
  releaseCaches(): void {
    this.prefixCache?.clear();
  }

  /** Tokens of a prompt's first chat message, through its end-of-turn token; 0 when not worth caching. */
  private prefixLength(prompt: number[]): number {
    if (this.prefixCache === null) return 0;
    const end = prompt.findIndex((t) => this.stops.includes(t));
    return end + 1 >= MIN_PREFIX_TOKENS && end + 1 < prompt.length ? end + 1 : 0;
  }

  /** Prompt ids of a request (what the policy sees). */
  promptIds(messages: ChatMessage[]): number[] {
    return this.encoder.encodePrompt(messages);
  }

  private constraintFor(grammar: LineGrammar | undefined): LineGrammarConstraint | null {
    if (!grammar) return null;
    let compiled = this.grammars.get(grammar);
    if (!compiled) this.grammars.set(grammar, (compiled = compileLineGrammar(grammar)));
    return new LineGrammarConstraint(compiled, this.tok, [this.stops[0]!]);
  }

  async generate(requests: ChatModelRequest[]): Promise<ChatTurn[]> {
    const out = new Array<ChatTurn>(requests.length);
    const maxSeq = this.model.config.maxSeqLen;
    const groups = new Map<string, number[]>();
    const prompts = requests.map((r) => this.encoder.encodePrompt(r.messages));
    requests.forEach((r, i) => {
      if (prompts[i]!.length >= maxSeq) {
        out[i] = { text: "", finishReason: "error", error: `prompt of ${prompts[i]!.length} tokens does not fit maxSeqLen ${maxSeq}` };
        return;
      }
      const key = `${r.sampling.temperature}|${r.sampling.topP}|${r.sampling.maxTokens}`;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key)!.push(i);
    });
    const prefixLen = prompts.map((p) => this.prefixLength(p));
    for (const unsorted of groups.values()) {
      // Rows with the same prefix share a chunk (their prefix is attended to once), then similar lengths (less
      // left-padding in the prefill). Rows keep their own Rng, so order is free.
      const firstSeen = new Map<string, number>();
      const prefixRank = unsorted.map((i) => {
        const key = prompts[i]!.slice(0, prefixLen[i]!).join(",");
        if (!firstSeen.has(key)) firstSeen.set(key, firstSeen.size);
        return firstSeen.get(key)!;
      });
      const rank = new Map(unsorted.map((i, j) => [i, prefixRank[j]!]));
      const idx = unsorted.slice().sort((x, y) => rank.get(x)! - rank.get(y)! || prompts[x]!.length - prompts[y]!.length || x - y);
      for (let s = 0; s < idx.length; s += this.maxBatch) {
        const part = idx.slice(s, s + this.maxBatch);
        const first = requests[part[0]!]!.sampling;
        const results = generate(
          this.model,
          part.map((i) => prompts[i]!),
          {
            maxNewTokens: first.maxTokens,
            temperature: first.temperature,
            topP: first.topP,
            rngs: part.map((i) => requests[i]!.rng ?? new Rng(requests[i]!.seed)),
            stopTokenIds: this.stops,
            ...(this.prefixCache !== null ? { prefixCache: this.prefixCache, prefixLengths: part.map((i) => prefixLen[i]!) } : {}),
            constraints: part.map((i) => this.constraintFor(requests[i]!.grammar)),
          },
        );
        part.forEach((i, j) => {
          const r = results[j]!;
          const body = r.finishReason === "stop" ? r.tokens.slice(0, r.tokens.length - (r.stoppedBy?.length ?? 1)) : r.tokens;
          out[i] = {
            text: this.tok.decode(body, { skipSpecial: true }).trim(),
            finishReason: r.finishReason,
            completionTokens: r.tokens.length,
            tokens: { promptIds: prompts[i]!, sampledIds: r.tokens, logprobs: r.logprobs, rawLogprobs: r.rawLogprobs },
          };
        });
      }
    }
    return out;
  }
}
