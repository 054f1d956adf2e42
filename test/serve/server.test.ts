// `parley serve` in-process against a real micro checkpoint: the official openai client (JSON and SSE), batching,
// determinism, prompt log-probs for lm-evaluation-harness, stop strings, validation errors, API key, curl examples.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import * as path from "node:path";
import OpenAI from "openai";
import { Rng, deriveSeed } from "../../src/core/rng";
import { generate } from "../../src/model/sampler";
import { turnStopIds } from "../../src/model/tokenizer";
import { makeCheckpoint, startInProcess, tmpDir, type InProcess } from "./helpers";

let s: InProcess;
let ckDir: string;
let client: OpenAI;
const MESSAGES = [{ role: "system" as const, content: "You negotiate." }, { role: "user" as const, content: "Split the budget?" }];

before(async () => {
  ckDir = await makeCheckpoint(path.join(tmpDir("srv"), "ck"));
  s = await startInProcess(ckDir, { maxTokensLimit: 64 });
  client = new OpenAI({ baseURL: s.srv.baseURL, apiKey: "unused", maxRetries: 0 });
});
after(async () => s.close());

async function post(url: string, body: string | object, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const res = await fetch(s.srv.url + url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

test("openai client: non-streaming and streaming give the same seeded text; logprobs are consistent", { timeout: 60_000 }, async () => {
  const req = { model: "micro", messages: MESSAGES, max_tokens: 12, seed: 11, temperature: 0.9, top_p: 0.95 };
  const a = await client.chat.completions.create({ ...req, logprobs: true, top_logprobs: 3 });
  const b = await client.chat.completions.create(req);
  assert.equal(a.object, "chat.completion");
  assert.equal(a.choices[0]!.message.role, "assistant");
  assert.equal(a.choices[0]!.message.content, b.choices[0]!.message.content, "same seed -> same text");
  assert.ok(["stop", "length"].includes(a.choices[0]!.finish_reason));
  assert.equal(a.usage!.total_tokens, a.usage!.prompt_tokens + a.usage!.completion_tokens);
  assert.ok(a.usage!.completion_tokens >= 1 && a.usage!.completion_tokens <= 12);
  const content = a.choices[0]!.logprobs!.content!;
  assert.ok(content.length >= 1);
  for (const t of content) {
    assert.ok(t.logprob <= 0);
    assert.equal(t.top_logprobs.length, 3);
    for (let i = 1; i < 3; i++) assert.ok(t.top_logprobs[i - 1]!.logprob >= t.top_logprobs[i]!.logprob);
    assert.ok(t.logprob <= t.top_logprobs[0]!.logprob);
  }
  // token bytes concatenate to the text's bytes (no stop string cut here)
  const bytes = Buffer.from(content.flatMap((t) => t.bytes!));
  assert.equal(bytes.toString("utf8"), a.choices[0]!.message.content);

  const stream = await client.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
  let text = "";
  let finish: string | null = null;
  let usage: any = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    const c = chunk.choices[0];
    if (!c) continue;
    text += c.delta?.content ?? "";
    if (c.finish_reason) finish = c.finish_reason;
  }
  assert.equal(text, b.choices[0]!.message.content);
  assert.equal(finish, b.choices[0]!.finish_reason);
  assert.deepEqual(usage, b.usage);
});

test("a lone row equals the sampler's generate() with the same Rng; n choices use distinct streams", { timeout: 60_000 }, async () => {
  const prompt = s.engine.encodeChat(MESSAGES);
  const ref = generate(s.engine.model, [prompt], {
    maxNewTokens: 10, temperature: 1, topP: 1, rngs: [new Rng(deriveSeed(5, "choice", 0))], stopTokenIds: turnStopIds(s.engine.tokenizer),
  })[0]!;
  const r = await client.chat.completions.create({ model: "micro", messages: MESSAGES, max_tokens: 10, seed: 5, temperature: 1, n: 3 });
  assert.equal(r.choices.length, 3);
  assert.equal(r.choices[0]!.message.content, s.engine.tokenizer.decode(ref.tokens, { skipSpecial: true }));
  assert.equal(r.usage!.completion_tokens >= ref.tokens.length, true);
  assert.equal(new Set(r.choices.map((c) => c.message.content)).size > 1, true, "3 seeded streams should not all agree");
});

test("concurrent requests are batched and each equals its result when sent alone", { timeout: 60_000 }, async () => {
  const reqs = Array.from({ length: 8 }, (_, i) => ({
    model: "micro", max_tokens: 6 + i, seed: 100 + i, temperature: i % 2 ? 0 : 0.8,
    messages: [{ role: "user" as const, content: `offer number ${i}${" more".repeat(i)}` }],
  }));
  const alone: string[] = [];
  for (const r of reqs) alone.push((await client.chat.completions.create(r)).choices[0]!.message.content!);
  const before = s.engine.stats();
  const together = await Promise.all(reqs.map((r) => client.chat.completions.create(r)));
  const after = s.engine.stats();
  assert.deepEqual(together.map((r) => r.choices[0]!.message.content), alone);
  assert.ok(after.batches - before.batches < 8, `8 concurrent requests ran in ${after.batches - before.batches} batches`);
  assert.ok(after.maxRowsInBatch > 1);
});

test("completions echo prompt log-probs (lm-evaluation-harness local-completions payload)", { timeout: 60_000 }, async () => {
  const prompt = "We could split the budget";
  const ids = s.engine.tokenizer.encode(prompt);
  const payload = { model: "micro", prompt: [ids], temperature: 0, max_tokens: 1, logprobs: 1, seed: 1234, echo: true };
  const { status, json } = await post("/v1/completions", payload);
  assert.equal(status, 200);
  const lp = json.choices[0].logprobs;
  assert.equal(lp.tokens.length, ids.length + 1);
  assert.equal(lp.token_logprobs[0], null);
  assert.equal(lp.top_logprobs[0], null);
  // reference: the model's own token log-probs of the prompt
  const t = s.engine.model.tokenLogProbs([ids]);
  const refLp = Array.from(t.dataSync());
  t.dispose();
  refLp.forEach((x, i) => assert.ok(Math.abs(lp.token_logprobs[i + 1] - x) < 1e-4, `position ${i + 1}: ${lp.token_logprobs[i + 1]} vs ${x}`));
  // lm-eval's is_greedy check: the greedy continuation's logprob equals the max of its top_logprobs
  const last = lp.token_logprobs.length - 1;
  assert.equal(lp.token_logprobs[last], Math.max(...(Object.values(lp.top_logprobs[last]) as number[])));
  assert.equal(json.choices[0].text.startsWith(prompt), true);
  assert.deepEqual(lp.text_offset.slice(0, 3), [0, lp.tokens[0].length, lp.tokens[0].length + lp.tokens[1].length]);
  // max_tokens 0: prompt only; a list of string prompts gives one choice each
  const z = await client.completions.create({ model: "micro", prompt: [prompt, "DEAL: both"], max_tokens: 0, echo: true, logprobs: 2 });
  assert.equal(z.choices.length, 2);
  assert.equal(z.choices[0]!.text, prompt);
  assert.equal(z.choices[0]!.logprobs!.tokens!.length, ids.length);
  assert.deepEqual(z.choices[0]!.logprobs!.token_logprobs!.slice(1), lp.token_logprobs.slice(1, ids.length));
  assert.equal(z.usage!.completion_tokens, 0);
});

test("stop strings cut the text (streaming too) and finish with reason stop", { timeout: 60_000 }, async () => {
  const base = { model: "micro", messages: MESSAGES, max_tokens: 30, seed: 9, temperature: 1 };
  const full = (await client.chat.completions.create(base)).choices[0]!.message.content!;
  assert.ok(full.length >= 4, `need some text to cut: ${JSON.stringify(full)}`);
  const stop = full.slice(2, 4);
  const cut = await client.chat.completions.create({ ...base, stop: [stop, "zzzz-never"] });
  assert.equal(cut.choices[0]!.message.content, full.slice(0, full.indexOf(stop)));
  assert.equal(cut.choices[0]!.finish_reason, "stop");
  let streamed = "";
  for await (const c of await client.chat.completions.create({ ...base, stop, stream: true })) streamed += c.choices[0]?.delta?.content ?? "";
  assert.equal(streamed, cut.choices[0]!.message.content);
});

test("bad requests get OpenAI error JSON with a clear message, and the server stays up", { timeout: 60_000 }, async () => {
  const ok = { model: "micro", messages: MESSAGES, max_tokens: 2 };
  const longMsgs = [{ role: "user" as const, content: "budget ".repeat(60) }];
  const longLen = s.engine.encodeChat(longMsgs).length;
  assert.ok(longLen < 256 && 257 - longLen <= 64, `long prompt has ${longLen} tokens`);
  const cases: Array<[string, string | object, number, RegExp, string | null]> = [
    ["/v1/chat/completions", { ...ok, temperature: "hot" }, 400, /temperature/, "temperature"],
    ["/v1/chat/completions", { ...ok, max_tokens: 1_000_000 }, 400, /exceeds this server's limit of 64/, "max_tokens"],
    ["/v1/chat/completions", { ...ok, max_tokens: 257 - longLen, messages: longMsgs }, 400, /exceeds the model's context length 256/, "max_tokens"],
    ["/v1/chat/completions", { ...ok, messages: [{ role: "user", content: "x ".repeat(300) }] }, 400, /context length is 256/, "messages"],
    ["/v1/chat/completions", { ...ok, messages: [] }, 400, /at least one message/, "messages"],
    ["/v1/chat/completions", { ...ok, messages: [{ role: "wizard", content: "hi" }] }, 400, /messages\.0\.role/, "messages.0.role"],
    ["/v1/chat/completions", { ...ok, model: "gpt-9" }, 404, /gpt-9.*does not exist/, "model"],
    ["/v1/chat/completions", '{"model": "micro", "messages": [', 400, /not valid JSON/, null],
    ["/v1/chat/completions", [1, 2], 400, /JSON object/, null],
    ["/v1/chat/completions", { ...ok, top_logprobs: 2 }, 400, /requires logprobs/, "top_logprobs"],
    ["/v1/completions", { model: "micro", prompt: [[1, 99999]] }, 400, /outside the vocabulary/, "prompt.0.1"],
    ["/v1/completions", { model: "micro", prompt: "" }, 400, /must not be empty/, "prompt.0"],
    ["/v1/nope", ok, 404, /no route/, null],
  ];
  for (const [url, body, status, re, param] of cases) {
    const r = await post(url, body);
    assert.equal(r.status, status, `${url} ${JSON.stringify(body).slice(0, 80)} -> ${JSON.stringify(r.json)}`);
    assert.match(r.json.error.message, re);
    assert.equal(r.json.error.param, param);
    assert.equal(typeof r.json.error.type, "string");
  }
  const big = await post("/v1/chat/completions", { ...ok, messages: [{ role: "user", content: "x".repeat(2 << 20) }] });
  assert.equal(big.status, 413);
  assert.match(big.json.error.message, /exceeds the limit/);
  const get = await fetch(s.srv.url + "/v1/chat/completions");
  assert.equal(get.status, 405);
  // the openai client maps them to typed errors
  await assert.rejects(client.chat.completions.create({ ...ok, model: "nope" }), (e: any) => e instanceof OpenAI.NotFoundError);
  await assert.rejects(client.chat.completions.create({ ...ok, max_tokens: 999 }), (e: any) => e instanceof OpenAI.BadRequestError && /max_tokens/.test(e.message));
  const still = await client.chat.completions.create(ok);
  assert.equal(still.choices.length, 1);
});

test("/v1/models and /health", { timeout: 60_000 }, async () => {
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ["micro"]);
  assert.equal((await client.models.retrieve("micro")).id, "micro");
  const h = await fetch(s.srv.url + "/health");
  const health = (await h.json()) as any;
  assert.equal(health.status, "ok");
  assert.ok(health.engine.batches >= 1 && health.engine.rows >= health.engine.batches);
});

test("a bearer key protects /v1 (401 without it, 200 with it)", { timeout: 60_000 }, async () => {
  const k = await startInProcess(ckDir, { apiKey: "sekret-123" });
  try {
    const noKey = await fetch(k.srv.baseURL + "/models");
    assert.equal(noKey.status, 401);
    assert.equal(((await noKey.json()) as any).error.code, "invalid_api_key");
    const wrong = new OpenAI({ baseURL: k.srv.baseURL, apiKey: "wrong", maxRetries: 0 });
    await assert.rejects(wrong.models.list(), (e: any) => e instanceof OpenAI.AuthenticationError);
    const right = new OpenAI({ baseURL: k.srv.baseURL, apiKey: "sekret-123", maxRetries: 0 });
    assert.equal((await right.models.list()).data[0]!.id, "micro");
  } finally {
    await k.close();
  }
});

const hasCurl = spawnSync("curl", ["--version"]).status === 0;

test("README curl examples work (curl is run asynchronously: the server shares this event loop)", { skip: !hasCurl && "curl not installed" }, async () => {
  const base = s.srv.baseURL;
  const run = async (args: string[]) => (await promisify(execFile)("curl", args, { encoding: "utf8" })).stdout;
  const curl = async (...args: string[]) => JSON.parse(await run(["-sS", ...args]));
  const models = await curl(`${base}/models`);
  assert.equal(models.data[0].id, "micro");
  const chat = await curl(`${base}/chat/completions`, "-H", "Content-Type: application/json", "-d",
    '{"model": "micro", "messages": [{"role": "user", "content": "Split the budget?"}], "max_tokens": 16, "temperature": 0.7, "seed": 1}');
  assert.equal(typeof chat.choices[0].message.content, "string");
  const comp = await curl(`${base}/completions`, "-H", "Content-Type: application/json", "-d",
    '{"model": "micro", "prompt": "We could split the budget", "max_tokens": 0, "echo": true, "logprobs": 1}');
  assert.equal(comp.choices[0].logprobs.token_logprobs[0], null);
  const sse = await run(["-sSN", `${base}/chat/completions`, "-H", "Content-Type: application/json", "-d",
    '{"model": "micro", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8, "stream": true}']);
  assert.match(sse, /^data: \{.*"chat\.completion\.chunk"/);
  assert.match(sse, /data: \[DONE\]\n\n$/);
});

test("a client that disconnects mid-stream frees its row; completions stream too", { timeout: 60_000 }, async () => {
  const long = { model: "micro", messages: MESSAGES, max_tokens: 64, temperature: 1, seed: 1, stop: "\u0000never" };
  const full = await client.chat.completions.create(long);
  assert.equal(full.usage!.completion_tokens, 64, "uninterrupted, this request runs to max_tokens");
  const ac = new AbortController();
  const before = s.engine.stats().generatedTokens;
  const res = await fetch(s.srv.baseURL + "/chat/completions", {
    method: "POST", headers: { "content-type": "application/json" }, signal: ac.signal,
    body: JSON.stringify({ ...long, stream: true }),
  });
  const reader = res.body!.getReader();
  await reader.read();
  ac.abort();
  await new Promise((r) => setTimeout(r, 300));
  const used = s.engine.stats().generatedTokens - before;
  assert.ok(used < 64, `the aborted row stopped early (${used} tokens)`);
  // completions with stream: pieces concatenate to the non-streamed text
  const req = { model: "micro", prompt: "We could split", max_tokens: 10, seed: 4, temperature: 0.9 };
  const whole = await client.completions.create(req);
  let text = "";
  for await (const c of await client.completions.create({ ...req, stream: true })) text += c.choices[0]?.text ?? "";
  assert.equal(text, whole.choices[0]!.text);
});
