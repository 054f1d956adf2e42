import { test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runNotebooks } from "../../src/notebook/runner";
import { cellOutputText, readNotebook, type NotebookCell } from "../../src/notebook/ipynb";
import { projectRoot } from "../../src/notebook/kernel-env";
import { pngSize } from "../../src/viz/render";
import { PLOTLY_MIME } from "../../src/viz/notebook-display";

// Executes notebooks/00-quickstart.ipynb headless through Jupyter + tslab (the compiled package: `npm test` builds
// it first), with a tiny config, and checks that the executed copy holds the plot and the table.
const root = projectRoot();

test("00-quickstart executes headless and its outputs contain the loss plot and the danfo table", async () => {
  assert.ok(
    fs.existsSync(path.join(root, "node_modules", "parley", "dist", "src", "index.js")),
    'the notebook imports the compiled package: run "npm run build" first (npm test does)',
  );
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-quickstart-"));
  try {
    const config = path.join(dir, "tiny.json");
    fs.writeFileSync(config, JSON.stringify({ quickstart: { steps: 20 } }));
    const [r] = await runNotebooks({
      notebooks: [path.join(root, "notebooks", "00-quickstart.ipynb")],
      runDir: path.join(dir, "run"),
      env: { PARLEY_CONFIG: config },
      timeoutS: 300,
    });
    assert.equal(r.ok, true);
    const nb = readNotebook(r.output);
    const cell = (id: string): NotebookCell => nb.cells.find((c) => c.id === id)!;
    const display = (id: string) => (cell(id).outputs ?? []).filter((o) => o.output_type === "display_data");

    // the plot: one output with a 640x400 PNG and the plotly JSON of the 20-step loss curve
    const [plot] = display("plot");
    assert.ok(plot, "the plot cell displayed nothing");
    const png = Buffer.from(String(plot.data!["image/png"]), "base64");
    assert.deepEqual(pngSize(png), { width: 640, height: 400 });
    const spec = plot.data![PLOTLY_MIME] as { data: Array<{ type: string; y: number[] }>; layout: { title: { text: string } } };
    assert.equal(spec.data[0].type, "scatter");
    assert.equal(spec.data[0].y.length, 20);
    assert.equal(spec.layout.title.text, "Quickstart: language-model loss");

    // the table: an HTML <table> of the danfo DataFrame (steps 1 and 20), with a Markdown text fallback
    const [table] = display("table");
    const html = [table.data!["text/html"]].flat().join("");
    assert.match(html, /<table class="parley-table">/);
    assert.match(html, /<caption>training log<\/caption>/);
    assert.match(html, /<th style="text-align:right">step<\/th><th style="text-align:right">loss<\/th>/);
    assert.equal((html.match(/<tr><td/g) ?? []).length, 2);
    assert.match([table.data!["text/plain"]].flat().join(""), /^\| step \| loss \| ms \|/);

    // training ran, sampling printed three continuations, nothing leaked
    assert.match(cellOutputText(cell("train")), /in 20 steps/);
    assert.equal(cellOutputText(cell("sample")).split("\n").filter((l) => l.includes(" -> ")).length, 3);
    assert.match(cellOutputText(cell("cleanup")), /^0 tensors alive$/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
