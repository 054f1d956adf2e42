// Fixtures for reward tests: seeded random structured forms (src/reward/diagnostics.ts) and a scenario wrapper
// with placeholder text, until the offline generator in src/data exists.
import { Rng } from "../../src/core/rng";
import type { Scenario, Structured } from "../../src/data/schema";
import { randomStructuredForm } from "../../src/reward/diagnostics";

/** Seeded random structured forms (the package's own diagnostic generator). */
export const randomStructured = (rng: Rng): Structured => randomStructuredForm(rng);

/** A full scenario around a structured form (text fields are placeholders). */
export function scenarioWith(structured: Structured | undefined, id = "s1"): Scenario {
  const persona = (pid: string, name: string) => ({ id: pid, name, role: `${name} role`, coreValues: ["care"], goals: ["win"], redLines: ["none"] });
  const s: Scenario = {
    id,
    category: "professional",
    dilemma: "The clinic must decide how to spend a shrinking budget.",
    pair: { id: "cost-vs-quality", tension: "cost vs quality", a: persona("cost", "Cost Controller"), b: persona("quality", "Quality Lead") },
    split: "train",
    provenance: { generator: "manual" },
  };
  if (structured) s.structured = structured;
  return s;
}
