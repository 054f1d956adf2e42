// Hugging Face tokenizer files: any tokenizer.json (+ tokenizer_config.json) behind our Tokenizer interface, and save/load of ours.
// Encoding of foreign tokenizers is done by @huggingface/tokenizers (the tokenizers.js port of HF tokenizers); files we wrote load natively (bpe.ts).

import * as fs from "node:fs";
import * as path from "node:path";
import { InputError } from "../core/errors";
import { writeFileAtomic } from "../core/jsonl";
import { ByteBpeTokenizer, isOwnBpeFormat } from "./bpe";
import { checkTokenIds, type TokenDecodeOptions, type SpecialIds, type Tokenizer } from "./tokenizer";

type Json = Record<string, any>;

// The package is ESM-typed but ships a CommonJS build ("require" export), which is what runs here. The structural
// type lists what we use and avoids import-attribute syntax that older TypeScript (tslab's 5.0) cannot parse.
interface HfLibTokenizer {
  encode(text: string, options?: { add_special_tokens?: boolean }): { ids: number[] };
  decode(ids: number[], options?: { skip_special_tokens?: boolean; clean_up_tokenization_spaces?: boolean }): string;
  token_to_id(token: string): number | undefined;
  id_to_token(id: number): string | undefined;
  get_vocab(withAddedTokens?: boolean): Map<string, number>;
}
const HfLibTokenizer = (require("@huggingface/tokenizers") as { Tokenizer: new (json: object, config: object) => HfLibTokenizer }).Tokenizer;

/** Token strings commonly used as end of sequence / turn, tried in order when tokenizer_config.json names none. */
const EOS_FALLBACKS = ["<|endoftext|>", "</s>", "<|end_of_text|>", "<|eot_id|>", "<|im_end|>", "<eos>"];

/** Any HF tokenizer.json, wrapped. encode() ignores special tokens in text; encodeWithSpecials() recognises them. */
export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly specialIds: SpecialIds;
  readonly specialTokens: ReadonlyMap<string, number>;
  readonly chatTemplate: string | undefined;
  /** Recognises every added token (used for encodeWithSpecials, decode and vocabulary look-ups). */
  private readonly full: HfLibTokenizer;
  /** The same tokenizer without its special added tokens (special strings in text are just text); built on first use. */
  private plainTok: HfLibTokenizer | undefined;
  private readonly filled: Json;
  private readonly specialSet: Set<number>;
  private readonly cleanUp: boolean;

  constructor(
    private readonly json: Json,
    private readonly config: Json = {},
    readonly source?: string,
  ) {
    validateTokenizerJson(json, source);
    this.filled = { normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...json };
    try {
      this.full = new HfLibTokenizer(this.filled, { ...config });
    } catch (e) {
      throw new InputError(`@huggingface/tokenizers cannot load it: ${(e as Error).message}`, { file: source }, { cause: e });
    }
    const specials = new Map<string, number>();
    for (const a of json.added_tokens as Json[]) if (a.special === true) specials.set(a.content, a.id);
    this.specialTokens = specials;
    this.specialSet = new Set(specials.values());
    let maxId = -1;
    for (const id of this.full.get_vocab(true).values()) if (id > maxId) maxId = id;
    this.vocabSize = maxId + 1;
    this.cleanUp = config.clean_up_tokenization_spaces === true;

    const tokenName = (key: string): string | undefined => {
      const v = config[key];
      if (v === undefined || v === null) return undefined;
      if (typeof v === "string") return v;
      if (typeof v === "object" && typeof v.content === "string") return v.content;
      throw new InputError("expected a token string or {content}", { file: configPath(source), field: key });
    };
    const idOf = (key: string, name: string | undefined): number | undefined => {
      if (name === undefined) return undefined;
      const id = this.full.token_to_id(name);
      if (id === undefined) throw new InputError(`token ${JSON.stringify(name)} is not in the vocabulary`, { file: configPath(source), field: key });
      return id;
    };
    let eos = idOf("eos_token", tokenName("eos_token"));
    for (const t of EOS_FALLBACKS) if (eos === undefined && specials.has(t)) eos = specials.get(t);
    if (eos === undefined) throw new InputError("no eos token: set eos_token in tokenizer_config.json", { file: configPath(source), field: "eos_token" });
    this.specialIds = {
      eos,
      pad: idOf("pad_token", tokenName("pad_token")) ?? eos,
      bos: idOf("bos_token", tokenName("bos_token")),
      imStart: specials.get("<|im_start|>"),
      imEnd: specials.get("<|im_end|>"),
    };
    const tpl = config.chat_template;
    if (typeof tpl === "string") this.chatTemplate = tpl;
    else if (Array.isArray(tpl)) {
      const named = tpl.find((t: Json) => t?.name === "default") ?? tpl[0];
      this.chatTemplate = typeof named?.template === "string" ? named.template : undefined;
    } else this.chatTemplate = undefined;
  }

  encode(text: string): number[] {
    const ids = this.plain().encode(text, { add_special_tokens: false }).ids;
    // Unreachable with ordinary pre-tokenizers (they split "<|x|>" apart); guards exotic files against forging.
    for (const id of ids) {
      if (this.specialSet.has(id)) throw new Error(`tokenizer ${this.source ?? ""} produced special token ${id} from plain text`);
    }
    return ids;
  }

  private plain(): HfLibTokenizer {
    if (this.plainTok === undefined) {
      const added = (this.filled.added_tokens as Json[]).filter((a) => a.special !== true);
      this.plainTok =
        added.length === this.filled.added_tokens.length ? this.full : new HfLibTokenizer({ ...this.filled, added_tokens: added }, { ...this.config });
    }
    return this.plainTok;
  }

  encodeWithSpecials(text: string): number[] {
    return this.full.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: readonly number[], opts: TokenDecodeOptions = {}): string {
    checkTokenIds(ids, this.vocabSize);
    if (ids.length === 0) return "";
    return this.full.decode(ids.slice(), {
      skip_special_tokens: opts.skipSpecial ?? false,
      clean_up_tokenization_spaces: this.cleanUp,
    });
  }

  idToToken(id: number): string | undefined {
    return this.full.id_to_token(id);
  }

  tokenToId(token: string): number | undefined {
    return this.full.token_to_id(token);
  }

  isSpecial(id: number): boolean {
    return this.specialSet.has(id);
  }

  toHfJson(): object {
    return structuredClone(this.json);
  }

  toHfConfig(): object {
    return structuredClone(this.config);
  }
}

function configPath(source: string | undefined): string | undefined {
  return source === undefined ? undefined : path.join(path.dirname(source), "tokenizer_config.json");
}

/** Structural checks with the file and field named, before the library sees the object. */
function validateTokenizerJson(json: unknown, file?: string): asserts json is Json {
  const at = (field: string) => ({ file, field });
  if (!json || typeof json !== "object" || Array.isArray(json)) throw new InputError("expected a JSON object", { file });
  const j = json as Json;
  if (!j.model || typeof j.model !== "object") throw new InputError("missing object", at("model"));
  if (j.model.type !== undefined && typeof j.model.type !== "string") throw new InputError("expected a string", at("model.type"));
  if (j.model.vocab === undefined) throw new InputError("missing vocabulary", at("model.vocab"));
  if (j.model.type === "BPE" && !Array.isArray(j.model.merges)) throw new InputError("BPE needs a merges array", at("model.merges"));
  if (!Array.isArray(j.added_tokens)) throw new InputError("missing array", at("added_tokens"));
  (j.added_tokens as unknown[]).forEach((a: any, i) => {
    if (!Number.isInteger(a?.id) || a.id < 0) throw new InputError(`expected a non-negative integer, got ${JSON.stringify(a?.id)}`, at(`added_tokens.${i}.id`));
    if (typeof a.content !== "string" || a.content === "") throw new InputError("expected a non-empty string", at(`added_tokens.${i}.content`));
  });
}

function readJson(file: string): Json {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (e) {
    throw new InputError(`cannot read: ${(e as Error).message}`, { file }, { cause: e });
  }
  try {
    return JSON.parse(text) as Json;
  } catch (e) {
    throw new InputError(`not valid JSON: ${(e as Error).message}`, { file }, { cause: e });
  }
}

/** Resolves a tokenizer.json path from a file or a model folder, and reads tokenizer_config.json beside it if present. */
function readTokenizerFiles(p: string): { file: string; json: Json; config: Json } {
  const file = fs.existsSync(p) && fs.statSync(p).isDirectory() ? path.join(p, "tokenizer.json") : p;
  const json = readJson(file);
  const cfgFile = path.join(path.dirname(file), "tokenizer_config.json");
  const config = fs.existsSync(cfgFile) ? readJson(cfgFile) : {};
  if (typeof config !== "object" || config === null || Array.isArray(config)) throw new InputError("expected a JSON object", { file: cfgFile });
  if (config.chat_template !== undefined && typeof config.chat_template !== "string" && !Array.isArray(config.chat_template)) {
    throw new InputError("expected a string or a list of {name, template}", { file: cfgFile, field: "chat_template" });
  }
  return { file, json, config };
}

/** Loads any HF tokenizer (a tokenizer.json path or a folder holding it) through @huggingface/tokenizers. */
export function loadHfTokenizer(p: string): HfTokenizer {
  const { file, json, config } = readTokenizerFiles(p);
  return new HfTokenizer(json, config, file);
}

/** A Tokenizer from tokenizer.json / tokenizer_config.json objects: native for our byte-level format, else the HF library. */
export function tokenizerFromHfJson(json: unknown, config: Json = {}, file?: string): Tokenizer {
  if (isOwnBpeFormat(json)) return ByteBpeTokenizer.fromHfJson(json, config, file);
  return new HfTokenizer(json as Json, config, file);
}

/**
 * Loads a tokenizer from a tokenizer.json path or a folder holding it (tokenizer_config.json beside it is read too).
 * Files written by saveTokenizer load as ByteBpeTokenizer (same ids as before saving, fast); others as HfTokenizer.
 */
export function loadTokenizer(p: string): Tokenizer {
  const { file, json, config } = readTokenizerFiles(p);
  return tokenizerFromHfJson(json, config, file);
}

/**
 * Writes `file` (tokenizer.json; a folder means folder/tokenizer.json) and tokenizer_config.json beside it (special
 * token names, chat_template, training info). Atomic per file. Vocabulary and merges are one entry per line.
 */
export function saveTokenizer(tok: Tokenizer, file: string): void {
  const target = fs.existsSync(file) && fs.statSync(file).isDirectory() ? path.join(file, "tokenizer.json") : file;
  writeFileAtomic(target, formatTokenizerJson(tok.toHfJson() as Json));
  writeFileAtomic(path.join(path.dirname(target), "tokenizer_config.json"), JSON.stringify(tok.toHfConfig(), null, 2) + "\n");
}

/** Pretty JSON with model.vocab and model.merges one entry per line (diffable, and smaller than full indentation). */
export function formatTokenizerJson(json: Json): string {
  const model = json.model as Json | undefined;
  if (!model || typeof model.vocab !== "object" || !Array.isArray(model.merges)) return JSON.stringify(json, null, 2) + "\n";
  const VOCAB = "\u0000vocab\u0000", MERGES = "\u0000merges\u0000";
  const shell = { ...json, model: { ...model, vocab: VOCAB, merges: MERGES } };
  const vocab = Object.entries(model.vocab as Record<string, number>)
    .sort((a, b) => a[1] - b[1])
    .map(([t, id]) => `      ${JSON.stringify(t)}: ${id}`)
    .join(",\n");
  const merges = (model.merges as unknown[]).map((m) => `      ${JSON.stringify(m)}`).join(",\n");
  return (
    JSON.stringify(shell, null, 2)
      .replace(JSON.stringify(VOCAB), () => (vocab ? `{\n${vocab}\n    }` : "{}"))
      .replace(JSON.stringify(MERGES), () => (merges ? `[\n${merges}\n    ]` : "[]")) + "\n"
  );
}
