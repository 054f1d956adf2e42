import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { readJsonl } from "../../src/core/jsonl";
import { FunctionChatModel } from "../../src/llm/chat-model";
import { loadRubric } from "../../src/reward/rubric";
import type { CaJudge, CaJudgeInput, JudgeResult } from "../../src/reward/judges";
import { solutionParts, OracleCaJudge } from "../../src/reward/judges";
import { trainSingleAgent, SelfRewardJudge, buildDirectAnswerMessages, directAnswerStrategy, parseSingleAgentConfig } from "../../src/train/single-agent";
import { makeScenarios, makeScenario } from "../selfplay/fixtures";
import { BigramPolicy, BigramChat, MemoryCheckpoints } from "./helpers";

before(async () => {
  await tf.setBackend("cpu");
});

const base = { raw: "", rubricId: "t", rubricHash: "h", model: "fake", cached: false, attempts: 0 };
/** Scores the share of "t3" words; "t5" first makes the answer unscorable. */
class CountJudge implements CaJudge {
  readonly name = "count";
  async score(input: CaJudgeInput): Promise<JudgeResult> {
    const text = solutionParts(input.solution).text;
    if (text.startsWith("t5")) return { ...base, raw: text, valid: false, error: "unparseable" };
    const w = text.split(" ");
    return { ...base, raw: text, valid: true, score: Math.round((5 * w.filter((x) => x === "t3").length) / w.length) };
  }
}

const CFG = { groupSize: 4, batchScenarios: 2, steps: 4, checkpointEvery: 2, maxCompletionLength: 3, maxSampleLength: 8, microBatchBudget: 64, learningRate: 0.05, seed: 2 };
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "parley-single-"));
const noTime = (r: Record<string, unknown>) => Object.fromEntries(Object.entries(r).filter(([k]) => !k.startsWith("time/")));

test("single-agent defaults follow the paper's baseline: beta 0.04, T 1, top-p 1", () => {
  const c = parseSingleAgentConfig({});
  assert.equal(c.mode, "single");
  assert.equal(c.beta, 0.04);
  assert.equal(c.temperature, 1);
  assert.equal(c.topP, 1);
  assert.equal(parseSingleAgentConfig({ beta: 0 }).beta, 0);
});

test("trainSingleAgent: KL to the reference, metrics and rollouts, exact resume", async () => {
  const run = async (dir: string, store: MemoryCheckpoints, crashAt?: number, resume = false, policy = new BigramPolicy(6)) => {
    let n = 0;
    const deps = { policy, chatModel: (m: BigramPolicy, name: string) => new BigramChat(m, name), scenarios: makeScenarios(4), judge: new CountJudge(), runDir: dir, checkpoints: store };
    const p = trainSingleAgent(CFG, deps, { silent: true, onStep: () => { if (++n === crashAt) throw new Error("crash"); } }, { resume });
    return { p, policy };
  };
  const dirA = tmp();
  const a = await run(dirA, new MemoryCheckpoints());
  await a.p;
  const mA = readJsonl<Record<string, unknown>>(path.join(dirA, "metrics.jsonl"));
  assert.equal(mA.length, 4);
  assert.ok((mA[3]!["grpo/kl"] as number) > 0, "beta 0.04 keeps a KL term to the frozen starting policy");
  assert.ok("rollout/parse_rate" in mA[0]!);
  const ro = readJsonl<{ answer: string; advantage: number; valid: boolean }>(path.join(dirA, "rollouts.jsonl"));
  assert.equal(ro.length, 4 * 2 * 4);
  for (const r of ro) if (!r.valid) assert.equal(r.advantage, 0);

  const dirB = tmp();
  const store = new MemoryCheckpoints();
  const b = await run(dirB, store, 3);
  await assert.rejects(b.p, /crash/);
  const b2 = await run(dirB, store, undefined, true, new BigramPolicy(6));
  await b2.p;
  assert.deepEqual(readJsonl<Record<string, unknown>>(path.join(dirB, "metrics.jsonl")).map(noTime), mA.map(noTime));
  assert.deepEqual(b2.policy.w.arraySync(), a.policy.w.arraySync());
  for (const x of [a.policy, b.policy, b2.policy]) x.dispose();
});

test("SelfRewardJudge: the policy's own [[n]] answer is the reward; an unparseable one is invalid, not 0", async () => {
  const rubric = loadRubric();
  const answers = ["I rate it [[4]]", "it is fine"];
  let i = 0;
  const chat = new FunctionChatModel("me", () => answers[i++]!);
  const judge = new SelfRewardJudge(chat, rubric);
  const sc = makeScenario();
  const r1 = await judge.score({ scenario: sc, solution: "SOLUTION budget=standard" });
  assert.equal(r1.valid, true);
  assert.equal(r1.score, 4);
  const r2 = await judge.score({ scenario: sc, solution: "SOLUTION budget=standard" });
  assert.equal(r2.valid, false);
  assert.equal(r2.score, undefined);
  assert.equal(chat.calls[0]![0]!.sampling.temperature, 0);
  assert.match(chat.calls[0]![0]!.messages.map((m) => m.content).join("\n"), /SOLUTION budget=standard/);
});

test("direct-answer prompt shows both sides' scores and the SOLUTION format; the oracle scores parsed answers", async () => {
  const sc = makeScenario();
  const msgs = buildDirectAnswerMessages(sc);
  assert.ok(msgs[0]!.content.includes("\n1. budget: a) basic 9/2, b) standard 5/5, c) premium 1/9\n2. timeline: a) fast 2/8, b) phased 8/4, c) pilot 9/9\n"));
  assert.ok(msgs[0]!.content.includes("SOLUTION 1=a/b/c 2=a/b/c 3=a/b 4=a/b | how it serves both sides"));
  const r = await new OracleCaJudge().score({ scenario: sc, solution: { text: "x", package: { budget: "standard", timeline: "pilot", staff: "hire", training: "online" } } });
  assert.ok(r.valid && r.score! >= 1);
});

test("self-reward training batches the policy's judgments into one generate call per step", async () => {
  const dir = tmp();
  const policy = new BigramPolicy(6);
  const chats: Array<{ calls: number; batch: number[] }> = [];
  const chatModel = (m: BigramPolicy, name: string) => {
    const inner = new BigramChat(m, name);
    const rec = { calls: 0, batch: [] as number[] };
    chats.push(rec);
    return {
      name,
      generate: async (reqs: Parameters<BigramChat["generate"]>[0]) => {
        rec.calls++;
        rec.batch.push(reqs.length);
        if (reqs[0]!.meta?.purpose === "judge") return reqs.map((_, i) => ({ text: i % 3 === 0 ? "no score" : `[[${i % 6}]]`, finishReason: "stop" as const }));
        return inner.generate(reqs);
      },
    };
  };
  const r = await trainSingleAgent({ ...CFG, steps: 2, selfReward: true, beta: 0 }, { policy, chatModel, scenarios: makeScenarios(4), selfRewardRubric: loadRubric(), runDir: dir }, { silent: true });
  assert.equal(r.steps, 2);
  assert.deepEqual(chats[0]!.batch, [8, 8, 8, 8]); // per step: 8 answers, then 8 judgments in one call
  const m = readJsonl<Record<string, number>>(path.join(dir, "metrics.jsonl"));
  assert.ok(Math.abs(m[0]!["judge/invalid_rate"]! - 3 / 8) < 1e-12); // "no score" answers are invalid, not 0
  policy.dispose();
});

test("constrained single-agent answers ask the policy for the SOLUTION grammar of each structured scenario", async () => {
  const chat = new FunctionChatModel("fn", () => "SOLUTION 1=a 2=a 3=a 4=a | ok");
  const scenarios = makeScenarios(2);
  const cfg = parseSingleAgentConfig({ ...CFG, batchScenarios: 2 });
  const strategy = directAnswerStrategy(cfg, { chatModel: () => chat, scenarios, judge: new OracleCaJudge(), constrained: true } as never, {} as never);
  // FunctionChatModel returns no token record, so collect stops after generating; the requests are what we check.
  await assert.rejects(strategy.collect(0, scenarios), /no token record/);
  const reqs = chat.calls[0]!;
  assert.equal(reqs.length, 2 * CFG.groupSize);
  const headers = reqs[0]!.grammar!.headers.map((h) => h.text);
  assert.ok(headers.includes("SOLUTION 1=a 2=a 3=a 4=a | ") && headers.includes("NO-DEAL | "));
  assert.equal(headers.length, 36 + 1);
});
