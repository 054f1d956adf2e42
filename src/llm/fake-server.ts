// A scripted OpenAI-compatible HTTP server on 127.0.0.1 for tests and offline demos: /v1/models and
// /v1/chat/completions (JSON or SSE stream) with replies, faults (429 + retry-after, 500, hangs) chosen by a handler.
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";

export interface FakeRequest {
  /** 0-based index of this chat-completions request in arrival order. */
  index: number;
  model: string;
  messages: Array<{ role: string; content: string }>;
  /** The whole parsed request body (temperature, response_format, stream, ...). */
  body: Record<string, unknown>;
  headers: http.IncomingHttpHeaders;
}

export interface RecordedRequest extends FakeRequest {
  method: string;
  path: string;
  /** Date.now() when the request arrived. */
  receivedAt: number;
}

interface ReplyBase {
  /** Wait this long before answering (longer than the client's timeout = a hang). */
  delayMs?: number;
  usage?: { promptTokens?: number; completionTokens?: number };
  finishReason?: string;
  model?: string;
}
/** What the handler answers: text, a JSON value (sent as text), an HTTP error, or an explicit chunk stream. */
export type FakeReply =
  | (ReplyBase & { text: string })
  | (ReplyBase & { json: unknown })
  | (ReplyBase & { status: number; headers?: Record<string, string>; body?: unknown })
  | (ReplyBase & { chunks: string[] })
  | (ReplyBase & { delayMs: number });

export type FakeHandler = (req: FakeRequest) => FakeReply | Promise<FakeReply>;

export interface FakeServerOptions {
  /** Default: echo the last user message. */
  handler?: FakeHandler;
  /** Port (default 0 = random free port). */
  port?: number;
  /** Ids for GET /v1/models (default ["fake-model"]). */
  models?: string[];
}

export interface FakeServer {
  /** "http://127.0.0.1:PORT". */
  url: string;
  /** "http://127.0.0.1:PORT/v1", the client's baseURL. */
  baseURL: string;
  port: number;
  /** Every chat-completions request received, in arrival order. */
  requests: RecordedRequest[];
  close(): Promise<void>;
}

const echo: FakeHandler = (req) => {
  const lastUser = [...req.messages].reverse().find((m) => m.role === "user");
  return { text: `echo: ${lastUser?.content ?? ""}` };
};

/** Rough token count for usage fields: whitespace-separated words. */
function countWords(text: string): number {
  const t = text.trim();
  return t === "" ? 0 : t.split(/\s+/).length;
}

/** Starts the server; resolves once it listens. */
export async function startFakeServer(options: FakeServerOptions = {}): Promise<FakeServer> {
  const handler = options.handler ?? echo;
  const models = options.models ?? ["fake-model"];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<import("node:net").Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let created = 1_700_000_000;

  const wait = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void route(req, res, Buffer.concat(chunks).toString("utf8")).catch((e: unknown) => {
        if (!res.headersSent && !res.destroyed) sendJson(res, 500, { error: { message: `fake server handler failed: ${String(e)}`, type: "server_error" } });
      });
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });

  async function route(req: http.IncomingMessage, res: http.ServerResponse, raw: string): Promise<void> {
    const url = (req.url ?? "/").split("?")[0]!;
    if (req.method === "GET" && (url === "/v1/models" || url === "/models")) {
      return sendJson(res, 200, { object: "list", data: models.map((id) => ({ id, object: "model", created: 0, owned_by: "parley" })) });
    }
    if (req.method !== "POST" || !(url === "/v1/chat/completions" || url === "/chat/completions")) {
      return sendJson(res, 404, { error: { message: `no route ${req.method} ${url}`, type: "not_found" } });
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return sendJson(res, 400, { error: { message: "request body is not JSON", type: "invalid_request_error" } });
    }
    const messages = Array.isArray(body.messages) ? (body.messages as Array<{ role: string; content: string }>) : [];
    const model = typeof body.model === "string" ? body.model : "";
    const fakeReq: FakeRequest = { index: requests.length, model, messages, body, headers: req.headers };
    requests.push({ ...fakeReq, method: req.method ?? "POST", path: url, receivedAt: Date.now() });
    const reply = await handler(fakeReq);
    if (reply.delayMs) await wait(reply.delayMs);
    if (res.destroyed || req.socket.destroyed) return; // the client gave up (timeout)
    if ("status" in reply) {
      const payload = reply.body ?? { error: { message: `scripted status ${reply.status}`, type: reply.status === 429 ? "rate_limit_error" : "server_error" } };
      return sendJson(res, reply.status, payload, reply.headers);
    }
    const text = "text" in reply ? reply.text : "json" in reply ? JSON.stringify(reply.json) : "chunks" in reply ? reply.chunks.join("") : "";
    const promptText = messages.map((m) => (typeof m.content === "string" ? m.content : "")).join(" ");
    const usage = {
      prompt_tokens: reply.usage?.promptTokens ?? countWords(promptText),
      completion_tokens: reply.usage?.completionTokens ?? countWords(text),
    };
    const total = { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens };
    const id = `chatcmpl-fake-${fakeReq.index}`;
    const outModel = reply.model ?? (model || models[0]!);
    const finish = reply.finishReason ?? "stop";
    created++;
    if (body.stream === true) {
      const parts = "chunks" in reply ? reply.chunks : splitChunks(text);
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
      const base = { id, object: "chat.completion.chunk", created, model: outModel };
      res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] })}\n\n`);
      for (const p of parts) res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: { content: p }, finish_reason: null }] })}\n\n`);
      const includeUsage = (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
      res.write(`data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta: {}, finish_reason: finish }] })}\n\n`);
      if (includeUsage) res.write(`data: ${JSON.stringify({ ...base, choices: [], usage: total })}\n\n`);
      res.end("data: [DONE]\n\n");
      return;
    }
    sendJson(res, 200, {
      id,
      object: "chat.completion",
      created,
      model: outModel,
      choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: finish, logprobs: null }],
      usage: total,
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    baseURL: `${url}/v1`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function splitChunks(text: string): string[] {
  const words = text.match(/\S+\s*|\s+/g) ?? [];
  return words.length ? words : [""];
}

function sendJson(res: http.ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  const data = JSON.stringify(payload);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(data), ...headers });
  res.end(data);
}

/**
 * A handler from a script file. `.json`: { "replies": FakeReply[], "default"?: FakeReply } answers request i with
 * replies[i] (then `default`, else echo). `.js`/`.cjs`: a module exporting a FakeHandler (module.exports or default).
 */
export function loadFakeScript(file: string): FakeHandler {
  const abs = path.resolve(file);
  if (abs.endsWith(".json")) {
    const script = JSON.parse(fs.readFileSync(abs, "utf8")) as { replies?: FakeReply[]; default?: FakeReply };
    const replies = script.replies ?? [];
    return (req) => replies[req.index] ?? script.default ?? echo(req);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(abs) as FakeHandler | { default: FakeHandler };
  return typeof mod === "function" ? mod : mod.default;
}

/** CLI: node dist/src/llm/fake-server.js [--script FILE] [--port N]; prints {"baseURL": ...} on one line. */
async function cli(argv: string[]): Promise<void> {
  let script: string | undefined;
  let port = 0;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--script") script = argv[++i];
    else if (argv[i] === "--port") port = Number(argv[++i]);
    else if (argv[i] === "--help") {
      console.log("usage: fake-server [--script replies.json|handler.js] [--port N]");
      return;
    }
  }
  const server = await startFakeServer({ ...(script ? { handler: loadFakeScript(script) } : {}), port });
  process.stdout.write(JSON.stringify({ url: server.url, baseURL: server.baseURL, port: server.port }) + "\n");
  const stop = (): void => void server.close().then(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

if (require.main === module) {
  cli(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
