import { test } from "node:test";
import assert from "node:assert/strict";
import { readNotebook } from "../../src/notebook/ipynb";
import { withExecutedNotebook } from "./helpers";

// Executes notebooks/01-data-synthesis.ipynb headless (tslab through Jupyter) on a small config; the LLM part runs against
// the local scripted server. The notebook imports the built package: run `npm run build` first.
test("notebook 01 (data synthesis) executes headless and shows its tables, figures and examples", async () => {
  const config = () => ({ data: { train: 90, evalConflict: 12, evalOpen: 9, llmItems: 4, llmPairs: 2 } });
  await withExecutedNotebook("01-data-synthesis.ipynb", config, 240, ({ text, html, imageCount }) => {
    assert.match(text("banks"), /32 persona pairs, 21 dilemma templates, 9 open-question templates/);
    assert.match(html("banks"), /cost minimisation vs quality maximisation/);
    assert.match(text("offline"), /generated 90 train, 12 eval_conflict, 9 eval_open in [\d.]+ s/);
    assert.match(html("counts"), /professional/);
    assert.match(html("counts"), /eval_conflict/);
    assert.match(text("outcomes"), /random package \/ best package: 0\.\d+ on average over 90 scenarios/);
    assert.match(html("examples"), /utility A/);
    assert.match(html("examples"), /open-ended CA question/);
    assert.match(text("disjoint"), /held-out conflict set is disjoint from training/);
    assert.match(text("llm"), /pairs 2, scenarios 4/);
    assert.match(text("llm"), /rerun: 0 new, 4 already present/);
    assert.match(text("llm"), /requests \d+/);
    assert.ok(imageCount() >= 3, `expected 3 figures, got ${imageCount()}`);
  });
  // the committed notebook has no outputs
  const src = readNotebook("notebooks/01-data-synthesis.ipynb");
  assert.ok(src.cells.every((c) => c.cell_type !== "code" || (c.outputs ?? []).length === 0));
});
