// Test fixtures: small structured scenarios with opposed, compatible and integrative issues and a creative option.
import type { Scenario } from "../../src/data/schema";

export function makeScenario(id = "sc-1", variant = 0): Scenario {
  const v = variant % 3;
  return {
    id,
    category: "professional",
    dilemma: `A clinic must decide how to roll out a new triage system (case ${id}).`,
    split: "train",
    provenance: { generator: "manual" },
    pair: {
      id: "cost-vs-quality",
      tension: "cost minimisation vs quality maximisation",
      a: { id: "cost-controller", name: "Dana", role: "finance director", coreValues: ["prudence", "accountability"], goals: ["keep spending low"], redLines: ["no debt"] },
      b: { id: "quality-advocate", name: "Ravi", role: "chief nurse", coreValues: ["patient safety"], goals: ["best care for patients"], redLines: ["no unsafe staffing"] },
    },
    structured: {
      issues: [
        { id: "budget", label: "Budget", kind: "opposed", options: [
          { id: "basic", label: "Basic", utility: { a: 9, b: 2 } },
          { id: "standard", label: "Standard", utility: { a: 5, b: 5 } },
          { id: "premium", label: "Premium", utility: { a: 1, b: 9 } },
        ] },
        { id: "timeline", label: "Timeline", kind: "integrative", options: [
          { id: "fast", label: "Fast", utility: { a: 2 + v, b: 8 } },
          { id: "phased", label: "Phased", utility: { a: 8, b: 4 } },
          { id: "pilot", label: "Pilot first", utility: { a: 9, b: 9 }, creative: true },
        ] },
        { id: "staff", label: "Staffing", kind: "integrative", options: [
          { id: "contract", label: "Contract", utility: { a: 7, b: 3 } },
          { id: "hire", label: "Hire", utility: { a: 4, b: 9 } },
        ] },
        { id: "training", label: "Training", kind: "compatible", options: [
          { id: "online", label: "Online", utility: { a: 6, b: 6 } },
          { id: "onsite", label: "On site", utility: { a: 3, b: 4 } },
        ] },
      ],
    },
  };
}

export function makeScenarios(n: number): Scenario[] {
  return Array.from({ length: n }, (_, i) => makeScenario(`sc-${i}`, i));
}

/** A random structured scenario (2-5 issues, 2-4 options, mixed kinds, sometimes a creative option). */
export function randomScenario(rng: import("../../src/core/rng").Rng, id: string): Scenario {
  const base = makeScenario(id);
  const nIssues = 2 + rng.int(4);
  const kinds = ["opposed", "compatible", "integrative"] as const;
  const issues = Array.from({ length: nIssues }, (_, i) => {
    const kind = rng.choice(kinds);
    const nOpt = 2 + rng.int(3);
    const options = Array.from({ length: nOpt }, (_, j) => {
      const x = rng.int(11);
      const u =
        kind === "opposed" ? { a: x, b: 10 - x } :
        kind === "compatible" ? { a: x, b: Math.min(10, Math.max(0, x + rng.int(3) - 1)) } :
        { a: x, b: rng.int(11) };
      return { id: `o${j}`, label: `Option ${j}`, utility: u };
    });
    if (kind === "integrative" && rng.bernoulli(0.5)) options[nOpt - 1] = { id: `o${nOpt - 1}`, label: "Creative", utility: { a: 8 + rng.int(3), b: 8 + rng.int(3) }, creative: true } as (typeof options)[number];
    return { id: `i${i}`, label: `Issue ${i}`, kind, options };
  });
  return { ...base, structured: { issues } };
}
