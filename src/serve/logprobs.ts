// Log-probability helpers for the server: log-softmax rows, top-k alternatives, token text and bytes.
// Values are the model's raw (untempered) distribution, as vLLM reports logprobs by default.
import { BYTE_TO_UNICODE } from "../model/byte-bpe";
import type { Tokenizer } from "../model/tokenizer";

/** log-sum-exp of a logits row (float64 accumulation). */
export function logSumExp(row: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if ((row[i] as number) > max) max = row[i] as number;
  let z = 0;
  for (let i = 0; i < row.length; i++) z += Math.exp((row[i] as number) - max);
  return max + Math.log(z);
}

/**
 * The k most likely ids of a logits row with their log-probs (ties: smaller id first). `lse` is the row's
 * log-sum-exp. A chosen token's log-prob computed as logits[id] - lse equals its entry here exactly.
 */
export function topLogprobs(row: Float32Array, k: number, lse: number): Array<{ id: number; logprob: number }> {
  if (k <= 0) return [];
  const best: number[] = [];
  for (let i = 0; i < row.length; i++) {
    const x = row[i] as number;
    if (best.length === k && x <= (row[best[k - 1] as number] as number)) continue;
    let j = best.length < k ? best.length : k - 1;
    if (best.length < k) best.push(i);
    while (j > 0 && (row[best[j - 1] as number] as number) < x) {
      best[j] = best[j - 1] as number;
      j--;
    }
    best[j] = i;
  }
  return best.map((id) => ({ id, logprob: (row[id] as number) - lse }));
}

const UNICODE_TO_BYTE = new Map<string, number>(BYTE_TO_UNICODE.map((ch, b) => [ch, b]));

/** Text and UTF-8 bytes of one token as OpenAI reports them (a token may hold part of a character). */
export function tokenInfo(tok: Tokenizer, id: number): { token: string; bytes: number[] } {
  const spelled = tok.idToToken(id);
  if (spelled !== undefined && !tok.isSpecial(id)) {
    const bytes: number[] = [];
    for (const ch of spelled) {
      const b = UNICODE_TO_BYTE.get(ch);
      if (b === undefined) {
        bytes.length = 0;
        break;
      }
      bytes.push(b);
    }
    if (bytes.length > 0) return { token: Buffer.from(bytes).toString("utf8"), bytes };
  }
  const token = spelled !== undefined && tok.isSpecial(id) ? spelled : tok.decode([id]);
  return { token, bytes: [...Buffer.from(token, "utf8")] };
}

/** Memoised tokenInfo for one tokenizer. */
export class TokenInfoCache {
  private readonly map = new Map<number, { token: string; bytes: number[] }>();
  constructor(private readonly tok: Tokenizer) {}
  get(id: number): { token: string; bytes: number[] } {
    let v = this.map.get(id);
    if (v === undefined) {
      v = tokenInfo(this.tok, id);
      if (this.map.size < 200_000) this.map.set(id, v);
    }
    return v;
  }
}

/** Length of the longest suffix of `text` that is a proper prefix of some stop string (text to hold back when streaming). */
export function heldBackLength(text: string, stops: readonly string[]): number {
  let hold = 0;
  for (const s of stops) {
    for (let k = Math.min(s.length - 1, text.length); k > hold; k--) {
      if (text.endsWith(s.slice(0, k))) {
        hold = k;
        break;
      }
    }
  }
  return hold;
}

/** Earliest index of any stop string in text at or after `from`, or -1. */
export function findStop(text: string, stops: readonly string[], from: number): number {
  let at = -1;
  for (const s of stops) {
    const i = text.indexOf(s, Math.max(0, from));
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at;
}
