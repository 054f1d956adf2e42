import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { readJsonl } from "../../src/core/jsonl";
import { LlmClient } from "../../src/llm/client";
import { startFakeServer, type FakeReply } from "../../src/llm/fake-server";
import { createSynthFakeHandler } from "../../src/data/fake-synth";
import { synthesizeWithLlm, structuredConsistencyProblems } from "../../src/data/llm-synth";
import { loadBanks } from "../../src/data/banks";
import { PersonaPairSchema, ScenarioSchema } from "../../src/data/schema";

const banks = loadBanks();
const synth = createSynthFakeHandler(banks);
const tmp = (p: string): string => fs.mkdtempSync(path.join(os.tmpdir(), p));

test("scripted faults: 429 (wait honoured), 500, timeout, invalid JSON, schema violation -> all recovered, nothing invalid written", async () => {
  const transport: Record<number, FakeReply> = {
    0: { status: 429, headers: { "retry-after-ms": "300" } },
    1: { status: 500 },
    2: { delayMs: 3000 },
  };
  const bad: FakeReply[] = [
    { text: "Here is a dilemma: a nurse must choose..." },
    { json: { dilemma: "too short" } },
    { json: { dilemma: "A long enough dilemma text that would pass the length check easily, yes indeed it would.", structured: { issues: [{ id: "Bad Id", label: "x", kind: "opposed", options: [] }] } } },
  ];
  let dilemmaRequests = 0;
  const srv = await startFakeServer({
    handler: (r) => {
      if (transport[r.index]) return transport[r.index]!;
      const name = (r.body.response_format as { json_schema?: { name?: string } }).json_schema?.name;
      if (name === "dilemma" && dilemmaRequests < bad.length) return bad[dilemmaRequests++]!;
      return synth(r);
    },
  });
  const out = tmp("synth-faults-");
  try {
    const client = new LlmClient({ baseURL: srv.baseURL, model: "fake", timeoutMs: 400, maxRetries: 3, concurrency: 1, backoff: { baseMs: 5, maxMs: 20 } });
    const report = await synthesizeWithLlm({ client, outDir: out, n: 6, pairs: 3, structured: true, seed: 1, maxAttemptsPerItem: 4 });
    assert.deepEqual(report.missing, []);
    const t = srv.requests.map((q) => q.receivedAt);
    assert.ok(t[1]! - t[0]! >= 290, `429 retry-after honoured (${t[1]! - t[0]!} ms)`);
    const pairs = readJsonl(report.files.pairs, PersonaPairSchema);
    const scen = readJsonl(report.files.scenarios, ScenarioSchema);
    assert.equal(pairs.length, 3);
    assert.equal(scen.length, 6);
    assert.equal(new Set(scen.map((s) => s.id)).size, 6);
    for (const s of scen) {
      assert.ok(s.structured);
      assert.deepEqual(structuredConsistencyProblems(s.structured!), []);
      assert.equal(s.provenance.generator, "llm");
    }
    const rejected = readJsonl<{ reason: string; detail: string }>(report.files.rejected);
    const reasons = rejected.map((r) => r.reason);
    assert.ok(reasons.filter((r) => r === "invalid").length >= 3, JSON.stringify(rejected));
    assert.ok(rejected.some((r) => /no parseable JSON/.test(r.detail)));
    assert.ok(rejected.some((r) => /dilemma/.test(r.detail)));
    assert.equal(report.rejected.failed, 0, "transport faults were retried inside the client");
    const st = client.stats();
    assert.ok(st.retries >= 3 && st.promptTokens > 0 && st.completionTokens > 0);
  } finally {
    await srv.close();
  }
});

test("near-duplicates are rejected and re-asked; a failing endpoint is reported, not written", async () => {
  // Every dilemma request first gets the same text -> from the second item on it is a duplicate until the re-ask.
  const fixed = "A fixed dilemma text about two neighbours arguing over a shared hedge, the cost of trimming it and who should pay for the ladder.";
  const seen = new Set<string>();
  const srv = await startFakeServer({
    handler: (r) => {
      const name = (r.body.response_format as { json_schema?: { name?: string } }).json_schema?.name;
      const key = r.messages[1]!.content;
      if (name === "dilemma" && !seen.has(key)) {
        seen.add(key);
        return { json: { dilemma: fixed } };
      }
      return synth(r);
    },
  });
  const out = tmp("synth-dup-");
  try {
    const client = new LlmClient({ baseURL: srv.baseURL, model: "fake", concurrency: 1 });
    const report = await synthesizeWithLlm({ client, outDir: out, n: 4, pairs: 4, seed: 2 });
    const scen = readJsonl(report.files.scenarios, ScenarioSchema);
    assert.equal(scen.length, 4);
    assert.equal(scen.filter((s) => s.dilemma === fixed).length, 1);
    assert.ok(report.rejected.duplicate >= 1);
  } finally {
    await srv.close();
  }
  const down = await startFakeServer({ handler: () => ({ status: 503 }) });
  const out2 = tmp("synth-down-");
  try {
    const client = new LlmClient({ baseURL: down.baseURL, model: "fake", maxRetries: 1, backoff: { baseMs: 1, maxMs: 1 } });
    const report = await synthesizeWithLlm({ client, outDir: out2, n: 3, pairs: 2, maxAttemptsPerItem: 2 });
    assert.deepEqual(report.missing, ["llm-pair-0", "llm-pair-1"]);
    assert.equal(report.rejected.failed, 4);
    assert.equal(readJsonl(report.files.pairs).length, 0);
  } finally {
    await down.close();
  }
});

test("resume: a rerun only does what is missing (also after a torn last line); cache makes a repeat free", async () => {
  const srv = await startFakeServer({ handler: synth });
  const out = tmp("synth-resume-");
  const cacheDir = tmp("synth-cache-");
  try {
    const mk = (): LlmClient => new LlmClient({ baseURL: srv.baseURL, model: "fake", concurrency: 1, cacheDir });
    const r1 = await synthesizeWithLlm({ client: mk(), outDir: out, n: 5, pairs: 3, seed: 3 });
    assert.equal(r1.scenariosWritten, 5);
    fs.appendFileSync(r1.files.scenarios, '{"id":"llm-train-00006","category":"ever'); // killed mid-write
    const before = srv.requests.length;
    const r2 = await synthesizeWithLlm({ client: mk(), outDir: out, n: 9, pairs: 3, seed: 3 });
    assert.equal(r2.pairsSkipped, 3);
    assert.equal(r2.scenariosSkipped, 5);
    assert.equal(r2.scenariosWritten, 4);
    const scen = readJsonl(r2.files.scenarios, ScenarioSchema);
    assert.deepEqual(scen.map((s) => s.id).sort(), Array.from({ length: 9 }, (_, i) => `llm-train-${String(i + 1).padStart(5, "0")}`));
    assert.ok(srv.requests.length - before <= 4 + 2, "no redone work");
    // same job into a fresh folder with the same cache: zero requests
    const fresh = tmp("synth-fresh-");
    const n0 = srv.requests.length;
    const c = mk();
    const r3 = await synthesizeWithLlm({ client: c, outDir: fresh, n: 9, pairs: 3, seed: 3 });
    assert.equal(r3.scenariosWritten, 9);
    assert.equal(srv.requests.length, n0, "rerun must send zero requests");
    assert.equal(c.stats().requests, 0);
    assert.ok(c.stats().cacheHits >= 12);
  } finally {
    await srv.close();
  }
});
