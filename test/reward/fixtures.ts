// Seeded structured-scenario fixtures for reward tests (a stand-in for the offline generator in src/data).
// Issue kinds follow src/data/schema.ts: opposed, compatible, integrative, optionally with a creative option.
import { Rng } from "../../src/core/rng";
import type { Issue, Scenario, Structured } from "../../src/data/schema";

function clamp(x: number): number {
  return Math.max(0, Math.min(10, Math.round(x)));
}

/** A random structured form: 2-5 issues of 2-4 options, mixed kinds, sometimes a creative option. */
export function randomStructured(rng: Rng): Structured {
  const nIssues = 2 + rng.int(4);
  const issues: Issue[] = [];
  for (let i = 0; i < nIssues; i++) {
    const kind = rng.choice(["opposed", "compatible", "integrative"] as const);
    const nOpt = 2 + rng.int(3);
    const options = [];
    const weightA = 0.5 + rng.next();
    const weightB = 0.5 + rng.next();
    for (let j = 0; j < nOpt; j++) {
      const t = nOpt === 1 ? 0 : j / (nOpt - 1);
      let a: number, b: number;
      if (kind === "opposed") { a = 10 * t * weightA; b = 10 * (1 - t) * weightB; }
      else if (kind === "compatible") { a = 10 * t * weightA; b = 10 * t * weightB; }
      else { a = 10 * t * weightA; b = 10 * (1 - t) * weightB * (0.3 + 0.7 * rng.next()); }
      options.push({ id: `o${j}`, label: `option ${j}`, utility: { a: clamp(a + rng.normal()), b: clamp(b + rng.normal()) } });
    }
    if (kind !== "compatible" && rng.next() < 0.3 && nOpt < 4) {
      options.push({ id: "creative", label: "creative option", utility: { a: clamp(7 + rng.int(4)), b: clamp(7 + rng.int(4)) }, creative: true });
    }
    issues.push({ id: `i${i}`, label: `issue ${i}`, kind, options });
  }
  return { issues };
}

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
