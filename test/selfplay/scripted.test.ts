import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../../src/core/rng";
import { oracleCaScore } from "../../src/reward/oracle";
import { ScriptedNegotiatorModel, STRATEGIES, type Strategy } from "../../src/selfplay/scripted";
import { runEpisodes } from "../../src/selfplay/protocol";
import { generateScriptedCorpus, buildSftExamples } from "../../src/selfplay/corpus";
import { readPromptView } from "../../src/selfplay/prompts";
import { summarizeEpisodes } from "../../src/selfplay/episode";
import { randomScenario } from "./fixtures";

const rng = new Rng(2026);
const scenarios = Array.from({ length: 40 }, (_, i) => randomScenario(rng, `rs-${i}`));

async function play(strategy: Strategy) {
  const m = new ScriptedNegotiatorModel({ strategy, scenarios });
  return runEpisodes(scenarios, { agent1: m, agent2: m, seed: 7, groupSize: 4, mode: "eval" });
}

test("every strategy produces only well-formed turns and parseable summaries", async () => {
  for (const s of STRATEGIES) {
    const eps = await play(s);
    const st = summarizeEpisodes(eps);
    assert.equal(st.wellFormedRate, 1, s);
    for (const e of eps) {
      assert.ok(e.summary, s);
      if (e.agreed) assert.deepEqual(e.summary!.package, e.agreedPackage, s);
    }
  }
});

test("integrative negotiators reach better oracle scores than hard-line ones on average", async () => {
  const mean = async (s: Strategy) => {
    const eps = await play(s);
    const scores = eps.map((e) => oracleCaScore(scenarios.find((x) => x.id === e.scenarioId)!.structured!, e.agreed ? e.agreedPackage : null).score);
    return { score: scores.reduce((a, b) => a + b, 0) / scores.length, agree: summarizeEpisodes(eps).agreementRate };
  };
  const integ = await mean("integrative"), hard = await mean("hardline");
  assert.ok(integ.score > hard.score + 0.5, `integrative ${integ.score} vs hardline ${hard.score}`);
  assert.ok(integ.agree > hard.agree);
});

test("scripted corpus: transcripts are exactly the protocol prompts and replies; SFT examples mask the reply", async () => {
  const c = await generateScriptedCorpus(scenarios.slice(0, 5), { seed: 3, n: 12, config: { contextTurns: 2 } });
  assert.equal(c.episodes.length, 12);
  const turns = c.episodes.reduce((a, e) => a + e.turns.length + (e.summary ? 1 : 0), 0);
  assert.equal(c.transcripts.length, turns);
  for (const t of c.transcripts) {
    assert.equal(t.messages.length, 2);
    const v = readPromptView(t.messages);
    assert.equal(v.summary, t.kind === "summary");
    if (t.kind === "turn") assert.ok(v.transcript.length <= 2);
  }
  const enc = { encodePrompt: (m: Array<{ content: string }>) => [1, ...m.map((x) => x.content.length % 50)], encodeText: (s: string) => [...s].slice(0, 4).map((ch) => ch.charCodeAt(0)), endIds: [2] };
  const { examples, dropped } = buildSftExamples(c.transcripts, enc);
  assert.equal(dropped, 0);
  examples.forEach((ex, i) => {
    const reply = [...enc.encodeText(c.transcripts[i]!.response), 2];
    assert.deepEqual(ex.inputIds.slice(-reply.length), reply);
    assert.deepEqual(ex.lossMask, [0, 0, 0, ...reply.map(() => 1)]);
  });
  assert.equal(buildSftExamples(c.transcripts, enc, { maxLength: 3 }).dropped, c.transcripts.length);
});
