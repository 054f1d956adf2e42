import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { withExecutedNotebook } from "./helpers";

// Executes notebooks/04-grpo-training.ipynb headless on a tiny config with an untrained micro policy (2 GRPO steps).
test("notebook 04 (GRPO training) executes headless: advantages table, training lines, curves, before/after", async () => {
  const train = { steps: 2, groupSize: 2, batchScenarios: 1, maxTurns: 2, maxCompletionLength: 6, maxSampleLength: 1024, checkpointEvery: 1 };
  const config = (dir: string) => ({ grpo: { trainScenarios: 4, showDialogues: 1, runDir: path.join(dir, "grpo-run"), train } });
  await withExecutedNotebook("04-grpo-training.ipynb", config, 300, ({ dir, notebook, text, html, imageCount }) => {
    assert.match(html("config"), /resolved GrpoConfig/);
    assert.match(html("advantages"), /\(0, 1, 5\)/);
    assert.match(text("train"), /step 1: reward .*\n.*step 2: reward/);
    assert.match(text("train"), /trained 2 steps/);
    assert.match(html("after"), /before.*after/s);
    assert.equal(notebook.cells.filter((c) => c.cell_type === "code").length, 7);
    assert.ok(fs.existsSync(path.join(dir, "grpo-run", "metrics.jsonl")));
    assert.ok(imageCount() >= 2, `expected 2 figures, got ${imageCount()}`);
  });
});
