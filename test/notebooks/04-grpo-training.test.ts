import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runNotebook } from "../../src/notebook/runner";
import { cellOutputText, readNotebook } from "../../src/notebook/ipynb";

// Executes notebooks/04-grpo-training.ipynb headless on a tiny config with an untrained micro policy (2 GRPO steps).
// The notebook imports the built package: run `npm run build` first.
test("notebook 04 (GRPO training) executes headless: advantages table, training lines, curves, before/after", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-nb04-"));
  try {
    const config = path.join(dir, "tiny.json");
    const train = { steps: 2, groupSize: 2, batchScenarios: 1, maxTurns: 2, maxCompletionLength: 6, maxSampleLength: 1024, checkpointEvery: 1 };
    fs.writeFileSync(config, JSON.stringify({ grpo: { trainScenarios: 4, showDialogues: 1, runDir: path.join(dir, "grpo-run"), train } }));
    const r = await runNotebook("notebooks/04-grpo-training.ipynb", { runDir: path.join(dir, "run"), env: { PARLEY_CONFIG: config }, timeoutS: 300 });
    assert.ok(r.ok, r.failure ? `${r.failure.cellId}: ${r.failure.detail}` : "failed");
    const nb = readNotebook(r.output);
    const cell = (id: string) => {
      const c = nb.cells.find((x) => x.id === id);
      assert.ok(c, `cell ${id}`);
      return c!;
    };
    const html = (id: string) => (cell(id).outputs ?? []).map((o) => String((o.data as Record<string, unknown> | undefined)?.["text/html"] ?? "")).join("");
    assert.match(html("config"), /resolved GrpoConfig/);
    assert.match(html("advantages"), /\(0, 1, 5\)/);
    assert.match(cellOutputText(cell("train")), /step 1: reward .*\n.*step 2: reward/);
    assert.match(cellOutputText(cell("train")), /trained 2 steps/);
    assert.match(html("after"), /before.*after/s);
    assert.equal(readNotebook(r.output).cells.filter((c) => c.cell_type === "code").length, 7);
    assert.ok(fs.existsSync(path.join(dir, "grpo-run", "metrics.jsonl")));
    const images = nb.cells.flatMap((c) => (c.outputs ?? []).filter((o) => o.data && ("image/png" in o.data || "image/svg+xml" in o.data)));
    assert.ok(images.length >= 2, `expected 2 figures, got ${images.length}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
