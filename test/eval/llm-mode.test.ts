// LLM mode through the same suites: an OpenAI-compatible negotiator and an LLM pairwise judge (scripted fake server).
// A judge with pure position bias ("A" in both orders) gives only inconsistent pairs, which the win rate drops.
import { test } from "node:test";
import assert from "node:assert/strict";
import { generateOfflineDataset } from "../../src/data/offline";
import { startFakeServer } from "../../src/llm/fake-server";
import { LlmClient } from "../../src/llm/client";
import { OpenAiChatModel } from "../../src/llm/chat-model";
import { LlmPairwiseJudge } from "../../src/reward/pairwise";
import { ScriptedNegotiatorModel } from "../../src/selfplay/scripted";
import { runEvaluation } from "../../src/eval/suites";
import { paperTables } from "../../src/eval/tables";

test("OpenAI-compatible system and a position-biased LLM judge: every pair inconsistent, none counted", async () => {
  const server = await startFakeServer({
    handler: (req) =>
      req.messages.some((m) => /verdict/i.test(m.content)) ? { json: { reason: "first looks better", verdict: "A" } } : { text: "I propose we share the work fairly." },
  });
  try {
    const data = generateOfflineDataset({ seed: 4, counts: { train: 0, evalConflict: 3, evalOpen: 2 } });
    const api = new OpenAiChatModel(new LlmClient({ baseURL: server.baseURL, model: "fake-model", maxRetries: 0 }));
    const judgeClient = new LlmClient({ baseURL: server.baseURL, model: "fake-judge", maxRetries: 0 });
    const judge = (kind: "pairwise_ca" | "pairwise_conflict") => new LlmPairwiseJudge({ client: judgeClient, kind, maxInvalidRetries: 0 });
    const scripted = new ScriptedNegotiatorModel({ strategy: "integrative", scenarios: data.evalConflict });
    const baseline = {
      name: "scripted",
      chat: {
        name: "scripted",
        generate: async (reqs: Parameters<typeof scripted.generate>[0]) =>
          Promise.all(reqs.map(async (r) => (r.messages[0]!.content.startsWith("Answer the question") ? { text: "Talk it through.", finishReason: "stop" as const } : (await scripted.generate([r]))[0]!))),
      },
    };
    const res = await runEvaluation([{ name: "api", chat: api }, baseline], { conflict: data.evalConflict, open: data.evalOpen }, {
      seed: 3, baseline: "scripted", decodings: ["greedy"], repeats: {}, capability: false, selfplay: { maxTurns: 2, promptStyle: "compact" },
      pairwise: { ca: judge("pairwise_ca"), conflict: judge("pairwise_conflict"), open: judge("pairwise_ca") },
    });
    const rows = res.decodings[0]!.pairwise;
    assert.deepEqual(rows.map((r) => r.suite), ["ca_conflict", "conflict", "ca_open"]);
    for (const r of rows) {
      assert.ok(r.judge.startsWith("llm-"));
      assert.deepEqual(r.repeats[0]!.outcomes, new Array(r.suite === "ca_open" ? 2 : 3).fill("inconsistent"));
      assert.equal(r.repeats[0]!.summary.consistent, 0);
      assert.ok(Number.isNaN(r.repeats[0]!.summary.winRate));
    }
    const api0 = res.decodings[0]!.systems[0]!.repeats[0]!;
    assert.equal(api0.metrics.agreementRate, 0); // free text never names a package
    assert.ok(res.examples.api![0]!.turns[0]!.text.includes("share the work"));
    const t = paperTables(res, { resamples: 100 });
    assert.equal(t.caWinRates[0]!["greedy consistent"], "0% of 3");
  } finally {
    await server.close();
  }
});
