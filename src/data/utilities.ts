// Draws the structured form of an offline scenario: private 0-10 utilities per option for both personas, by issue kind.
// Design follows multi-issue bargaining tasks (Lewis et al. 2017, "Deal or No Deal"): opposed issues are zero-sum,
// compatible issues share a best option, and integrative issues come in pairs weighted oppositely so trading wins.
import type { Rng } from "../core/rng";
import type { IssueTemplate } from "./banks";
import { UTILITY_MAX, UTILITY_MIN, type Issue, type IssueKind, type Option, type Structured } from "./schema";

export interface DrawStructuredOptions {
  /** Probability that an issue with an authored creative option includes it (default 0.6). */
  creativeProb?: number;
  /** Weights for 2, 3, 4, 5 issues (default [0.15, 0.35, 0.35, 0.15]). */
  issueCountWeights?: [number, number, number, number];
  /** Among issues beyond the integrative pair: probability of "opposed" (else "compatible"; default 0.55). */
  opposedProb?: number;
}

const clamp = (x: number): number => Math.max(UTILITY_MIN, Math.min(UTILITY_MAX, Math.round(x)));

/**
 * Picks 2-5 of the template's issues and draws utilities. Every scenario gets one integrative pair (one issue weighted
 * towards each side), so a logrolling package beats the obvious compromise, which beats a random package on average.
 */
export function drawStructured(rng: Rng, templates: readonly IssueTemplate[], options: DrawStructuredOptions = {}): Structured {
  const weights = options.issueCountWeights ?? [0.15, 0.35, 0.35, 0.15];
  const maxN = Math.min(5, templates.length);
  const n = 2 + rng.weightedIndex(weights.slice(0, maxN - 1));
  const chosen = rng.sample(templates, n);
  const heavyFirst: "a" | "b" = rng.bernoulli(0.5) ? "a" : "b";
  const kinds: Array<{ kind: IssueKind; heavy?: "a" | "b" }> = [
    { kind: "integrative", heavy: heavyFirst },
    { kind: "integrative", heavy: heavyFirst === "a" ? "b" : "a" },
  ];
  for (let i = 2; i < n; i++) kinds.push({ kind: rng.bernoulli(options.opposedProb ?? 0.55) ? "opposed" : "compatible" });
  const order = rng.shuffle(kinds);
  const issues = chosen.map((t, i) => drawIssue(rng, t, order[i]!.kind, order[i]!.heavy, options.creativeProb ?? 0.6));
  return { issues };
}

/** Utilities for one issue of a given kind. `heavy` is the side that cares more about an integrative issue. */
export function drawIssue(rng: Rng, t: IssueTemplate, kind: IssueKind, heavy: "a" | "b" = "a", creativeProb = 0.6): Issue {
  const k = t.options.length;
  const flip = rng.bernoulli(0.5); // which end of the spectrum side a prefers
  const pos = (j: number): number => (flip ? 1 - j / (k - 1) : j / (k - 1));
  const jitter = (): number => rng.int(3) - 1;
  let opts: Option[];
  if (kind === "opposed") {
    opts = t.options.map((o, j) => ({ id: o.id, label: o.label, utility: { a: clamp(10 * pos(j) + jitter()), b: clamp(10 * (1 - pos(j)) + jitter()) } }));
  } else if (kind === "integrative") {
    const light = heavy === "a" ? "b" : "a";
    opts = t.options.map((o, j) => {
      const u = { a: 0, b: 0 };
      u[heavy] = clamp(10 * pos(j) + jitter());
      u[light] = clamp(3 * (1 - pos(j)));
      return { id: o.id, label: o.label, utility: u };
    });
  } else {
    const best = rng.int(k);
    opts = t.options.map((o, j) => ({
      id: o.id,
      label: o.label,
      utility: j === best ? { a: 8 + rng.int(3), b: 8 + rng.int(3) } : { a: rng.int(6), b: rng.int(6) },
    }));
  }
  if (t.creative && kind !== "compatible" && rng.bernoulli(creativeProb)) {
    const u = kind === "opposed"
      ? { a: 7 + rng.int(2), b: 7 + rng.int(2) }
      : heavy === "a" ? { a: 7 + rng.int(2), b: 3 } : { a: 3, b: 7 + rng.int(2) };
    const creative: Option = { id: t.creative.id, label: t.creative.label, utility: u, creative: true };
    opts.splice(rng.int(opts.length + 1), 0, creative);
  }
  return { id: t.id, label: t.label, kind, options: opts };
}
