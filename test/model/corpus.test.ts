import { test } from "node:test";
import assert from "node:assert/strict";
import { InputError } from "../../src/core/errors";
import {
  corpusSplitOf,
  corpusStats,
  generateDocuments,
  loadCorpus,
  parseParagraphs,
  tidyText,
  validateGrammar,
  type CorpusGrammar,
} from "../../src/model/corpus";

test("shipped corpus: size in range, deterministic, splits disjoint by document", () => {
  const all = loadCorpus({ split: "all" });
  const stats = corpusStats(all);
  assert.ok(stats.chars > 300_000 && stats.chars < 1_000_000, `corpus is ${stats.chars} chars`);
  assert.ok(stats.authored >= 40, `only ${stats.authored} authored paragraphs`);
  const train = loadCorpus({ split: "train" });
  const held = loadCorpus({ split: "heldout" });
  assert.equal(train.length + held.length, all.length);
  const trainIds = new Set(train.map((d) => d.id));
  assert.ok(held.every((d) => !trainIds.has(d.id)));
  assert.ok(held.some((d) => d.source === "authored"), "held-out slice includes authored paragraphs");
  const heldFrac = held.length / all.length;
  assert.ok(heldFrac > 0.04 && heldFrac < 0.13, `held-out fraction ${heldFrac}`);
  // same seed -> same text; other seed -> different generated text, same authored text
  assert.deepEqual(loadCorpus({ split: "all", generatedDocuments: 20 }), loadCorpus({ split: "all", generatedDocuments: 20 }));
  const other = loadCorpus({ split: "all", generatedDocuments: 20, seed: 1 });
  assert.notDeepEqual(other.slice(-20).map((d) => d.text), all.slice(-1000, -980).map((d) => d.text));
  // plain text only: printable ASCII and newlines
  for (const d of all) assert.match(d.text, /^[\x20-\x7e\n]+$/, d.id);
});

test("generated document i depends only on (seed, i)", () => {
  const g: CorpusGrammar = {
    version: 1,
    documents: [{ kind: "k", weight: 1, root: "s" }],
    rules: { s: ["{name#1} met {name#2}. {name#1} smiled. {word*2-3}"], name: ["Ann", "Bo", "Cy"], word: ["x.", "y.", "z."] },
  };
  const a = generateDocuments(g, 30, 7);
  const b = generateDocuments(g, 10, 7);
  assert.deepEqual(a.slice(0, 10), b);
  for (const d of a) {
    for (const para of d.text.split("\n")) {
      const m = /^(\w+) met (\w+)\. (\w+) smiled\./.exec(para);
      assert.ok(m, para);
      assert.equal(m[1], m[3], "a bound name is reused within the document");
      assert.notEqual(m[1], m[2], "two bindings of one rule differ");
    }
  }
});

test("tidyText fixes articles and capitals, but not 'said' after a quote", () => {
  assert.equal(tidyText("a owl saw a fox.  then it  left."), "An owl saw a fox. Then it left.");
  assert.equal(tidyText('"What if we share?" said Ada. the end.'), '"What if we share?" said Ada. The end.');
  assert.equal(tidyText('Ben said, "maybe." the next day came.'), 'Ben said, "maybe." The next day came.');
});

test("paragraph and grammar errors name the file, line and field", () => {
  assert.deepEqual(parseParagraphs("# c\n@ a1 topic\nOne line\nand two.\n\n@ b2 t\nX.\n"), [
    { id: "a1", source: "authored", topic: "topic", text: "One line and two." },
    { id: "b2", source: "authored", topic: "t", text: "X." },
  ]);
  assert.throws(() => parseParagraphs("@ a t\nx\n@ a t\ny\n", "p.txt"), (e: unknown) => e instanceof InputError && e.file === "p.txt" && e.line === 3);
  assert.throws(() => parseParagraphs("stray\n", "p.txt"), (e: unknown) => e instanceof InputError && e.line === 1);
  assert.throws(
    () => validateGrammar({ version: 1, documents: [{ kind: "k", weight: 1, root: "s" }], rules: { s: ["{nope}"] } }, "g.json"),
    (e: unknown) => e instanceof InputError && e.field === "rules.s.0" && /unknown rule "nope"/.test(e.message),
  );
  assert.equal(corpusSplitOf("neg-01"), corpusSplitOf("neg-01"));
});
