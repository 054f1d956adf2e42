import { test } from "node:test";
import assert from "node:assert/strict";
import { withExecutedNotebook } from "./helpers";

// Executes notebooks/02-self-play.ipynb headless on a tiny config (scripted negotiators + an untrained micro policy).
test("notebook 02 (self-play) executes headless and shows dialogues, tables, a figure and loss masks", async () => {
  const config = () => ({ selfplay: { scenarios: 6, group: 4, showDialogues: 2, policyGroup: 2, policyMaxTokens: 8 } });
  await withExecutedNotebook("02-self-play.ipynb", config, 240, ({ text, html, imageCount }) => {
    assert.match(text("prompt"), /\(earlier turns not shown\)/);
    assert.match(html("scenario"), /private utilities/);
    assert.match(html("group"), /Joint solution \(Agent 1\)/);
    assert.match(html("group"), /oracle CA/);
    assert.match(html("strategies"), /integrative/);
    assert.match(html("mask"), /in the loss \(highlighted\)/);
    assert.match(text("mask"), /equal the recorded spans: true/);
    assert.ok(imageCount() >= 1, `expected a figure, got ${imageCount()}`);
  });
});
