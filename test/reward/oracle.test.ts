import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../../src/core/rng";
import type { Structured } from "../../src/data/schema";
import {
  enumeratePackages, isCompletePackage, maxNashPackage, oracleAgreement, oracleCaScore, oracleTable, packageUtility,
} from "../../src/reward/oracle";
import { randomStructured } from "./fixtures";
import { oracleScoreDistributions } from "../../src/reward/diagnostics";

// price is opposed; timeline is integrative with a creative "phased" option that gives both sides more.
const clinic: Structured = {
  issues: [
    { id: "price", label: "Price", kind: "opposed", options: [
      { id: "low", label: "low", utility: { a: 10, b: 0 } },
      { id: "mid", label: "mid", utility: { a: 5, b: 5 } },
      { id: "high", label: "high", utility: { a: 0, b: 10 } },
    ] },
    { id: "timeline", label: "Timeline", kind: "integrative", options: [
      { id: "fast", label: "fast", utility: { a: 2, b: 8 } },
      { id: "slow", label: "slow", utility: { a: 6, b: 1 } },
      { id: "phased", label: "phased", utility: { a: 8, b: 9 }, creative: true },
    ] },
  ],
};

test("no agreement and incomplete packages score 0", () => {
  assert.deepEqual(oracleCaScore(clinic, null), { score: 0, agreed: false });
  assert.equal(oracleCaScore(clinic, { price: "mid" }).score, 0);
  assert.equal(oracleCaScore(clinic, { price: "mid", timeline: "nope" }).score, 0);
  assert.equal(oracleCaScore(clinic, { price: "mid", timeline: "fast", extra: "x" }).score, 0);
});

test("hand-made scenario: exact components and scores", () => {
  // Raw sums: a in [2, 18], b in [1, 19]. (mid, phased) = (13, 14): u_a = 11/16, u_b = 13/18.
  const r = oracleCaScore(clinic, { price: "mid", timeline: "phased" });
  assert.equal(r.agreed, true);
  assert.equal(r.components!.utilityA, 13);
  assert.equal(r.components!.utilityB, 14);
  assert.equal(r.components!.pareto, 1);
  assert.equal(r.score, 5);
  // (low, slow) = (16, 1): dominated by (low, phased) = (18, 9).
  const d = oracleCaScore(clinic, { price: "low", timeline: "slow" });
  assert.equal(d.components!.pareto, 0);
  assert.ok(d.components!.dominators >= 1);
  assert.ok(d.score >= 1 && d.score <= 4);
});

test("a Pareto-dominated agreement scores below the package that dominates it", () => {
  const dominated = { price: "mid", timeline: "slow" }; // (11, 6)
  const better = { price: "mid", timeline: "phased" }; // (13, 14)
  assert.ok(oracleCaScore(clinic, dominated).score < oracleCaScore(clinic, better).score);
  const dominated2 = { price: "high", timeline: "fast" }; // (2, 18) vs (8, 19)
  assert.ok(oracleCaScore(clinic, dominated2).score < oracleCaScore(clinic, { price: "high", timeline: "phased" }).score);
});

test("the creative option scores highest where it exists", () => {
  const scores = enumeratePackages(clinic).map((p) => ({ p, s: oracleCaScore(clinic, p).score }));
  const top = Math.max(...scores.map((x) => x.s));
  assert.equal(top, 5);
  for (const x of scores) if (x.p["timeline"] !== "phased") assert.ok(x.s < top, JSON.stringify(x));
  assert.deepEqual(maxNashPackage(clinic), { price: "mid", timeline: "phased" });
});

test("enumeration covers every package once; utilities add up", () => {
  const all = enumeratePackages(clinic);
  assert.equal(all.length, 9);
  assert.equal(new Set(all.map((p) => JSON.stringify(p))).size, 9);
  assert.ok(all.every((p) => isCompletePackage(clinic, p)));
  assert.deepEqual(packageUtility(clinic, { price: "high", timeline: "slow" }), { a: 6, b: 11 });
  assert.equal(oracleTable(clinic).packageCount, 9);
});

test("property: improving one side without hurting the other never lowers the score (300 random scenarios)", () => {
  const rng = new Rng(11);
  let strictChecks = 0;
  for (let k = 0; k < 300; k++) {
    const s = randomStructured(rng.fork("scenario", k));
    const pk = enumeratePackages(s);
    const scored = pk.map((p) => ({ u: packageUtility(s, p), r: oracleCaScore(s, p) }));
    for (const x of scored) assert.ok(Number.isInteger(x.r.score) && x.r.score >= 1 && x.r.score <= 5);
    for (let t = 0; t < 60; t++) {
      const x = rng.choice(scored), y = rng.choice(scored);
      if (y.u.a >= x.u.a && y.u.b >= x.u.b) {
        assert.ok(y.r.score >= x.r.score, `monotone: ${JSON.stringify([x.u, x.r.score, y.u, y.r.score])}`);
        if (y.u.a > x.u.a || y.u.b > x.u.b) {
          assert.ok(y.r.score > x.r.score || x.r.score === 1, "dominated scores strictly lower unless at the floor");
          assert.ok(y.r.components!.joint >= x.r.components!.joint && y.r.components!.worse >= x.r.components!.worse);
          strictChecks++;
        }
      }
    }
  }
  assert.ok(strictChecks > 100);
});

test("random agreements score far below max-Nash agreements (1,000 scenarios)", () => {
  const rng = new Rng(1);
  let sumR = 0, sumN = 0, lowR = 0, topN = 0;
  for (let k = 0; k < 1000; k++) {
    const s = randomStructured(rng.fork("s", k));
    const r = oracleCaScore(s, rng.choice(enumeratePackages(s))).score;
    const n = oracleCaScore(s, maxNashPackage(s)).score;
    sumR += r; sumN += n; if (r <= 2) lowR++; if (n === 5) topN++;
  }
  assert.ok(sumR / 1000 < 2.6, `random mean ${sumR / 1000}`);
  assert.ok(sumN / 1000 > 4.8, `nash mean ${sumN / 1000}`);
  assert.ok(lowR > 550 && topN > 950);
});

test("oracleAgreement: same complete package on both sides, else the reason", () => {
  const p = { price: "mid", timeline: "phased" };
  assert.deepEqual(oracleAgreement(clinic, p, { timeline: "phased", price: "mid" }), { agreed: true, package: p });
  assert.equal(oracleAgreement(clinic, p, null).reason, "side b committed to no package");
  assert.equal(oracleAgreement(clinic, null, null).agreed, false);
  assert.match(oracleAgreement(clinic, p, { price: "low", timeline: "phased" }).reason!, /differ on price/);
  assert.match(oracleAgreement(clinic, { price: "mid" }, { price: "mid" }).reason!, /side a's package is incomplete/);
});

test("oracleScoreDistributions: exact counts are reproducible from the seed", () => {
  const forms = Array.from({ length: 200 }, (_, k) => randomStructured(new Rng(5).fork("form", k)));
  const a = oracleScoreDistributions(forms, new Rng(9));
  const b = oracleScoreDistributions(forms, new Rng(9));
  assert.deepEqual(a, b);
  assert.equal(a.random.counts.reduce((x, y) => x + y), 200);
  assert.equal(a.random.counts[0], 0);
  assert.ok(a.maxNash.mean > a.random.mean + 2);
});
