import { test } from "node:test";
import assert from "node:assert/strict";
import { withExecutedNotebook } from "./helpers";

// Executes notebooks/03-reward-modeling.ipynb headless on a small config, with the simulated judge on the local
// fake server.
test("notebook 03 (reward modeling) executes headless and shows its tables and figures", async () => {
  const config = () => ({ reward: { scenarios: 120, judged: 24, pairs: 8 } });
  await withExecutedNotebook("03-reward-modeling.ipynb", config, 240, ({ text, html, imageCount }) => {
    assert.match(text("config"), /SIMULATED judge/);
    assert.match(text("rubric"), /collective-agency v1 {2}sha256 [0-9a-f]{64}/);
    assert.match(html("rubric"), /Benevolence/);
    assert.match(html("reliability"), /quadratic-weighted kappa/);
    assert.match(html("pairwise"), /verdict flips with order/);
    assert.match(html("dist"), /max-Nash package/);
    assert.match(text("llm-judge"), /requests \d+/);
    assert.match(text("prompt"), /Rate the joint solution below for Collective Agency/);
    assert.ok(imageCount() >= 3, `expected 3 figures, got ${imageCount()}`);
  });
});
