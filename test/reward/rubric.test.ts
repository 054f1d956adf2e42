import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { InputError } from "../../src/core/errors";
import {
  loadRubric, parseRubric, renderAgreementPrompt, renderPairwisePrompt, renderPointwisePrompt, renderTemplate, rubricHash,
  templatePlaceholders, TEMPLATE_NAMES,
} from "../../src/reward/rubric";
import { scenarioWith } from "./fixtures";

test("the shipped rubric loads, validates and hashes canonically", () => {
  const r = loadRubric();
  assert.equal(r.rubric.id, "collective-agency");
  assert.equal(r.rubric.version, 1);
  assert.deepEqual(r.rubric.aspects.map((a) => a.id), ["knowledge", "benevolence", "power", "vitality"]);
  assert.match(r.hash, /^[0-9a-f]{64}$/);
  // Key order does not matter; wording does.
  const { templates, ...rest } = r.rubric;
  const shuffled = JSON.parse(JSON.stringify({ templates, ...rest }));
  assert.notEqual(Object.keys(shuffled)[0], Object.keys(r.rubric)[0]);
  assert.equal(rubricHash(shuffled), r.hash);
  assert.notEqual(rubricHash({ ...r.rubric, title: r.rubric.title + "!" }), r.hash);
});

test("validation errors name the file and the field", () => {
  const r = loadRubric().rubric;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rubric-"));
  const file = path.join(dir, "bad.json");
  const bad = JSON.parse(JSON.stringify(r));
  delete bad.anchors["3"];
  fs.writeFileSync(file, JSON.stringify(bad));
  assert.throws(() => loadRubric(file), (e: unknown) => e instanceof InputError && e.file === file && e.field === "anchors.3");
  const bad2 = JSON.parse(JSON.stringify(r));
  bad2.aspects[1].id = "wisdom";
  assert.throws(() => parseRubric(bad2, "x.json"), (e: unknown) => e instanceof InputError && e.field === "aspects.1.id" && /x\.json/.test(e.message));
  fs.writeFileSync(file, "{not json");
  assert.throws(() => loadRubric(file), /invalid JSON/);
  assert.throws(() => loadRubric(path.join(dir, "missing.json")), /cannot read rubric/);
});

test("renderTemplate substitutes placeholders and rejects missing ones", () => {
  assert.equal(renderTemplate("Hi {{ name }}, {{x}}{{x}}", { name: "Ann", x: "{{y}}" }), "Hi Ann, {{y}}{{y}}");
  assert.throws(() => renderTemplate("{{a}} {{b}}", { a: "1" }, "templates.t.user"), (e: unknown) => e instanceof InputError && /\{\{b\}\}/.test(e.message) && e.field === "templates.t.user");
  assert.deepEqual(templatePlaceholders("{{a}} {{ b }} {{a}}"), ["a", "b"]);
});

test("every template renders with the judges' variables, leaving no placeholder", () => {
  const { rubric } = loadRubric();
  const sc = scenarioWith(undefined);
  const prompts = [
    renderPointwisePrompt(rubric, { scenario: sc, solution: "Phase the rollout." }),
    renderPointwisePrompt(rubric, { scenario: sc, solution: "Phase it.", dialogue: [{ speaker: "A", text: "Cut costs." }, { speaker: "B", text: "Keep quality." }] }),
    renderAgreementPrompt(rubric, { scenario: sc, turns: [{ speaker: "A", text: "Deal?" }] }),
    renderPairwisePrompt(rubric, "pairwise_ca", { scenario: sc, first: "S-ONE", second: "S-TWO" }),
    renderPairwisePrompt(rubric, "pairwise_conflict", { scenario: sc, first: "N-ONE", second: "N-TWO" }),
  ];
  for (const p of prompts) {
    assert.doesNotMatch(p.system + p.user, /\{\{/);
    assert.match(p.user, /clinic must decide/);
    assert.match(p.user, /Cost Controller/);
  }
  assert.doesNotMatch(prompts[0]!.user, /Negotiation that led to it/);
  assert.match(prompts[1]!.user, /Negotiation that led to it[\s\S]*A: Cut costs\./);
  assert.match(prompts[0]!.user, /5: An exemplary solution/);
  assert.ok(prompts[3]!.user.indexOf("S-ONE") < prompts[3]!.user.indexOf("S-TWO"));
  assert.equal(TEMPLATE_NAMES.length, 4);
});
