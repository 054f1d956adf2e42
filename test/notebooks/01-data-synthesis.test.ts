import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runNotebook } from "../../src/notebook/runner";
import { cellOutputText, readNotebook } from "../../src/notebook/ipynb";

// Executes notebooks/01-data-synthesis.ipynb headless (tslab through Jupyter) on a small config; the LLM part runs against
// the local scripted server. The notebook imports the built package: run `npm run build` first.
test("notebook 01 (data synthesis) executes headless and shows its tables, figures and examples", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-nb01-test-"));
  try {
    const config = path.join(dir, "small.json");
    fs.writeFileSync(config, JSON.stringify({ data: { train: 90, evalConflict: 12, evalOpen: 9, llmItems: 4, llmPairs: 2 } }));
    const r = await runNotebook("notebooks/01-data-synthesis.ipynb", { runDir: path.join(dir, "run"), env: { PARLEY_CONFIG: config }, timeoutS: 240 });
    assert.ok(r.ok, r.failure ? `${r.failure.cellId}: ${r.failure.detail}` : "failed");
    const nb = readNotebook(r.output);
    const byId = (id: string) => {
      const cell = nb.cells.find((c) => c.id === id);
      assert.ok(cell, `cell ${id}`);
      return cell!;
    };
    const text = (id: string) => cellOutputText(byId(id));
    const html = (id: string) => (byId(id).outputs ?? []).map((o) => String((o.data as Record<string, unknown> | undefined)?.["text/html"] ?? "")).join("");
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
    const images = nb.cells.flatMap((c) => (c.outputs ?? []).filter((o) => o.data && ("image/png" in o.data || "image/svg+xml" in o.data)));
    assert.ok(images.length >= 3, `expected 3 figures, got ${images.length}`);
    // the committed notebook has no outputs
    const src = readNotebook("notebooks/01-data-synthesis.ipynb");
    assert.ok(src.cells.every((c) => c.cell_type !== "code" || (c.outputs ?? []).length === 0));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
