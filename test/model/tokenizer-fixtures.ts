// Test fixtures for the tokenizer tests: a seeded English-like corpus and a random Unicode string generator.
// Strings are drawn from every Unicode plane range that matters for UTF-8 (1-4 byte sequences), with marks and odd whitespace.

import { Rng } from "../../src/core/rng";
import { trainBpe, type ByteBpeTokenizer } from "../../src/model/bpe";

/** Real English sentences (written for these tests) mixed into the generated corpus and used as held-out text. */
export const ENGLISH = [
  "The two negotiators met on a grey Tuesday morning to settle the budget for the new community garden.",
  "She wanted to keep costs low, while he insisted that the quality of the soil and the tools mattered more.",
  "After an hour of careful discussion, they agreed to buy second-hand tools and spend the savings on better soil.",
  "Neither of them got everything they asked for, but both said the final plan was fair and would last for years.",
  "When people listen to each other's reasons, they often find options that nobody had on the table at the start.",
  "It's not always easy: sometimes a deal isn't possible, and walking away is the honest choice.",
  "The committee will review the proposal next week and publish its decision on the first of March.",
];

const WORDS = (
  "the of and to a in is that for it as was with be by on not he this are or his from at which but have an they " +
  "you were her she there one all we their can has more would will been when who than them some could our other " +
  "into its only new these may also time like people first then no what any most over many after know way should " +
  "much where good because used just those how make did do such each very does between even still well own here " +
  "through both life day part world long back work last agree offer deal price quality cost fair share value plan " +
  "budget team garden tools soil option proposal accept reject counter concede both sides interest issue trade"
).split(" ");

/** A deterministic English-like corpus of about `chars` characters (sentences from ENGLISH and from a Zipf word list). */
export function englishCorpus(chars: number, seed = 1): string[] {
  const rng = new Rng(seed);
  const out: string[] = [];
  let size = 0;
  while (size < chars) {
    const parts: string[] = [];
    for (let i = 0; i < 8; i++) {
      if (rng.bernoulli(0.3)) {
        parts.push(rng.choice(ENGLISH));
        continue;
      }
      const n = 4 + rng.int(10);
      const ws: string[] = [];
      for (let j = 0; j < n; j++) ws.push(WORDS[Math.floor(WORDS.length * rng.next() ** 2)] as string);
      const s = ws.join(" ");
      parts.push(s[0]!.toUpperCase() + s.slice(1) + rng.choice([".", ".", "?", "!", ", 42.", " in 2025."]));
    }
    const text = parts.join(" ") + "\n";
    out.push(text);
    size += text.length;
  }
  return out;
}

let cached: ByteBpeTokenizer | undefined;
/** A small tokenizer trained once per test process (200 kB corpus, 800 tokens). */
export function smallTokenizer(): ByteBpeTokenizer {
  cached ??= trainBpe(englishCorpus(200_000), { vocabSize: 800, seed: 3 });
  return cached;
}

/** Code point ranges to draw from: ASCII, Latin-1, combining marks, Greek/Cyrillic, CJK, Hangul, BMP private use,
 * specials, emoji and other astral planes up to plane 16, plus odd whitespace. Lone surrogates are excluded. */
const RANGES: Array<[number, number]> = [
  [0x20, 0x7e], [0x20, 0x7e], [0x00, 0x1f], [0x80, 0xff], [0x300, 0x36f], [0x370, 0x3ff], [0x400, 0x4ff],
  [0x600, 0x6ff], [0x900, 0x97f], [0x2000, 0x206f], [0x3040, 0x30ff], [0x4e00, 0x9fff], [0xac00, 0xd7a3],
  [0xe000, 0xf8ff], [0xfe00, 0xfe0f], [0xfff0, 0xfffd], [0x1f300, 0x1faff], [0x10000, 0x1ffff], [0x20000, 0x2ffff],
  [0x30000, 0x3ffff], [0xe0000, 0xe007f], [0xf0000, 0xfffff], [0x100000, 0x10ffff],
];
const ODD = ["\n", "\r\n", "\t", " ", "  ", "\u00a0", "\u0085", "\u2028", "\ufeff", "\u200d", "e\u0301", "👩‍👩‍👧", "🇯🇵", "<|im_end|>", "'s", "123456"];

/** A random valid-Unicode string of up to maxLen pieces. */
export function randomUnicode(rng: Rng, maxLen = 40): string {
  const n = rng.int(maxLen + 1);
  let s = "";
  for (let i = 0; i < n; i++) {
    if (rng.bernoulli(0.15)) {
      s += rng.choice(ODD);
      continue;
    }
    const [lo, hi] = rng.choice(RANGES);
    s += String.fromCodePoint(lo + rng.int(hi - lo + 1));
  }
  return s;
}
