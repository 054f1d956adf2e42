// Byte-level BPE tokenizer: GPT-2 byte alphabet, Llama-3-style pre-tokenizer, merge application and HF tokenizer.json conversion.
// Algorithms: GPT-2's bytes_to_unicode (Radford et al. 2019); merges applied lowest rank first, leftmost first, as HF tokenizers' Word::merge_all.

import { InputError } from "../core/errors";
import { checkTokenIds, type TokenDecodeOptions, type SpecialIds, type Tokenizer } from "./tokenizer";

/**
 * Special tokens of every tokenizer trained here, in id order (ids 0..4). Roles are NOT special tokens: as in
 * ChatML/Qwen2 a turn is `<|im_start|>` + role name as text + "\n" + content + `<|im_end|>`, so HF chat templates and
 * tooling carry over and role names stay open (system, user, assistant, or negotiator names).
 */
export const DEFAULT_SPECIAL_TOKENS = {
  pad: "<|pad|>",
  bos: "<|bos|>",
  eos: "<|eos|>",
  imStart: "<|im_start|>",
  imEnd: "<|im_end|>",
} as const;

/**
 * Pre-tokenizer split pattern in Oniguruma syntax, as stored in tokenizer.json (Split, behavior Isolated).
 * Llama-3/cl100k-like: English contractions (ASCII case-insensitive, spelled out so no inline flags are needed),
 * words with one optional leading non-letter, numbers in runs of at most 3 digits, punctuation runs with an optional
 * leading space, newline runs, and whitespace (a final space is left to join the next word).
 */
export const PRETOKENIZE_PATTERN = String.raw`'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

/** The same pattern for JS: \s is Unicode White_Space (as in Oniguruma; JS \s would add U+FEFF and miss U+0085). */
const PRETOKENIZE_REGEX = new RegExp(
  PRETOKENIZE_PATTERN.replace(/\\s/g, String.raw`\p{White_Space}`).replace(/\\S/g, String.raw`\P{White_Space}`),
  "gu",
);

/** GPT-2's reversible map from the 256 byte values to printable unicode characters (index = byte). */
export const BYTE_TO_UNICODE: readonly string[] = (() => {
  const keep: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) keep.push(b);
  for (let b = 0xa1; b <= 0xac; b++) keep.push(b);
  for (let b = 0xae; b <= 0xff; b++) keep.push(b);
  const out = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(keep.includes(b) ? b : 256 + extra++);
  return out;
})();
const UNICODE_TO_BYTE = new Map<string, number>(BYTE_TO_UNICODE.map((c, b) => [c, b]));

const utf8Encoder = new TextEncoder();
/** Non-fatal (invalid bytes -> U+FFFD) and BOM-preserving, so decode(encode(s)) === s for valid Unicode s. */
const utf8Decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

/** Splits text into pre-tokens (the units BPE never merges across). Covers every character of the input. */
export function preTokenize(text: string): string[] {
  const out: string[] = [];
  let last = 0;
  PRETOKENIZE_REGEX.lastIndex = 0;
  for (let m = PRETOKENIZE_REGEX.exec(text); m !== null; m = PRETOKENIZE_REGEX.exec(text)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(m[0]);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const specialRegexCache = new Map<string, RegExp>();

/** Splits text around occurrences of the given literal strings (longest first); yields [piece, isSpecial]. */
export function splitOnSpecials(text: string, specials: readonly string[]): Array<[string, boolean]> {
  if (specials.length === 0 || text.length === 0) return text.length ? [[text, false]] : [];
  const key = specials.join("\u0000");
  let re = specialRegexCache.get(key);
  if (!re) {
    re = new RegExp([...specials].sort((a, b) => b.length - a.length).map(escapeRegex).join("|"), "g");
    if (specialRegexCache.size > 32) specialRegexCache.clear();
    specialRegexCache.set(key, re);
  }
  re.lastIndex = 0;
  const out: Array<[string, boolean]> = [];
  let last = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (m.index > last) out.push([text.slice(last, m.index), false]);
    out.push([m[0], true]);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push([text.slice(last), false]);
  return out;
}

/** Pair keys (shared with the trainer): left * BPE_PAIR_BASE + right, exact in a double for ids < 2^21. */
export const BPE_PAIR_BASE = 2097152;
export const bpePairKey = (l: number, r: number): number => l * BPE_PAIR_BASE + r;

export interface ByteBpeSpec {
  /** Token strings by id: byte-level spelling for ordinary tokens, raw content for special tokens. */
  vocab: readonly string[];
  /** Merges in priority order, as pairs of token strings. */
  merges: ReadonlyArray<readonly [string, string]>;
  /** Special token contents (must be in vocab). */
  specials: readonly string[];
  /** Which special token plays which role; eos is required. */
  named: { pad?: string; bos?: string; eos: string; imStart?: string; imEnd?: string };
  chatTemplate?: string;
  /** Extra metadata written to tokenizer_config.json (e.g. how it was trained). */
  info?: Record<string, unknown>;
}

/** A byte-level BPE tokenizer (lossless for valid Unicode; see encode for lone surrogates). */
export class ByteBpeTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly specialIds: SpecialIds;
  readonly specialTokens: ReadonlyMap<string, number>;
  readonly chatTemplate: string | undefined;
  readonly info: Readonly<Record<string, unknown>>;
  private readonly vocab: readonly string[];
  private readonly toId: Map<string, number>;
  private readonly mergeList: ReadonlyArray<readonly [number, number]>;
  private readonly rank = new Map<number, number>();
  private readonly result = new Map<number, number>();
  private readonly byteId = new Int32Array(256);
  /** UTF-8 bytes of each id (special tokens: their content). */
  private readonly bytes: Uint8Array[];
  private readonly special: Uint8Array;
  private readonly specialList: string[];
  private readonly cache = new Map<string, number[]>();
  private static readonly CACHE_LIMIT = 200_000;

  constructor(spec: ByteBpeSpec) {
    this.vocab = spec.vocab.slice();
    this.vocabSize = this.vocab.length;
    if (this.vocabSize >= BPE_PAIR_BASE) throw new InputError(`${this.vocabSize} tokens; at most ${BPE_PAIR_BASE - 1} supported`, { field: "model.vocab" });
    this.toId = new Map();
    this.vocab.forEach((t, id) => {
      if (typeof t !== "string" || t.length === 0) throw new InputError(`token ${id} is empty or missing`, { field: `model.vocab` });
      if (this.toId.has(t)) throw new InputError(`token ${JSON.stringify(t)} appears twice (ids ${this.toId.get(t)} and ${id})`, { field: "model.vocab" });
      this.toId.set(t, id);
    });
    this.specialList = spec.specials.slice();
    this.special = new Uint8Array(this.vocabSize);
    const specialMap = new Map<string, number>();
    for (const s of this.specialList) {
      const id = this.toId.get(s);
      if (id === undefined) throw new InputError(`special token ${JSON.stringify(s)} is not in the vocabulary`, { field: "added_tokens" });
      this.special[id] = 1;
      specialMap.set(s, id);
    }
    this.specialTokens = specialMap;
    const named = (name: string, content: string | undefined): number | undefined => {
      if (content === undefined) return undefined;
      const id = specialMap.get(content);
      if (id === undefined) throw new InputError(`${name} token ${JSON.stringify(content)} is not a special token`, { field: `${name}_token` });
      return id;
    };
    const eos = named("eos", spec.named.eos) as number;
    this.specialIds = {
      eos,
      pad: named("pad", spec.named.pad) ?? eos,
      bos: named("bos", spec.named.bos),
      imStart: named("im_start", spec.named.imStart),
      imEnd: named("im_end", spec.named.imEnd),
    };
    this.bytes = this.vocab.map((t, id) => {
      if (this.special[id]) return utf8Encoder.encode(t);
      const b = new Uint8Array(t.length);
      for (let i = 0; i < t.length; i++) {
        const v = UNICODE_TO_BYTE.get(t[i] as string);
        if (v === undefined) throw new InputError(`token ${id} ${JSON.stringify(t)} is not in byte-level spelling`, { field: "model.vocab" });
        b[i] = v;
      }
      return b;
    });
    for (let b = 0; b < 256; b++) {
      const id = this.toId.get(BYTE_TO_UNICODE[b] as string);
      if (id === undefined || this.special[id]) throw new InputError(`byte 0x${b.toString(16)} has no token, so some text could not be encoded`, { field: "model.vocab" });
      this.byteId[b] = id;
    }
    this.mergeList = spec.merges.map(([a, b], i) => {
      const l = this.toId.get(a), r = this.toId.get(b), m = this.toId.get(a + b);
      if (l === undefined || r === undefined || m === undefined || this.special[l] || this.special[r] || this.special[m]) {
        throw new InputError(`merge ${i} (${JSON.stringify(a)} ${JSON.stringify(b)}) uses a token missing from the vocabulary`, { field: `model.merges.${i}` });
      }
      // A repeated pair keeps its last rank, as HF tokenizers (Rust and JS) build their merge maps.
      const k = bpePairKey(l, r);
      this.rank.set(k, i);
      this.result.set(k, m);
      return [l, r] as const;
    });
    this.chatTemplate = spec.chatTemplate;
    this.info = { ...(spec.info ?? {}) };
  }

  /**
   * Text -> ids; special-token strings stay ordinary text. Text is taken as UTF-8 of the JS string: a lone surrogate
   * (not valid Unicode) is encoded as U+FFFD, so the round trip decode(encode(s)) === s holds for well-formed strings.
   */
  encode(text: string): number[] {
    const out: number[] = [];
    for (const piece of preTokenize(text)) this.encodePiece(piece, out);
    return out;
  }

  encodeWithSpecials(text: string): number[] {
    const out: number[] = [];
    for (const [part, isSpecial] of splitOnSpecials(text, this.specialList)) {
      if (isSpecial) out.push(this.specialTokens.get(part) as number);
      else for (const piece of preTokenize(part)) this.encodePiece(piece, out);
    }
    return out;
  }

  decode(ids: readonly number[], opts: TokenDecodeOptions = {}): string {
    checkTokenIds(ids, this.vocabSize);
    let n = 0;
    for (const id of ids) if (!(opts.skipSpecial && this.special[id])) n += (this.bytes[id] as Uint8Array).length;
    const buf = new Uint8Array(n);
    let o = 0;
    for (const id of ids) {
      if (opts.skipSpecial && this.special[id]) continue;
      const b = this.bytes[id] as Uint8Array;
      buf.set(b, o);
      o += b.length;
    }
    return utf8Decoder.decode(buf);
  }

  /** The raw bytes an id stands for (special tokens: the UTF-8 of their content). */
  tokenBytes(id: number): Uint8Array {
    checkTokenIds([id], this.vocabSize);
    return (this.bytes[id] as Uint8Array).slice();
  }

  idToToken(id: number): string | undefined {
    return this.vocab[id];
  }

  tokenToId(token: string): number | undefined {
    return this.toId.get(token);
  }

  isSpecial(id: number): boolean {
    return this.special[id] === 1;
  }

  /** Number of merges (vocabSize minus bytes and specials, unless a merge re-created an existing token). */
  get numMerges(): number {
    return this.mergeList.length;
  }

  toHfJson(): object {
    const vocab: Record<string, number> = Object.create(null); // a token may be spelled "__proto__"
    this.vocab.forEach((t, id) => (vocab[t] = id));
    return {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: this.specialList.map((content) => ({
        id: this.specialTokens.get(content),
        content,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      })),
      normalizer: null,
      pre_tokenizer: ownPreTokenizerJson(),
      post_processor: null,
      decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: "BPE",
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: false,
        vocab,
        // Byte-level tokens never contain a space (it is spelled "Ġ"), so the classic "a b" form is unambiguous and
        // readable by every tokenizers version.
        merges: this.mergeList.map(([l, r]) => `${this.vocab[l]} ${this.vocab[r]}`),
      },
    };
  }

  /** The tokenizer_config.json object (transformers' names) written beside tokenizer.json. */
  toHfConfig(): object {
    const name = (id: number | undefined) => (id === undefined ? null : this.vocab[id]);
    const addedDecoder: Record<string, object> = {};
    for (const [content, id] of this.specialTokens) {
      addedDecoder[String(id)] = { content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true };
    }
    return {
      tokenizer_class: "PreTrainedTokenizerFast",
      add_bos_token: false,
      add_eos_token: false,
      bos_token: name(this.specialIds.bos),
      eos_token: name(this.specialIds.eos),
      pad_token: name(this.specialIds.pad),
      unk_token: null,
      clean_up_tokenization_spaces: false,
      added_tokens_decoder: addedDecoder,
      additional_special_tokens: this.specialList.filter(
        (s) => ![this.specialIds.bos, this.specialIds.eos, this.specialIds.pad].includes(this.specialTokens.get(s)),
      ),
      ...(this.chatTemplate !== undefined ? { chat_template: this.chatTemplate } : {}),
      ...(Object.keys(this.info).length ? { parley: this.info } : {}),
    };
  }

  /** Builds the tokenizer from a tokenizer.json in our own format (see isOwnBpeFormat) plus its optional config. */
  static fromHfJson(json: unknown, config: Record<string, unknown> = {}, file?: string): ByteBpeTokenizer {
    const where = (field: string) => ({ file, field });
    const j = json as Record<string, any>;
    const model = j?.model;
    if (!model || typeof model !== "object") throw new InputError("missing object", where("model"));
    if (!model.vocab || typeof model.vocab !== "object") throw new InputError("missing object", where("model.vocab"));
    if (!Array.isArray(model.merges)) throw new InputError("missing array", where("model.merges"));
    const entries = Object.entries(model.vocab as Record<string, unknown>);
    const vocab: string[] = new Array(entries.length);
    for (const [t, id] of entries) {
      if (!Number.isInteger(id) || (id as number) < 0 || (id as number) >= entries.length) {
        throw new InputError(`id ${String(id)} of token ${JSON.stringify(t)} is not in 0..${entries.length - 1}`, where("model.vocab"));
      }
      if (vocab[id as number] !== undefined) throw new InputError(`id ${String(id)} is used twice`, where("model.vocab"));
      vocab[id as number] = t;
    }
    const merges = (model.merges as unknown[]).map((m, i): [string, string] => {
      if (typeof m === "string") {
        const parts = m.split(" ");
        if (parts.length === 2) return [parts[0] as string, parts[1] as string];
      } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string") {
        return [m[0], m[1]];
      }
      throw new InputError(`expected "left right" or [left, right], got ${JSON.stringify(m)}`, where(`model.merges.${i}`));
    });
    if (!Array.isArray(j.added_tokens)) throw new InputError("missing array", where("added_tokens"));
    const specials: string[] = [];
    (j.added_tokens as unknown[]).forEach((a: any, i) => {
      if (typeof a?.content !== "string" || !Number.isInteger(a?.id)) throw new InputError("needs string content and integer id", where(`added_tokens.${i}`));
      if (vocab[a.id] !== a.content) throw new InputError(`id ${a.id} is ${JSON.stringify(vocab[a.id])} in model.vocab, not ${JSON.stringify(a.content)}`, where(`added_tokens.${i}`));
      if (a.special !== true) throw new InputError("non-special added tokens are not supported by ByteBpeTokenizer", where(`added_tokens.${i}.special`));
      specials.push(a.content);
    });
    const tokenName = (key: string): string | undefined => {
      const v = config[key];
      if (v === undefined || v === null) return undefined;
      if (typeof v === "string") return v;
      if (typeof v === "object" && typeof (v as any).content === "string") return (v as any).content;
      throw new InputError("expected a token string", { field: key });
    };
    const has = (s: string) => specials.includes(s);
    const eos = tokenName("eos_token") ?? (has(DEFAULT_SPECIAL_TOKENS.eos) ? DEFAULT_SPECIAL_TOKENS.eos : undefined);
    if (eos === undefined) throw new InputError("no eos token (set eos_token in tokenizer_config.json)", where("added_tokens"));
    const template = config.chat_template;
    return new ByteBpeTokenizer({
      vocab,
      merges,
      specials,
      named: {
        eos,
        pad: tokenName("pad_token") ?? (has(DEFAULT_SPECIAL_TOKENS.pad) ? DEFAULT_SPECIAL_TOKENS.pad : undefined),
        bos: tokenName("bos_token") ?? (has(DEFAULT_SPECIAL_TOKENS.bos) ? DEFAULT_SPECIAL_TOKENS.bos : undefined),
        imStart: has(DEFAULT_SPECIAL_TOKENS.imStart) ? DEFAULT_SPECIAL_TOKENS.imStart : undefined,
        imEnd: has(DEFAULT_SPECIAL_TOKENS.imEnd) ? DEFAULT_SPECIAL_TOKENS.imEnd : undefined,
      },
      chatTemplate: typeof template === "string" ? template : undefined,
      info: config.parley && typeof config.parley === "object" ? (config.parley as Record<string, unknown>) : undefined,
    });
  }

  private encodePiece(piece: string, out: number[]): void {
    let ids = this.cache.get(piece);
    if (ids === undefined) {
      ids = this.bpe(utf8Encoder.encode(piece));
      if (this.cache.size >= ByteBpeTokenizer.CACHE_LIMIT) this.cache.clear();
      this.cache.set(piece, ids);
    }
    for (let i = 0; i < ids.length; i++) out.push(ids[i] as number);
  }

  /**
   * Applies merges to one pre-token: repeatedly the lowest-rank adjacent pair, leftmost first (the order of HF
   * tokenizers' Word::merge_all). A min-heap keyed by rank * (n + 1) + position keeps long runs O(n log n).
   */
  private bpe(bytes: Uint8Array): number[] {
    const n = bytes.length;
    const sym = new Int32Array(n);
    for (let i = 0; i < n; i++) sym[i] = this.byteId[bytes[i] as number] as number;
    if (n < 2 || this.rank.size === 0) return Array.from(sym);
    const next = new Int32Array(n), prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const alive = new Uint8Array(n).fill(1);
    const heap: number[] = [];
    const stride = n + 1;
    const pushPair = (pos: number) => {
      const nx = next[pos] as number;
      if (pos < 0 || nx < 0) return;
      const r = this.rank.get(bpePairKey(sym[pos] as number, sym[nx] as number));
      if (r !== undefined) heapPush(heap, r * stride + pos);
    };
    for (let i = 0; i + 1 < n; i++) pushPair(i);
    while (heap.length > 0) {
      const key = heapPop(heap);
      const pos = key % stride;
      const r = (key - pos) / stride;
      const nx = next[pos] as number;
      if (!alive[pos] || nx < 0) continue;
      const k = bpePairKey(sym[pos] as number, sym[nx] as number);
      if (this.rank.get(k) !== r) continue; // stale entry
      sym[pos] = this.result.get(k) as number;
      alive[nx] = 0;
      const nn = next[nx] as number;
      next[pos] = nn;
      if (nn >= 0) prev[nn] = pos;
      pushPair(prev[pos] as number);
      pushPair(pos);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i] as number) out.push(sym[i] as number);
    return out;
  }
}

/** The pre_tokenizer block of tokenizer.json for our pattern (Llama-3 layout: regex Split, then ByteLevel without regex). */
export function ownPreTokenizerJson(): object {
  return {
    type: "Sequence",
    pretokenizers: [
      { type: "Split", pattern: { Regex: PRETOKENIZE_PATTERN }, behavior: "Isolated", invert: false },
      { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
    ],
  };
}

/** True when a tokenizer.json is byte-level BPE with exactly our pre-tokenizer, so ByteBpeTokenizer reproduces it. */
export function isOwnBpeFormat(json: unknown): boolean {
  const j = json as Record<string, any>;
  const m = j?.model;
  if (!m || m.type !== "BPE" || (j.normalizer ?? null) !== null || j.decoder?.type !== "ByteLevel") return false;
  if (m.byte_fallback || m.ignore_merges || m.continuing_subword_prefix || m.end_of_word_suffix || m.dropout) return false;
  if (!Array.isArray(j.added_tokens) || j.added_tokens.some((a: any) => a?.special !== true)) return false;
  return JSON.stringify(j.pre_tokenizer) === JSON.stringify(ownPreTokenizerJson());
}

function heapPush(h: number[], v: number): void {
  let i = h.length;
  h.push(v);
  while (i > 0) {
    const p = (i - 1) >> 1;
    if ((h[p] as number) <= v) break;
    h[i] = h[p] as number;
    i = p;
  }
  h[i] = v;
}

function heapPop(h: number[]): number {
  const top = h[0] as number;
  const last = h.pop() as number;
  const n = h.length;
  if (n > 0) {
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && (h[r] as number) < (h[l] as number) ? r : l;
      if ((h[c] as number) >= last) break;
      h[i] = h[c] as number;
      i = c;
    }
    h[i] = last;
  }
  return top;
}
