// Speed check of the BPE trainer and encoder on ~1 MB of the embedded pretraining corpus (run with --slow).
// Prints train seconds and encode tokens/s; the bounds are loose (2 shared cores) and catch only gross regressions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadCorpus } from "../../src/model/corpus";
import { trainBpe } from "../../src/model/bpe";

test("1 MB corpus: train to 2048 tokens in seconds, encode at > 200k tokens/s, lossless", () => {
  const texts: string[] = [];
  let chars = 0;
  for (const d of loadCorpus({ split: "all", generatedDocuments: 1500 })) {
    if (chars >= 1_000_000) break;
    texts.push(d.text);
    chars += d.text.length;
  }
  const corpus = texts.join("\n");
  const bytes = Buffer.byteLength(corpus);
  let t0 = performance.now();
  const tok = trainBpe(texts, { vocabSize: 2048 });
  const trainS = (performance.now() - t0) / 1000;
  t0 = performance.now();
  const ids = tok.encode(corpus);
  const encS = (performance.now() - t0) / 1000;
  console.log(
    `corpus ${(bytes / 1e6).toFixed(2)} MB; train -> ${tok.vocabSize} tokens in ${trainS.toFixed(2)} s; ` +
      `encode ${ids.length} tokens in ${encS.toFixed(2)} s = ${Math.round(ids.length / encS)} tokens/s; ${(bytes / ids.length).toFixed(2)} bytes/token`,
  );
  assert.ok(trainS < 15, `training took ${trainS} s`);
  assert.ok(ids.length / encS > 200_000, `encode ${ids.length / encS} tokens/s`);
  assert.equal(tok.decode(ids), corpus);
});
