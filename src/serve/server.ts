// `parley serve`'s HTTP layer (node:http): OpenAI-compatible /v1/chat/completions (JSON or SSE), /v1/completions
// (with echoed prompt log-probs, as lm-evaluation-harness's local-completions asks for), /v1/models, /health.
// Wire format follows the OpenAI REST reference and vLLM's OpenAI server; every failure answers OpenAI error JSON.
import * as http from "node:http";
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { AddressInfo } from "node:net";
import { InputError } from "../core/errors";
import { Rng, deriveSeed } from "../core/rng";
import type { TemplateMessage } from "../model/chat-template";
import type { ServeEngine, RowResult, TokenLogprob } from "./engine";
import { TokenInfoCache } from "./logprobs";
import {
  ChatCompletionRequestSchema, CompletionRequestSchema, HttpError, messageText, parseRequest, stopList,
  type ChatCompletionRequest, type ChatTokenLogprob, type CompletionLogprobs, type CompletionRequest, type Usage,
} from "./protocol";

export interface ServeOptions {
  engine: ServeEngine;
  /** The id clients put in `model` (default "parley"). */
  modelName?: string;
  /** Default 127.0.0.1 (loopback only). */
  host?: string;
  /** Default 8000; 0 picks a free port. */
  port?: number;
  /** When set, every /v1 request needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Largest accepted request body in bytes (default 1 MiB); larger bodies get 413. */
  maxBodyBytes?: number;
  /** Largest max_tokens accepted (default: the model's context length). */
  maxTokensLimit?: number;
  /** Most prompts in one /v1/completions request (default 64). */
  maxPrompts?: number;
  /** One line per request (method, path, status, ms); default silent. */
  log?: (line: string) => void;
}

export interface RunningServer {
  /** http://host:port */
  url: string;
  /** url + "/v1", what OpenAI clients take as baseURL. */
  baseURL: string;
  port: number;
  server: http.Server;
  /** Stops accepting connections, closes open ones. Does not dispose the engine. */
  close(): Promise<void>;
}

interface Ctx {
  engine: ServeEngine;
  modelName: string;
  maxTokensLimit: number;
  maxPrompts: number;
  info: TokenInfoCache;
  created: number;
}

const newId = (prefix: string): string => `${prefix}-${randomBytes(12).toString("hex")}`;
const now = (): number => Math.floor(Date.now() / 1000);

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const data = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(data) });
  res.end(data);
}

function sendError(res: http.ServerResponse, e: HttpError): void {
  sendJson(res, e.status, e.toJson());
}

/** Reads the body up to `limit` bytes; HttpError 413 past it. */
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? NaN);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new HttpError(413, `request body of ${declared} bytes exceeds the limit of ${limit} bytes`, { code: "body_too_large" }));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on("data", (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(new HttpError(413, `request body exceeds the limit of ${limit} bytes`, { code: "body_too_large" }));
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on("error", (e) => {
      if (!failed) reject(e);
    });
  });
}

function parseJson(buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString("utf8"));
  } catch (e) {
    throw new HttpError(400, `request body is not valid JSON (${(e as Error).message})`, { code: "invalid_json" });
  }
}

function checkModel(ctx: Ctx, model: string): void {
  if (model !== ctx.modelName) {
    throw new HttpError(404, `The model '${model}' does not exist; this server serves '${ctx.modelName}'`, { param: "model", code: "model_not_found" });
  }
}

/** max_tokens checks shared by both endpoints: the server limit and the context window. */
function resolveMaxTokens(ctx: Ctx, asked: number | null | undefined, promptLen: number, fallback: number, param: string, promptParam: string): number {
  const C = ctx.engine.contextLength;
  if (promptLen > C || (promptLen === C && asked !== 0)) {
    throw new HttpError(400, `the prompt has ${promptLen} tokens; the model's context length is ${C}`, { param: promptParam, code: "context_length_exceeded" });
  }
  if (asked === undefined || asked === null) return Math.max(0, Math.min(fallback, ctx.maxTokensLimit, C - promptLen));
  if (asked > ctx.maxTokensLimit) throw new HttpError(400, `${param} ${asked} exceeds this server's limit of ${ctx.maxTokensLimit}`, { param, code: "invalid_value" });
  if (promptLen + asked > C) {
    throw new HttpError(400, `prompt (${promptLen} tokens) + ${param} (${asked}) exceeds the model's context length ${C}`, { param, code: "context_length_exceeded" });
  }
  return asked;
}

function rowRng(seed: number | null | undefined, engine: ServeEngine, key: number): Rng {
  const base = seed === undefined || seed === null ? engine.nextSeed() : seed;
  return new Rng(deriveSeed(base, "choice", key));
}

function usage(prompt: number, completion: number): Usage {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

/** SSE writer; `closed` tracks a client that went away. */
class EventStream {
  readonly cancel = { cancelled: false };
  constructor(private readonly res: http.ServerResponse) {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    res.on("close", () => {
      if (!res.writableFinished) this.cancel.cancelled = true;
    });
  }
  send(obj: unknown): void {
    if (!this.cancel.cancelled) this.res.write(`data: ${JSON.stringify(obj)}\n\n`);
  }
  end(): void {
    if (!this.cancel.cancelled) this.res.write("data: [DONE]\n\n");
    this.res.end();
  }
}

function chatLogprobs(ctx: Ctx, lps: TokenLogprob[]): { content: ChatTokenLogprob[] } {
  return {
    content: lps.map((t) => ({
      ...ctx.info.get(t.id),
      logprob: t.logprob,
      top_logprobs: t.top.map((a) => ({ ...ctx.info.get(a.id), logprob: a.logprob })),
    })),
  };
}

async function chatCompletions(ctx: Ctx, body: unknown, res: http.ServerResponse): Promise<void> {
  const r: ChatCompletionRequest = parseRequest(ChatCompletionRequestSchema, body);
  checkModel(ctx, r.model);
  if (r.top_logprobs !== undefined && r.top_logprobs !== null && !r.logprobs) {
    throw new HttpError(400, "top_logprobs requires logprobs: true", { param: "top_logprobs", code: "invalid_value" });
  }
  const messages: TemplateMessage[] = r.messages.map((m) => ({ role: m.role === "developer" ? "system" : m.role, content: messageText(m.content) }));
  let prompt: number[];
  try {
    prompt = ctx.engine.encodeChat(messages);
  } catch (e) {
    throw new HttpError(400, `messages cannot be rendered with the chat template: ${(e as Error).message}`, { param: "messages" });
  }
  const askedName = r.max_completion_tokens !== undefined && r.max_completion_tokens !== null ? "max_completion_tokens" : "max_tokens";
  const asked = r.max_completion_tokens ?? r.max_tokens;
  if (asked === 0) throw new HttpError(400, `${askedName} must be at least 1`, { param: askedName, code: "invalid_value" });
  const maxTokens = resolveMaxTokens(ctx, asked, prompt.length, ctx.maxTokensLimit, askedName, "messages");
  const n = r.n ?? 1;
  const stop = stopList(r.stop);
  const topK = r.logprobs ? (r.top_logprobs ?? 0) : null;
  const id = newId("chatcmpl");
  const created = now();
  const base = { id, created, model: ctx.modelName, system_fingerprint: "parley" };
  const params = (i: number) => ({
    prompt, maxTokens, stop, logprobs: topK,
    temperature: r.temperature ?? 1, topP: r.top_p ?? 1, rng: rowRng(r.seed, ctx.engine, i),
  });
  if (r.stream) {
    const sse = new EventStream(res);
    const chunk = (i: number, delta: Record<string, unknown>, finish: string | null, extra: Record<string, unknown> = {}) =>
      sse.send({ ...base, object: "chat.completion.chunk", choices: [{ index: i, delta, logprobs: null, finish_reason: finish, ...extra }] });
    for (let i = 0; i < n; i++) chunk(i, { role: "assistant", content: "" }, null);
    try {
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          ctx.engine.generate({ ...params(i), cancel: sse.cancel, onDelta: (t) => chunk(i, { content: t }, null) }).then((out) => {
            chunk(i, {}, out.finishReason, topK !== null ? { logprobs: chatLogprobs(ctx, out.logprobs) } : {});
            return out;
          }),
        ),
      );
      if (r.stream_options?.include_usage) {
        sse.send({ ...base, object: "chat.completion.chunk", choices: [], usage: usage(prompt.length, results.reduce((a, x) => a + x.ids.length, 0)) });
      }
    } catch (e) {
      sse.send(toHttpError(e).toJson());
    }
    sse.end();
    return;
  }
  const results = await Promise.all(Array.from({ length: n }, (_, i) => ctx.engine.generate(params(i))));
  sendJson(res, 200, {
    ...base,
    object: "chat.completion",
    choices: results.map((out, i) => ({
      index: i,
      message: { role: "assistant", content: out.text },
      logprobs: topK !== null ? chatLogprobs(ctx, out.logprobs) : null,
      finish_reason: out.finishReason,
    })),
    usage: usage(prompt.length, results.reduce((a, x) => a + x.ids.length, 0)),
  });
}

interface PromptIn {
  ids: number[];
  text: string;
}

function completionPrompts(ctx: Ctx, r: CompletionRequest): PromptIn[] {
  const tok = ctx.engine.tokenizer;
  const p = r.prompt;
  let list: Array<string | number[]>;
  if (typeof p === "string") list = [p];
  else if (p.length > 0 && typeof p[0] === "number") list = [p as number[]];
  else list = p as Array<string | number[]>;
  if (list.length > ctx.maxPrompts) throw new HttpError(400, `at most ${ctx.maxPrompts} prompts per request (got ${list.length})`, { param: "prompt" });
  return list.map((x, i) => {
    if (typeof x === "string") {
      if (x.length === 0) throw new HttpError(400, "prompt must not be empty", { param: `prompt.${i}` });
      return { ids: tok.encode(x), text: x };
    }
    const bad = x.findIndex((t) => t >= tok.vocabSize);
    if (bad >= 0) throw new HttpError(400, `token id ${x[bad]} is outside the vocabulary (size ${tok.vocabSize})`, { param: `prompt.${i}.${bad}` });
    return { ids: x, text: tok.decode(x) };
  });
}

/** Legacy logprobs object over echoed prompt tokens (first null) and generated tokens; offsets index into `text`. */
function completionLogprobs(ctx: Ctx, prompt: PromptIn | null, scored: TokenLogprob[], gen: TokenLogprob[]): CompletionLogprobs {
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  let offset = 0;
  const push = (id: number, lp: number | null, top: Record<string, number> | null) => {
    const t = ctx.info.get(id).token;
    out.tokens.push(t);
    out.token_logprobs.push(lp);
    out.top_logprobs.push(top);
    out.text_offset.push(offset);
    offset += t.length;
  };
  const dict = (t: TokenLogprob): Record<string, number> => {
    const d: Record<string, number> = {};
    for (const a of t.top) {
      const key = ctx.info.get(a.id).token;
      if (!(key in d) || (d[key] as number) < a.logprob) d[key] = a.logprob;
    }
    return d;
  };
  if (prompt) {
    prompt.ids.forEach((id, i) => {
      if (i === 0) push(id, null, null);
      else push(id, scored[i - 1]!.logprob, dict(scored[i - 1]!));
    });
  }
  for (const t of gen) push(t.id, t.logprob, dict(t));
  return out;
}

async function completions(ctx: Ctx, body: unknown, res: http.ServerResponse): Promise<void> {
  const r: CompletionRequest = parseRequest(CompletionRequestSchema, body);
  checkModel(ctx, r.model);
  const prompts = completionPrompts(ctx, r);
  const n = r.n ?? 1;
  const stop = stopList(r.stop);
  const topK = r.logprobs ?? null;
  const echo = r.echo ?? false;
  const maxTokens = prompts.map((p, i) => resolveMaxTokens(ctx, r.max_tokens, p.ids.length, 16, "max_tokens", `prompt.${i}`));
  const id = newId("cmpl");
  const base = { id, created: now(), model: ctx.modelName, system_fingerprint: "parley" };
  const sse = r.stream ? new EventStream(res) : null;
  const empty: RowResult = { ids: [], text: "", finishReason: "length", logprobs: [] };
  try {
    const choices = await Promise.all(
      prompts.flatMap((p, pi) =>
        Array.from({ length: n }, async (_, i) => {
          const index = pi * n + i;
          const scored = echo && topK !== null ? (await ctx.engine.scorePrompt(p.ids, topK)).logprobs : [];
          if (sse && echo) sse.send({ ...base, object: "text_completion", choices: [{ index, text: p.text, logprobs: null, finish_reason: null }] });
          const out = maxTokens[pi]! > 0
            ? await ctx.engine.generate({
              prompt: p.ids, maxTokens: maxTokens[pi]!, stop, logprobs: topK,
              temperature: r.temperature ?? 1, topP: r.top_p ?? 1, rng: rowRng(r.seed, ctx.engine, index),
              ...(sse ? { cancel: sse.cancel, onDelta: (t: string) => sse.send({ ...base, object: "text_completion", choices: [{ index, text: t, logprobs: null, finish_reason: null }] }) } : {}),
            })
            : empty;
          const logprobs = topK !== null ? completionLogprobs(ctx, echo ? p : null, scored, out.logprobs) : null;
          const choice = { index, text: (echo ? p.text : "") + out.text, logprobs, finish_reason: out.finishReason };
          if (sse) sse.send({ ...base, object: "text_completion", choices: [{ index, text: "", logprobs, finish_reason: out.finishReason }] });
          return { choice, completionTokens: out.ids.length };
        }),
      ),
    );
    const u = usage(prompts.reduce((a, p) => a + p.ids.length, 0), choices.reduce((a, c) => a + c.completionTokens, 0));
    if (sse) {
      if (r.stream_options?.include_usage) sse.send({ ...base, object: "text_completion", choices: [], usage: u });
      sse.end();
      return;
    }
    sendJson(res, 200, { ...base, object: "text_completion", choices: choices.map((c) => c.choice), usage: u });
  } catch (e) {
    if (!sse) throw e;
    sse.send(toHttpError(e).toJson());
    sse.end();
  }
}

function toHttpError(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  if (e instanceof InputError) return new HttpError(400, e.message, { param: e.field ?? null });
  return new HttpError(500, `internal error: ${e instanceof Error ? e.message : String(e)}`);
}

function authorized(header: string | undefined, key: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? "");
  if (!m) return false;
  const a = Buffer.from(m[1]!.trim());
  const b = Buffer.from(key);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Starts the server; resolves once it listens. */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const engine = options.engine;
  const ctx: Ctx = {
    engine,
    modelName: options.modelName ?? "parley",
    maxTokensLimit: Math.max(1, options.maxTokensLimit ?? engine.contextLength),
    maxPrompts: Math.max(1, options.maxPrompts ?? 64),
    info: new TokenInfoCache(engine.tokenizer),
    created: now(),
  };
  const maxBody = options.maxBodyBytes ?? 1 << 20;
  const log = options.log;
  const server = http.createServer((req, res) => {
    const t0 = Date.now();
    const url = (req.url ?? "/").split("?")[0]!.replace(/\/+$/, "") || "/";
    res.on("finish", () => log?.(`${req.method} ${url} ${res.statusCode} ${Date.now() - t0}ms`));
    void (async () => {
      try {
        if (url === "/health" && req.method === "GET") {
          sendJson(res, 200, { status: "ok", engine: engine.stats() });
          return;
        }
        if (!url.startsWith("/v1/")) throw new HttpError(404, `no route ${req.method} ${url}`, { code: "not_found" });
        if (options.apiKey !== undefined && !authorized(req.headers.authorization, options.apiKey)) {
          throw new HttpError(401, "missing or invalid API key (send Authorization: Bearer <key>)", { code: "invalid_api_key" });
        }
        if (url === "/v1/models" || url.startsWith("/v1/models/")) {
          if (req.method !== "GET") throw new HttpError(405, `method ${req.method} not allowed on ${url}`);
          const card = { id: ctx.modelName, object: "model", created: ctx.created, owned_by: "parley", max_model_len: engine.contextLength };
          if (url === "/v1/models") sendJson(res, 200, { object: "list", data: [card] });
          else if (decodeURIComponent(url.slice("/v1/models/".length)) === ctx.modelName) sendJson(res, 200, card);
          else throw new HttpError(404, `The model '${decodeURIComponent(url.slice("/v1/models/".length))}' does not exist`, { param: "model", code: "model_not_found" });
          return;
        }
        const handler = url === "/v1/chat/completions" ? chatCompletions : url === "/v1/completions" ? completions : null;
        if (handler === null) throw new HttpError(404, `no route ${req.method} ${url}`, { code: "not_found" });
        if (req.method !== "POST") throw new HttpError(405, `method ${req.method} not allowed on ${url} (use POST)`);
        const body = parseJson(await readBody(req, maxBody));
        await handler(ctx, body, res);
      } catch (e) {
        const err = toHttpError(e);
        if (err.status === 413) {
          res.setHeader("connection", "close");
          res.on("finish", () => req.destroy());
        }
        if (err.status >= 500) log?.(`error: ${err.message}`);
        sendError(res, err);
      }
    })();
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 8000, options.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  return {
    url,
    baseURL: `${url}/v1`,
    port: addr.port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
