import { before, test } from "node:test";
import assert from "node:assert/strict";
import { initBackend } from "../../src/model/runtime";
import { Transformer } from "../../src/model/transformer";
import { microModelConfig } from "../../src/model/config";
import { formatTune } from "../../src/selfplay/format-tune";
import { lrAt } from "../../src/train/schedule";
import { renderEpisodeHtml, renderMaskHtml } from "../../src/selfplay/render";
import type { TrainingSample, Episode } from "../../src/selfplay/episode";

before(async () => {
  await initBackend({ backend: "wasm", quiet: true });
});

test("format tuning lowers the NLL of the masked reply tokens", () => {
  const model = new Transformer(microModelConfig(40, { maxSeqLen: 32 }), 1);
  try {
    // prompt tokens vary; the reply (masked in) is always 7 8 9 4
    const examples = Array.from({ length: 8 }, (_, i) => ({ inputIds: [1, 10 + i, 20 + i, 3, 7, 8, 9, 4], lossMask: [0, 0, 0, 0, 1, 1, 1, 1] }));
    const recs = formatTune(model, examples, { steps: 30, batchSize: 4, lr: 1e-2, warmupSteps: 0, seed: 1 });
    assert.equal(recs.length, 30);
    assert.equal(recs[0]!.tokens, 16); // 4 examples x 4 reply tokens
    assert.ok(recs[29]!.nll < recs[0]!.nll * 0.5, `${recs[0]!.nll} -> ${recs[29]!.nll}`);
  } finally {
    model.dispose();
  }
});

test("format tuning with minLrRatio follows the warm-up + cosine schedule of the pipeline stage", () => {
  const model = new Transformer(microModelConfig(40, { maxSeqLen: 32 }), 1);
  try {
    const examples = [{ inputIds: [1, 10, 3, 7, 4], lossMask: [0, 0, 0, 1, 1] }];
    const recs = formatTune(model, examples, { steps: 6, batchSize: 1, lr: 1e-3, warmupSteps: 2, minLrRatio: 0.1, seed: 1 });
    const expected = recs.map((_, i) => lrAt(i, { lr: 1e-3, warmupSteps: 2, totalSteps: 6, minLrRatio: 0.1 }));
    assert.deepEqual(recs.map((r) => r.lr), expected);
    assert.equal(recs[0]!.lr, 5e-4);
    assert.ok(Math.abs(recs[5]!.lr - 1e-4 - (9e-4 * (1 + Math.cos(Math.PI * 0.75))) / 2) < 1e-12);
  } finally {
    model.dispose();
  }
});

test("HTML views escape text and highlight exactly the masked tokens", () => {
  const s: TrainingSample = { episodeId: "e<1>", groupId: "g", turnIndex: 0, kind: "turn", speaker: 1, inputIds: [5, 6, 7], lossMask: [0, 1, 1], oldLogprobs: [0, -1, -2], rawOldLogprobs: [0, -1, -2], promptLength: 1 };
  const html = renderMaskHtml(s, (id) => (id === 6 ? "<b>" : `t${id}`));
  assert.equal((html.match(/background:#ffd966/g) ?? []).length, 2);
  assert.ok(html.includes("&lt;b&gt;") && html.includes("e&lt;1&gt;"));
  const ep = { id: "x", turns: [{ index: 0, speaker: 1, side: "a", text: "PROPOSE <x>", move: { kind: "invalid", invalid: true, reason: "bad" }, finishReason: "stop", seed: 1 }], opener: 1, agent1Side: "a", agreed: false, roundsToAgreement: null, summary: null } as unknown as Episode;
  const chat = renderEpisodeHtml(ep);
  assert.ok(chat.includes("PROPOSE &lt;x&gt;") && chat.includes("✗ bad") && chat.includes("no agreement"));
});
