import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runNotebook } from "../../src/notebook/runner";
import { cellOutputText, readNotebook } from "../../src/notebook/ipynb";

// Executes notebooks/02-self-play.ipynb headless (tslab through Jupyter) on a small config with an untrained micro
// policy. The notebook imports the built package: run `npm run build` first.
test("notebook 02 (self-play) executes headless and shows dialogues, tables, a figure and loss masks", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-nb02-"));
  try {
    const config = path.join(dir, "tiny.json");
    fs.writeFileSync(config, JSON.stringify({ selfplay: { scenarios: 6, group: 4, showDialogues: 2, policyGroup: 2, policyMaxTokens: 8 } }));
    const r = await runNotebook("notebooks/02-self-play.ipynb", { runDir: path.join(dir, "run"), env: { PARLEY_CONFIG: config }, timeoutS: 240 });
    assert.ok(r.ok, r.failure ? `${r.failure.cellId}: ${r.failure.detail}` : "failed");
    const nb = readNotebook(r.output);
    const byId = (id: string) => {
      const cell = nb.cells.find((c) => c.id === id);
      assert.ok(cell, `cell ${id}`);
      return cell!;
    };
    const text = (id: string) => cellOutputText(byId(id));
    const html = (id: string) => (byId(id).outputs ?? []).map((o) => String((o.data as Record<string, unknown> | undefined)?.["text/html"] ?? "")).join("");
    assert.match(text("prompt"), /\(earlier turns not shown\)/);
    assert.match(html("scenario"), /private utilities/);
    assert.match(html("group"), /Joint solution \(Agent 1\)/);
    assert.match(html("group"), /oracle CA/);
    assert.match(html("strategies"), /integrative/);
    assert.match(html("mask"), /in the loss \(highlighted\)/);
    assert.match(text("mask"), /equal the recorded spans: true/);
    const images = nb.cells.flatMap((c) => (c.outputs ?? []).filter((o) => o.data && ("image/png" in o.data || "image/svg+xml" in o.data)));
    assert.ok(images.length >= 1, `expected a figure, got ${images.length}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
