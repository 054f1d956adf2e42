// Byte-level BPE training on a corpus (the tokenizer itself lives in byte-bpe.ts and is re-exported here).
// Algorithm: Sennrich et al. 2016 BPE; incremental pair counts over unique pre-token words with a lazy max-heap, as HF tokenizers' BpeTrainer.

import { ConfigError } from "../core/errors";
import { DEFAULT_CHAT_TEMPLATE } from "./chat-template";
import { BYTE_TO_UNICODE, ByteBpeTokenizer, DEFAULT_SPECIAL_TOKENS, BPE_PAIR_BASE, bpePairKey, preTokenize, splitOnSpecials } from "./byte-bpe";

export * from "./byte-bpe";

const utf8Encoder = new TextEncoder();

export interface TrainBpeOptions {
  /** Total vocabulary size: special tokens + 256 bytes + merges. Training stops earlier if no pair reaches minFrequency. */
  vocabSize: number;
  /** Extra special tokens appended after the five defaults (DEFAULT_SPECIAL_TOKENS), e.g. "<|reserved_0|>". */
  specialTokens?: readonly string[];
  /** A pair must occur at least this often to be merged (default 2). */
  minFrequency?: number;
  /**
   * Recorded in tokenizer_config.json only. Training uses no randomness: the result depends only on (texts, options);
   * ties in pair frequency go to the smaller (left id, right id), i.e. older tokens first.
   */
  seed?: number;
  /** Chat template stored with the tokenizer (default DEFAULT_CHAT_TEMPLATE, ChatML). */
  chatTemplate?: string;
}

/** Trains a byte-level BPE tokenizer. Ids: specials first (pad 0, bos 1, eos 2, im_start 3, im_end 4, extras), then the 256 bytes, then merges. */
export function trainBpe(texts: readonly string[], opts: TrainBpeOptions): ByteBpeTokenizer {
  const specials = [...Object.values(DEFAULT_SPECIAL_TOKENS), ...(opts.specialTokens ?? [])];
  specials.forEach((s, i) => {
    if (typeof s !== "string" || s.length === 0) throw new ConfigError(`specialTokens.${i}`, "must be a non-empty string");
    if (specials.indexOf(s) !== i) throw new ConfigError(`specialTokens.${i}`, `duplicate special token ${JSON.stringify(s)}`);
  });
  const base = specials.length + 256;
  if (!Number.isInteger(opts.vocabSize) || opts.vocabSize < base || opts.vocabSize >= BPE_PAIR_BASE) {
    throw new ConfigError("vocabSize", `must be an integer in ${base}..${BPE_PAIR_BASE - 1} (${specials.length} special tokens + 256 bytes + merges), got ${opts.vocabSize}`);
  }
  const minFrequency = opts.minFrequency ?? 2;
  if (!Number.isInteger(minFrequency) || minFrequency < 1) throw new ConfigError("minFrequency", `must be an integer >= 1, got ${minFrequency}`);

  // 1. Unique pre-token words with counts (special-token strings in the corpus are cut out: they are single ids).
  const wordCount = new Map<string, number>();
  let chars = 0;
  for (const text of texts) {
    chars += text.length;
    for (const [part, isSpecial] of splitOnSpecials(text, specials)) {
      if (isSpecial) continue;
      for (const w of preTokenize(part)) wordCount.set(w, (wordCount.get(w) ?? 0) + 1);
    }
  }
  const vocab: string[] = [...specials, ...BYTE_TO_UNICODE];
  const toId = new Map<string, number>(vocab.map((t, i) => [t, i]));
  const specialSet = new Set(specials);
  const words: Int32Array[] = [];
  const counts: number[] = [];
  for (const [w, c] of wordCount) {
    const b = utf8Encoder.encode(w);
    const ids = new Int32Array(b.length);
    for (let i = 0; i < b.length; i++) ids[i] = specials.length + (b[i] as number);
    words.push(ids);
    counts.push(c);
  }

  // 2. Pair counts, where each pair occurs, and a max-heap of (count, pair) with lazy deletion.
  const pairCount = new Map<number, number>();
  const where = new Map<number, Set<number>>();
  for (let wi = 0; wi < words.length; wi++) {
    const w = words[wi] as Int32Array, c = counts[wi] as number;
    for (let i = 0; i + 1 < w.length; i++) {
      const k = bpePairKey(w[i] as number, w[i + 1] as number);
      pairCount.set(k, (pairCount.get(k) ?? 0) + c);
      let s = where.get(k);
      if (!s) where.set(k, (s = new Set()));
      s.add(wi);
    }
  }
  const heap = new PairHeap();
  for (const [k, c] of pairCount) heap.push(c, k);

  // 3. Merge the most frequent pair until the vocabulary is full.
  const merges: Array<[number, number]> = [];
  const delta = new Map<number, number>();
  while (vocab.length < opts.vocabSize) {
    let best = -1, bestCount = 0;
    while (heap.size > 0) {
      const [c, k] = heap.pop();
      if (pairCount.get(k) === c && c > 0) {
        best = k;
        bestCount = c;
        break;
      }
    }
    if (best < 0 || bestCount < minFrequency) break;
    const l = Math.floor(best / BPE_PAIR_BASE), r = best % BPE_PAIR_BASE;
    const merged = (vocab[l] as string) + (vocab[r] as string);
    pairCount.delete(best);
    const affected = where.get(best);
    where.delete(best);
    if (specialSet.has(merged)) continue; // never let BPE spell a special token (cannot happen with our pre-tokenizer)
    let id = toId.get(merged);
    if (id === undefined) {
      id = vocab.length;
      vocab.push(merged);
      toId.set(merged, id);
    }
    merges.push([l, r]);
    delta.clear();
    for (const wi of affected ?? []) {
      const w = words[wi] as Int32Array, c = counts[wi] as number;
      let found = false;
      for (let i = 0; i + 1 < w.length; i++) if (w[i] === l && w[i + 1] === r) { found = true; break; }
      if (!found) continue;
      for (let i = 0; i + 1 < w.length; i++) {
        const k = bpePairKey(w[i] as number, w[i + 1] as number);
        delta.set(k, (delta.get(k) ?? 0) - c);
      }
      const nw: number[] = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === l && w[i + 1] === r) {
          nw.push(id);
          i++;
        } else nw.push(w[i] as number);
      }
      const nwa = Int32Array.from(nw);
      words[wi] = nwa;
      for (let i = 0; i + 1 < nwa.length; i++) {
        const k = bpePairKey(nwa[i] as number, nwa[i + 1] as number);
        delta.set(k, (delta.get(k) ?? 0) + c);
        if (k !== best) {
          let s = where.get(k);
          if (!s) where.set(k, (s = new Set()));
          s.add(wi);
        }
      }
    }
    for (const [k, d] of delta) {
      if (d === 0 || k === best) continue;
      const c = (pairCount.get(k) ?? 0) + d;
      if (c > 0) {
        pairCount.set(k, c);
        heap.push(c, k);
      } else {
        pairCount.delete(k);
        where.delete(k);
      }
    }
  }
  return new ByteBpeTokenizer({
    vocab,
    merges: merges.map(([a, b]) => [vocab[a] as string, vocab[b] as string] as const),
    specials,
    named: DEFAULT_SPECIAL_TOKENS,
    chatTemplate: opts.chatTemplate ?? DEFAULT_CHAT_TEMPLATE,
    info: {
      trainer: "parley trainBpe",
      seed: opts.seed ?? 0,
      vocabSizeRequested: opts.vocabSize,
      minFrequency,
      corpusTexts: texts.length,
      corpusChars: chars,
      uniqueWords: words.length,
    },
  });
}

/** Max-heap of (count, pair key); ties go to the smaller key. Entries may be stale (checked by the caller). */
class PairHeap {
  private c: number[] = [];
  private k: number[] = [];
  get size(): number {
    return this.c.length;
  }
  private above(c1: number, k1: number, c2: number, k2: number): boolean {
    return c1 > c2 || (c1 === c2 && k1 < k2);
  }
  push(count: number, key: number): void {
    const c = this.c, k = this.k;
    let i = c.length;
    c.push(count);
    k.push(key);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.above(count, key, c[p] as number, k[p] as number)) break;
      c[i] = c[p] as number;
      k[i] = k[p] as number;
      i = p;
    }
    c[i] = count;
    k[i] = key;
  }
  pop(): [number, number] {
    const c = this.c, k = this.k;
    const top: [number, number] = [c[0] as number, k[0] as number];
    const lc = c.pop() as number, lk = k.pop() as number;
    const n = c.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const m = r < n && this.above(c[r] as number, k[r] as number, c[l] as number, k[l] as number) ? r : l;
        if (!this.above(c[m] as number, k[m] as number, lc, lk)) break;
        c[i] = c[m] as number;
        k[i] = k[m] as number;
        i = m;
      }
      c[i] = lc;
      k[i] = lk;
    }
    return top;
  }
}
