// Every OpenAI-client code path of parley against a real `parley serve` (micro checkpoint, untrained): LlmClient,
// the LLM CA / agreement judges, OpenAiChatModel in a self-play episode, the LLM synthesiser. An untrained model
// mostly answers garbage: the point is that the path works end to end and invalid answers are recorded as invalid.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { LlmClient } from "../../src/llm/client";
import { OpenAiChatModel } from "../../src/llm/chat-model";
import { LlmAgreementJudge, LlmCaJudge } from "../../src/reward/judges";
import { runEpisodes } from "../../src/selfplay/protocol";
import { synthesizeWithLlm } from "../../src/data/llm-synth";
import { makeScenarios } from "../selfplay/fixtures";
import { makeCheckpoint, startInProcess, tmpDir, type InProcess } from "./helpers";

let s: InProcess;
let client: LlmClient;
let work: string;

before(async () => {
  work = tmpDir("clients");
  // The CA rubric prompt is ~2,200 tokens with the tiny test vocabulary, hence the long context.
  const dir = await makeCheckpoint(path.join(work, "ck"), { maxSeqLen: 3072 });
  s = await startInProcess(dir, { modelName: "micro" });
  client = new LlmClient({ baseURL: s.srv.baseURL, model: "micro", maxRetries: 0, timeoutMs: 60_000 });
});
after(async () => s.close());

test("LlmClient: models, chat (seeded), json_object answers that do not parse are flagged invalid", async () => {
  assert.deepEqual(await client.listModels(), ["micro"]);
  const req = { messages: [{ role: "user" as const, content: "Propose a split." }], maxTokens: 8, temperature: 0.8, seed: 3 };
  const a = await client.chat(req);
  const b = await client.chat(req);
  assert.equal(a.text, b.text);
  assert.equal(a.model, "micro");
  assert.ok(a.usage.completionTokens >= 1 && a.usage.promptTokens > 0);
  const j = await client.chat({ ...req, responseFormat: "json_object", stop: ["\n\n"] });
  if (j.parsed === undefined) assert.equal(j.invalid?.kind, "json");
  assert.ok(client.stats().requests >= 3);
});

test("LLM judges: every answer is either a valid verdict or recorded invalid with its raw text", async () => {
  const [scenario] = makeScenarios(1);
  const ca = new LlmCaJudge({ client, maxTokens: 12, maxInvalidRetries: 1 });
  const r = await ca.score({ scenario: scenario!, solution: "Pilot first, then phase the budget." });
  assert.equal(r.model, "micro");
  assert.equal(typeof r.raw, "string");
  if (r.valid) assert.ok(Number.isInteger(r.score) && r.score! >= 0 && r.score! <= 5);
  else {
    assert.equal(r.score, undefined);
    assert.match(r.error!, /score|JSON|parse/i);
    assert.equal(r.attempts, 2, "one retry for an invalid answer");
  }
  const ag = new LlmAgreementJudge({ client, maxTokens: 8, maxInvalidRetries: 0 });
  const v = await ag.judgeOne({ scenario: scenario!, turns: [{ speaker: "Dana", text: "Pilot first?" }, { speaker: "Ravi", text: "Agreed." }] });
  if (v.valid) assert.equal(typeof v.agreed, "boolean");
  else assert.ok(v.agreed === undefined && typeof v.error === "string");
});

test("OpenAiChatModel plays a self-play episode against parley serve (seeded: the same episode twice)", async () => {
  const model = new OpenAiChatModel(client, { name: "serve:micro" });
  const opts = { agent1: model, agent2: model, seed: 5, groupSize: 1, maxTurns: 2, mode: "eval" as const, dialogue: { maxTokens: 8 }, summary: { maxTokens: 8 } };
  const scenarios = makeScenarios(1);
  const eps = await runEpisodes(scenarios, opts);
  assert.equal(eps.length, 1);
  const e = eps[0]!;
  assert.ok(e.turns.length >= 1 && e.turns.length <= 2);
  for (const t of e.turns) {
    assert.notEqual(t.finishReason, "error", t.error);
    assert.equal(typeof t.text, "string");
  }
  const again = await runEpisodes(scenarios, opts);
  assert.deepEqual(again.map((x) => x.turns.map((t) => t.text)), eps.map((x) => x.turns.map((t) => t.text)));
});

test("LLM synthesiser: garbage answers are rejected as invalid and nothing invalid is written", async () => {
  const out = path.join(work, "synth");
  const rep = await synthesizeWithLlm({ client, outDir: out, n: 2, pairs: 1, maxAttemptsPerItem: 2, maxTokens: 24, seed: 1 });
  const lines = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)) : []);
  const pairs = lines(rep.files.pairs);
  const rejected = lines(rep.files.rejected);
  assert.equal(pairs.length, rep.pairsWritten);
  assert.equal(rejected.length, rep.rejected.invalid + rep.rejected.duplicate + rep.rejected.inconsistent + rep.rejected.failed);
  if (rep.pairsWritten === 0) {
    assert.deepEqual(rep.missing, ["llm-pair-0"]);
    assert.equal(rejected.length, 2);
    assert.ok(rejected.every((r) => r.reason === "invalid" && typeof r.text === "string"));
    assert.equal(lines(rep.files.scenarios).length, 0);
  }
});
