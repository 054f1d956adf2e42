// Near-duplicate detection over texts: word 3-shingle sets compared by Jaccard similarity (Broder 1997).
// Exact comparison against everything indexed, with a size bound that skips pairs that cannot reach the threshold.
import { hash32 } from "../core/rng";

/** Lowercased word tokens (letters, digits, apostrophes). */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];
}

/** Set of hashed k-word shingles (k=3 default); texts shorter than k give one shingle of all their words. */
export function shingles(text: string, k = 3): Set<number> {
  const w = words(text);
  const out = new Set<number>();
  if (w.length === 0) return out;
  if (w.length < k) {
    out.add(hash32(w.join(" ")));
    return out;
  }
  for (let i = 0; i + k <= w.length; i++) out.add(hash32(w.slice(i, i + k).join(" ")));
  return out;
}

/** |A ∩ B| / |A ∪ B| (1 for two empty sets). */
export function jaccard(a: ReadonlySet<number>, b: ReadonlySet<number>): number {
  if (a.size === 0 && b.size === 0) return 1;
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  let inter = 0;
  for (const x of small) if (large.has(x)) inter++;
  return inter / (a.size + b.size - inter);
}

export interface NearMatch {
  id: string;
  similarity: number;
}

/** Index of texts for "is this new text a near-duplicate of anything so far?" queries. */
export class NearDuplicateIndex {
  readonly threshold: number;
  private readonly entries: Array<{ id: string; sh: Set<number> }> = [];

  /** threshold: Jaccard similarity at or above which a text counts as a near-duplicate (default 0.8). */
  constructor(threshold = 0.8) {
    this.threshold = threshold;
  }

  get size(): number {
    return this.entries.length;
  }

  add(id: string, text: string): void {
    this.entries.push({ id, sh: shingles(text) });
  }

  /** The most similar indexed text at or above the threshold, or null. */
  findNear(text: string): NearMatch | null {
    const sh = shingles(text);
    let best: NearMatch | null = null;
    for (const e of this.entries) {
      // Jaccard <= min/max of the sizes; skip when even that cannot reach the threshold.
      const lo = Math.min(sh.size, e.sh.size);
      const hi = Math.max(sh.size, e.sh.size);
      if (hi > 0 && lo / hi < this.threshold) continue;
      const s = jaccard(sh, e.sh);
      if (s >= this.threshold && (!best || s > best.similarity)) best = { id: e.id, similarity: s };
    }
    return best;
  }
}

export interface DedupResult<T> {
  kept: T[];
  dropped: Array<{ record: T; duplicateOf: string; similarity: number }>;
}

/** Keeps the first of each group of near-duplicates (in input order). */
export function dedupRecords<T>(records: readonly T[], id: (r: T) => string, text: (r: T) => string, threshold = 0.8): DedupResult<T> {
  const index = new NearDuplicateIndex(threshold);
  const out: DedupResult<T> = { kept: [], dropped: [] };
  for (const r of records) {
    const near = index.findNear(text(r));
    if (near) out.dropped.push({ record: r, duplicateOf: near.id, similarity: near.similarity });
    else {
      out.kept.push(r);
      index.add(id(r), text(r));
    }
  }
  return out;
}
