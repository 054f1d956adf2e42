import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../../src/core/rng";
import { oracleCaScore } from "../../src/reward/oracle";
import { ScriptedNegotiatorModel, STRATEGIES, type Strategy } from "../../src/selfplay/scripted";
import { runEpisodes } from "../../src/selfplay/protocol";
import { generateScriptedCorpus, buildSftExamples, transcriptGrammar } from "../../src/selfplay/corpus";
import { trainBpe } from "../../src/model/bpe";
import { chatEncoder } from "../../src/selfplay/local-policy";
import { standingOffer } from "../../src/selfplay/agreement";
import { moveGrammar } from "../../src/selfplay/language";
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

test("grammar-aware SFT examples: standing offers recorded; every grammar set holds its target, inside the reply header", async () => {
  const c = await generateScriptedCorpus(scenarios.slice(0, 6), { seed: 4, n: 12 });
  for (const t of c.transcripts.filter((x) => x.kind === "turn")) {
    const e = c.episodes.find((x) => x.id === t.episodeId)!;
    assert.deepEqual(t.standingOffer, standingOffer(e.turns.slice(0, t.turnIndex), e.turns[t.turnIndex]!.side)?.package ?? null);
    const s = scenarios.find((x) => x.id === t.scenarioId)!;
    assert.equal(transcriptGrammar(t, s), moveGrammar(s.structured!, t.standingOffer));
  }
  const tok = trainBpe(c.transcripts.flatMap((t) => [...t.messages.map((m) => m.content), t.response]), { vocabSize: 400 });
  const enc = chatEncoder(tok);
  const { examples } = buildSftExamples(c.transcripts, enc, { grammar: { tokenizer: tok, scenarios, longestOnly: false } });
  assert.equal(examples.length, c.transcripts.length);
  let refs = 0;
  examples.forEach((ex, i) => {
    const t = c.transcripts[i]!;
    const start = ex.lossMask.indexOf(1);
    assert.ok(ex.allowed && ex.allowed.length > 0, `example ${i} has grammar sets`);
    const headerSets = ex.allowed.filter((a) => !a.exclude);
    let prev = start - 1;
    for (const { at, ids } of headerSets) {
      assert.ok(at > prev && ex.lossMask[at] === 1, `position ${at} is a reply position, in order`);
      assert.ok(ids.includes(ex.inputIds[at]!), `target ${ex.inputIds[at]} allowed at ${at}`);
      prev = at;
    }
    // The constrained positions are a prefix of the reply and stay in the header (before any free text).
    assert.deepEqual(headerSets.map((a) => a.at), headerSets.map((_, k) => start + k));
    // Option references in the free text ("I keep 1=b"): the "=letter" tokens of options the issue lacks are excluded.
    const s = scenarios.find((x) => x.id === t.scenarioId)!.structured!;
    for (const { at, ids, exclude } of ex.allowed.filter((a) => a.exclude)) {
      assert.equal(exclude, true);
      assert.ok(at > prev && ex.lossMask[at] === 1 && !ids.includes(ex.inputIds[at]!));
      const k = Number(/([0-9]+)$/.exec(tok.decode(ex.inputIds.slice(start, at)))![1]);
      const expected = [...Array(tok.vocabSize).keys()].filter((id) => !tok.isSpecial(id) && /^=[a-z]/.test(tok.decode([id])) && tok.decode([id]).charCodeAt(1) - 97 >= s.issues[k - 1]!.options.length);
      assert.deepEqual(ids, expected);
      refs++;
    }
    const header = tok.decode(ex.inputIds.slice(start, prev + 1));
    const bar = t.response.indexOf(" | ");
    assert.ok(t.response.startsWith(header) || (header.endsWith(tok.decode([enc.endIds[0]!])) && header.startsWith(t.response)), `${JSON.stringify(header)} vs ${JSON.stringify(t.response)}`);
    // Only the last constrained token may reach into the note (a token like " | a" crosses from header to free text).
    if (bar >= 0) assert.ok(tok.decode(ex.inputIds.slice(start, prev)).length < bar + 3, `${JSON.stringify(header)} stops at the note of ${JSON.stringify(t.response)}`);
  });
  assert.ok(refs > 10, `${refs} option references in notes`);
  // After "PROPOSE 1", the "=letter" tokens allowed are exactly the options issue 1 has.
  let checked = 0;
  examples.forEach((ex, i) => {
    const opts = scenarios.find((s) => s.id === c.transcripts[i]!.scenarioId)!.structured!.issues[0]!.options.length;
    const start = ex.lossMask.indexOf(1);
    for (const { at, ids } of ex.allowed!) {
      if (tok.decode(ex.inputIds.slice(start, at)) !== "PROPOSE 1") continue;
      const letters = ids.map((id) => tok.decode([id])).filter((x) => /^=[a-z]$/.test(x)).sort();
      assert.deepEqual(letters, ["=a", "=b", "=c", "=d"].slice(0, opts));
      checked++;
    }
  });
  assert.ok(checked > 5, `${checked} positions after "PROPOSE 1"`);
  // longestOnly: the same positions; each set is the full set minus the ids another allowed id's text extends, and
  // still holds its target. After "PROPOSE 1" the bare "=" goes (the letters "=a".. extend it), the letters stay.
  const longest = buildSftExamples(c.transcripts, enc, { grammar: { tokenizer: tok, scenarios } }).examples; // longestOnly by default
  let dropped = 0;
  let bareEq = 0;
  longest.forEach((ex, i) => {
    const full = examples[i]!.allowed!;
    assert.deepEqual(ex.allowed!.map((a) => a.at), full.map((a) => a.at));
    ex.allowed!.forEach(({ at, ids, exclude }, k) => {
      if (exclude) return assert.deepEqual(ids, full[k]!.ids);
      assert.ok(ids.includes(ex.inputIds[at]!));
      const texts = full[k]!.ids.map((id) => tok.decode([id]));
      const expected = full[k]!.ids.filter((id, j) => !enc.endIds.includes(id) ? !texts.some((u, m) => m !== j && !enc.endIds.includes(full[k]!.ids[m]!) && u.length > texts[j]!.length && u.startsWith(texts[j]!)) : true);
      assert.deepEqual(ids, expected.includes(ex.inputIds[at]!) ? expected : full[k]!.ids);
      dropped += full[k]!.ids.length - ids.length;
      const start = ex.lossMask.indexOf(1);
      if (tok.decode(ex.inputIds.slice(start, at)) === "PROPOSE 1") {
        assert.ok(!ids.some((id) => tok.decode([id]) === "=") && full[k]!.ids.some((id) => tok.decode([id]) === "="));
        bareEq++;
      }
    });
  });
  assert.ok(dropped > 0 && bareEq > 5, `${dropped} ids dropped, ${bareEq} positions after "PROPOSE 1"`);
});
