import { test } from "node:test";
import assert from "node:assert/strict";
import { caJudgeRewarder, rewardEpisodes, judgeResultToReward } from "../../src/train/rollout-reward";
import { OracleCaJudge } from "../../src/reward/judges";
import { oracleCaScore } from "../../src/reward/oracle";
import type { Episode } from "../../src/selfplay/episode";
import { makeScenario } from "../selfplay/fixtures";

function episode(id: string, scenarioId: string, agreed: boolean, summaryPkg: Record<string, string> | null, agreedPkg: Record<string, string> | null = null): Episode {
  return {
    id, scenarioId, groupId: "g", sampleIndex: 0, mode: "train", seed: 1, agent1Side: "a",
    personas: { agent1: "x", agent2: "y" }, models: { agent1: "p", agent2: "p" }, opener: 1,
    turns: [{ index: 0, speaker: 1, side: "a", text: "PROPOSE ...", move: null, finishReason: "stop", seed: 1 }],
    agreed, roundsToAgreement: agreed ? 1 : null, agreedPackage: agreedPkg,
    summary: agreed ? { text: "we agree", package: summaryPkg, finishReason: "stop", seed: 2 } : null,
    wellFormedRate: null,
  };
}

test("oracle rewards: no agreement is 0 without asking the judge; agreed dialogues score their summary package", async () => {
  const sc = makeScenario("sc-1");
  const free = { ...makeScenario("free"), structured: undefined };
  const byId = new Map([[sc.id, sc], [free.id, free]]);
  const best = { budget: "standard", timeline: "pilot", staff: "hire", training: "online" };
  const worse = { budget: "basic", timeline: "fast", staff: "contract", training: "onsite" };
  const eps = [
    episode("e0", sc.id, false, null),
    episode("e1", sc.id, true, best, worse),
    episode("e2", sc.id, true, null), // summary names no package -> scored as no agreement
    episode("e3", free.id, true, best), // free-text scenario: the oracle cannot score it -> invalid, not 0
  ];
  let calls = 0;
  const judge = new OracleCaJudge();
  const counting = { name: judge.name, score: (x: Parameters<OracleCaJudge["score"]>[0]) => (calls++, judge.score(x)) };
  const r = await rewardEpisodes(caJudgeRewarder(counting), eps, byId);
  assert.equal(calls, 3);
  assert.deepEqual(r[0], { valid: true, score: 0, raw: "no agreement" });
  assert.equal(r[1]!.score, oracleCaScore(sc.structured!, best).score);
  assert.ok(r[1]!.score! >= 1);
  assert.equal(r[2]!.score, 0);
  assert.equal(r[3]!.valid, false);
  assert.equal(r[3]!.score, null);
  assert.match(r[3]!.raw!, /structured/);
  const byAgreement = await rewardEpisodes(caJudgeRewarder(judge, { packageFrom: "agreement" }), [eps[1]!], byId);
  assert.equal(byAgreement[0]!.score, oracleCaScore(sc.structured!, worse).score);
});

test("judgeResultToReward keeps invalid results invalid (never 0) and their raw text", () => {
  const base = { raw: "I think it is good", rubricId: "r", rubricHash: "h", model: "m", cached: false, attempts: 3 };
  assert.deepEqual(judgeResultToReward({ ...base, valid: false, error: "no score found" }), { valid: false, score: null, raw: "no score found: I think it is good" });
  assert.deepEqual(judgeResultToReward({ ...base, valid: true, score: 4 }), { valid: true, score: 4, raw: "I think it is good" });
});
