import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { InputError } from "../../src/core/errors";
import { generateOfflineDataset } from "../../src/data/offline";
import { loadScenarios, loadDatasetFile, datasetStats, formatDatasetStats, saveScenarios } from "../../src/data/dataset";
import { dedupRecords, jaccard, shingles, NearDuplicateIndex } from "../../src/data/dedup";
import { loadBanks, loadBankFile, DilemmaBankSchema } from "../../src/data/banks";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dataset-"));
const data = generateOfflineDataset({ seed: 11, counts: { train: 6, evalConflict: 3, evalOpen: 3 } });
const good = JSON.stringify(data.train[0]);

function badFile(name: string, badLine: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, [good, JSON.stringify(data.train[1]), badLine].join("\n") + "\n");
  return f;
}

function mutate(fn: (s: Record<string, any>) => void): string {
  const s = JSON.parse(good) as Record<string, any>;
  fn(s);
  return JSON.stringify(s);
}

const cases: Array<[string, string, RegExp, string | undefined]> = [
  ["invalid-json", '{"id": "x", "category": ', /invalid JSON/, undefined],
  ["missing-field", mutate((s) => delete s.dilemma), /expected string/, "dilemma"],
  ["wrong-type", mutate((s) => (s.pair.a.coreValues = "frugality")), /expected array/, "pair.a.coreValues"],
  ["unknown-category", mutate((s) => (s.category = "medical")), /professional/, "category"],
  ["utility-out-of-range", mutate((s) => (s.structured.issues[1].options[0].utility.b = 11)), /10/, "structured.issues.1.options.0.utility.b"],
  ["utility-not-integer", mutate((s) => (s.structured.issues[0].options[1].utility.a = 2.5)), /int/i, "structured.issues.0.options.1.utility.a"],
  ["duplicate-issue", mutate((s) => (s.structured.issues[1].id = s.structured.issues[0].id)), /duplicate issue id/, "structured.issues.1.id"],
];

for (const [name, line, msg, field] of cases) {
  test(`bad record (${name}) -> InputError naming file, line 3${field ? " and field " + field : ""}`, () => {
    const f = badFile(`${name}.jsonl`, line);
    for (const load of [loadScenarios, loadDatasetFile]) {
      assert.throws(
        () => load(f),
        (e: unknown) => {
          assert.ok(e instanceof InputError, String(e));
          assert.equal(e.file, f);
          assert.equal(e.line, 3);
          assert.equal(e.field, field);
          assert.match(e.message, msg);
          assert.ok(e.message.startsWith(`${f}:3`));
          return true;
        },
      );
    }
  });
}

test("bank validation errors name the file and field", () => {
  const banks = loadBanks();
  const bad = JSON.parse(JSON.stringify(banks.dilemmas)) as { templates: Array<{ text: string; issues: Array<{ options: unknown[] }> }> };
  bad.templates[2]!.text += " {missing}";
  const f = path.join(dir, "dilemmas.json");
  fs.writeFileSync(f, JSON.stringify(bad));
  assert.throws(() => loadBankFile(f, DilemmaBankSchema), (e: unknown) => e instanceof InputError && e.file === f && e.field === "templates.2.text" && /\{missing\}/.test(e.message));
  bad.templates[2]!.text = bad.templates[2]!.text.replace(" {missing}", "");
  bad.templates[4]!.issues[1]!.options = [{ id: "only", label: "one" }];
  fs.writeFileSync(f, JSON.stringify(bad));
  assert.throws(() => loadBankFile(f, DilemmaBankSchema), (e: unknown) => e instanceof InputError && e.field === "templates.4.issues.1.options");
});

test("mixed files load; stats count categories, splits, kinds; save round-trips", () => {
  const f = path.join(dir, "mixed.jsonl");
  fs.writeFileSync(f, [...data.train, ...data.evalConflict, ...data.evalOpen].map((r) => JSON.stringify(r) + "\n").join(""));
  const recs = loadDatasetFile(f);
  assert.equal(recs.length, 12);
  const st = datasetStats(recs);
  assert.deepEqual(st.bySplit, { train: 6, eval_conflict: 3, eval_open: 3 });
  assert.deepEqual(st.byCategory, { professional: 4, interpersonal: 4, everyday: 4 });
  assert.equal(Object.values(st.byTension).reduce((a, b) => a + b, 0), 9);
  const kinds = Object.values(st.issueKinds).reduce((a, b) => a + b, 0);
  assert.equal(kinds, [...data.train, ...data.evalConflict].reduce((a, s) => a + s.structured!.issues.length, 0));
  assert.match(formatDatasetStats(st), /eval_conflict\s+3\s+25\.0/);
  const g = path.join(dir, "saved.jsonl");
  saveScenarios(g, data.train);
  assert.deepEqual(loadScenarios(g), data.train);
});

test("dedup: near-duplicates dropped, distinct kept; Jaccard basics", () => {
  const a = "The plant manager must decide whether to recall the heaters before winter.";
  const b = "The plant manager must decide whether to recall the heaters before the winter.";
  const c = "Two friends argue about splitting the rent after one of them got a big raise.";
  assert.equal(jaccard(shingles(a), shingles(a)), 1);
  assert.ok(jaccard(shingles(a), shingles(b)) > 0.6);
  assert.equal(jaccard(shingles(a), shingles(c)), 0);
  const recs = [{ id: "1", t: a }, { id: "2", t: c }, { id: "3", t: b }, { id: "4", t: a.toUpperCase() }];
  const res = dedupRecords(recs, (r) => r.id, (r) => r.t, 0.6);
  assert.deepEqual(res.kept.map((r) => r.id), ["1", "2"]);
  assert.deepEqual(res.dropped.map((d) => [d.record.id, d.duplicateOf]), [["3", "1"], ["4", "1"]]);
  const idx = new NearDuplicateIndex(0.9);
  idx.add("x", a);
  assert.equal(idx.findNear(b), null);
  assert.deepEqual(idx.findNear(a), { id: "x", similarity: 1 });
  // the offline training set has no near-duplicates at the synthesiser's default threshold
  const train = generateOfflineDataset({ seed: 11, counts: { train: 300, evalConflict: 0, evalOpen: 0 } }).train;
  assert.equal(dedupRecords(train, (s) => s.id, (s) => s.dilemma, 0.8).dropped.length, 0);
});
