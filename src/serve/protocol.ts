// OpenAI-compatible request schemas (zod) and the OpenAI error JSON shape for `parley serve`.
// Field names and error shape follow the OpenAI REST API reference (chat/completions, completions, models) as vLLM serves it.
import { z } from "zod";

/** An HTTP error answered as OpenAI error JSON: {error: {message, type, param, code}}. */
export class HttpError extends Error {
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly code: string | null;
  constructor(status: number, message: string, opts: { type?: string; param?: string | null; code?: string | null } = {}) {
    super(message);
    this.status = status;
    this.type = opts.type ?? (status === 401 ? "authentication_error" : status === 404 ? "not_found_error" : status >= 500 ? "server_error" : "invalid_request_error");
    this.param = opts.param ?? null;
    this.code = opts.code ?? null;
  }
  toJson(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

const MessageContentPart = z.object({ type: z.literal("text"), text: z.string() });

export const ChatMessageSchema = z.object({
  role: z.enum(["system", "developer", "user", "assistant"]),
  /** A string or a list of text parts (the OpenAI content-part form; only text is supported). */
  content: z.union([z.string(), z.array(MessageContentPart)]),
  name: z.string().optional(),
});

const StopSchema = z.union([z.string(), z.array(z.string()).max(8)]).nullable().optional();

/** Fields shared by both generation endpoints. */
const SamplingFields = {
  model: z.string().min(1),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().gt(0).max(1).nullable().optional(),
  max_tokens: z.number().int().min(0).nullable().optional(),
  stop: StopSchema,
  seed: z.number().int().nullable().optional(),
  n: z.number().int().min(1).max(16).nullable().optional(),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullable().optional(),
  user: z.string().optional(),
  // Accepted and ignored (no effect on this sampler): penalties, logit_bias.
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
};

export const ChatCompletionRequestSchema = z.object({
  ...SamplingFields,
  messages: z.array(ChatMessageSchema).min(1, "messages must contain at least one message"),
  max_completion_tokens: z.number().int().min(1).nullable().optional(),
  logprobs: z.boolean().nullable().optional(),
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  response_format: z.object({ type: z.enum(["text", "json_object", "json_schema"]) }).passthrough().nullable().optional(),
});
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequestSchema>;

const TokenIds = z.array(z.number().int().min(0)).min(1);

export const CompletionRequestSchema = z.object({
  ...SamplingFields,
  /** A string, a list of strings, a list of token ids, or a list of token-id lists. */
  prompt: z.union([z.string(), z.array(z.string()).min(1), TokenIds, z.array(TokenIds).min(1)]),
  echo: z.boolean().nullable().optional(),
  logprobs: z.number().int().min(0).max(20).nullable().optional(),
});
export type CompletionRequest = z.infer<typeof CompletionRequestSchema>;

/** Validates a parsed JSON body; throws HttpError 400 naming the first bad field. */
export function parseRequest<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HttpError(400, "request body must be a JSON object");
  const res = schema.safeParse(body);
  if (res.success) return res.data;
  const issue = res.error.issues[0]!;
  const param = issue.path.map(String).join(".") || null;
  const message = param ? `invalid value for '${param}': ${issue.message}` : issue.message;
  return fail(param, message);
}

function fail(param: string | null, message: string): never {
  throw new HttpError(400, message, { param, code: "invalid_value" });
}

/** Text of a chat message (text parts are joined). */
export function messageText(content: string | Array<{ type: "text"; text: string }>): string {
  return typeof content === "string" ? content : content.map((p) => p.text).join("");
}

/** stop -> list of non-empty strings. */
export function stopList(stop: string | string[] | null | undefined): string[] {
  if (stop === undefined || stop === null) return [];
  return (typeof stop === "string" ? [stop] : stop).filter((s) => s.length > 0);
}

// ---- response shapes (subset of the OpenAI types the server emits) ----

export interface TopLogprob {
  token: string;
  logprob: number;
  bytes: number[];
}

export interface ChatTokenLogprob extends TopLogprob {
  top_logprobs: TopLogprob[];
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** Legacy completions logprobs: arrays parallel to the returned tokens (the first prompt token has null). */
export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: Array<number | null>;
  top_logprobs: Array<Record<string, number> | null>;
  text_offset: number[];
}
