import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadBanks } from "../../src/data/banks";
import { generateOfflineDataset, writeOfflineDataset, PAPER_COUNTS } from "../../src/data/offline";
import { jointOutcomeStats, enumerateScoredPackages, scorePackage, paretoFrontier } from "../../src/data/outcomes";
import { splitOverlap, loadScenarios, loadOpenQuestions, datasetStats } from "../../src/data/dataset";
import { ScenarioSchema, CATEGORIES, type Structured } from "../../src/data/schema";
import { jaccard, shingles } from "../../src/data/dedup";

const banks = loadBanks();
const data = generateOfflineDataset({ seed: 7, banks });

test("banks: >= 25 training persona pairs with distinct tensions, eval pairs disjoint, all categories have train and eval templates", () => {
  const train = banks.personas.pairs.filter((p) => p.split === "train");
  const evalPairs = banks.personas.pairs.filter((p) => p.split === "eval");
  assert.ok(train.length >= 25);
  assert.ok(evalPairs.length >= 5);
  assert.equal(new Set(banks.personas.pairs.map((p) => p.tension)).size, banks.personas.pairs.length);
  for (const c of CATEGORIES) {
    assert.ok(banks.dilemmas.templates.filter((t) => t.category === c && t.split === "train").length >= 5, c);
    assert.ok(banks.dilemmas.templates.filter((t) => t.category === c && t.split === "eval").length >= 2, c);
    for (const t of banks.dilemmas.templates.filter((x) => x.category === c)) assert.ok(Object.keys(t.slots).length >= 4, `${t.id} has few slots`);
  }
});

test("paper-sized sets, schema-valid, balanced categories, unique texts", () => {
  assert.equal(data.train.length, PAPER_COUNTS.train);
  assert.equal(data.evalConflict.length, 100);
  assert.equal(data.evalOpen.length, 100);
  for (const s of [...data.train, ...data.evalConflict]) {
    ScenarioSchema.parse(s);
    assert.ok(s.structured, "every offline scenario is structured");
  }
  const counts = datasetStats(data.train).byCategory;
  for (const c of CATEGORIES) assert.ok(Math.abs(counts[c]! - 1100 / 3) <= 1, `${c}: ${counts[c]}`);
  assert.equal(new Set(data.train.map((s) => s.dilemma)).size, 1100);
  assert.equal(new Set(data.evalOpen.map((s) => s.question)).size, 100);
  assert.equal(new Set(data.train.map((s) => s.id)).size, 1100);
  // variety: training texts from the same template still differ a lot on average
  const sameTpl = data.train.filter((s) => s.provenance.template === "pro-product-defect").slice(0, 40);
  let sum = 0, n = 0;
  for (let i = 0; i < sameTpl.length; i++) for (let j = i + 1; j < sameTpl.length; j++) {
    sum += jaccard(shingles(sameTpl[i]!.dilemma), shingles(sameTpl[j]!.dilemma));
    n++;
  }
  assert.ok(sum / n < 0.45, `mean within-template Jaccard ${sum / n}`);
});

test("held-out sets are disjoint from training by pair, persona, template, text and id", () => {
  const o = splitOverlap(data.train, data.evalConflict);
  assert.deepEqual(o, { ids: [], dilemmas: [], pairs: [], personas: [], templates: [] });
  const trainTexts = new Set(data.train.map((s) => s.dilemma));
  for (const q of data.evalOpen) assert.ok(!trainTexts.has(q.question));
  const evalPairIds = new Set(banks.personas.pairs.filter((p) => p.split === "eval").map((p) => p.id));
  assert.ok(data.evalConflict.every((s) => evalPairIds.has(s.pair.id)));
  assert.equal(new Set(data.evalConflict.map((s) => s.pair.id)).size, evalPairIds.size, "every fixed eval pair is used");
  // the check itself catches a leak
  const leaked = splitOverlap(data.train, [...data.evalConflict, data.train[3]!]);
  assert.deepEqual(leaked.ids, [data.train[3]!.id]);
  assert.ok(leaked.pairs.includes(data.train[3]!.pair.id));
});

test("same seed -> byte-identical files; another seed differs", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "synth-"));
  const a = writeOfflineDataset(path.join(dir, "a"), data);
  const b = writeOfflineDataset(path.join(dir, "b"), generateOfflineDataset({ seed: 7, banks }));
  const c = writeOfflineDataset(path.join(dir, "c"), generateOfflineDataset({ seed: 8, banks }));
  for (const k of ["train", "evalConflict", "evalOpen"] as const) {
    assert.ok(fs.readFileSync(a[k]).equals(fs.readFileSync(b[k])), k);
    assert.ok(!fs.readFileSync(a[k]).equals(fs.readFileSync(c[k])), k);
  }
  assert.equal(loadScenarios(a.train).length, 1100);
  assert.equal(loadOpenQuestions(a.evalOpen).length, 100);
  // item i does not depend on how many items are generated
  const small = generateOfflineDataset({ seed: 7, banks, counts: { train: 10, evalConflict: 3, evalOpen: 2 } });
  assert.deepEqual(small.train, data.train.slice(0, 10));
  assert.deepEqual(small.evalOpen, data.evalOpen.slice(0, 2));
});

test("structured forms: mix of kinds, creative options that beat the compromise, random packages clearly worse", () => {
  const stats = datasetStats(data.train);
  for (const k of ["opposed", "compatible", "integrative"]) assert.ok((stats.issueKinds[k] ?? 0) > 300, k);
  assert.ok(stats.creativeOptions > 200);
  for (const n of ["2", "3", "4", "5"]) assert.ok((stats.issueCounts[n] ?? 0) > 50, `issues=${n}`);
  const scen = [...data.train, ...data.evalConflict].slice(0, 1000);
  let ratio = 0, gapSum = 0, paretoFrac = 0, compromiseGap = 0, compromiseOverRandom = 0;
  for (const s of scen) {
    const st = jointOutcomeStats(s.structured!);
    assert.ok(st.maxJoint > st.random.meanJoint + 2, `${s.id}: max ${st.maxJoint} vs random ${st.random.meanJoint}`);
    assert.ok(st.maxJoint >= st.compromise.a + st.compromise.b, `${s.id}: nothing beats the best package`);
    compromiseGap += st.maxJoint - (st.compromise.a + st.compromise.b);
    compromiseOverRandom += st.compromise.a + st.compromise.b - st.random.meanJoint;
    ratio += st.random.meanJoint / st.maxJoint;
    gapSum += (st.maxJoint - st.random.meanJoint) / Math.max(1e-9, st.random.sdJoint);
    paretoFrac += st.random.fracPareto;
    for (const issue of s.structured!.issues) {
      const creative = issue.options.find((o) => o.creative);
      if (!creative || issue.kind !== "opposed") continue;
      const mid = Math.max(...issue.options.filter((o) => !o.creative).map((o) => Math.min(o.utility.a, o.utility.b)));
      assert.ok(Math.min(creative.utility.a, creative.utility.b) > mid, `${s.id}/${issue.id}: creative beats compromise for both`);
    }
  }
  assert.ok(compromiseGap / scen.length > 3, `integrative packages beat the per-issue compromise by ${compromiseGap / scen.length} on average`);
  assert.ok(compromiseOverRandom / scen.length > 3, `the compromise beats a random package by ${compromiseOverRandom / scen.length}`);
  assert.ok(ratio / scen.length < 0.78, `random/max joint ${ratio / scen.length}`);
  assert.ok(gapSum / scen.length > 1.5, `best package is ${gapSum / scen.length} SDs above random`);
  assert.ok(paretoFrac / scen.length < 0.35, `random package on the frontier ${paretoFrac / scen.length}`);
});

test("jointOutcomeStats on a hand-built scenario", () => {
  const s: Structured = {
    issues: [
      { id: "x", label: "x", kind: "integrative", options: [{ id: "p", label: "p", utility: { a: 10, b: 0 } }, { id: "q", label: "q", utility: { a: 0, b: 3 } }] },
      { id: "y", label: "y", kind: "integrative", options: [{ id: "p", label: "p", utility: { a: 3, b: 0 } }, { id: "q", label: "q", utility: { a: 0, b: 10 } }] },
    ],
  };
  const st = jointOutcomeStats(s);
  assert.equal(st.packageCount, 4);
  assert.equal(st.maxJoint, 20);
  assert.deepEqual(st.maxJointPackage.package, { x: "p", y: "q" });
  assert.equal(st.maxMin, 10);
  assert.deepEqual(st.pareto.map((p) => [p.a, p.b]), [[0, 13], [10, 10], [13, 0]]);
  assert.equal(st.random.meanJoint, (13 + 20 + 6 + 13) / 4);
  assert.deepEqual(st.nash.package, { x: "p", y: "q" });
  assert.equal(st.random.fracPareto, 3 / 4);
  assert.deepEqual(scorePackage(s, { x: "q", y: "p" }), { a: 3, b: 3 });
  assert.throws(() => scorePackage(s, { x: "zz", y: "p" }), /issue "x"/);
  assert.equal(enumerateScoredPackages(s).length, 4);
  const pts = [{ a: 1, b: 1 }, { a: 2, b: 0 }, { a: 0, b: 2 }, { a: 1, b: 0 }].map((p) => ({ package: {}, ...p }));
  assert.deepEqual(paretoFrontier(pts).map((p) => [p.a, p.b]), [[0, 2], [1, 1], [2, 0]]);
});
