import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "../../src/core/errors";
import { FunctionChatModel, type ChatModelRequest, type ChatTurn } from "../../src/llm/chat-model";
import { runEpisodes, resolveSelfPlayConfig } from "../../src/selfplay/protocol";
import { episodeToTrainingSamples, EpisodeSchema } from "../../src/selfplay/episode";
import { ScriptedNegotiatorModel, mixedStrategy } from "../../src/selfplay/scripted";
import { makeScenario, makeScenarios } from "./fixtures";

const P1 = "1=a 2=c 3=a 4=a"; // budget=basic timeline=pilot staff=contract training=online
const P2 = "1=c 2=c 3=b 4=a"; // budget=premium timeline=pilot staff=hire training=online

/** Always proposes; the note names the turn so tests can see which turns a prompt shows. */
function proposer(name: string, pkg: string): FunctionChatModel {
  return new FunctionChatModel(name, (r) =>
    r.meta?.purpose === "summary" ? `SOLUTION ${pkg} | done` : `PROPOSE ${pkg} | turn-${r.meta?.turnIndex}`);
}

test("default config carries the paper's settings", () => {
  const c = resolveSelfPlayConfig();
  assert.equal(c.maxTurns, 7);
  assert.equal(c.contextTurns, 2);
  assert.equal(c.groupSize, 8);
  assert.deepEqual([c.dialogue.temperature, c.dialogue.topP, c.summary.temperature, c.summary.topP], [0.7, 0.95, 0.1, 0.95]);
  assert.equal(c.mode, "train");
});

test("config errors name the field", () => {
  assert.throws(() => resolveSelfPlayConfig({ groupSize: 0 }), (e: unknown) => e instanceof ConfigError && e.field === "selfplay.groupSize");
  assert.throws(() => resolveSelfPlayConfig({ dialogue: { topP: 0 } }), (e: unknown) => e instanceof ConfigError && e.field === "selfplay.dialogue.topP");
  assert.throws(() => resolveSelfPlayConfig({ contextTurns: -1 as number }), (e: unknown) => e instanceof ConfigError && e.field === "selfplay.contextTurns");
});

for (const k of [0, 1, 2, 3, "all"] as const) {
  test(`context window of ${k} turns limits exactly what each speaker sees`, async () => {
    const a1 = proposer("a1", P1), a2 = proposer("a2", P2);
    await runEpisodes([makeScenario()], { agent1: a1, agent2: a2, seed: 1, groupSize: 1, maxTurns: 6, contextTurns: k });
    const reqs: ChatModelRequest[] = [...a1.calls.flat(), ...a2.calls.flat()].filter((r) => r.meta?.purpose === "turn");
    assert.equal(reqs.length, 6);
    for (const r of reqs) {
      const t = r.meta!.turnIndex!;
      const user = r.messages[1]!.content;
      const from = k === "all" ? 0 : Math.max(0, t - k);
      for (let j = 0; j < t; j++) assert.equal(user.includes(`turn-${j}\n`) || user.endsWith(`turn-${j}`) || user.includes(`| turn-${j}\n`), j >= from, `turn ${t} sees turn ${j}?`);
      assert.equal(user.includes("(earlier turns not shown)"), from > 0);
      assert.equal(r.messages.length, 2);
      assert.equal(r.messages[0]!.role, "system");
      assert.ok(r.messages[0]!.content.includes("Dilemma: "));
    }
  });
}

test("each agent's system prompt has its own persona and only its own utilities", async () => {
  const a1 = proposer("a1", P1), a2 = proposer("a2", P2);
  await runEpisodes([makeScenario()], { agent1: a1, agent2: a2, seed: 1, groupSize: 1, maxTurns: 2, agent1Side: "b" });
  const sys1 = a1.calls[0]![0]!.messages[0]!.content, sys2 = a2.calls[0]![0]!.messages[0]!.content;
  assert.match(sys1, /^You are Ravi, chief nurse\./);
  assert.ok(sys1.includes("\n1. Budget: a) Basic 2, b) Standard 5, c) Premium 9\n"));
  assert.doesNotMatch(sys1, /Basic 9/);
  assert.match(sys2, /^You are Dana, finance director\./);
  assert.ok(sys2.includes("\n1. Budget: a) Basic 9, b) Standard 5, c) Premium 1\n"));
});

test("max-turn cap; no summary without agreement in train mode, always one in eval mode", async () => {
  for (const mode of ["train", "eval"] as const) {
    const a1 = proposer("a1", P1), a2 = proposer("a2", P2);
    const eps = await runEpisodes(makeScenarios(2), { agent1: a1, agent2: a2, seed: 2, groupSize: 3, maxTurns: 5, mode });
    assert.equal(eps.length, 6);
    for (const e of eps) {
      assert.equal(e.turns.length, 5);
      assert.equal(e.agreed, false);
      assert.equal(e.roundsToAgreement, null);
      if (mode === "train") assert.equal(e.summary, null);
      else {
        assert.equal(e.summary!.text, `SOLUTION ${P1} | done`);
        assert.equal(e.summary!.package!.budget, "basic");
      }
    }
    const summaryCalls = a2.calls.flat().filter((r) => r.meta?.purpose === "summary");
    assert.equal(summaryCalls.length, 0, "Agent 2 never writes the summary");
    if (mode === "eval") assert.equal(a1.calls.at(-1)![0]!.sampling.temperature, 0.1);
  }
});

test("agreement stops the dialogue and Agent 1 writes the summary in train mode", async () => {
  const a1 = proposer("a1", P1);
  const a2 = new FunctionChatModel("a2", (r) => (r.meta!.turnIndex! >= 1 ? `ACCEPT ${P1} | deal` : `PROPOSE ${P2} | mine`));
  const eps = await runEpisodes([makeScenario()], { agent1: a1, agent2: a2, seed: 3, groupSize: 4, opener: "agent1" });
  for (const e of eps) {
    assert.equal(e.turns.length, 2);
    assert.equal(e.agreed, true);
    assert.equal(e.roundsToAgreement, 2);
    assert.deepEqual(e.agreedPackage, { budget: "basic", timeline: "pilot", staff: "contract", training: "online" });
    assert.equal(e.summary!.text, `SOLUTION ${P1} | done`);
    assert.equal(e.wellFormedRate, 1);
    EpisodeSchema.parse(JSON.parse(JSON.stringify(e)));
  }
  // accepting a package the other side did not propose is no agreement
  const a2bad = new FunctionChatModel("a2", () => `ACCEPT ${P2} | deal`);
  const bad = await runEpisodes([makeScenario()], { agent1: a1, agent2: a2bad, seed: 3, groupSize: 1, opener: "agent1", maxTurns: 4 });
  assert.equal(bad[0]!.agreed, false);
  assert.equal(bad[0]!.turns.length, 4);
});

test("lockstep: one generate call per model per turn with every dialogue it speaks in", async () => {
  const a1 = proposer("a1", P1), a2 = proposer("a2", P2);
  const eps = await runEpisodes(makeScenarios(3), { agent1: a1, agent2: a2, seed: 4, groupSize: 4, maxTurns: 3 });
  assert.equal(a1.calls.length, 3);
  assert.equal(a2.calls.length, 3);
  for (const call of [...a1.calls, ...a2.calls]) assert.equal(call.length, 6); // opener alternates: half of 12 each turn
  for (const g of ["s0-sc-0", "s0-sc-1", "s0-sc-2"]) assert.equal(eps.filter((e) => e.groupId === g && e.opener === 1).length, 2);
  // one shared model: a single call per turn carries all 12 dialogues
  const both = proposer("both", P1);
  await runEpisodes(makeScenarios(3), { agent1: both, agent2: both, seed: 4, groupSize: 4, maxTurns: 3 });
  assert.deepEqual(both.calls.map((c) => c.length), [12, 12, 12]);
});

test("the same seed reproduces episodes; another seed changes them", async () => {
  const run = (seed: number) => {
    const m = new ScriptedNegotiatorModel({ strategy: mixedStrategy(seed), scenarios: makeScenarios(4) });
    return runEpisodes(makeScenarios(4), { agent1: m, agent2: m, seed, groupSize: 4, mode: "eval" });
  };
  const a = await run(11), b = await run(11), c = await run(12);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.map((e) => e.turns.map((t) => t.text)), c.map((e) => e.turns.map((t) => t.text)));
  // per-request seeds do not depend on batch composition
  const m = new ScriptedNegotiatorModel({ strategy: mixedStrategy(11), scenarios: makeScenarios(4) });
  const small = await runEpisodes(makeScenarios(4).slice(1, 2), { agent1: m, agent2: m, seed: 11, groupSize: 4, mode: "eval" });
  assert.deepEqual(small, a.filter((e) => e.scenarioId === "sc-1"));
});

/** Fake local policy: deterministic token spans per request. */
function tokenModel(name: string, pkg: string, base: number, acceptAt = 99): FunctionChatModel {
  return new FunctionChatModel(name, (r): ChatTurn => {
    const t = r.meta!.turnIndex!;
    const text = r.meta!.purpose === "summary" ? `SOLUTION ${pkg} | done` : t >= acceptAt ? `ACCEPT ${P1}` : `PROPOSE ${pkg} | t${t}`;
    const promptIds = Array.from({ length: 5 + t }, (_, i) => base + i);
    const sampledIds = Array.from({ length: 3 + (t % 2) }, (_, i) => 900 + 10 * t + i);
    return { text, finishReason: "stop", tokens: { promptIds, sampledIds, logprobs: sampledIds.map((x) => -x / 1000), rawLogprobs: sampledIds.map((x) => -x / 500) } };
  });
}

test("training samples: ids equal the recorded spans exactly; masks cover exactly the trained turns' sampled ids", async () => {
  const eps = await runEpisodes([makeScenario()], { agent1: tokenModel("a1", P1, 100), agent2: tokenModel("a2", P2, 200, 3), seed: 5, groupSize: 2, opener: "agent1" });
  for (const e of eps) {
    assert.equal(e.agreed, true);
    assert.equal(e.turns.length, 4);
    const both = episodeToTrainingSamples(e);
    assert.equal(both.length, 4);
    both.forEach((s, i) => {
      const tk = e.turns[i]!.tokens!;
      assert.deepEqual(s.inputIds, [...tk.promptIds, ...tk.sampledIds]);
      assert.deepEqual(s.inputIds.filter((_, j) => s.lossMask[j] === 1), tk.sampledIds);
      assert.equal(s.lossMask.reduce((a, b) => a + b, 0), tk.sampledIds.length);
      assert.deepEqual(s.lossMask.slice(0, tk.promptIds.length), new Array(tk.promptIds.length).fill(0));
      assert.deepEqual(s.oldLogprobs.slice(tk.promptIds.length), tk.logprobs);
      assert.deepEqual(s.rawOldLogprobs.slice(tk.promptIds.length), tk.rawLogprobs);
      assert.equal(s.speaker, e.turns[i]!.speaker);
      assert.equal(s.kind, "turn");
    });
    const a1only = episodeToTrainingSamples(e, { speakers: "agent1" });
    assert.deepEqual(a1only.map((s) => s.turnIndex), [0, 2]);
    assert.ok(a1only.every((s) => s.speaker === 1));
    const withSummary = episodeToTrainingSamples(e, { includeSummary: true });
    assert.equal(withSummary.length, 5);
    assert.equal(withSummary[4]!.kind, "summary");
    assert.deepEqual(withSummary[4]!.inputIds, [...e.summary!.tokens!.promptIds, ...e.summary!.tokens!.sampledIds]);
  }
  const net = await runEpisodes([makeScenario()], { agent1: proposer("x", P1), agent2: proposer("y", P2), seed: 5, groupSize: 1, maxTurns: 1 });
  assert.throws(() => episodeToTrainingSamples(net[0]!), /no token record/);
});
