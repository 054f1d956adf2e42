// Oracle judges for the structured world: agreement from parsed packages, and a Collective Agency score 0-5 from
// ground-truth utilities, normalised per scenario over every achievable package (the "Deal or No Deal" setup).
//
// The oracle CA score (ORACLE_CA_FORMULA, version 1). For a scenario with issues i and options o, a package p picks
// one option per issue; U_a(p) = sum_i utility_a, U_b(p) = sum_i utility_b. Over the set P of all packages:
//   u_a = (U_a - min_P U_a) / (max_P U_a - min_P U_a)      each side's utility normalised to its achievable range
//   u_b likewise                                            (a side whose range is empty counts as 1)
//   joint  = minmax_P(u_a + u_b)                            how much value the deal creates, 0..1
//   worse  = minmax_P(min(u_a, u_b))                        how well the worse-off side does, 0..1
//   q      = (joint + worse) / 2
//   base   = 1 + round(4 * q)                               1..5
//   pareto = 1 if no package gives one side more and the other no less, else 0
//   score  = 0                                              without agreement
//          = base                                           for a Pareto-efficient agreement
//          = max(1, min(base, min_{d dominates p} score(d) - 1))   for a dominated one
// (minmax_P(x) = (x - min_P x) / (max_P x - min_P x), 1 when the range is empty.) Every term is non-decreasing when
// one side gains and the other loses nothing, so the score is monotone; a dominated agreement scores strictly
// below every agreement that dominates it (floor 1); Pareto-optimal, balanced, value-creating deals score 5.
import type { Package, Structured } from "../data/schema";

/** Identifies this formula in judge results (change when the formula changes). */
export const ORACLE_CA_ID = "oracle-ca";
export const ORACLE_CA_VERSION = 1;

export interface PackageUtility {
  a: number;
  b: number;
}

export interface OracleCaComponents {
  /** Raw utility sums of the package for each side. */
  utilityA: number;
  utilityB: number;
  /** Normalised joint value 0..1. */
  joint: number;
  /** Normalised utility of the worse-off side 0..1. */
  worse: number;
  /** 1 if Pareto-efficient among all packages, else 0. */
  pareto: 0 | 1;
  /** Number of distinct utility points that Pareto-dominate this package. */
  dominators: number;
  /** (joint + worse) / 2. */
  quality: number;
  /** 1 + round(4 * quality), before the Pareto rule. */
  base: number;
}

export interface OracleCaResult {
  /** Integer 0..5. */
  score: number;
  agreed: boolean;
  /** Absent without agreement. */
  components?: OracleCaComponents;
}

/** Per-scenario table of every achievable utility point with its oracle score. */
export interface OracleTable {
  /** Number of packages (product of option counts). */
  packageCount: number;
  minA: number;
  maxA: number;
  minB: number;
  maxB: number;
  /** Distinct (U_a, U_b) points, keyed "a,b". */
  points: Map<string, OraclePoint>;
}

interface OraclePoint {
  a: number;
  b: number;
  components: OracleCaComponents;
  score: number;
}

/** Every package of a scenario, in odometer order (first issue varies slowest). At most 4^5 = 1024. */
export function enumeratePackages(s: Structured): Package[] {
  let out: Package[] = [{}];
  for (const issue of s.issues) {
    const next: Package[] = [];
    for (const p of out) for (const o of issue.options) next.push({ ...p, [issue.id]: o.id });
    out = next;
  }
  return out;
}

/** True when pkg names exactly the scenario's issues, each with one of its options. */
export function isCompletePackage(s: Structured, pkg: Package | null | undefined): pkg is Package {
  if (!pkg) return false;
  const keys = Object.keys(pkg);
  if (keys.length !== s.issues.length) return false;
  return s.issues.every((i) => i.options.some((o) => o.id === pkg[i.id]));
}

/** Utility sums of a complete package; throws on an unknown issue or option. */
export function packageUtility(s: Structured, pkg: Package): PackageUtility {
  let a = 0;
  let b = 0;
  for (const issue of s.issues) {
    const opt = issue.options.find((o) => o.id === pkg[issue.id]);
    if (!opt) throw new RangeError(`package has no valid option for issue "${issue.id}" (got ${JSON.stringify(pkg[issue.id])})`);
    a += opt.utility.a;
    b += opt.utility.b;
  }
  return { a, b };
}

const tableCache = new WeakMap<Structured, OracleTable>();

function minmax(x: number, lo: number, hi: number): number {
  return hi > lo ? (x - lo) / (hi - lo) : 1;
}

/** Builds (and caches per structured object) the oracle table: O(D^2) in the number D of distinct points. */
export function oracleTable(s: Structured): OracleTable {
  const cached = tableCache.get(s);
  if (cached) return cached;
  const raw = new Map<string, PackageUtility>();
  let packageCount = 0;
  // Enumerate utility sums directly (no package objects): sums over issues of option utilities.
  let sums: PackageUtility[] = [{ a: 0, b: 0 }];
  for (const issue of s.issues) {
    const next: PackageUtility[] = [];
    for (const p of sums) for (const o of issue.options) next.push({ a: p.a + o.utility.a, b: p.b + o.utility.b });
    sums = next;
  }
  packageCount = sums.length;
  for (const p of sums) raw.set(`${p.a},${p.b}`, p);
  const pts = [...raw.values()];
  const minA = Math.min(...pts.map((p) => p.a));
  const maxA = Math.max(...pts.map((p) => p.a));
  const minB = Math.min(...pts.map((p) => p.b));
  const maxB = Math.max(...pts.map((p) => p.b));
  const norm = pts.map((p) => {
    const ua = minmax(p.a, minA, maxA);
    const ub = minmax(p.b, minB, maxB);
    return { ua, ub, sum: ua + ub, worse: Math.min(ua, ub) };
  });
  const sMin = Math.min(...norm.map((n) => n.sum));
  const sMax = Math.max(...norm.map((n) => n.sum));
  const wMin = Math.min(...norm.map((n) => n.worse));
  const wMax = Math.max(...norm.map((n) => n.worse));
  // Process points by decreasing a+b: every dominator of p has a strictly larger raw sum, so it is scored first.
  const order = pts.map((_, i) => i).sort((i, j) => pts[j]!.a + pts[j]!.b - (pts[i]!.a + pts[i]!.b));
  const scores = new Array<number>(pts.length).fill(0);
  const points = new Map<string, OraclePoint>();
  for (const i of order) {
    const p = pts[i]!;
    const n = norm[i]!;
    const joint = minmax(n.sum, sMin, sMax);
    const worse = minmax(n.worse, wMin, wMax);
    const quality = (joint + worse) / 2;
    const base = 1 + Math.round(4 * quality);
    let dominators = 0;
    let minDom = Infinity;
    for (let j = 0; j < pts.length; j++) {
      const q = pts[j]!;
      if (q.a >= p.a && q.b >= p.b && (q.a > p.a || q.b > p.b)) {
        dominators++;
        minDom = Math.min(minDom, scores[j]!);
      }
    }
    const score = dominators === 0 ? base : Math.max(1, Math.min(base, minDom - 1));
    scores[i] = score;
    points.set(`${p.a},${p.b}`, {
      a: p.a,
      b: p.b,
      score,
      components: { utilityA: p.a, utilityB: p.b, joint, worse, pareto: dominators === 0 ? 1 : 0, dominators, quality, base },
    });
  }
  const table: OracleTable = { packageCount, minA, maxA, minB, maxB, points };
  tableCache.set(s, table);
  return table;
}

/**
 * Oracle CA score 0..5 of an agreed package (null = no agreement -> 0). An incomplete or invalid package is
 * treated as no agreement. See the formula at the top of this file.
 */
export function oracleCaScore(s: Structured, pkg: Package | null | undefined): OracleCaResult {
  if (!isCompletePackage(s, pkg)) return { score: 0, agreed: false };
  const u = packageUtility(s, pkg);
  const point = oracleTable(s).points.get(`${u.a},${u.b}`)!;
  return { score: point.score, agreed: true, components: { ...point.components } };
}

export interface OracleAgreement {
  agreed: boolean;
  /** The agreed package when agreed, else null. */
  package: Package | null;
  /** Why there is no agreement (absent when agreed). */
  reason?: string;
}

/**
 * Oracle agreement: both sides commit to the same complete package. `a` and `b` are the packages each side last
 * committed to (its last proposal, or the proposal it accepted), already parsed by the negotiation-language parser.
 */
export function oracleAgreement(s: Structured, a: Package | null | undefined, b: Package | null | undefined): OracleAgreement {
  if (!a || !b) return { agreed: false, package: null, reason: !a && !b ? "neither side committed to a package" : `side ${!a ? "a" : "b"} committed to no package` };
  if (!isCompletePackage(s, a)) return { agreed: false, package: null, reason: "side a's package is incomplete or invalid" };
  if (!isCompletePackage(s, b)) return { agreed: false, package: null, reason: "side b's package is incomplete or invalid" };
  const differ = s.issues.filter((i) => a[i.id] !== b[i.id]).map((i) => i.id);
  if (differ.length) return { agreed: false, package: null, reason: `packages differ on ${differ.join(", ")}` };
  const pkg: Package = {};
  for (const i of s.issues) pkg[i.id] = a[i.id]!;
  return { agreed: true, package: pkg };
}

/**
 * The max-Nash-product package: maximises u_a * u_b (normalised utilities, disagreement point = each side's
 * minimum), ties broken by larger u_a + u_b, then by enumeration order. The "best integrative" reference deal.
 */
export function maxNashPackage(s: Structured): Package {
  const t = oracleTable(s);
  let best: Package | undefined;
  let bestKey = [-Infinity, -Infinity];
  for (const p of enumeratePackages(s)) {
    const u = packageUtility(s, p);
    const ua = minmax(u.a, t.minA, t.maxA);
    const ub = minmax(u.b, t.minB, t.maxB);
    const key = [ua * ub, ua + ub];
    if (key[0]! > bestKey[0]! + 1e-12 || (Math.abs(key[0]! - bestKey[0]!) <= 1e-12 && key[1]! > bestKey[1]! + 1e-12)) {
      best = p;
      bestKey = key;
    }
  }
  return best!;
}

/** Distribution of oracle scores over all packages of a scenario (index = score 1..5; index 0 unused). */
export function oracleScoreHistogram(s: Structured): number[] {
  const hist = [0, 0, 0, 0, 0, 0];
  for (const p of enumeratePackages(s)) hist[oracleCaScore(s, p).score]!++;
  return hist;
}
