// notebooks/05-evaluation.ipynb executes headless (Jupyter + tslab, the compiled package: run "npm run build" first);
// without PARLEY_RUN_DIR it runs the tiny pipeline itself, then shows the tables, figures and the paper comparison.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runNotebooks, describeFailure } from "../../src/notebook/runner";
import { cellOutputText, readNotebook } from "../../src/notebook/ipynb";
import { projectRoot } from "../../src/notebook/kernel-env";

test("05-evaluation executes headless with the tiny pipeline", async () => {
  const root = projectRoot();
  assert.ok(fs.existsSync(path.join(root, "node_modules", "parley", "dist", "src", "index.js")), 'run "npm run build" first');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-nb05-"));
  const [r] = await runNotebooks({ notebooks: [path.join(root, "notebooks", "05-evaluation.ipynb")], runDir: dir, env: { PARLEY_RUN_DIR: "" }, timeoutS: 600 });
  assert.ok(r!.ok, r!.ok ? "" : describeFailure(r!));
  const nb = readNotebook(r!.output);
  const cell = (id: string) => nb.cells.find((c) => c.id === id)!;
  assert.match(cellOutputText(cell("paper")), /multi-agent vs single-agent: CA win rate/);
  const figs = (cell("figures").outputs ?? []).filter((o) => (o as { data?: Record<string, unknown> }).data?.["image/png"]);
  assert.ok(figs.length >= 4);
  const tables = (cell("tables").outputs ?? []).filter((o) => String((o as { data?: Record<string, unknown> }).data?.["text/html"] ?? "").includes("<table"));
  assert.equal(tables.length, 4);
});
