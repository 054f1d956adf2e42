// ChatModel: the one interface self-play, judges and evaluation use to get chat turns, batched, from any model.
// Token-in/token-out (DESIGN.md §4): a local policy also returns the exact prompt ids, sampled ids and log-probs.
import type { LineGrammar } from "../model/constraint";
import type { Rng } from "../core/rng";
import { LlmError, type ChatMessage, type LlmClient } from "./client";

export type { ChatMessage } from "./client";

export interface SamplingParams {
  /** 0 = greedy. */
  temperature: number;
  topP: number;
  /** Upper bound on generated tokens for this turn. */
  maxTokens: number;
  /** Extra stop strings (the chat end token is always a stop for local models). */
  stop?: string[];
}

/** Free-form context a model may use (scripted negotiators read it; network models ignore it). */
export interface ChatRequestMeta {
  episodeId?: string;
  scenarioId?: string;
  /** 1 = trainable Agent 1, 2 = Agent 2. */
  speaker?: 1 | 2;
  /** Which persona of the pair speaks. */
  side?: "a" | "b";
  turnIndex?: number;
  purpose?: "turn" | "summary" | "judge";
  [key: string]: unknown;
}

export interface ChatModelRequest {
  messages: ChatMessage[];
  sampling: SamplingParams;
  /** Per-request seed; a model derives its own randomness from it, so a turn does not depend on batch order. */
  seed: number;
  /** Optional explicit stream (used instead of `seed` when given). */
  rng?: Rng;
  meta?: ChatRequestMeta;
  /**
   * Constrain the reply to this grammar (grammar-constrained decoding, src/model/constraint.ts). Local policies
   * enforce it token by token; network and scripted models ignore it. Reuse one object per grammar: compiled
   * grammars are cached by object identity.
   */
  grammar?: LineGrammar;
}

/** Exact token record of one local-policy turn: what the model saw and what it sampled. */
export interface TokenSpans {
  promptIds: number[];
  /** Sampled ids including the stop token when the turn ended on it. */
  sampledIds: number[];
  /** log p of each sampled id under the sampling distribution (after temperature / top-p). */
  logprobs: number[];
  /** log p of each sampled id under the raw model distribution (temperature 1, no truncation). */
  rawLogprobs: number[];
}

export type FinishReason = "stop" | "length" | "error";

export interface ChatTurn {
  text: string;
  finishReason: FinishReason;
  /** Present for local policies only. */
  tokens?: TokenSpans;
  /** Number of generated tokens when known (network models report usage). */
  completionTokens?: number;
  /** Error message when finishReason is "error" (the turn text is then ""). */
  error?: string;
}

export interface ChatModel {
  /** Name recorded in episodes (e.g. "local:ckpt-300", "openai:gpt-4o-mini", "scripted:integrative"). */
  readonly name: string;
  /** One turn per request, in order. Implementations batch or run requests concurrently. */
  generate(requests: ChatModelRequest[]): Promise<ChatTurn[]>;
  dispose?(): void;
  /** Frees caches kept between generate calls (e.g. a local policy's prompt-prefix keys/values); stays usable. */
  releaseCaches?(): void;
}

/** A ChatModel from a plain function; for tests and scripted agents. */
export class FunctionChatModel implements ChatModel {
  readonly name: string;
  /** Every batch this model received, in call order (tests inspect what each speaker saw). */
  readonly calls: ChatModelRequest[][] = [];
  private readonly fn: (req: ChatModelRequest, indexInBatch: number) => string | ChatTurn | Promise<string | ChatTurn>;
  private readonly record: boolean;

  constructor(
    name: string,
    fn: (req: ChatModelRequest, indexInBatch: number) => string | ChatTurn | Promise<string | ChatTurn>,
    options: { record?: boolean } = {},
  ) {
    this.name = name;
    this.fn = fn;
    this.record = options.record ?? true;
  }

  async generate(requests: ChatModelRequest[]): Promise<ChatTurn[]> {
    if (this.record) this.calls.push(requests);
    const out: ChatTurn[] = [];
    for (let i = 0; i < requests.length; i++) {
      const r = await this.fn(requests[i]!, i);
      out.push(typeof r === "string" ? { text: r, finishReason: "stop" } : r);
    }
    return out;
  }
}

/** Any OpenAI-compatible chat endpoint as a ChatModel; requests of a batch run concurrently, bounded by the client. */
export class OpenAiChatModel implements ChatModel {
  readonly name: string;
  private readonly client: LlmClient;

  constructor(client: LlmClient, options: { name?: string } = {}) {
    this.client = client;
    this.name = options.name ?? `openai:${client.model}`;
  }

  async generate(requests: ChatModelRequest[]): Promise<ChatTurn[]> {
    return Promise.all(
      requests.map(async (r): Promise<ChatTurn> => {
        try {
          const res = await this.client.chat({
            messages: r.messages,
            temperature: r.sampling.temperature,
            topP: r.sampling.topP,
            maxTokens: r.sampling.maxTokens,
            seed: r.seed,
            ...(r.sampling.stop?.length ? { stop: r.sampling.stop } : {}),
          });
          return { text: res.text, finishReason: res.finishReason === "length" ? "length" : "stop", completionTokens: res.usage.completionTokens };
        } catch (e) {
          if (e instanceof LlmError) return { text: "", finishReason: "error", error: e.message };
          throw e;
        }
      }),
    );
  }
}
