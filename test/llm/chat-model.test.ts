import { test } from "node:test";
import assert from "node:assert/strict";
import { LlmClient } from "../../src/llm/client";
import { startFakeServer } from "../../src/llm/fake-server";
import { FunctionChatModel, OpenAiChatModel } from "../../src/llm/chat-model";
import { ScriptedNegotiatorModel } from "../../src/selfplay/scripted";
import { runEpisodes } from "../../src/selfplay/protocol";
import { makeScenario } from "../selfplay/fixtures";

test("an OpenAI-compatible server with a scripted negotiator runs full episodes", async () => {
  // The server's negotiator sees only the HTTP messages (no scenario lookup), exactly like an external LLM.
  const negotiator = new ScriptedNegotiatorModel({ strategy: "conceding" });
  const server = await startFakeServer({
    handler: (req) => ({ text: negotiator.respond({ messages: req.messages as never, seed: Number(req.body.seed ?? 0), sampling: { temperature: 0.7, topP: 0.95, maxTokens: 64 } }) }),
  });
  try {
    const client = new LlmClient({ baseURL: server.baseURL, model: "fake-model", concurrency: 3, maxRetries: 0 });
    const model = new OpenAiChatModel(client);
    const eps = await runEpisodes([makeScenario("sc-a", 0), makeScenario("sc-b", 1)], { agent1: model, agent2: model, seed: 9, groupSize: 2, mode: "eval" });
    assert.equal(eps.length, 4);
    const turns = eps.reduce((a, e) => a + e.turns.length, 0);
    assert.equal(server.requests.length, turns + 4); // every turn plus one summary per episode (eval mode)
    for (const e of eps) {
      assert.equal(e.models.agent1, "openai:fake-model");
      assert.equal(e.wellFormedRate, 1);
      assert.equal(e.agreed, true);
      assert.deepEqual(e.summary!.package, e.agreedPackage);
      assert.ok(e.turns.every((t) => t.tokens === undefined));
    }
    const first = server.requests[0]!;
    assert.equal(first.body.temperature, 0.7);
    assert.equal(first.body.top_p, 0.95);
    assert.equal(first.body.max_tokens, 64);
    assert.equal(first.messages[0]!.role, "system");
  } finally {
    await server.close();
  }
});

test("transport failures become error turns (recorded), not crashes", async () => {
  const server = await startFakeServer({ handler: () => ({ status: 400, body: { error: { message: "bad" } } }) });
  try {
    const model = new OpenAiChatModel(new LlmClient({ baseURL: server.baseURL, model: "m", maxRetries: 0 }));
    const eps = await runEpisodes([makeScenario()], { agent1: model, agent2: model, seed: 1, groupSize: 1, maxTurns: 2 });
    assert.equal(eps[0]!.turns.length, 2);
    assert.ok(eps[0]!.turns.every((t) => t.finishReason === "error" && t.move?.kind === "invalid" && typeof t.error === "string"));
    assert.equal(eps[0]!.agreed, false);
  } finally {
    await server.close();
  }
});

test("FunctionChatModel records every batch", async () => {
  const m = new FunctionChatModel("f", (r, i) => `${i}:${r.seed}`);
  const out = await m.generate([{ messages: [], seed: 5, sampling: { temperature: 0, topP: 1, maxTokens: 1 } }, { messages: [], seed: 6, sampling: { temperature: 0, topP: 1, maxTokens: 1 } }]);
  assert.deepEqual(out.map((t) => t.text), ["0:5", "1:6"]);
  assert.equal(m.calls.length, 1);
});
