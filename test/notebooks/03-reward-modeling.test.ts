import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runNotebook } from "../../src/notebook/runner";
import { cellOutputText, readNotebook } from "../../src/notebook/ipynb";

// Executes notebooks/03-reward-modeling.ipynb headless (tslab through Jupyter) on a small config, with the
// simulated judge on the local fake server. The notebook imports the built package: run `npm run build` first.
test("notebook 03 (reward modeling) executes headless and shows its tables and figures", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-nb03-"));
  try {
    const config = path.join(dir, "tiny.json");
    fs.writeFileSync(config, JSON.stringify({ reward: { scenarios: 120, judged: 24, pairs: 8 } }));
    const r = await runNotebook("notebooks/03-reward-modeling.ipynb", { runDir: path.join(dir, "run"), env: { PARLEY_CONFIG: config }, timeoutS: 240 });
    console.log("cell seconds", JSON.stringify(r.cellSeconds.map(([i, sec]) => [i, Math.round(sec * 10) / 10])), "total", r.seconds);
    assert.ok(r.ok, r.failure ? `${r.failure.cellId}: ${r.failure.detail}` : "failed");
    const nb = readNotebook(r.output);
    const byId = (id: string) => {
      const cell = nb.cells.find((c) => c.id === id);
      assert.ok(cell, `cell ${id}`);
      return cell!;
    };
    const text = (id: string) => cellOutputText(byId(id));
    assert.match(text("config"), /SIMULATED judge/);
    assert.match(text("rubric"), /collective-agency v1 {2}sha256 [0-9a-f]{64}/);
    const html = (id: string) => (byId(id).outputs ?? []).map((o) => String((o.data as Record<string, unknown> | undefined)?.["text/html"] ?? "")).join("");
    assert.match(html("rubric"), /Benevolence/);
    assert.match(html("reliability"), /quadratic-weighted kappa/);
    assert.match(html("pairwise"), /verdict flips with order/);
    assert.match(html("dist"), /max-Nash package/);
    assert.match(text("llm-judge"), /requests \d+/);
    assert.match(text("prompt"), /Rate the joint solution below for Collective Agency/);
    const images = nb.cells.flatMap((c) => (c.outputs ?? []).filter((o) => o.data && ("image/png" in o.data || "image/svg+xml" in o.data)));
    assert.ok(images.length >= 3, `expected 3 figures, got ${images.length}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
