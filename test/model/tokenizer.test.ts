import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../../src/core/rng";
import { trainBpe } from "../../src/model/bpe";
import { checkTokenIds, IncrementalDecoder, turnStopIds } from "../../src/model/tokenizer";
import { randomUnicode, smallTokenizer } from "./tokenizer-fixtures";

test("incremental decoding holds back a character split across tokens", () => {
  // No merges: every byte is its own token, so "€" (E2 82 AC) takes three tokens.
  const tok = trainBpe([], { vocabSize: 300 });
  const ids = tok.encode("a€b");
  assert.equal(ids.length, 5);
  const dec = new IncrementalDecoder(tok);
  assert.deepEqual(ids.map((id) => dec.push(id)), ["a", "", "", "€", "b"]);
  assert.equal(dec.flush(), "");
  assert.equal(dec.released, "a€b");
});

test("an incomplete tail is released by flush as U+FFFD", () => {
  const tok = trainBpe([], { vocabSize: 300 });
  const ids = tok.encode("x😀");
  const dec = new IncrementalDecoder(tok);
  assert.equal(dec.pushAll(ids.slice(0, 3)), "x");
  assert.equal(dec.flush(), "\ufffd");
});

test("streamed pieces concatenate to the full decode, with and without specials", () => {
  const tok = smallTokenizer();
  const rng = new Rng(77);
  for (let i = 0; i < 200; i++) {
    const text = randomUnicode(rng, 30) + "<|im_end|>" + randomUnicode(rng, 10);
    const ids = tok.encodeWithSpecials(text);
    for (const skipSpecial of [false, true]) {
      const dec = new IncrementalDecoder(tok, { skipSpecial });
      let out = "";
      for (const id of ids) out += dec.push(id);
      out += dec.flush();
      assert.equal(out, tok.decode(ids, { skipSpecial }));
    }
  }
});

test("turnStopIds lists im_end then eos; checkTokenIds names the bad position", () => {
  assert.deepEqual(turnStopIds(smallTokenizer()), [4, 2]);
  assert.throws(() => checkTokenIds([1, 2, -1], 10), /-1 at position 2/);
  assert.throws(() => checkTokenIds([1.5], 10), RangeError);
  checkTokenIds([0, 9], 10);
});
