import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../../src/model/runtime";
import { Transformer } from "../../src/model/transformer";
import { microModelConfig } from "../../src/model/config";
import { trainBpe } from "../../src/model/bpe";
import { LocalPolicyChatModel } from "../../src/selfplay/local-policy";
import { runEpisodes } from "../../src/selfplay/protocol";
import { generateScriptedCorpus } from "../../src/selfplay/corpus";
import { makeScenarios } from "./fixtures";

const scenarios = makeScenarios(2);
let tok: ReturnType<typeof trainBpe>;

before(async () => {
  await initBackend({ backend: "wasm", quiet: true });
  const corpus = await generateScriptedCorpus(scenarios, { seed: 1, n: 4 });
  tok = trainBpe(corpus.transcripts.flatMap((t) => [...t.messages.map((m) => m.content), t.response]), { vocabSize: 600 });
});

test("self-play with the shared-prefix cache equals self-play without it (wasm, batched and one at a time); runEpisodes frees it", async () => {
  const model = new Transformer(microModelConfig(tok.vocabSize, { maxSeqLen: 1024 }), 4);
  try {
    const cached = new LocalPolicyChatModel({ model, tokenizer: tok, name: "local:p" });
    const plain = new LocalPolicyChatModel({ model, tokenizer: tok, name: "local:p", prefixCacheBytes: 0 });
    const opts = { seed: 6, groupSize: 4, maxTurns: 3, mode: "eval" as const, dialogue: { maxTokens: 8 }, summary: { maxTokens: 8 } };
    const want = await runEpisodes(scenarios, { ...opts, agent1: plain, agent2: plain });
    const tensors = tf.memory().numTensors;
    for (const maxBatchEpisodes of [128, 1]) {
      const got = await runEpisodes(scenarios, { ...opts, agent1: cached, agent2: cached, maxBatchEpisodes });
      assert.equal(tf.memory().numTensors, tensors, "the prefix cache is released when runEpisodes returns");
      got.forEach((e, i) => {
        const w = want[i]!;
        assert.deepEqual(e.turns.map((t) => t.tokens!.sampledIds), w.turns.map((t) => t.tokens!.sampledIds), `episode ${i} (maxBatchEpisodes ${maxBatchEpisodes})`);
        assert.deepEqual(e.turns.map((t) => t.tokens!.promptIds), w.turns.map((t) => t.tokens!.promptIds));
        e.turns.forEach((t, j) => t.tokens!.rawLogprobs.forEach((x, k) => assert.ok(Math.abs(x - w.turns[j]!.tokens!.rawLogprobs[k]!) < 1e-4)));
      });
    }
    const s = cached.prefixCacheStats!;
    // 2 scenarios x 2 sides of system prompt (+ summary prompts); every later turn reuses them.
    assert.ok(s.misses >= 4 && s.hits > s.misses, JSON.stringify(s));
  } finally {
    model.dispose();
  }
});
