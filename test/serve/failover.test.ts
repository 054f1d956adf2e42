// Failover on real processes: two `parley serve` children behind an EndpointPool; one is SIGKILLed mid-run while
// 100 items are being written to JSONL. The run completes with every item exactly once, and, the servers being
// seeded copies of one checkpoint, each item's text does not depend on which replica answered it.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { appendJsonl, readJsonl } from "../../src/core/jsonl";
import { EndpointPool, type PoolEvent } from "../../src/llm/pool";
import { makeCheckpoint, startChild, tmpDir } from "./helpers";

test("one of two parley serve replicas killed mid-run: 100 items, none lost, none duplicated", { timeout: 180_000 }, async () => {
  const work = tmpDir("failover");
  const dir = await makeCheckpoint(path.join(work, "ck"));
  const [a, b] = await Promise.all([startChild(dir), startChild(dir)]);
  const events: PoolEvent[] = [];
  try {
    const pool = new EndpointPool({
      model: "micro", timeoutMs: 20_000, cooldownMs: 30_000, onPoolEvent: (e) => events.push(e),
      endpoints: [{ baseURL: a.baseURL, concurrency: 4 }, { baseURL: b.baseURL, concurrency: 4 }],
    });
    const out = path.join(work, "items.jsonl");
    let done = 0;
    let killed: Promise<number | null> | null = null;
    const item = async (i: number) => {
      const r = await pool.chat({ messages: [{ role: "user", content: `item ${i}: propose a split` }], maxTokens: 6, temperature: 0.7, seed: i });
      appendJsonl(out, { id: i, text: r.text });
      done++;
      if (done === 30) killed = a.stop(true); // SIGKILL: requests in flight on A die with it
    };
    await Promise.all(Array.from({ length: 100 }, (_, i) => item(i)));
    assert.notEqual(killed, null);
    assert.equal(await killed, null, "A was killed by a signal");
    const rows = readJsonl<{ id: number; text: string }>(out);
    assert.equal(rows.length, 100);
    assert.deepEqual(rows.map((r) => r.id).sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
    const st = pool.endpointStatus();
    assert.equal(st[0]!.healthy, false, "the killed replica is marked down");
    assert.equal(st[0]!.served + st[1]!.served, 100);
    assert.ok(st[1]!.served >= 70);
    assert.ok(events.some((e) => e.type === "down" && e.endpoint === a.baseURL));
    // replica independence: re-ask B for a few items A answered before it died
    const fromA = rows.slice(0, 30).map((r) => r.id);
    for (const i of fromA.slice(0, 5)) {
      const r = await pool.chat({ messages: [{ role: "user", content: `item ${i}: propose a split` }], maxTokens: 6, temperature: 0.7, seed: i });
      assert.equal(r.text, rows.find((x) => x.id === i)!.text);
    }
  } finally {
    await Promise.all([a.stop(true), b.stop()]);
  }
});
