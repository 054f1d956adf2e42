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
