// Grammar-constrained decoding ("structured generation", as vLLM's guided decoding or TRL's guided_decoding_regex):
// before each draw, tokens that cannot continue a valid reply get logit -Infinity, so the sampled text is valid by
// construction. The recorded sampling log-probs are those of the constrained distribution; the raw (untempered,
// unconstrained) log-probs stay the model's own, which is what GRPO recomputes during the update.
//
// The grammar here is a LineGrammar: a reply is one of a finite set of headers (e.g. "ACCEPT 1=a 2=b"), then either
// nothing, or free text on the same line. Matching is done on characters, so any tokenisation of a valid reply is
// allowed (a token may cross from the header into the free text).
import type { Tokenizer } from "./tokenizer";

/** What may follow a header: nothing (the reply ends), optional free text, or free text with a non-space character. */
export type HeaderTail = "none" | "optional" | "required";

export interface LineGrammar {
  /** Allowed headers; a header may be a prefix of another (e.g. "ACCEPT 1=a" and "ACCEPT 1=a | "). */
  headers: ReadonlyArray<{ text: string; tail: HeaderTail }>;
  /** Characters never allowed in free text (default "|", "\r", "\n": the text stays one line with one bar). */
  forbidden?: string;
}

/** A per-row, stateful constraint on sampled tokens. */
export interface TokenConstraint {
  /** Sets the logits of tokens that may not come next to -Infinity (in place). */
  mask(logits: Float32Array): void;
  /** Advances the state by the token that was sampled. */
  advance(id: number): void;
}

interface TrieNode {
  children: Map<string, TrieNode>;
  /** Set when a header ends here. */
  tail?: HeaderTail;
}

/** A LineGrammar compiled to a character trie; reuse it across rows and calls (it is immutable). */
export interface CompiledLineGrammar {
  root: TrieNode;
  forbidden: Set<string>;
}

export function compileLineGrammar(g: LineGrammar): CompiledLineGrammar {
  if (g.headers.length === 0) throw new RangeError("compileLineGrammar: no headers");
  const root: TrieNode = { children: new Map() };
  for (const h of g.headers) {
    if (h.text === "") throw new RangeError("compileLineGrammar: empty header");
    let n = root;
    for (const ch of h.text) {
      let c = n.children.get(ch);
      if (!c) n.children.set(ch, (c = { children: new Map() }));
      n = c;
    }
    // A header listed twice with different tails: "optional" (which allows both ending and free text) wins.
    if (n.tail === undefined || h.tail === "optional") n.tail = h.tail;
  }
  return { root, forbidden: new Set(g.forbidden ?? "|\r\n") };
}

/** Per-tokenizer tables: each id's text and what it means in free text. Built once per (tokenizer, forbidden set). */
interface VocabIndex {
  texts: (string | null)[];
  /** 1 if the token may appear in free text (no forbidden character), else 0. Special tokens: 0. */
  freeOk: Uint8Array;
}

const vocabCache = new WeakMap<Tokenizer, Map<string, VocabIndex>>();

function vocabIndex(tok: Tokenizer, forbidden: Set<string>): VocabIndex {
  const key = [...forbidden].sort().join("");
  let byKey = vocabCache.get(tok);
  if (!byKey) vocabCache.set(tok, (byKey = new Map()));
  const hit = byKey.get(key);
  if (hit) return hit;
  const V = tok.vocabSize;
  const texts: (string | null)[] = new Array(V).fill(null);
  const freeOk = new Uint8Array(V);
  for (let id = 0; id < V; id++) {
    if (tok.isSpecial(id) || tok.idToToken(id) === undefined) continue;
    const t = tok.decode([id]);
    if (t === "") continue;
    texts[id] = t;
    let ok = 1;
    for (const ch of t) if (forbidden.has(ch)) ok = 0;
    freeOk[id] = ok;
  }
  const idx = { texts, freeOk };
  byKey.set(key, idx);
  return idx;
}

type State = { node: TrieNode } | { free: true; nonEmpty: boolean; required: boolean };

/** The state after reading `text` from `s`, or null when `text` leaves the grammar. */
function walk(g: CompiledLineGrammar, s: State, text: string): State | null {
  let cur = s;
  for (const ch of text) {
    if ("node" in cur) {
      const child = cur.node.children.get(ch);
      if (child) {
        cur = { node: child };
        continue;
      }
      const tail = cur.node.tail;
      if (tail !== "optional" && tail !== "required") return null;
      cur = { free: true, nonEmpty: false, required: tail === "required" };
    }
    if (g.forbidden.has(ch)) return null;
    if (!cur.nonEmpty && /\S/.test(ch)) cur = { free: true, nonEmpty: true, required: cur.required };
  }
  return cur;
}

function canEnd(s: State): boolean {
  if ("node" in s) return s.node.tail === "none" || s.node.tail === "optional";
  return !s.required || s.nonEmpty;
}

/** Constrains one row's reply to a LineGrammar. `endIds`: the tokens that end a reply (allowed only when complete). */
export class LineGrammarConstraint implements TokenConstraint {
  private state: State;
  private readonly vocab: VocabIndex;
  private readonly ends: Set<number>;

  constructor(
    private readonly grammar: CompiledLineGrammar,
    private readonly tok: Tokenizer,
    endIds: readonly number[],
  ) {
    this.state = { node: grammar.root };
    this.vocab = vocabIndex(tok, grammar.forbidden);
    this.ends = new Set(endIds);
  }

  /** True when the reply read so far is complete (an end token is allowed). */
  get complete(): boolean {
    return canEnd(this.state);
  }

  /** True while the reply is inside a header with no free text possible yet (every allowed id is a header token). */
  get inHeader(): boolean {
    const s = this.state;
    return "node" in s && s.node.tail !== "optional" && s.node.tail !== "required";
  }

  /** Ids allowed next (for tests and diagnostics; mask() is the fast path). */
  allowedIds(): number[] {
    const out: number[] = [];
    const probe = new Float32Array(this.tok.vocabSize);
    this.mask(probe);
    probe.forEach((x, id) => {
      if (x === 0) out.push(id);
    });
    return out;
  }

  /**
   * The ids among `ids` whose text no other id's text extends ("=" goes when "=a" is there); end ids always stay.
   * Texts come from the tokenizer's cached vocabulary table.
   */
  longestOf(ids: readonly number[]): number[] {
    const texts = ids.map((id) => (this.ends.has(id) ? null : this.vocab.texts[id] ?? null));
    return ids.filter((_, i) => {
      const t = texts[i];
      if (t === null || t === undefined) return true;
      return !texts.some((u, j) => j !== i && u !== null && u !== undefined && u.length > t.length && u.startsWith(t));
    });
  }

  mask(logits: Float32Array): void {
    const V = logits.length;
    const { texts, freeOk } = this.vocab;
    const s = this.state;
    const end = canEnd(s);
    let allowed = 0;
    if ("free" in s) {
      for (let id = 0; id < V; id++) {
        if (this.ends.has(id) ? end : freeOk[id] === 1) allowed++;
        else logits[id] = -Infinity;
      }
    } else {
      const node = s.node;
      const mayFree = node.tail === "optional" || node.tail === "required";
      for (let id = 0; id < V; id++) {
        let ok: boolean;
        if (this.ends.has(id)) ok = end;
        else {
          const t = texts[id];
          // Cheap first-character test before walking the whole token.
          ok = t !== null && (node.children.has(t[0]!) || (mayFree && freeOk[id] === 1)) && walk(this.grammar, s, t) !== null;
        }
        if (ok) allowed++;
        else logits[id] = -Infinity;
      }
    }
    if (allowed === 0) throw new Error("LineGrammarConstraint: no token can continue the reply (does the vocabulary lack single characters?)");
  }

  advance(id: number): void {
    if (this.ends.has(id)) return;
    const t = this.vocab.texts[id];
    const next = t === null ? null : walk(this.grammar, this.state, t);
    if (!next) throw new Error(`LineGrammarConstraint: token ${id} (${JSON.stringify(t)}) is not allowed here`);
    this.state = next;
  }
}

/**
 * The grammar's allowed next ids along a reply that follows it: for each reply position still inside a header (see
 * LineGrammarConstraint.inHeader), that position (index into `replyIds`) and the ids the grammar allows there.
 * Positions where free text may start are left out (almost any token is allowed there). Returns null when the reply
 * leaves the grammar. Used to train "grammar-aware" format tuning (src/train/sft-update.ts).
 * `longestOnly`: drop an allowed token when another allowed token's text extends it ("=" when "=a" is allowed), the
 * way BPE writes the header: the grammar alone also allows the split spellings, which scripted text never uses, and
 * mass pushed onto them leads the policy to continuations it never saw. A position whose own token would be dropped
 * keeps the full set.
 */
export function headerAllowedSets(
  grammar: CompiledLineGrammar,
  tok: Tokenizer,
  replyIds: readonly number[],
  endIds: readonly number[],
  options: { longestOnly?: boolean } = {},
): Array<{ at: number; ids: number[] }> | null {
  const c = new LineGrammarConstraint(grammar, tok, endIds);
  const out: Array<{ at: number; ids: number[] }> = [];
  for (let i = 0; i < replyIds.length; i++) {
    const id = replyIds[i]!;
    if (c.inHeader) {
      let ids = c.allowedIds();
      if (!ids.includes(id)) return null;
      if (options.longestOnly) {
        const longest = c.longestOf(ids);
        if (longest.includes(id)) ids = longest;
      }
      out.push({ at: i, ids });
    }
    try {
      c.advance(id);
    } catch {
      return null;
    }
  }
  return out;
}

