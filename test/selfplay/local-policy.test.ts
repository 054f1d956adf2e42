import { before, test } from "node:test";
import assert from "node:assert/strict";
import { initBackend } from "../../src/model/runtime";
import { Transformer } from "../../src/model/transformer";
import { microModelConfig } from "../../src/model/config";
import { trainBpe } from "../../src/model/bpe";
import { LocalPolicyChatModel, chatEncoder } from "../../src/selfplay/local-policy";
import { runEpisodes } from "../../src/selfplay/protocol";
import { episodeToTrainingSamples } from "../../src/selfplay/episode";
import { generateScriptedCorpus } from "../../src/selfplay/corpus";
import { makeScenarios } from "./fixtures";

let model: Transformer;
let policy: LocalPolicyChatModel;
let tok: ReturnType<typeof trainBpe>;
const scenarios = makeScenarios(2);

before(async () => {
  await initBackend({ backend: "wasm", quiet: true });
  const corpus = await generateScriptedCorpus(scenarios, { seed: 1, n: 4 });
  tok = trainBpe(corpus.transcripts.flatMap((t) => [...t.messages.map((m) => m.content), t.response]), { vocabSize: 600 });
  model = new Transformer(microModelConfig(tok.vocabSize, { maxSeqLen: 1024 }), 3);
  policy = new LocalPolicyChatModel({ model, tokenizer: tok, name: "local:test" });
});

test("local policy turns carry the exact prompt ids, sampled ids and log-probs; samples are cut from them", async () => {
  const eps = await runEpisodes(scenarios, { agent1: policy, agent2: policy, seed: 5, groupSize: 2, maxTurns: 2, mode: "eval", dialogue: { maxTokens: 6 }, summary: { maxTokens: 6 }, recordMessages: true });
  const enc = chatEncoder(tok);
  for (const e of eps) {
    assert.equal(e.turns.length, 2);
    for (const t of e.turns) {
      const tk = t.tokens!;
      assert.deepEqual(tk.promptIds, enc.encodePrompt(t.messages!));
      assert.ok(tk.sampledIds.length >= 1 && tk.sampledIds.length <= 6);
      assert.equal(tk.logprobs.length, tk.sampledIds.length);
      assert.equal(tk.rawLogprobs.length, tk.sampledIds.length);
      assert.ok(tk.logprobs.every((x) => x <= 0) && tk.rawLogprobs.every((x) => x <= 0));
      const body = t.finishReason === "stop" ? tk.sampledIds.slice(0, -1) : tk.sampledIds;
      assert.equal(t.text, tok.decode(body, { skipSpecial: true }).trim());
    }
    assert.ok(e.summary!.tokens);
    const samples = episodeToTrainingSamples(e);
    samples.forEach((s, i) => assert.deepEqual(s.inputIds, [...e.turns[i]!.tokens!.promptIds, ...e.turns[i]!.tokens!.sampledIds]));
  }
  // same seed -> same episodes
  const again = await runEpisodes(scenarios, { agent1: policy, agent2: policy, seed: 5, groupSize: 2, maxTurns: 2, mode: "eval", dialogue: { maxTokens: 6 }, summary: { maxTokens: 6 }, recordMessages: true });
  assert.deepEqual(again, eps);
});

test("a prompt longer than the context becomes an error turn, not a crash", async () => {
  const small = new Transformer(microModelConfig(tok.vocabSize, { maxSeqLen: 32 }), 3);
  try {
    const p = new LocalPolicyChatModel({ model: small, tokenizer: tok });
    const eps = await runEpisodes(scenarios.slice(0, 1), { agent1: p, agent2: p, seed: 1, groupSize: 1, maxTurns: 2 });
    assert.ok(eps[0]!.turns.every((t) => t.finishReason === "error" && /maxSeqLen 32/.test(t.error!)));
  } finally {
    small.dispose();
  }
});

test("constrained decoding: every turn and summary of a random-init policy is well-formed; raw log-probs stay the model's own", async () => {
  const eps = await runEpisodes(scenarios, {
    agent1: policy, agent2: policy, seed: 9, groupSize: 2, maxTurns: 3, mode: "eval", constrained: true,
    dialogue: { maxTokens: 40 }, summary: { maxTokens: 40 },
  });
  const free = await runEpisodes(scenarios, { agent1: policy, agent2: policy, seed: 9, groupSize: 2, maxTurns: 3, mode: "eval", dialogue: { maxTokens: 40 }, summary: { maxTokens: 40 } });
  assert.ok(free.some((e) => (e.wellFormedRate ?? 0) < 1), "without the grammar a random-init policy writes invalid turns");
  for (const e of eps) {
    assert.equal(e.wellFormedRate, 1, e.turns.map((t) => t.text).join(" / "));
    // ACCEPT can only name the standing offer, so any ACCEPT is an agreement and ends the dialogue.
    e.turns.forEach((t, i) => {
      if (t.move?.kind === "accept") assert.ok(e.agreed && e.roundsToAgreement === i + 1, `turn ${i} accepts: ${t.text}`);
    });
    assert.ok(e.summary!.package !== null || /^NO-DEAL \|/.test(e.summary!.text), e.summary!.text);
  }
  // rawLogprobs = log-softmax of the unconstrained model at temperature 1, as GRPO recomputes them.
  const t = eps[0]!.turns[0]!.tokens!;
  const ids = [...t.promptIds, ...t.sampledIds];
  const tf = await import("@tensorflow/tfjs");
  const lp = tf.tidy(() => model.tokenLogProbs([ids]).arraySync() as number[][]);
  const fromModel = lp[0]!.slice(t.promptIds.length - 1);
  t.rawLogprobs.forEach((x, i) => assert.ok(Math.abs(x - fromModel[i]!) < 1e-3, `token ${i}: ${x} vs ${fromModel[i]}`));
});
