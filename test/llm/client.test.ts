import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { z } from "zod";
import OpenAI from "openai";
import { LlmClient, LlmError, LlmOutputError, retryAfterMs, type LlmEvent } from "../../src/llm/client";
import { extractJson } from "../../src/llm/json-extract";
import { startFakeServer, loadFakeScript, type FakeReply } from "../../src/llm/fake-server";

const Answer = z.object({ answer: z.number().int(), reason: z.string() });
const msgs = [{ role: "user" as const, content: "hi there" }];

function scripted(replies: FakeReply[], fallback: FakeReply = { text: "done" }) {
  return startFakeServer({ handler: (r) => replies[r.index] ?? fallback });
}

test("plain chat: text, usage, request body and stats", async () => {
  const srv = await startFakeServer();
  try {
    const c = new LlmClient({ baseURL: srv.baseURL, model: "m1", apiKey: "sk-testtesttest", pricing: { inputPer1M: 1_000_000, outputPer1M: 2_000_000 } });
    const r = await c.chat({ messages: msgs, temperature: 0.7, topP: 0.95, maxTokens: 50, seed: 3, stop: ["\n\n"] });
    assert.equal(r.text, "echo: hi there");
    assert.equal(r.cached, false);
    assert.equal(r.attempts, 1);
    assert.deepEqual(r.usage, { promptTokens: 2, completionTokens: 3 });
    const b = srv.requests[0]!.body;
    assert.equal(b.model, "m1");
    assert.equal(b.temperature, 0.7);
    assert.equal(b.top_p, 0.95);
    assert.equal(b.max_tokens, 50);
    assert.equal(b.seed, 3);
    assert.deepEqual(b.stop, ["\n\n"]);
    assert.equal(srv.requests[0]!.headers.authorization, "Bearer sk-testtesttest");
    const s = c.stats();
    assert.equal(s.requests, 1);
    assert.equal(s.promptTokens, 2);
    assert.equal(s.completionTokens, 3);
    assert.equal(s.costUsd, 2 + 6);
    assert.deepEqual(await c.listModels(), ["fake-model"]);
  } finally {
    await srv.close();
  }
});

test("429 with retry-after-ms: the wait is honoured, then success", async () => {
  const srv = await scripted([{ status: 429, headers: { "retry-after-ms": "400" } }, { status: 429, headers: { "retry-after": "0.3" } }]);
  try {
    const events: LlmEvent[] = [];
    const c = new LlmClient({ baseURL: srv.baseURL, model: "m", backoff: { baseMs: 1, maxMs: 1 }, onEvent: (e) => events.push(e) });
    const r = await c.chat({ messages: msgs });
    assert.equal(r.text, "done");
    assert.equal(r.attempts, 3);
    const [t0, t1, t2] = srv.requests.map((q) => q.receivedAt) as [number, number, number];
    assert.ok(t1 - t0 >= 390, `first wait ${t1 - t0} ms < 400`);
    assert.ok(t2 - t1 >= 290, `second wait ${t2 - t1} ms < 300`);
    assert.deepEqual(events.map((e) => (e.type === "retry" ? [e.status, Math.round(e.waitMs)] : null)), [[429, 400], [429, 300]]);
    assert.equal(c.stats().retries, 2);
  } finally {
    await srv.close();
  }
});

test("500s are retried with backoff; non-retryable 400 fails at once; exhausted retries throw LlmError", async () => {
  const srv = await startFakeServer({
    handler: (r) => {
      const content = r.messages[0]!.content;
      if (content === "bad") return { status: 400 };
      if (content === "always") return { status: 503 };
      return r.index < 2 ? { status: 500 } : { text: "ok" };
    },
  });
  try {
    const c = new LlmClient({ baseURL: srv.baseURL, model: "m", maxRetries: 2, backoff: { baseMs: 5, maxMs: 20 } });
    const ok = await c.chat({ messages: msgs });
    assert.equal(ok.text, "ok");
    assert.equal(ok.attempts, 3);
    await assert.rejects(c.chat({ messages: [{ role: "user", content: "bad" }] }), (e: unknown) => e instanceof LlmError && e.status === 400 && e.attempts === 1);
    await assert.rejects(c.chat({ messages: [{ role: "user", content: "always" }] }), (e: unknown) => e instanceof LlmError && e.status === 503 && e.attempts === 3 && e.kind === "http");
    assert.equal(c.stats().failures, 2);
  } finally {
    await srv.close();
  }
});

test("a hanging server times out per attempt and is retried", async () => {
  const srv = await scripted([{ delayMs: 5000 }], { text: "late but fine" });
  try {
    const c = new LlmClient({ baseURL: srv.baseURL, model: "m", timeoutMs: 200, maxRetries: 1, backoff: { baseMs: 1, maxMs: 1 } });
    const t = Date.now();
    const r = await c.chat({ messages: msgs });
    assert.equal(r.text, "late but fine");
    assert.equal(r.attempts, 2);
    assert.ok(Date.now() - t < 2000);
    const hang = await startFakeServer({ handler: () => ({ delayMs: 5000 }) });
    try {
      const c3 = new LlmClient({ baseURL: hang.baseURL, model: "m", timeoutMs: 150, maxRetries: 1, backoff: { baseMs: 1, maxMs: 1 } });
      await assert.rejects(c3.chat({ messages: msgs }), (e: unknown) => e instanceof LlmError && e.kind === "timeout" && e.attempts === 2);
    } finally {
      await hang.close();
    }
  } finally {
    await srv.close();
  }
});

test("connection refused is a connection error after retries", async () => {
  const srv = await startFakeServer();
  const url = srv.baseURL;
  await srv.close();
  const c = new LlmClient({ baseURL: url, model: "m", maxRetries: 1, backoff: { baseMs: 1, maxMs: 1 } });
  await assert.rejects(c.chat({ messages: msgs }), (e: unknown) => e instanceof LlmError && e.kind === "connection" && e.attempts === 2);
});

test("structured output: json_schema sent, prose-wrapped JSON recovered, invalid JSON and schema violations reported", async () => {
  const srv = await scripted([
    { text: 'Sure! Here it is:\n```json\n{"answer": 42, "reason": "because"}\n```' },
    { text: "I cannot answer in JSON, sorry." },
    { json: { answer: "forty-two", reason: "x" } },
    { json: { answer: "forty-two", reason: "x" } },
    { json: { answer: 7, reason: "fixed" } },
  ]);
  try {
    const c = new LlmClient({ baseURL: srv.baseURL, model: "m" });
    const fmt = { name: "answer", schema: Answer };
    const r1 = await c.chat({ messages: msgs, responseFormat: fmt });
    assert.deepEqual(r1.parsed, { answer: 42, reason: "because" });
    const rf = srv.requests[0]!.body.response_format as { type: string; json_schema: { name: string; schema: { properties: Record<string, unknown>; required: string[] } } };
    assert.equal(rf.type, "json_schema");
    assert.equal(rf.json_schema.name, "answer");
    assert.deepEqual(rf.json_schema.schema.required.sort(), ["answer", "reason"]);
    const r2 = await c.chat({ messages: msgs, responseFormat: fmt });
    assert.equal(r2.parsed, undefined);
    assert.equal(r2.invalid?.kind, "json");
    assert.equal(r2.text, "I cannot answer in JSON, sorry.");
    await assert.rejects(c.chatParsed({ messages: msgs, responseFormat: fmt }), (e: unknown) => e instanceof LlmOutputError && e.invalidKind === "schema" && /answer/.test(e.message));
    const r4 = await c.chat({ messages: msgs, responseFormat: fmt, validationRetries: 1 });
    assert.deepEqual(r4.parsed, { answer: 7, reason: "fixed" });
    assert.equal(r4.attempts, 2);
    assert.equal(c.stats().invalid, 3);
  } finally {
    await srv.close();
  }
});

test("cache: a rerun sends zero requests; invalid answers are not cached", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "llm-cache-"));
  const srv = await startFakeServer({ handler: (r) => (r.messages[0]!.content === "bad" ? { text: "nope" } : { json: { answer: r.index, reason: "r" } }) });
  try {
    const fmt = { name: "answer", schema: Answer };
    const c1 = new LlmClient({ baseURL: srv.baseURL, model: "m", cacheDir: dir });
    const a = await c1.chat({ messages: msgs, responseFormat: fmt, temperature: 0 });
    await c1.chat({ messages: [{ role: "user", content: "bad" }], responseFormat: fmt });
    assert.equal(srv.requests.length, 2);
    const c2 = new LlmClient({ baseURL: srv.baseURL, model: "m", cacheDir: dir });
    const b = await c2.chat({ messages: msgs, responseFormat: fmt, temperature: 0 });
    assert.equal(b.cached, true);
    assert.equal(b.attempts, 0);
    assert.deepEqual(b.parsed, a.parsed);
    assert.equal(srv.requests.length, 2, "rerun must send zero requests");
    assert.equal(c2.stats().cacheHits, 1);
    assert.equal(c2.stats().requests, 0);
    // different params -> different key; invalid answer -> asked again
    await c2.chat({ messages: msgs, responseFormat: fmt, temperature: 0.5 });
    await c2.chat({ messages: [{ role: "user", content: "bad" }], responseFormat: fmt });
    assert.equal(srv.requests.length, 4);
  } finally {
    await srv.close();
  }
});

test("concurrency limit bounds requests in flight", async () => {
  let inFlight = 0;
  let peak = 0;
  const srv = await startFakeServer({
    handler: async () => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 30));
      inFlight--;
      return { text: "x" };
    },
  });
  try {
    const c = new LlmClient({ baseURL: srv.baseURL, model: "m", concurrency: 3 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => c.chat({ messages: [{ role: "user", content: String(i) }] })));
    assert.equal(peak, 3);
    assert.equal(srv.requests.length, 10);
  } finally {
    await srv.close();
  }
});

test("api key never appears in error messages", async () => {
  const srv = await scripted([], { status: 401, body: { error: { message: "bad key sk-secretsecret123 rejected" } } });
  try {
    const c = new LlmClient({ baseURL: srv.baseURL, model: "m", apiKey: "sk-secretsecret123" });
    await assert.rejects(c.chat({ messages: msgs }), (e: unknown) => e instanceof LlmError && !e.message.includes("sk-secretsecret123") && e.status === 401);
  } finally {
    await srv.close();
  }
});

test("fake server streams SSE chunks with usage, and loads JSON scripts", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fake-"));
  const script = path.join(dir, "s.json");
  fs.writeFileSync(script, JSON.stringify({ replies: [{ chunks: ["Hel", "lo ", "world"] }], default: { text: "later" } }));
  const srv = await startFakeServer({ handler: loadFakeScript(script) });
  try {
    const oa = new OpenAI({ baseURL: srv.baseURL, apiKey: "x", maxRetries: 0 });
    const stream = await oa.chat.completions.create({ model: "m", messages: msgs, stream: true, stream_options: { include_usage: true } });
    let text = "";
    let usage: unknown = null;
    for await (const ch of stream) {
      text += ch.choices[0]?.delta?.content ?? "";
      if (ch.usage) usage = ch.usage;
    }
    assert.equal(text, "Hello world");
    assert.deepEqual(usage, { prompt_tokens: 2, completion_tokens: 2, total_tokens: 4 });
    const r = await oa.chat.completions.create({ model: "m", messages: msgs });
    assert.equal(r.choices[0]!.message.content, "later");
  } finally {
    await srv.close();
  }
});

test("retryAfterMs and extractJson are pure helpers", () => {
  assert.equal(retryAfterMs({ "retry-after-ms": "250" }), 250);
  assert.equal(retryAfterMs({ "retry-after": "2" }), 2000);
  assert.equal(retryAfterMs({ "retry-after": new Date(10_000).toUTCString() }, 4_000), 6000);
  assert.equal(retryAfterMs({}), undefined);
  assert.deepEqual(extractJson('{"a":1}'), { a: 1 });
  assert.deepEqual(extractJson('text {"s":"has } brace","n":[1,2]} tail'), { s: "has } brace", n: [1, 2] });
  assert.deepEqual(extractJson("first {bad} then [1,2]"), [1, 2]);
  assert.equal(extractJson("no json"), undefined);
});

test("fake server runs as a separate process from a script file", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fake-cli-"));
  const script = path.join(dir, "s.json");
  fs.writeFileSync(script, JSON.stringify({ replies: [{ text: "from child" }] }));
  const { spawn } = await import("node:child_process");
  const child = spawn(process.execPath, ["--import", "tsx", path.join(__dirname, "../../src/llm/fake-server.ts"), "--script", script], { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let buf = "";
      child.stdout!.on("data", (d: Buffer) => {
        buf += d.toString();
        if (buf.includes("\n")) resolve(buf.split("\n")[0]!);
      });
      child.on("exit", (code) => reject(new Error(`fake server exited ${code}`)));
    });
    const { baseURL } = JSON.parse(line) as { baseURL: string };
    const c = new LlmClient({ baseURL, model: "m" });
    assert.equal((await c.chat({ messages: msgs })).text, "from child");
  } finally {
    child.kill("SIGTERM");
  }
});
