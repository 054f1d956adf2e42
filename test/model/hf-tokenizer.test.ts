import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

type HfTokenizersModule = typeof import("@huggingface/tokenizers", { with: { "resolution-mode": "import" } });
const HfLibTokenizer = (require("@huggingface/tokenizers") as HfTokenizersModule).Tokenizer;
import { Rng } from "../../src/core/rng";
import { InputError } from "../../src/core/errors";
import { BYTE_TO_UNICODE, ByteBpeTokenizer, trainBpe } from "../../src/model/bpe";
import { HfTokenizer, loadHfTokenizer, loadTokenizer, saveTokenizer } from "../../src/model/hf-tokenizer";
import { IncrementalDecoder } from "../../src/model/tokenizer";
import { ENGLISH, englishCorpus, randomUnicode, smallTokenizer } from "./tokenizer-fixtures";

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "parley-tok-"));

/** Texts that stress pre-tokenization and merges: prose, code, numbers, whitespace runs, scripts, specials. */
function variedTexts(): string[] {
  const rng = new Rng(99);
  const out = [
    ...ENGLISH,
    "def f(x):\n    return x**2  # square\n\n\n\tindented\r\n",
    "Prices: $1,234.56 / 7890123 units; 3.14159 and 10e-3!!! ... ???",
    "I'm sure they'll say we've DONE it; you'D think SHE'S right",
    "Ünïcödé façade naïve — “quotes” ‘single’ … 你好，世界！ 안녕하세요 مرحبا  नमस्ते",
    "emoji 😀👍🏽 family 👩‍👩‍👧‍👦 flag 🇫🇷 keycap 1️⃣",
    "   leading and trailing spaces   ",
    "\u0085next line\u2028line sep\u00a0nbsp\ufeffbom",
    "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
    "text<|eos|>more<|pad|><|pad|>",
  ];
  for (let i = 0; i < 400; i++) out.push(randomUnicode(rng, 50));
  return out;
}

test("save -> load gives the same ids for any text, and writes tokenizer_config.json with the chat template", () => {
  const tok = smallTokenizer();
  const dir = tmp();
  saveTokenizer(tok, path.join(dir, "tokenizer.json"));
  const config = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8"));
  assert.equal(config.eos_token, "<|eos|>");
  assert.equal(config.chat_template, tok.chatTemplate);
  assert.equal(config.clean_up_tokenization_spaces, false);
  const back = loadTokenizer(dir);
  assert.ok(back instanceof ByteBpeTokenizer);
  assert.equal(back.vocabSize, tok.vocabSize);
  assert.deepEqual(back.specialIds, tok.specialIds);
  for (const t of variedTexts()) {
    assert.deepEqual(back.encode(t), tok.encode(t));
    assert.deepEqual(back.encodeWithSpecials(t), tok.encodeWithSpecials(t));
  }
  // Saving again writes identical bytes.
  const dir2 = tmp();
  saveTokenizer(back, dir2);
  assert.equal(fs.readFileSync(path.join(dir2, "tokenizer.json"), "utf8"), fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8"));
});

test("@huggingface/tokenizers reads our tokenizer.json and produces the same ids and text", () => {
  const tok = smallTokenizer();
  const dir = tmp();
  saveTokenizer(tok, dir);
  const json = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8"));
  const config = JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8"));
  const lib = new HfLibTokenizer(json, config);
  let tokens = 0;
  for (const t of variedTexts()) {
    const ids = lib.encode(t, { add_special_tokens: false }).ids;
    assert.deepEqual(ids, tok.encodeWithSpecials(t), JSON.stringify(t));
    if (ids.length) assert.equal(lib.decode(ids, { clean_up_tokenization_spaces: false }), tok.decode(ids));
    tokens += ids.length;
  }
  assert.ok(tokens > 5000);
  // The wrapper around the library agrees too, including plain encode (specials as text).
  const wrapped = new HfTokenizer(json, config, path.join(dir, "tokenizer.json"));
  assert.equal(wrapped.vocabSize, tok.vocabSize);
  assert.deepEqual(wrapped.specialIds, tok.specialIds);
  for (const t of variedTexts().slice(0, 60)) {
    assert.deepEqual(wrapped.encode(t), tok.encode(t));
    assert.deepEqual(wrapped.encodeWithSpecials(t), tok.encodeWithSpecials(t));
  }
});

test("a larger vocabulary also agrees with the library (more merges, longer tokens)", () => {
  const tok = trainBpe(englishCorpus(150_000, 4), { vocabSize: 700, minFrequency: 1 });
  const lib = new HfLibTokenizer(tok.toHfJson(), tok.toHfConfig());
  const text = englishCorpus(20_000, 5).join("");
  assert.deepEqual(lib.encode(text, { add_special_tokens: false }).ids, tok.encode(text));
});

/** A GPT-2-style tokenizer.json that is NOT our format (ByteLevel pre-tokenizer with its own regex). */
function foreignTokenizerDir(): string {
  const vocab: Record<string, number> = {};
  BYTE_TO_UNICODE.forEach((c, b) => (vocab[c] = b));
  const merges = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a"];
  let id = 256;
  for (const m of merges) vocab[m.replace(" ", "")] = id++;
  vocab["<|endoftext|>"] = id;
  const json = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [{ id, content: "<|endoftext|>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "", fuse_unk: false, vocab, merges },
  };
  const dir = tmp();
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(json));
  fs.writeFileSync(
    path.join(dir, "tokenizer_config.json"),
    JSON.stringify({ eos_token: { content: "<|endoftext|>" }, chat_template: [{ name: "default", template: "{{ messages[0]['content'] }}" }] }),
  );
  return dir;
}

test("any HF tokenizer.json loads through the library behind the same interface", () => {
  const dir = foreignTokenizerDir();
  const tok = loadTokenizer(path.join(dir, "tokenizer.json"));
  assert.ok(tok instanceof HfTokenizer);
  assert.equal(tok.vocabSize, 262);
  assert.equal(tok.specialIds.eos, 261);
  assert.equal(tok.specialIds.pad, 261);
  assert.equal(tok.specialIds.imEnd, undefined);
  assert.equal(tok.chatTemplate, "{{ messages[0]['content'] }}");
  // " the" -> Ġt, he -> Ġthe (258); " in" -> Ġ (byte 0x20 = id 32), in (259)
  assert.deepEqual(tok.encode(" the in"), [258, 32, 259]);
  assert.deepEqual(tok.encodeWithSpecials("a<|endoftext|>"), [97, 261]);
  const plain = tok.encode("a<|endoftext|>");
  assert.ok(plain.length > 2 && !plain.includes(261));
  assert.equal(tok.decode(plain), "a<|endoftext|>");
  assert.equal(tok.decode([97, 261], { skipSpecial: true }), "a");
  assert.equal(tok.decode([]), "");
  assert.throws(() => tok.decode([262]), RangeError);
  const dec = new IncrementalDecoder(tok);
  assert.equal(dec.pushAll(tok.encode("né €")) + dec.flush(), "né €");
  assert.ok(loadHfTokenizer(dir) instanceof HfTokenizer);
  // A foreign tokenizer saves and reloads as itself (same ids, same config).
  const copy = tmp();
  saveTokenizer(tok, copy);
  const again = loadTokenizer(copy);
  assert.ok(again instanceof HfTokenizer);
  assert.deepEqual(again.encode("the theory in a tin"), tok.encode("the theory in a tin"));
  assert.equal(again.specialIds.eos, 261);
});

test("loading errors name the file and the field", () => {
  const dir = tmp();
  const file = path.join(dir, "tokenizer.json");
  fs.writeFileSync(file, "{ not json");
  assert.throws(() => loadTokenizer(file), (e: unknown) => e instanceof InputError && e.file === file && /not valid JSON/.test(e.message));
  fs.writeFileSync(file, JSON.stringify({ added_tokens: [] }));
  assert.throws(() => loadTokenizer(dir), (e: unknown) => e instanceof InputError && e.file === file && e.field === "model");
  const good = JSON.parse(fs.readFileSync(path.join(foreignTokenizerDir(), "tokenizer.json"), "utf8"));
  fs.writeFileSync(file, JSON.stringify({ ...good, added_tokens: [good.added_tokens[0], { id: "x", content: "<|y|>" }] }));
  assert.throws(() => loadTokenizer(file), (e: unknown) => e instanceof InputError && e.field === "added_tokens.1.id");
  fs.writeFileSync(file, JSON.stringify({ ...good, added_tokens: [] }));
  assert.throws(
    () => loadTokenizer(file),
    (e: unknown) => e instanceof InputError && e.field === "eos_token" && e.file === path.join(dir, "tokenizer_config.json"),
  );
  fs.writeFileSync(file, JSON.stringify(good));
  fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify({ eos_token: "<|nope|>" }));
  assert.throws(() => loadTokenizer(file), (e: unknown) => e instanceof InputError && e.field === "eos_token" && /<\|nope\|>/.test(e.message));
  fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify({ chat_template: 3 }));
  assert.throws(() => loadTokenizer(file), (e: unknown) => e instanceof InputError && e.field === "chat_template");
  assert.throws(() => loadTokenizer(path.join(dir, "missing.json")), (e: unknown) => e instanceof InputError && /cannot read/.test(e.message));
});
