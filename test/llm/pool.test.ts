// EndpointPool on scripted fake servers: concurrency bounds per endpoint, least-loaded routing, token-bucket rate
// limits, failover from a dead endpoint (connection refused) and from 5xx, recovery after the cool-down, createLlmClient.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startFakeServer, type FakeServer } from "../../src/llm/fake-server";
import { LlmClient, LlmError } from "../../src/llm/client";
import { EndpointPool, createLlmClient, type PoolEvent } from "../../src/llm/pool";

const msg = (i: number) => [{ role: "user" as const, content: `item ${i}` }];

/** A fake server that echoes after `delayMs` and records its peak concurrency. */
async function tracked(delayMs: number): Promise<FakeServer & { peak: () => number }> {
  let now = 0;
  let peak = 0;
  const srv = await startFakeServer({
    handler: async (r) => {
      now++;
      peak = Math.max(peak, now);
      await new Promise((res) => setTimeout(res, delayMs));
      now--;
      return { text: `echo ${r.messages[r.messages.length - 1]!.content}` };
    },
  });
  return Object.assign(srv, { peak: () => peak });
}

test("bounded concurrency per endpoint, least-loaded routing, every answer returned once", async () => {
  const a = await tracked(40);
  const b = await tracked(40);
  try {
    const pool = new EndpointPool({ model: "fake-model", endpoints: [{ baseURL: a.baseURL, concurrency: 2 }, { baseURL: b.baseURL, concurrency: 3 }] });
    assert.ok(pool instanceof LlmClient);
    const out = await Promise.all(Array.from({ length: 20 }, (_, i) => pool.chat({ messages: msg(i) })));
    assert.deepEqual(out.map((r) => r.text), Array.from({ length: 20 }, (_, i) => `echo item ${i}`));
    assert.ok(a.peak() <= 2 && b.peak() <= 3, `peaks ${a.peak()} ${b.peak()}`);
    assert.equal(a.requests.length + b.requests.length, 20);
    // least-loaded: the bigger endpoint gets at least as much work
    assert.ok(b.requests.length >= a.requests.length && a.requests.length >= 4, `${a.requests.length} / ${b.requests.length}`);
    assert.equal(pool.stats().calls, 20);
    assert.equal(pool.failoverCount, 0);
  } finally {
    await a.close();
    await b.close();
  }
});

test("per-endpoint rate limit (token bucket) spaces requests", async () => {
  const a = await tracked(0);
  try {
    const pool = new EndpointPool({ model: "fake-model", endpoints: [{ baseURL: a.baseURL, concurrency: 8, rps: 20, burst: 1 }] });
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 6 }, (_, i) => pool.chat({ messages: msg(i) })));
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 230, `6 requests at 20 rps with burst 1 took ${elapsed} ms`);
    const span = a.requests[5]!.receivedAt - a.requests[0]!.receivedAt;
    assert.ok(span >= 150, `6 arrivals spread over ${span} ms (token every 50 ms; the first arrival may lag on connect)`);
  } finally {
    await a.close();
  }
});

test("a dead endpoint (connection refused) and a 5xx endpoint fail over; nothing lost or duplicated", async () => {
  const dead = await startFakeServer();
  const deadURL = dead.baseURL;
  await dead.close();
  const broken = await startFakeServer({ handler: () => ({ status: 503, body: { error: { message: "overloaded" } } }) });
  const good = await tracked(5);
  const events: PoolEvent[] = [];
  try {
    const pool = new EndpointPool({
      model: "fake-model", cooldownMs: 60_000, timeoutMs: 5_000, onPoolEvent: (e) => events.push(e),
      endpoints: [{ baseURL: deadURL, concurrency: 4 }, { baseURL: broken.baseURL, concurrency: 4 }, { baseURL: good.baseURL, concurrency: 2 }],
    });
    const out = await Promise.all(Array.from({ length: 30 }, (_, i) => pool.chat({ messages: msg(i) })));
    assert.deepEqual(out.map((r) => r.text), Array.from({ length: 30 }, (_, i) => `echo item ${i}`));
    assert.equal(good.requests.length, 30, "each item answered exactly once by the healthy endpoint");
    assert.ok(broken.requests.length >= 1 && broken.requests.length <= 4, `the 503 endpoint saw only the first wave (${broken.requests.length}), then stayed down`);
    const st = pool.endpointStatus();
    assert.deepEqual(st.map((e) => e.healthy), [false, false, true]);
    assert.equal(st[2]!.served, 30);
    assert.ok(pool.failoverCount >= 2);
    assert.ok(events.some((e) => e.type === "down" && e.endpoint === deadURL));
  } finally {
    await broken.close();
    await good.close();
  }
});

test("an endpoint comes back after its cool-down (one probe, then full use); all down -> LlmError", async () => {
  let failing = true;
  const flaky = await startFakeServer({ handler: (r) => (failing ? { status: 500, body: { error: { message: "boom" } } } : { text: `ok ${r.index}` }) });
  try {
    const pool = new EndpointPool({ model: "fake-model", cooldownMs: 50, maxAttempts: 2, endpoints: [flaky.baseURL] });
    await assert.rejects(pool.chat({ messages: msg(0) }), (e: unknown) => e instanceof LlmError && /all 1 endpoints failed after 2 attempts/.test(e.message));
    failing = false;
    const r = await pool.chat({ messages: msg(1) });
    assert.match(r.text, /^ok /);
    assert.equal(pool.endpointStatus()[0]!.healthy, true);
    assert.equal(pool.stats().failures, 1);
    assert.equal(pool.stats().calls, 2);
  } finally {
    await flaky.close();
  }
  // non-failover errors (400) are thrown at once, not retried elsewhere
  const bad = await startFakeServer({ handler: () => ({ status: 400, body: { error: { message: "bad" } } }) });
  const other = await tracked(0);
  try {
    const pool = new EndpointPool({ model: "fake-model", endpoints: [{ baseURL: bad.baseURL, concurrency: 1 }, { baseURL: other.baseURL, concurrency: 1 }] });
    const res = await Promise.allSettled([pool.chat({ messages: msg(0) }), pool.chat({ messages: msg(1) })]);
    assert.equal(res.filter((x) => x.status === "rejected").length, 1);
    assert.equal(bad.requests.length + other.requests.length, 2);
  } finally {
    await bad.close();
    await other.close();
  }
});

test("createLlmClient: one URL -> LlmClient, a comma list -> EndpointPool", () => {
  const one = createLlmClient({ baseURL: "http://127.0.0.1:9/v1", model: "m" });
  assert.ok(one instanceof LlmClient && !(one instanceof EndpointPool));
  const many = createLlmClient({ baseURL: "http://127.0.0.1:9/v1, http://127.0.0.1:10/v1", model: "m", concurrency: 3 });
  assert.ok(many instanceof EndpointPool);
  assert.deepEqual((many as EndpointPool).endpointStatus().map((e) => [e.baseURL, e.concurrency]), [["http://127.0.0.1:9/v1", 3], ["http://127.0.0.1:10/v1", 3]]);
});
