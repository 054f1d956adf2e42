// The local tfjs policy as a ChatModel: chat template -> prompt ids, one batched KV-cache generate per sampling
// setting, stop at the end-of-turn token, exact token spans returned (token-in/token-out, DESIGN.md §4).
// This is the only self-play file that touches src/model; it never imports tfjs itself.
import { Rng } from "../core/rng";
import type { ChatMessage } from "../llm/client";
import type { ChatModel, ChatModelRequest, ChatTurn } from "../llm/chat-model";
import { DEFAULT_CHAT_TEMPLATE, encodeChat } from "../model/chat-template";
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
   * Largest batch per generate call (bigger batches are split); default 32. Prefill memory grows with
   * batch x prompt length^2 (attention scores), and the wasm heap is bounded, so very large batches can abort.
   */
  maxBatch?: number;
}

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

  constructor(options: LocalPolicyOptions) {
    this.model = options.model;
    this.tok = options.tokenizer;
    this.encoder = chatEncoder(options.tokenizer, options.template);
    this.stops = turnStopIds(options.tokenizer);
    this.name = options.name ?? "local:policy";
    this.maxBatch = Math.max(1, options.maxBatch ?? 32);
  }

  /** Prompt ids of a request (what the policy sees). */
  promptIds(messages: ChatMessage[]): number[] {
    return this.encoder.encodePrompt(messages);
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
    for (const unsorted of groups.values()) {
      // Similar lengths share a chunk: less left-padding in the prefill (rows keep their own Rng, so order is free).
      const idx = unsorted.slice().sort((x, y) => prompts[x]!.length - prompts[y]!.length || x - y);
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
