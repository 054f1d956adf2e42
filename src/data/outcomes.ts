// Joint-outcome statistics of a structured scenario by exhaustive enumeration of packages (at most 4^5 = 1,024):
// best joint utility, egalitarian and Nash points, the Pareto frontier, the obvious compromise and a uniform random package.
import type { Package, Structured } from "./schema";

export interface ScoredPackage {
  package: Package;
  a: number;
  b: number;
}

export interface JointOutcomeStats {
  packageCount: number;
  /** Best total each side could get alone. */
  maxA: number;
  maxB: number;
  /** Highest a+b, and one package reaching it (first in enumeration order). */
  maxJoint: number;
  maxJointPackage: ScoredPackage;
  /** Highest min(a, b) (egalitarian optimum). */
  maxMin: number;
  /** Package maximising a*b (Nash bargaining point with zero disagreement utility). */
  nash: ScoredPackage;
  /** Pareto-optimal packages (no other package is at least as good for both and better for one), sorted by a. */
  pareto: ScoredPackage[];
  /** Per issue the non-creative option with the largest min(a, b) (ties: larger a+b, then first): the obvious split. */
  compromise: ScoredPackage;
  /** Expectations of a package drawn uniformly at random. */
  random: { meanA: number; meanB: number; meanJoint: number; sdJoint: number; meanMin: number; fracPareto: number };
}

/** Totals of a package for both sides; throws on an unknown issue or option id. */
export function scorePackage(structured: Structured, pkg: Package): { a: number; b: number } {
  let a = 0;
  let b = 0;
  for (const issue of structured.issues) {
    const optId = pkg[issue.id];
    const opt = issue.options.find((o) => o.id === optId);
    if (!opt) throw new RangeError(`package has no valid option for issue "${issue.id}" (got ${String(optId)})`);
    a += opt.utility.a;
    b += opt.utility.b;
  }
  return { a, b };
}

/** Every package with its totals, in lexicographic option order. */
export function enumerateScoredPackages(structured: Structured): ScoredPackage[] {
  const out: ScoredPackage[] = [];
  const issues = structured.issues;
  const idx = new Array<number>(issues.length).fill(0);
  for (;;) {
    const pkg: Package = {};
    let a = 0;
    let b = 0;
    issues.forEach((issue, i) => {
      const o = issue.options[idx[i]!]!;
      pkg[issue.id] = o.id;
      a += o.utility.a;
      b += o.utility.b;
    });
    out.push({ package: pkg, a, b });
    let k = issues.length - 1;
    while (k >= 0 && idx[k]! + 1 >= issues[k]!.options.length) idx[k--] = 0;
    if (k < 0) return out;
    idx[k]!++;
  }
}

/** Pure summary of what agreements are possible in a scenario (independent of any judge's scoring rule). */
export function jointOutcomeStats(structured: Structured): JointOutcomeStats {
  const all = enumerateScoredPackages(structured);
  const n = all.length;
  let maxA = -Infinity, maxB = -Infinity, maxJoint = -Infinity, maxMin = -Infinity, bestNash = -Infinity;
  let maxJointPackage = all[0]!;
  let nash = all[0]!;
  let sumA = 0, sumB = 0, sumJ = 0, sumJ2 = 0, sumMin = 0;
  for (const p of all) {
    const j = p.a + p.b;
    maxA = Math.max(maxA, p.a);
    maxB = Math.max(maxB, p.b);
    if (j > maxJoint) {
      maxJoint = j;
      maxJointPackage = p;
    }
    maxMin = Math.max(maxMin, Math.min(p.a, p.b));
    if (p.a * p.b > bestNash) {
      bestNash = p.a * p.b;
      nash = p;
    }
    sumA += p.a;
    sumB += p.b;
    sumJ += j;
    sumJ2 += j * j;
    sumMin += Math.min(p.a, p.b);
  }
  const pareto = paretoFrontier(all);
  const paretoKeys = new Set(pareto.map((p) => `${p.a},${p.b}`));
  const meanJ = sumJ / n;
  const compromisePkg: Package = {};
  for (const issue of structured.issues) {
    const regular = issue.options.filter((o) => !o.creative);
    const pool = regular.length ? regular : issue.options;
    let best = pool[0]!;
    for (const o of pool) {
      const m = Math.min(o.utility.a, o.utility.b);
      const bm = Math.min(best.utility.a, best.utility.b);
      if (m > bm || (m === bm && o.utility.a + o.utility.b > best.utility.a + best.utility.b)) best = o;
    }
    compromisePkg[issue.id] = best.id;
  }
  return {
    packageCount: n,
    maxA,
    maxB,
    maxJoint,
    maxJointPackage,
    maxMin,
    nash,
    pareto,
    compromise: { package: compromisePkg, ...scorePackage(structured, compromisePkg) },
    random: {
      meanA: sumA / n,
      meanB: sumB / n,
      meanJoint: meanJ,
      sdJoint: Math.sqrt(Math.max(0, sumJ2 / n - meanJ * meanJ)),
      meanMin: sumMin / n,
      fracPareto: all.filter((p) => paretoKeys.has(`${p.a},${p.b}`)).length / n,
    },
  };
}

/** Pareto-optimal points, sorted by a ascending (sweep over a descending, keeping the best b so far). O(n log n). */
export function paretoFrontier(points: readonly ScoredPackage[]): ScoredPackage[] {
  const sorted = points.slice().sort((x, y) => y.a - x.a || y.b - x.b);
  const out: ScoredPackage[] = [];
  let bestB = -Infinity;
  let lastA = NaN;
  let lastB = NaN;
  for (const p of sorted) {
    if (p.b > bestB) {
      out.push(p);
      bestB = p.b;
      lastA = p.a;
      lastB = p.b;
    } else if (p.a === lastA && p.b === lastB) {
      out.push(p); // same point as a frontier package: also optimal
    }
  }
  return out.reverse();
}
