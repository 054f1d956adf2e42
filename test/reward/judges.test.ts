import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LlmClient } from "../../src/llm/client";
import { startFakeServer, type FakeReply, type FakeRequest } from "../../src/llm/fake-server";
import { LlmAgreementJudge, LlmCaJudge, OracleCaJudge, oracleAgreementVerdict, rewardOf, scoreAll } from "../../src/reward/judges";
import { LlmPairwiseJudge, OraclePairwiseJudge, combineOrders, summarizePairwise } from "../../src/reward/pairwise";
import { loadRubric } from "../../src/reward/rubric";
import { scenarioWith } from "./fixtures";

const scenario = scenarioWith(undefined);
const rubric = loadRubric();

/** Scripted judge: each solution text carries a case tag "#tag"; replies for a tag are consumed in order. */
function scripted(script: Record<string, FakeReply[]>) {
  const used: Record<string, number> = {};
  return (req: FakeRequest): FakeReply => {
    const user = req.messages.find((m) => m.role === "user")?.content ?? "";
    const tag = /#([a-z0-9-]+)/.exec(user)?.[1] ?? "none";
    const list = script[tag] ?? [{ text: "no script" }];
    const i = used[tag] ?? 0;
    used[tag] = i + 1;
    return list[Math.min(i, list.length - 1)]!;
  };
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "judge-cache-"));
}

const fastClient = (baseURL: string, extra: Partial<ConstructorParameters<typeof LlmClient>[0]> = {}) =>
  new LlmClient({ baseURL, model: "judge-model", timeoutMs: 400, maxRetries: 3, backoff: { baseMs: 5, maxMs: 20 }, ...extra });

test("CA judge against the fake server: JSON, [[n]] prose, out-of-range, garbage, 429, 500, hang; cache replays with zero requests", async () => {
  const server = await startFakeServer({
    handler: scripted({
      json: [{ json: { reason: "integrates both sides", score: 4 } }],
      prose: [{ text: "Solid, but misses value. Score: [[3]]" }],
      range: [{ json: { reason: "x", score: 7 } }, { text: "[[9]]" }, { json: { reason: "x", score: -1 } }],
      garbage: [{ text: "I like it a lot!" }, { json: { reason: "fine", score: 2 } }],
      ratelimit: [{ status: 429, headers: { "retry-after": "0.15" } }, { json: { reason: "ok", score: 5 } }],
      server: [{ status: 500 }, { json: { reason: "ok", score: 1 } }],
      hang: [{ delayMs: 3000, json: { reason: "late", score: 0 } }, { json: { reason: "on time", score: 3 } }],
    }),
  });
  const cacheDir = tmpDir();
  try {
    const judge = new LlmCaJudge({ client: fastClient(server.baseURL), rubric, cacheDir });
    const inputs = ["json", "prose", "range", "garbage", "ratelimit", "server", "hang"].map((t) => ({ scenario, solution: `Plan #${t}` }));
    const t0 = Date.now();
    const results = await scoreAll(judge, inputs);
    const [json, prose, range, garbage, rate, srv, hang] = results;
    assert.equal(json!.score, 4);
    assert.equal(json!.via, "json");
    assert.equal(json!.reason, "integrates both sides");
    assert.equal(json!.attempts, 1);
    assert.equal(prose!.score, 3);
    assert.equal(prose!.via, "brackets");
    // Three unusable answers (7, [[9]], -1): invalid, raw text kept, no score, 3 requests.
    assert.equal(range!.valid, false);
    assert.equal(range!.score, undefined);
    assert.equal(range!.raw, '{"reason":"x","score":-1}');
    assert.match(range!.error!, /outside 0..5/);
    assert.equal(range!.attempts, 3);
    assert.equal(rewardOf(range!), null);
    assert.equal(garbage!.score, 2);
    assert.equal(garbage!.attempts, 2);
    assert.equal(rate!.score, 5);
    assert.equal(rate!.attempts, 2);
    assert.equal(srv!.score, 1);
    assert.equal(srv!.attempts, 2);
    assert.equal(hang!.score, 3);
    assert.equal(hang!.attempts, 2);
    for (const r of results) {
      assert.equal(r.rubricId, "collective-agency");
      assert.equal(r.rubricHash, rubric.hash);
      assert.equal(r.model, "judge-model");
      assert.equal(r.cached, false);
    }
    // 429 honoured retry-after: the retry arrived at least 150 ms after the first request.
    const rateReqs = server.requests.filter((r) => r.messages[1]!.content.includes("#ratelimit"));
    assert.equal(rateReqs.length, 2);
    assert.ok(rateReqs[1]!.receivedAt - rateReqs[0]!.receivedAt >= 140);
    assert.ok(Date.now() - t0 < 10_000);
    // JSON schema was requested.
    const fmt = server.requests[0]!.body["response_format"] as { type: string; json_schema: { name: string } };
    assert.equal(fmt.type, "json_schema");
    assert.equal(fmt.json_schema.name, "pointwise_ca");
    const sent = server.requests.length;
    assert.equal(sent, 1 + 1 + 3 + 2 + 2 + 2 + 2);

    // Second run: fresh client and judge on the same cache folder -> identical scores, zero requests.
    const judge2 = new LlmCaJudge({ client: fastClient(server.baseURL), rubric, cacheDir });
    const again = await scoreAll(judge2, inputs);
    assert.equal(server.requests.length, sent);
    assert.deepEqual(again.map((r) => r.score), results.map((r) => r.score));
    assert.deepEqual(again.map((r) => r.valid), results.map((r) => r.valid));
    assert.ok(again.every((r) => r.cached && r.attempts === 0));
    assert.equal(again[2]!.raw, range!.raw);

    // A different rubric hash or sampling setting is a different key.
    const judge3 = new LlmCaJudge({ client: fastClient(server.baseURL), rubric, cacheDir, temperature: 0.7 });
    await judge3.score(inputs[0]!);
    assert.equal(server.requests.length, sent + 1);
  } finally {
    await server.close();
  }
});

test("transport failure after the client's retries is an invalid result carrying the error", async () => {
  const server = await startFakeServer({ handler: () => ({ status: 503 }) });
  try {
    const judge = new LlmCaJudge({ client: fastClient(server.baseURL, { maxRetries: 1 }), rubric });
    const r = await judge.score({ scenario, solution: "Plan" });
    assert.equal(r.valid, false);
    assert.equal(r.score, undefined);
    assert.match(r.error!, /503/);
    assert.equal(r.attempts, 2);
    assert.equal(server.requests.length, 2);
  } finally {
    await server.close();
  }
});

test("pairwise judge: both orders sent with the solutions swapped; inconsistent verdicts discarded", async () => {
  // The judge prefers whichever solution contains GOOD (consistent) unless the pair is tagged #biased, where it
  // always answers A (position bias -> inconsistent).
  const server = await startFakeServer({
    handler: (req) => {
      const user = req.messages[1]!.content;
      const s1 = user.slice(user.indexOf("## Solution 1"), user.indexOf("## Solution 2"));
      if (user.includes("#biased")) return { json: { reason: "first is better", verdict: "A" } };
      if (user.includes("#tie")) return { text: "Equally good. [[C]]" };
      return { json: { reason: "r", verdict: s1.includes("GOOD") ? "A" : "B" } };
    },
  });
  try {
    const judge = new LlmPairwiseJudge({ client: fastClient(server.baseURL), rubric });
    const win = await judge.compare({ scenario, first: "GOOD plan #w", second: "weak plan #w" });
    assert.equal(win.outcome, "first");
    assert.equal(win.order1.verdict, "A");
    assert.equal(win.order2.verdict, "B");
    const users = server.requests.map((r) => r.messages[1]!.content);
    assert.equal(users.length, 2);
    const shownFirst = users.map((u) => u.slice(u.indexOf("## Solution 1"), u.indexOf("## Solution 2")));
    assert.deepEqual(shownFirst.map((s) => s.includes("GOOD")).sort(), [false, true]);
    const lose = await judge.compare({ scenario, first: "weak plan #l", second: "GOOD plan #l" });
    assert.equal(lose.outcome, "second");
    const biased = await judge.compare({ scenario, first: "x #biased", second: "y #biased" });
    assert.equal(biased.outcome, "inconsistent");
    const tie = await judge.compare({ scenario, first: "x #tie", second: "y #tie" });
    assert.equal(tie.outcome, "tie");
    const sum = summarizePairwise([win, lose, biased, tie]);
    assert.deepEqual(
      [sum.n, sum.firstWins, sum.secondWins, sum.ties, sum.inconsistent, sum.consistent, sum.winRate, sum.winRateTiesHalf],
      [4, 1, 1, 1, 1, 3, 1 / 3, 0.5],
    );
    assert.equal(sum.inconsistencyRate, 0.25);
  } finally {
    await server.close();
  }
});

test("combineOrders truth table", () => {
  assert.equal(combineOrders("A", "B"), "first");
  assert.equal(combineOrders("B", "A"), "second");
  assert.equal(combineOrders("tie", "tie"), "tie");
  assert.equal(combineOrders("A", "A"), "inconsistent");
  assert.equal(combineOrders("A", "tie"), "inconsistent");
  assert.equal(combineOrders(undefined, "A"), "invalid");
});

test("agreement judge: yes/no per dialogue state, implements self-play's batched interface", async () => {
  const server = await startFakeServer({
    handler: (req) => {
      const user = req.messages[1]!.content;
      if (user.includes("I accept")) return { json: { reason: "both accepted", agreed: true } };
      if (user.includes("hmm")) return { text: "unclear" };
      return { text: "Not yet. [[NO]]" };
    },
  });
  try {
    const judge = new LlmAgreementJudge({ client: fastClient(server.baseURL), rubric, maxInvalidRetries: 0 });
    const turn = (side: "a" | "b", text: string, index: number) => ({ index, speaker: (side === "a" ? 1 : 2) as 1 | 2, side, text, move: null, finishReason: "stop" as const, seed: 0 });
    const verdicts = await judge.judge([
      { scenario, turns: [turn("a", "Phase it in.", 0), turn("b", "I accept the phased plan.", 1)] },
      { scenario, turns: [turn("a", "Cut it all.", 0)] },
      { scenario, turns: [turn("a", "hmm", 0)] },
    ]);
    assert.deepEqual(verdicts.map((v) => v.agreed), [true, false, false]);
    assert.equal(verdicts[0]!.note, "both accepted");
    assert.match(verdicts[2]!.note!, /invalid/);
    assert.match(server.requests[0]!.messages[1]!.content, /Quality Lead: I accept the phased plan\./);
    const one = await judge.judgeOne({ scenario, turns: [{ speaker: "A", text: "hmm" }] });
    assert.equal(one.valid, false);
    assert.equal(one.raw, "unclear");
  } finally {
    await server.close();
  }
});

test("oracle adapters: CA judge reads solution.package; agreement verdict from both sides' packages", async () => {
  const structured = {
    issues: [
      { id: "x", label: "X", kind: "opposed" as const, options: [{ id: "p", label: "p", utility: { a: 9, b: 1 } }, { id: "q", label: "q", utility: { a: 5, b: 5 } }] },
      { id: "y", label: "Y", kind: "compatible" as const, options: [{ id: "r", label: "r", utility: { a: 8, b: 8 } }, { id: "s", label: "s", utility: { a: 1, b: 1 } }] },
    ],
  };
  const sc = scenarioWith(structured);
  const judge = new OracleCaJudge();
  const good = await judge.score({ scenario: sc, solution: { text: "q and r", package: { x: "q", y: "r" } } });
  assert.equal(good.valid, true);
  assert.equal(good.score, 5);
  assert.equal(good.rubricId, "oracle-ca.v1");
  assert.equal((await judge.score({ scenario: sc, solution: { text: "none", package: null } })).score, 0);
  const bad = await judge.score({ scenario: sc, solution: "text only" });
  assert.equal(bad.valid, false);
  assert.match(bad.error!, /carries no package/);
  assert.equal((await judge.score({ scenario, solution: { text: "t", package: null } })).valid, false);
  assert.deepEqual(oracleAgreementVerdict(sc, { x: "q", y: "r" }, { y: "r", x: "q" }), { agreed: true, package: { x: "q", y: "r" } });
  assert.equal(oracleAgreementVerdict(sc, { x: "q", y: "r" }, { x: "p", y: "r" }).agreed, false);
  const pw = await new OraclePairwiseJudge().compare({ scenario: sc, first: { text: "a", package: { x: "q", y: "r" } }, second: { text: "b", package: { x: "q", y: "s" } } });
  assert.equal(pw.outcome, "first");
});

test("the CA prompt shows the dialogue when given, unless includeDialogue is false", () => {
  const client = new LlmClient({ baseURL: "http://127.0.0.1:9/v1", model: "m" });
  const input = { scenario, solution: "Plan", dialogue: [{ speaker: "Agent 1", text: "Let us phase it." }] };
  assert.match(new LlmCaJudge({ client, rubric }).prompt(input).user, /Agent 1: Let us phase it\./);
  assert.doesNotMatch(new LlmCaJudge({ client, rubric, includeDialogue: false }).prompt(input).user, /Let us phase it/);
});
