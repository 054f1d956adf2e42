import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../../src/core/rng";
import { ConfigError } from "../../src/core/errors";
import {
  BYTE_TO_UNICODE,
  ByteBpeTokenizer,
  DEFAULT_SPECIAL_TOKENS,
  isOwnBpeFormat,
  preTokenize,
  splitOnSpecials,
  trainBpe,
} from "../../src/model/bpe";
import { formatTokenizerJson } from "../../src/model/hf-tokenizer";
import { ENGLISH, englishCorpus, randomUnicode, smallTokenizer } from "./tokenizer-fixtures";

test("byte-to-unicode map is a bijection onto 256 single characters, printable ASCII unchanged", () => {
  assert.equal(new Set(BYTE_TO_UNICODE).size, 256);
  for (const c of BYTE_TO_UNICODE) assert.equal(c.length, 1);
  assert.equal(BYTE_TO_UNICODE[0x41], "A");
  assert.equal(BYTE_TO_UNICODE[0x20], "Ġ");
  assert.equal(BYTE_TO_UNICODE[0x0a], "Ċ");
});

test("pre-tokenizer splits words, contractions, 3-digit runs, punctuation and whitespace, covering the input", () => {
  assert.deepEqual(preTokenize("Hello world! It's 12345 apples.\n\n  Done"), [
    "Hello", " world", "!", " It", "'s", " ", "123", "45", " apples", ".\n\n", " ", " Done",
  ]);
  assert.deepEqual(preTokenize("I'LL   go"), ["I", "'LL", "  ", " go"]);
  const rng = new Rng(11);
  for (let i = 0; i < 300; i++) {
    const s = randomUnicode(rng, 50);
    assert.equal(preTokenize(s).join(""), s);
  }
});

test("splitOnSpecials prefers the longest special and keeps everything", () => {
  const parts = splitOnSpecials("a<|im_end|>b<|im|>", ["<|im|>", "<|im_end|>"]);
  assert.deepEqual(parts, [["a", false], ["<|im_end|>", true], ["b", false], ["<|im|>", true]]);
});

test("training honours vocabSize, puts specials first and bytes next", () => {
  const tok = smallTokenizer();
  assert.equal(tok.vocabSize, 800);
  assert.deepEqual(tok.specialIds, { pad: 0, bos: 1, eos: 2, imStart: 3, imEnd: 4 });
  assert.equal(tok.idToToken(3), DEFAULT_SPECIAL_TOKENS.imStart);
  assert.equal(tok.idToToken(5), BYTE_TO_UNICODE[0]);
  assert.equal(tok.tokenToId("A"), 5 + 0x41);
  assert.equal(tok.numMerges, 800 - 5 - 256);
  for (let id = 0; id < tok.vocabSize; id++) assert.equal(tok.tokenToId(tok.idToToken(id)!), id);
  // A corpus that runs out of pairs stops early instead of inventing tokens.
  const tiny = trainBpe(["ab ab ab cd"], { vocabSize: 400 });
  assert.ok(tiny.vocabSize < 400 && tiny.vocabSize > 261);
  assert.throws(() => trainBpe(["x"], { vocabSize: 200 }), ConfigError);
  assert.throws(() => trainBpe(["x"], { vocabSize: 300, specialTokens: ["<|eos|>"] }), /duplicate/);
});

test("training is deterministic: same corpus and options give identical tokenizer.json bytes", () => {
  const corpus = englishCorpus(60_000, 7);
  const a = formatTokenizerJson(trainBpe(corpus, { vocabSize: 500, seed: 5 }).toHfJson() as any);
  const b = formatTokenizerJson(trainBpe(corpus.slice(), { vocabSize: 500, seed: 5 }).toHfJson() as any);
  assert.equal(a, b);
  const c = formatTokenizerJson(trainBpe(englishCorpus(60_000, 8), { vocabSize: 500, seed: 5 }).toHfJson() as any);
  assert.notEqual(a, c);
});

test("round trip is lossless on random Unicode from every plane", () => {
  const tok = smallTokenizer();
  const rng = new Rng(2024);
  for (let i = 0; i < 1500; i++) {
    const s = randomUnicode(rng, 60);
    const ids = tok.encode(s);
    assert.equal(tok.decode(ids), s, JSON.stringify(s));
    for (const id of ids) assert.ok(!tok.isSpecial(id));
  }
  for (const s of ["", "\ufeffBOM first", "e\u0301\u0302", "👩‍👩‍👧‍👦 family", "日本語のテキスト", "\u{10FFFF}\u{E0001}", "\0\x01\x7f"]) {
    assert.equal(tok.decode(tok.encode(s)), s);
  }
});

test("lone surrogates are not valid Unicode: each becomes U+FFFD", () => {
  const tok = smallTokenizer();
  assert.equal(tok.decode(tok.encode("a\ud800b")), "a\ufffdb");
  assert.equal(tok.decode(tok.encode("\udc00")), "\ufffd");
  assert.equal(tok.decode(tok.encode("x\ud83d")), "x\ufffd"); // high surrogate without its pair
});

test("special token strings are single ids only through encodeWithSpecials", () => {
  const tok = smallTokenizer();
  const text = "Hi<|im_end|>\n<|im_start|>user";
  const plain = tok.encode(text);
  assert.ok(plain.every((id) => !tok.isSpecial(id)));
  assert.equal(tok.decode(plain), text);
  const withSpecials = tok.encodeWithSpecials(text);
  assert.deepEqual(withSpecials.filter((id) => tok.isSpecial(id)), [4, 3]);
  assert.equal(tok.decode(withSpecials), text);
  assert.equal(tok.decode(withSpecials, { skipSpecial: true }), "Hi\nuser");
  assert.deepEqual(tok.encodeWithSpecials("<|eos|>"), [2]);
  assert.throws(() => tok.decode([tok.vocabSize]), RangeError);
});

test("extra special tokens get ids after the defaults and are cut out of training text", () => {
  const tok = trainBpe(["<|reserved_0|> hello hello hello <|reserved_0|>"], { vocabSize: 280, specialTokens: ["<|reserved_0|>"] });
  assert.equal(tok.tokenToId("<|reserved_0|>"), 5);
  assert.equal(tok.tokenToId(BYTE_TO_UNICODE[0]!), 6);
  assert.deepEqual(tok.encodeWithSpecials("<|reserved_0|>"), [5]);
  assert.equal(tok.info.uniqueWords, 2); // " hello" and " ": the reserved strings never reached the counts
});

test("compresses English far better than bytes", () => {
  const tok = smallTokenizer();
  const text = ENGLISH.join(" ");
  const bytes = Buffer.byteLength(text);
  const n = tok.encode(text).length;
  assert.ok(bytes / n > 3, `bytes per token ${(bytes / n).toFixed(2)}`);
});

test("long runs encode quickly and consistently (heap merge path)", () => {
  const tok = smallTokenizer();
  const s = "the ".repeat(3000) + " ".repeat(5000) + "!?".repeat(2000);
  const t0 = performance.now();
  const ids = tok.encode(s);
  assert.ok(performance.now() - t0 < 2000);
  assert.equal(tok.decode(ids), s);
  assert.equal(tok.encode(" the").length, 1);
  // pre-tokens "the", " the" x 2999, " ": merges never cross them
  assert.equal(tok.encode("the ".repeat(3000)).length, tok.encode("the").length + 2999 + 1);
});

test("fromHfJson reproduces the tokenizer and isOwnBpeFormat recognises our files only", () => {
  const tok = smallTokenizer();
  const json = tok.toHfJson() as any;
  assert.ok(isOwnBpeFormat(json));
  const back = ByteBpeTokenizer.fromHfJson(JSON.parse(JSON.stringify(json)), tok.toHfConfig() as any);
  const text = ENGLISH.join("\n") + "<|im_end|>";
  assert.deepEqual(back.encodeWithSpecials(text), tok.encodeWithSpecials(text));
  assert.deepEqual(back.specialIds, tok.specialIds);
  assert.equal(back.chatTemplate, tok.chatTemplate);
  assert.ok(!isOwnBpeFormat({ ...json, pre_tokenizer: { type: "ByteLevel", add_prefix_space: false } }));
  assert.ok(!isOwnBpeFormat({ ...json, model: { ...json.model, byte_fallback: true } }));
});

test("fromHfJson names the broken field", () => {
  const json = smallTokenizer().toHfJson() as any;
  const broken = { ...json, model: { ...json.model, merges: [...json.model.merges.slice(0, 3), "a b c"] } };
  assert.throws(() => ByteBpeTokenizer.fromHfJson(broken, {}, "x/tokenizer.json"), /x\/tokenizer\.json field "model\.merges\.3"/);
  const noByte = { ...json, model: { ...json.model, vocab: { ...json.model.vocab } } };
  delete noByte.model.vocab["Ġ"];
  assert.throws(() => ByteBpeTokenizer.fromHfJson(noByte, {}, "y.json"), /y\.json field "model\.vocab"/);
});
