// OpenAI-compatible chat client (vLLM, SGLang, Ollama, llama.cpp server, OpenAI) over the `openai` package, with
// its own retry loop (exponential backoff + jitter, honouring retry-after), per-request timeouts, bounded
// concurrency, JSON-schema structured output validated by zod, an on-disk cache and token/cost accounting.
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from "openai";
import pLimit from "p-limit";
import { z, type ZodType } from "zod";
import { ParleyError } from "../core/errors";
import { hashJson } from "../core/hash";
import { redactText } from "../core/redact";
import { Rng } from "../core/rng";
import { LlmCache, type CachedChat } from "./cache";
import { extractJson } from "./json-extract";

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  content: string;
}

/** Prices in US dollars per million tokens, for cost accounting. */
export interface LlmPricing {
  inputPer1M: number;
  outputPer1M: number;
}

export interface LlmClientOptions {
  /** e.g. "http://127.0.0.1:8000/v1". */
  baseURL: string;
  model: string;
  /** Default: env PARLEY_LLM_API_KEY, then OPENAI_API_KEY, then "EMPTY" (local servers need none). Never logged. */
  apiKey?: string;
  /** Per-attempt timeout (default 60,000 ms). */
  timeoutMs?: number;
  /** Retries after the first attempt for 408/409/429/5xx, timeouts and connection errors (default 4). */
  maxRetries?: number;
  /** Requests in flight at once, retries and their waits included (default 4). */
  concurrency?: number;
  /** Folder for the on-disk result cache; omit for no cache. */
  cacheDir?: string;
  pricing?: LlmPricing;
  /** Backoff without retry-after: min(maxMs, baseMs * 2^(retry-1)) scaled by a jitter in [0.5, 1). */
  backoff?: { baseMs?: number; maxMs?: number };
  /** Upper bound on a server's retry-after wait (default 120,000 ms). */
  maxRetryAfterMs?: number;
  /** Seed for the backoff jitter stream (default 0). */
  jitterSeed?: number;
  /** Injected fetch (tests). */
  fetch?: typeof fetch;
  defaultHeaders?: Record<string, string>;
  /** Field name for the completion budget: older servers know max_tokens, new OpenAI models max_completion_tokens. */
  maxTokensField?: "max_tokens" | "max_completion_tokens";
  /** Ask the server for strict JSON-schema decoding (OpenAI requires schemas it accepts; default false). */
  strictSchema?: boolean;
  /** Observer for retries and failures (e.g. to log "429, waiting 2.0 s"). */
  onEvent?: (event: LlmEvent) => void;
}

export type LlmEvent =
  | { type: "retry"; attempt: number; waitMs: number; reason: string; status?: number }
  | { type: "invalid"; attempt: number; kind: InvalidKind; message: string };

/** A structured-output request: the zod schema validates, its JSON Schema goes to the server. */
export interface StructuredFormat<T> {
  name: string;
  schema: ZodType<T>;
}

export interface ChatRequest<T = unknown> {
  messages: ChatMessage[];
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  seed?: number;
  stop?: string[];
  responseFormat?: StructuredFormat<T> | "json_object";
  /** Read and write the cache for this request (default true when the client has a cache). */
  cache?: boolean;
  /** Extra requests when the answer is not valid JSON / violates the schema (default 0). */
  validationRetries?: number;
  signal?: AbortSignal;
}

export type InvalidKind = "json" | "schema";

export interface ChatResult<T = unknown> {
  text: string;
  /** The validated object, when a responseFormat was asked for and the answer satisfied it. */
  parsed?: T;
  /** Set when a responseFormat was asked for and the final answer did not satisfy it (raw text kept in `text`). */
  invalid?: { kind: InvalidKind; message: string };
  usage: { promptTokens: number; completionTokens: number };
  cached: boolean;
  /** HTTP attempts this call made (0 on a cache hit). */
  attempts: number;
  model: string;
  finishReason: string | null;
}

export interface LlmStats {
  /** Calls to chat(). */
  calls: number;
  /** HTTP requests sent (attempts, retries included). */
  requests: number;
  cacheHits: number;
  retries: number;
  /** chat() calls that ended in an LlmError. */
  failures: number;
  /** Answers that failed JSON / schema validation (each attempt counted). */
  invalid: number;
  promptTokens: number;
  completionTokens: number;
  /** Dollars, from pricing (0 without). */
  costUsd: number;
}

export type LlmErrorKind = "http" | "timeout" | "connection" | "aborted" | "bad_response" | "invalid_output";

/** A request that failed for good (after retries, or at once for non-retryable errors). Message is redacted. */
export class LlmError extends ParleyError {
  readonly kind: LlmErrorKind;
  readonly status: number | undefined;
  readonly attempts: number;
  constructor(kind: LlmErrorKind, message: string, attempts: number, status?: number, options?: { cause?: unknown }) {
    super(redactText(message), options);
    this.kind = kind;
    this.status = status;
    this.attempts = attempts;
  }
}

/** Thrown by chatParsed() when the answer stays invalid; carries the raw text for the record. */
export class LlmOutputError extends LlmError {
  readonly text: string;
  readonly invalidKind: InvalidKind;
  constructor(invalidKind: InvalidKind, message: string, text: string, attempts: number) {
    super("invalid_output", message, attempts);
    this.invalidKind = invalidKind;
    this.text = text;
  }
}

/** Wait asked for by retry-after-ms (milliseconds) or retry-after (seconds or an HTTP date); undefined if absent. */
export function retryAfterMs(headers: Headers | Record<string, string> | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  const get = (name: string): string | null =>
    typeof (headers as Headers).get === "function" ? (headers as Headers).get(name) : ((headers as Record<string, string>)[name] ?? null);
  const ms = get("retry-after-ms");
  if (ms !== null && ms.trim() !== "" && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const ra = get("retry-after");
  if (ra === null || ra.trim() === "") return undefined;
  if (Number.isFinite(Number(ra))) return Math.max(0, Number(ra) * 1000);
  const date = Date.parse(ra);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

/** JSON Schema sent to the server for a zod schema (draft-07, no $schema key). */
export function toResponseJsonSchema(schema: ZodType): Record<string, unknown> {
  const js = z.toJSONSchema(schema, { target: "draft-07", unrepresentable: "any" }) as Record<string, unknown>;
  delete js.$schema;
  return js;
}

/** Validates an answer against a response format: parsed value or the reason it is invalid. Pure. */
export function validateAnswer<T>(
  text: string,
  format: StructuredFormat<T> | "json_object",
): { parsed: T } | { invalid: { kind: InvalidKind; message: string } } {
  const value = extractJson(text);
  if (value === undefined) return { invalid: { kind: "json", message: "answer contains no parseable JSON" } };
  if (format === "json_object") return { parsed: value as T };
  const res = format.schema.safeParse(value);
  if (res.success) return { parsed: res.data };
  const issue = res.error.issues[0]!;
  const where = issue.path.length ? issue.path.map(String).join(".") + ": " : "";
  return { invalid: { kind: "schema", message: `${where}${issue.message}` } };
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new LlmError("aborted", "request aborted", 0));
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new LlmError("aborted", "request aborted", 0));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });

/** OpenAI-compatible chat client; one instance per (endpoint, model). Holds no resources needing dispose(). */
export class LlmClient {
  readonly model: string;
  readonly baseURL: string;
  private readonly openai: OpenAI;
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly cache: LlmCache | null;
  private readonly jitter: Rng;
  private readonly opts: {
    timeoutMs: number;
    maxRetries: number;
    baseMs: number;
    maxMs: number;
    maxRetryAfterMs: number;
    maxTokensField: "max_tokens" | "max_completion_tokens";
    strictSchema: boolean;
  };
  private readonly pricing: LlmPricing | undefined;
  private readonly onEvent: ((e: LlmEvent) => void) | undefined;
  private readonly counters: LlmStats = {
    calls: 0, requests: 0, cacheHits: 0, retries: 0, failures: 0, invalid: 0, promptTokens: 0, completionTokens: 0, costUsd: 0,
  };

  constructor(options: LlmClientOptions) {
    this.model = options.model;
    this.baseURL = options.baseURL;
    const apiKey = options.apiKey || process.env.PARLEY_LLM_API_KEY || process.env.OPENAI_API_KEY || "EMPTY";
    this.openai = new OpenAI({
      baseURL: options.baseURL,
      apiKey,
      maxRetries: 0,
      timeout: options.timeoutMs ?? 60_000,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.defaultHeaders ? { defaultHeaders: options.defaultHeaders } : {}),
    });
    this.limit = pLimit(Math.max(1, options.concurrency ?? 4));
    this.cache = options.cacheDir ? new LlmCache(options.cacheDir) : null;
    this.jitter = new Rng(options.jitterSeed ?? 0);
    this.opts = {
      timeoutMs: options.timeoutMs ?? 60_000,
      maxRetries: Math.max(0, options.maxRetries ?? 4),
      baseMs: options.backoff?.baseMs ?? 500,
      maxMs: options.backoff?.maxMs ?? 30_000,
      maxRetryAfterMs: options.maxRetryAfterMs ?? 120_000,
      maxTokensField: options.maxTokensField ?? "max_tokens",
      strictSchema: options.strictSchema ?? false,
    };
    this.pricing = options.pricing;
    this.onEvent = options.onEvent;
  }

  /** A copy of the counters (requests, cache hits, tokens, cost, ...). */
  stats(): LlmStats {
    return { ...this.counters };
  }

  /** One-line summary, e.g. for the end of a CLI run. */
  formatStats(): string {
    const s = this.counters;
    return `requests ${s.requests} (retries ${s.retries}, failures ${s.failures}, invalid ${s.invalid}), cache hits ${s.cacheHits}, ` +
      `tokens ${s.promptTokens} in / ${s.completionTokens} out, cost $${s.costUsd.toFixed(4)}`;
  }

  /** Model ids the endpoint lists (GET /models). */
  async listModels(): Promise<string[]> {
    const page = await this.openai.models.list();
    return page.data.map((m) => m.id);
  }

  /** Cache key for a request: model + messages + sampling params + output format. */
  cacheKey(req: ChatRequest<unknown>): string {
    return hashJson({
      model: this.model,
      messages: req.messages,
      params: { temperature: req.temperature, topP: req.topP, maxTokens: req.maxTokens, seed: req.seed, stop: req.stop },
      schema: req.responseFormat === undefined ? null : req.responseFormat === "json_object" ? "json_object"
        : { name: req.responseFormat.name, schema: toResponseJsonSchema(req.responseFormat.schema) },
    });
  }

  /**
   * Sends one chat request (through the cache, the concurrency limit and the retry loop). Transport failures that
   * outlast the retries throw LlmError; an answer that violates the response format is returned with `invalid` set
   * (after `validationRetries` extra requests) and is never cached.
   */
  async chat<T = unknown>(req: ChatRequest<T>): Promise<ChatResult<T>> {
    this.counters.calls++;
    const useCache = this.cache !== null && req.cache !== false;
    const key = useCache ? this.cacheKey(req as ChatRequest<unknown>) : "";
    if (useCache) {
      const hit = this.cache!.get(key);
      if (hit) {
        const checked = req.responseFormat ? validateAnswer(hit.text, req.responseFormat) : null;
        if (!checked || "parsed" in checked) {
          this.counters.cacheHits++;
          return { ...this.fromCached(hit), cached: true, attempts: 0, ...(checked ? { parsed: checked.parsed } : {}) };
        }
      }
    }
    return this.limit(async () => {
      let attempts = 0;
      let last: ChatResult<T> | null = null;
      const tries = 1 + Math.max(0, req.validationRetries ?? 0);
      for (let v = 0; v < tries; v++) {
        const got = await this.send(req, attempts);
        attempts = got.attempts;
        const result: ChatResult<T> = { ...this.fromCached(got.answer), cached: false, attempts };
        if (!req.responseFormat) {
          if (useCache) this.cache!.set(key, got.answer);
          return result;
        }
        const checked = validateAnswer(got.answer.text, req.responseFormat);
        if ("parsed" in checked) {
          if (useCache) this.cache!.set(key, got.answer);
          return { ...result, parsed: checked.parsed };
        }
        this.counters.invalid++;
        this.onEvent?.({ type: "invalid", attempt: attempts, kind: checked.invalid.kind, message: checked.invalid.message });
        last = { ...result, invalid: checked.invalid };
      }
      return last!;
    });
  }

  /** Like chat() with a responseFormat, but throws LlmOutputError when the answer stays invalid. */
  async chatParsed<T>(req: ChatRequest<T> & { responseFormat: StructuredFormat<T> | "json_object" }): Promise<ChatResult<T> & { parsed: T }> {
    const r = await this.chat(req);
    if (r.invalid || r.parsed === undefined) {
      throw new LlmOutputError(r.invalid?.kind ?? "json", `invalid answer (${r.invalid?.message ?? "no JSON"})`, r.text, r.attempts);
    }
    return r as ChatResult<T> & { parsed: T };
  }

  private fromCached(c: CachedChat): Omit<ChatResult<never>, "cached" | "attempts"> {
    return { text: c.text, usage: { ...c.usage }, model: c.model, finishReason: c.finishReason };
  }

  private buildBody(req: ChatRequest<unknown>): OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming {
    const body: Record<string, unknown> = { model: this.model, messages: req.messages, stream: false };
    if (req.temperature !== undefined) body.temperature = req.temperature;
    if (req.topP !== undefined) body.top_p = req.topP;
    if (req.maxTokens !== undefined) body[this.opts.maxTokensField] = req.maxTokens;
    if (req.seed !== undefined) body.seed = req.seed;
    if (req.stop !== undefined && req.stop.length) body.stop = req.stop;
    if (req.responseFormat === "json_object") body.response_format = { type: "json_object" };
    else if (req.responseFormat) {
      body.response_format = {
        type: "json_schema",
        json_schema: { name: req.responseFormat.name, schema: toResponseJsonSchema(req.responseFormat.schema), strict: this.opts.strictSchema },
      };
    }
    return body as unknown as OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming;
  }

  /** The retry loop around one HTTP request. `prior` = attempts already spent by this chat() call. */
  private async send(req: ChatRequest<unknown>, prior: number): Promise<{ answer: CachedChat; attempts: number }> {
    const body = this.buildBody(req);
    let attempts = prior;
    for (let retry = 0; ; retry++) {
      attempts++;
      this.counters.requests++;
      let failure: { kind: LlmErrorKind; message: string; status?: number; retryable: boolean; waitMs?: number; cause: unknown };
      try {
        const res = await this.openai.chat.completions.create(body, {
          timeout: this.opts.timeoutMs,
          maxRetries: 0,
          ...(req.signal ? { signal: req.signal } : {}),
        });
        const choice = res.choices?.[0];
        if (!choice) {
          failure = { kind: "bad_response", message: "response has no choices", retryable: true, cause: undefined };
        } else {
          const usage = { promptTokens: res.usage?.prompt_tokens ?? 0, completionTokens: res.usage?.completion_tokens ?? 0 };
          this.account(usage);
          return {
            answer: { text: choice.message?.content ?? "", model: res.model || this.model, finishReason: choice.finish_reason ?? null, usage },
            attempts,
          };
        }
      } catch (e) {
        failure = classify(e);
      }
      if (!failure.retryable || retry >= this.opts.maxRetries) {
        this.counters.failures++;
        const suffix = failure.retryable ? ` after ${attempts} attempts` : "";
        throw new LlmError(failure.kind, `LLM request to ${this.baseURL} failed${suffix}: ${failure.message}`, attempts, failure.status, { cause: failure.cause });
      }
      const backoff = Math.min(this.opts.maxMs, this.opts.baseMs * 2 ** retry) * (0.5 + 0.5 * this.jitter.next());
      const waitMs = failure.waitMs !== undefined ? Math.min(failure.waitMs, this.opts.maxRetryAfterMs) : backoff;
      this.counters.retries++;
      this.onEvent?.({ type: "retry", attempt: attempts, waitMs, reason: failure.message, ...(failure.status !== undefined ? { status: failure.status } : {}) });
      await sleep(waitMs, req.signal);
    }
  }

  private account(usage: { promptTokens: number; completionTokens: number }): void {
    this.counters.promptTokens += usage.promptTokens;
    this.counters.completionTokens += usage.completionTokens;
    if (this.pricing) {
      this.counters.costUsd += (usage.promptTokens * this.pricing.inputPer1M + usage.completionTokens * this.pricing.outputPer1M) / 1e6;
    }
  }
}

function classify(e: unknown): { kind: LlmErrorKind; message: string; status?: number; retryable: boolean; waitMs?: number; cause: unknown } {
  if (e instanceof LlmError) return { kind: e.kind, message: e.message, retryable: false, cause: e };
  if (e instanceof APIUserAbortError) return { kind: "aborted", message: "request aborted", retryable: false, cause: e };
  if (e instanceof APIConnectionTimeoutError) return { kind: "timeout", message: "request timed out", retryable: true, cause: e };
  if (e instanceof APIConnectionError) return { kind: "connection", message: `connection error (${e.message})`, retryable: true, cause: e };
  if (e instanceof APIError) {
    const status = e.status ?? 0;
    const retryable = status === 408 || status === 409 || status === 429 || status >= 500;
    const waitMs = retryAfterMs(e.headers);
    return { kind: "http", message: `HTTP ${status}: ${e.message}`, status, retryable, ...(waitMs !== undefined ? { waitMs } : {}), cause: e };
  }
  return { kind: "bad_response", message: e instanceof Error ? e.message : String(e), retryable: false, cause: e };
}
