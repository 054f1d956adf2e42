// The Tokenizer interface every stage uses (text <-> token ids), plus a streaming decoder.
// Streaming follows the prefix/read-offset scheme of Hugging Face text-generation-inference: text is released only once it no longer ends in an incomplete UTF-8 sequence (U+FFFD).

/** Named special token ids. `eos` and `pad` always exist (pad falls back to eos when a tokenizer has no pad token). */
export interface SpecialIds {
  pad: number;
  eos: number;
  bos?: number;
  /** Start of a chat turn (ChatML `<|im_start|>`), when the vocabulary has one. */
  imStart?: number;
  /** End of a chat turn (ChatML `<|im_end|>`); generation of a turn stops here. */
  imEnd?: number;
}

export interface TokenDecodeOptions {
  /** Drop special tokens (pad, bos, eos, turn markers, ...) from the text. Default false. */
  skipSpecial?: boolean;
}

/**
 * Text <-> ids. Implementations: ByteBpeTokenizer (bpe.ts, trained here) and HfTokenizer (hf-tokenizer.ts, any HF
 * tokenizer.json). Neither adds bos/eos on its own: sequences are built explicitly (chat templates, pretraining).
 */
export interface Tokenizer {
  /** One more than the largest id (ids are 0..vocabSize-1; an embedding matrix needs this many rows). */
  readonly vocabSize: number;
  readonly specialIds: SpecialIds;
  /** Every special token, content -> id (e.g. "<|im_end|>" -> 4). */
  readonly specialTokens: ReadonlyMap<string, number>;
  /** Chat template stored with the tokenizer (tokenizer_config.json `chat_template`), if any. */
  readonly chatTemplate: string | undefined;
  /**
   * Plain text -> ids. Special-token strings in `text` are NOT special here: "<|im_end|>" typed by a user (or
   * written into a persona) becomes ordinary text tokens, so it cannot forge a turn boundary.
   */
  encode(text: string): number[];
  /** Like encode, but occurrences of special-token strings become their single special id. For trusted template text only. */
  encodeWithSpecials(text: string): number[];
  /** Ids -> text. Throws RangeError for an id outside 0..vocabSize-1. */
  decode(ids: readonly number[], opts?: TokenDecodeOptions): string;
  /** The vocabulary string of an id (byte-level tokens in their GPT-2 unicode spelling), or undefined. */
  idToToken(id: number): string | undefined;
  tokenToId(token: string): number | undefined;
  isSpecial(id: number): boolean;
  /** The Hugging Face tokenizer.json object for this tokenizer. */
  toHfJson(): object;
  /** The tokenizer_config.json object (bos/eos/pad token names, chat_template, ...) saved beside it. */
  toHfConfig(): object;
}

/** The ids where a generated chat turn ends: imEnd (when present) and eos, without duplicates. */
export function turnStopIds(tok: Tokenizer): number[] {
  const out: number[] = [];
  if (tok.specialIds.imEnd !== undefined) out.push(tok.specialIds.imEnd);
  if (!out.includes(tok.specialIds.eos)) out.push(tok.specialIds.eos);
  return out;
}

/**
 * Turns a stream of ids into a stream of text pieces. push(id) returns the text that became complete (maybe "");
 * bytes of a character split across tokens are held back until the character is whole. flush() releases what is
 * left (an incomplete tail decodes to U+FFFD). The concatenation of all pieces equals tok.decode(allIds, opts).
 */
export class IncrementalDecoder {
  private ids: number[] = [];
  /** ids[prefix..read) were already released and are kept only as left context for the next decode. */
  private prefix = 0;
  private read = 0;
  private text = "";

  constructor(
    private readonly tok: Tokenizer,
    private readonly opts: TokenDecodeOptions = {},
  ) {}

  push(id: number): string {
    this.ids.push(id);
    return this.step(false);
  }

  /** Pushes several ids and returns the text completed by them. */
  pushAll(ids: readonly number[]): string {
    let out = "";
    for (const id of ids) out += this.push(id);
    return out;
  }

  /** Releases whatever is held back. The decoder can keep being used afterwards. */
  flush(): string {
    return this.step(true);
  }

  /** All text released so far. */
  get released(): string {
    return this.text;
  }

  private step(final: boolean): string {
    if (this.read === this.ids.length) return "";
    const before = this.tok.decode(this.ids.slice(this.prefix, this.read), this.opts);
    const after = this.tok.decode(this.ids.slice(this.prefix), this.opts);
    if (!final && (after.length <= before.length || after.endsWith("\uFFFD"))) return "";
    // Left context normally decodes to a prefix of the longer window; if a tokenizer ever breaks that, release the
    // part after the common prefix so nothing is lost.
    let piece: string;
    if (after.startsWith(before)) piece = after.slice(before.length);
    else {
      let i = 0;
      while (i < before.length && before.charCodeAt(i) === after.charCodeAt(i)) i++;
      piece = after.slice(i);
    }
    this.prefix = this.read;
    this.read = this.ids.length;
    this.text += piece;
    return piece;
  }
}

/** Checks an id list against a vocabulary size; names the first bad position. */
export function checkTokenIds(ids: readonly number[], vocabSize: number): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] as number;
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new RangeError(`token id ${id} at position ${i} is outside 0..${vocabSize - 1}`);
    }
  }
}
